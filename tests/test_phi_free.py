"""PHI stays in the data layer: Dagster's own storage and the CLI's output never hold it."""

from __future__ import annotations

import json
from pathlib import Path

from healthex_pipeline.importer import import_files
from healthex_pipeline.settings import Settings
from tests.demo_run.phi import patient_phi
from tests.support.expected import iter_resources
from tests.support.fixture_sets import fixture_dir

ACCOUNT = "acct-phi-probe-2719"


def _phi_strings(root: Path) -> set[str]:
    """Patients' names, birth dates, identifiers and addresses, and lab code texts of the set."""
    found = set().union(*patient_phi(iter_resources(root)).values())
    for resource in iter_resources(root):
        if resource["resourceType"] == "Observation":
            found.add(resource.get("code", {}).get("text", ""))
    return {s for s in found if isinstance(s, str) and len(s) >= 6}


def _dagster_bytes(settings: Settings) -> bytes:
    return b"".join(p.read_bytes() for p in settings.dagster_home.rglob("*") if p.is_file())


def test_dagster_storage_holds_no_account_id_names_or_clinical_text(settings: Settings) -> None:
    root = fixture_dir("synthea-r4")
    phi = _phi_strings(root) | {ACCOUNT, *(p.name for p in root.iterdir())}
    assert len(phi) > 20, "the probe must look for a meaningful set of strings"

    report = import_files(settings, ACCOUNT, "healthex", [root])

    assert report.success
    stored = _dagster_bytes(settings)
    assert report.user_key.encode() in stored, "the scan must see what Dagster stored"
    leaked = sorted(s for s in phi if s.encode() in stored or json.dumps(s).encode() in stored)
    assert leaked == [], f"{len(leaked)} PHI strings found in Dagster storage"


def test_partition_key_is_the_pseudonym_not_the_account(settings: Settings) -> None:
    report = import_files(settings, ACCOUNT, "apple_health", [fixture_dir("apple-health")])

    assert report.user_key.startswith("u_") and ACCOUNT not in report.user_key
    assert not list(settings.home.rglob(f"*{ACCOUNT}*"))
