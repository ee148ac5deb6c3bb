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
