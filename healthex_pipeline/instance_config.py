"""The Dagster instance's ``dagster.yaml``, written from settings: storage, run queue, pools.

SQLite under ``HEALTHEX_HOME/dagster`` is the embedded default; with
``HEALTHEX_DAGSTER_POSTGRES_URL`` set the instance stores runs, event logs and schedules in
PostgreSQL instead. The file names the variable (``env:``), never its value, so the password
stays in the environment.

Limits, both Dagster-native:

- Run queue (``concurrency.runs``, enforced by the QueuedRunCoordinator for runs the daemon
  launches): at most ``max_concurrent_runs`` in progress, at most ``runs_per_connector`` per
  value of the ``dagster/partition/connector`` tag Dagster puts on every user × connector run
  (so a sensor burst does not hammer one vendor), and one per ``dagster/partition`` value (two
  runs of one partition never overlap).
- Pool ``vendor_api`` (``concurrency.pools``, granularity ``op``): the steps that call a vendor
  API claim a slot; the limit holds across all runs, including ``execute_in_process`` runs,
  whose in-process executor claims slots from the same instance storage.

A pool is fixed per op, not per partition, so "per connector" is the run tag's job; the pool
caps vendor calls of all connectors together.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from healthex_pipeline.durable import write_atomically

POSTGRES_URL_ENV = "HEALTHEX_DAGSTER_POSTGRES_URL"
MAX_RUNS_ENV = "HEALTHEX_MAX_CONCURRENT_RUNS"
RUNS_PER_CONNECTOR_ENV = "HEALTHEX_RUNS_PER_CONNECTOR"
VENDOR_POOL_LIMIT_ENV = "HEALTHEX_VENDOR_POOL_LIMIT"
LOCK_WAIT_ENV = "HEALTHEX_LOCK_WAIT_SECONDS"

VENDOR_POOL = "vendor_api"
"""The pool of every step that calls a vendor API (Fasten downloads, the daily refresh)."""
CONNECTOR_TAG = "dagster/partition/connector"
PARTITION_TAG = "dagster/partition"


@dataclass(frozen=True)
class InstanceConfig:
    """What ``dagster.yaml`` says; the defaults are safe for one machine."""

    postgres: bool = False
    """Store the instance in PostgreSQL at the URL in ``HEALTHEX_DAGSTER_POSTGRES_URL``."""
    max_concurrent_runs: int = 4
    runs_per_connector: int = 2
    vendor_pool_limit: int = 2
    lock_wait_seconds: int = 600
    """How long an in-process run waits for its partition's lock before it is refused (the one
    limit here that is not in ``dagster.yaml``: the CLI's runs never go through the queue)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> InstanceConfig:
        """Read the storage choice and limits; unset or empty variables keep the defaults."""
        env = os.environ if environ is None else environ
        default = cls()
        return cls(
            postgres=bool(env.get(POSTGRES_URL_ENV)),
            max_concurrent_runs=_positive(env, MAX_RUNS_ENV, default.max_concurrent_runs),
            runs_per_connector=_positive(env, RUNS_PER_CONNECTOR_ENV, default.runs_per_connector),
            vendor_pool_limit=_positive(env, VENDOR_POOL_LIMIT_ENV, default.vendor_pool_limit),
            lock_wait_seconds=_positive(env, LOCK_WAIT_ENV, default.lock_wait_seconds),
        )

    def document(self) -> dict[str, Any]:
        """The ``dagster.yaml`` content as a mapping."""
        doc: dict[str, Any] = {"telemetry": {"enabled": False}}
        if self.postgres:
            doc["storage"] = {"postgres": {"postgres_url": {"env": POSTGRES_URL_ENV}}}
        doc["concurrency"] = {
            "runs": {
                "max_concurrent_runs": self.max_concurrent_runs,
                "tag_concurrency_limits": [
                    {
                        "key": CONNECTOR_TAG,
                        "value": {"applyLimitPerUniqueValue": True},
                        "limit": self.runs_per_connector,
                    },
                    {
                        "key": PARTITION_TAG,
                        "value": {"applyLimitPerUniqueValue": True},
                        "limit": 1,
                    },
                ],
            },
            # VENDOR_POOL is the only pool, so its limit is the default one.
            "pools": {"granularity": "op", "default_limit": self.vendor_pool_limit},
        }
        return doc

    def render(self) -> str:
        return "# Written by healthex from HEALTHEX_* settings; edits are overwritten.\n" + (
            yaml.safe_dump(self.document(), sort_keys=False)
        )


def write_instance_config(config: InstanceConfig, dagster_home: Path) -> bool:
    """Write ``dagster.yaml`` when its content differs; True when it was (re)written.

    The replace is atomic, so a process loading the instance never reads half a file.
    """
    path = dagster_home / "dagster.yaml"
    text = config.render()
    if path.exists() and path.read_text() == text:
        return False
    write_atomically(path, lambda tmp: tmp.write_text(text))
    return True


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value
