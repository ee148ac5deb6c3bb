"""Every per-user asset is partitioned by pseudonymous user × connector."""

from __future__ import annotations

import dagster as dg

from healthex_pipeline.partition import PartitionContext
from healthex_pipeline.settings import CONNECTORS

users = dg.DynamicPartitionsDefinition(name="users")
connectors = dg.StaticPartitionsDefinition(list(CONNECTORS))
user_connector = dg.MultiPartitionsDefinition({"user": users, "connector": connectors})


def partition_key(user_key: str, connector: str) -> dg.MultiPartitionKey:
    """The Dagster key of one user × connector partition."""
    return dg.MultiPartitionKey({"user": user_key, "connector": connector})


def partition_context(
    context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext,
) -> PartitionContext:
    """The partition a run materializes (one partition per run)."""
    key = context.op_execution_context.partition_key
    assert isinstance(key, dg.MultiPartitionKey), "per-user assets are multi-partitioned"
    dims = key.keys_by_dimension
    return PartitionContext(
        user_key=dims["user"], connector=dims["connector"], run_id=context.run.run_id
    )


def ensure_users(instance: dg.DagsterInstance, user_keys: list[str]) -> None:
    """Register user partitions that are missing; safe when another process races to add them."""
    assert users.name is not None
    for user_key in user_keys:
        if instance.has_dynamic_partition(users.name, user_key):
            continue
        try:
            instance.add_dynamic_partitions(users.name, [user_key])
        except Exception:
            # Another process added it between the check and the insert; anything else re-raises.
            if not instance.has_dynamic_partition(users.name, user_key):
                raise
