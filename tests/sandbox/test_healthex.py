from __future__ import annotations

import time
from pathlib import Path

import orjson

from healthex_pipeline.sandbox.config import DelayPlan
from healthex_pipeline.sandbox.records import curated_counts
from tests.sandbox.harness import Sandbox, started_sandbox


def fetch_all_pages(sandbox: Sandbox, patient_id: str, count: int) -> list[dict]:
    headers = sandbox.auth()
    url: str | None = f"{sandbox.base_url}/FHIR/R4/Person/{patient_id}/$everything?_count={count}"
    pages: list[dict] = []
    while url is not None:
        answer = sandbox.client.get(url, headers=headers)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/fhir+json")
        page = answer.json()
        pages.append(page)
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
    return pages


def test_everything_pages_return_each_released_resource_once_with_expected_counts(
    sandbox: Sandbox,
) -> None:
    patient_id = sandbox.enroll_and_consent("hx-paging")
    described = sandbox.wait_delivered("healthex", "hx-paging")
    pages = fetch_all_pages(sandbox, patient_id, count=7)
    matches = [e["resource"] for p in pages for e in p["entry"] if e["search"]["mode"] == "match"]
    keys = [(r["resourceType"], r["id"]) for r in matches]
    assert len(keys) == len(set(keys)) == pages[0]["total"]
    assert len(pages) == -(-len(keys) // 7)
    assert curated_counts(matches) == described["patient"]["expected"]
    assert all(link["url"].startswith("http://127.0.0.1:") for p in pages for link in p["link"])


def test_everything_puts_the_outcome_entry_on_the_first_page_only(sandbox: Sandbox) -> None:
    for n in range(8):
        external_id = f"hx-outcome-{n}"
        patient_id = sandbox.enroll_and_consent(external_id)
        if sandbox.patient("healthex", external_id)["patient"]["has_warning"]:
            break
    else:
        raise AssertionError("no patient with a warning in the pool")
    sandbox.wait_delivered("healthex", external_id)
    pages = fetch_all_pages(sandbox, patient_id, count=10)
    outcomes = [[e for e in p["entry"] if e["search"]["mode"] == "outcome"] for p in pages]
    assert len(outcomes[0]) == 1
    assert outcomes[0][0]["resource"]["resourceType"] == "OperationOutcome"
    assert all(not o for o in outcomes[1:])


def test_push_writes_one_collection_bundle_per_facility_at_the_documented_path(
    sandbox: Sandbox,
) -> None:
    patient_id = sandbox.enroll_and_consent("hx-push")
    described = sandbox.wait_delivered("healthex", "hx-push")
    config = sandbox.config
    root = sandbox.landing / config.org_id / config.project_id / patient_id / "hx-push"
    for facility in described["patient"]["facilities"]:
        files = list((root / facility["facility_id"]).iterdir())
        assert [f.suffix for f in files] == [".json"]
        bundle = orjson.loads(files[0].read_bytes())
        assert bundle["type"] == "collection"
        resources = [e["resource"] for e in bundle["entry"]]
        assert curated_counts(resources) == facility["expected"]
        assert any(r["resourceType"] == "Patient" for r in resources)


def test_push_never_exposes_a_partial_file(sandbox: Sandbox) -> None:
    sandbox.enroll_and_consent("hx-atomic")
    seen: set[Path] = set()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        for path in sandbox.landing.rglob("*.json"):
            if "hx-atomic" in path.parts and path not in seen:
                orjson.loads(path.read_bytes())
                seen.add(path)
        if seen and len(seen) >= len(
            sandbox.patient("healthex", "hx-atomic")["patient"]["facilities"]
        ):
            break
    assert seen
    assert not [p for p in sandbox.landing.rglob("*.partial") if "hx-atomic" in p.parts]


def test_slow_facility_delivers_after_the_fast_ones(tmp_path: Path) -> None:
    delays = DelayPlan(slow_share=0.5, slow_seconds=1000.0)
    with started_sandbox(tmp_path, delays=delays) as sandbox:
        for n in range(12):
            external_id = f"hx-mixed-{n}"
            sandbox.enroll_and_consent(external_id)
            facilities = sandbox.patient("healthex", external_id)["patient"]["facilities"]
            if {f["slow"] for f in facilities} == {True, False}:
                break
        else:
            raise AssertionError("no patient with both slow and fast facilities")
        described = sandbox.wait_delivered("healthex", external_id)
    slow = {f["facility_id"]: f["slow"] for f in described["patient"]["facilities"]}
    after = {
        d["facility_ids"][0]: d["at"] - described["consented_at"] for d in described["deliveries"]
    }
    # Ordering, not wall-clock bounds on the fast side: CI machines are loaded.
    assert max(t for f, t in after.items() if not slow[f]) < min(
        t for f, t in after.items() if slow[f]
    )
    assert min(t for f, t in after.items() if slow[f]) >= 0.9  # due at 1.0 s; clocks differ
