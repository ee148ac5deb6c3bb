"""Every per-user asset is partitioned by pseudonymous user × connector."""

from __future__ import annotations

import warnings

import dagster as dg

from healthex_pipeline.partition import PartitionContext
from healthex_pipeline.settings import CONNECTORS

users = dg.DynamicPartitionsDefinition(name="users")
connectors = dg.StaticPartitionsDefinition(list(CONNECTORS))
user_connector = dg.MultiPartitionsDefinition({"user": users, "connector": connectors})

# `backfill_policy` is beta in Dagster 1.13 but the documented way to batch partitions; the
# warning would otherwise print on every CLI command.
warnings.filterwarnings("ignore", "Parameter `backfill_policy`", dg.BetaWarning)
BATCHED = dg.BackfillPolicy.multi_run(max_partitions_per_run=500)
"""A backfill from the UI runs up to 500 partitions a run (a key range) instead of one each."""


def partition_key(user_key: str, connector: str) -> dg.MultiPartitionKey:
    """The Dagster key of one user × connector partition."""
    return dg.MultiPartitionKey({"user": user_key, "connector": connector})


def partition_contexts(
    context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext,
) -> list[PartitionContext]:
    """The partitions a run materializes: one, or a batch when a run targets a key range.

    Batched runs (a range of users of one connector, see ``BATCHED``) pay Dagster's per-run
    cost once for many partitions; the assets and checks loop over what this returns.
    """
    run_id = context.run.run_id
    contexts = []
    for key in context.op_execution_context.partition_keys:
        assert isinstance(key, dg.MultiPartitionKey), "per-user assets are multi-partitioned"
        dims = key.keys_by_dimension
        contexts.append(
            PartitionContext(user_key=dims["user"], connector=dims["connector"], run_id=run_id)
        )
    return contexts


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
