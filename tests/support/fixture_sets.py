"""Where each FHIR fixture set lives, so tests never hard-code fixture paths.

Licensed sets are copied into ``tests/fixtures``; unlicensed ones (fasten, vendor sandbox
responses) are only read from ``../shared/fixtures`` beside the repository and their tests skip
when that folder is absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
LOCAL = Path(__file__).resolve().parents[1] / "fixtures"


@dataclass(frozen=True)
class FixtureSet:
    """One fixture set: its path below a fixtures root and whether only ../shared holds it."""

    subpath: str
    shared_only: bool


FIXTURE_SETS: dict[str, FixtureSet] = {
    "synthea-r4": FixtureSet("bundles/synthea-r4", shared_only=False),
    "synthea-dstu2": FixtureSet("bundles/synthea-dstu2", shared_only=False),
    "pathling-ndjson": FixtureSet("bulk-ndjson/pathling-synthea-r4", shared_only=False),
    "smart-ndjson": FixtureSet("bulk-ndjson/smart-sample-bulk-10-patients", shared_only=False),
    "apple-health": FixtureSet("apple-health", shared_only=False),
    "fasten": FixtureSet("fasten", shared_only=True),
    "epic-r4": FixtureSet("sandbox-responses/epic-r4", shared_only=True),
    "cerner-r4": FixtureSet("sandbox-responses/cerner-r4-reads", shared_only=True),
}


# The connector each set arrives through in the pipeline tests.
ARRIVES_THROUGH: dict[str, str] = {
    "synthea-r4": "healthex",
    "synthea-dstu2": "healthex",
    "pathling-ndjson": "fasten",
    "smart-ndjson": "fasten",
    "apple-health": "apple_health",
    "fasten": "fasten",
    "epic-r4": "healthex",
    "cerner-r4": "healthex",
}


def fixture_dir(name: str) -> Path:
    """Return the set's folder: the in-repo copy when present, else the one in ../shared."""
    subpath = FIXTURE_SETS[name].subpath
    local = LOCAL / subpath
    return local if local.is_dir() else SHARED / subpath


def require_set(name: str) -> Path:
    """Return the set's folder, skipping the calling test when an unlicensed set is absent."""
    path = fixture_dir(name)
    if not path.is_dir():
        if FIXTURE_SETS[name].shared_only:
            pytest.skip(f"{name}: unlicensed set, ../shared/fixtures absent")
        raise FileNotFoundError(f"licensed fixture set {name!r} missing at {path}")
    return path
