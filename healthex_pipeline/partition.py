"""Which user × connector a piece of work is for, and the run doing it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PartitionContext:
    """A partition (pseudonymous user key and connector) and the current run id."""

    user_key: str
    connector: str
    run_id: str
