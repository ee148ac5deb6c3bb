from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from standardwebhooks import Webhook

from healthex_pipeline.sandbox.records import curated_counts
from tests.sandbox.harness import Sandbox, started_sandbox


def types(events: list) -> list[str]:
    return [orjson.loads(e.body)["type"] for e in events]


def export_url(sandbox: Sandbox, external_id: str, timeout: float = 30.0) -> str:
    """The first export link; waits for the export event itself, since under load a slow
    receiver can get the connection event redelivered before the export event arrives."""
    deadline = time.monotonic() + timeout
    count = 2
    while time.monotonic() < deadline:
        for event in sandbox.events(external_id, count, timeout=deadline - time.monotonic()):
            body = orjson.loads(event.body)
            if body["type"] == "patient.ehi_export_success":
                return body["data"]["download_links"][0]["url"]
        count += 1
    raise AssertionError("no export webhook")


def test_connect_sends_signed_connection_then_export_webhooks_per_facility(
    sandbox: Sandbox,
) -> None:
    connection_ids = sandbox.connect("fa-signed")
    n_facilities = len(sandbox.patient("fasten", "fa-signed")["patient"]["facilities"])
    events = sandbox.events("fa-signed", 2 * n_facilities)
    verifier = Webhook(sandbox.config.webhook_secret)
    seen: list[tuple[str, str]] = []
    for event in events:
        body = verifier.verify(event.body, event.headers)
        assert body["id"] == event.headers["webhook-id"]
        assert body["api_mode"] == "test"
        seen.append((body["data"]["org_connection_id"], body["type"]))
    assert len(connection_ids) == n_facilities
    for connection_id in connection_ids:
        assert [t for c, t in seen if c == connection_id] == [
            "patient.connection_success",
            "patient.ehi_export_success",
        ]


def test_download_link_redirects_then_streams_the_facility_ndjson(sandbox: Sandbox) -> None:
    sandbox.connect("fa-download")
    described = sandbox.wait_delivered("fasten", "fa-download")
    url = export_url(sandbox, "fa-download")
    redirect = sandbox.client.get(url)
    assert redirect.status_code == 302
    assert "/files/" in redirect.headers["location"]
    answer = sandbox.client.get(redirect.headers["location"])
    assert answer.headers["content-type"].startswith("application/fhir+ndjson")
    lines = [orjson.loads(line) for line in answer.content.splitlines()]
    assert any(r["resourceType"] == "Patient" for r in lines)
    export_id = url.split("?")[0].rsplit("/", 1)[-1]
    delivery = next(d for d in described["deliveries"] if d["delivery_id"] == export_id)
    facility = next(
        f
        for f in described["patient"]["facilities"]
        if f["facility_id"] == delivery["facility_ids"][0]
    )
    assert curated_counts(lines) == facility["expected"]


def test_tampered_link_answers_403(sandbox: Sandbox) -> None:
    sandbox.connect("fa-tampered")
    url = export_url(sandbox, "fa-tampered")
    assert sandbox.client.get(url[:-4] + "0000").status_code == 403


def test_expire_links_makes_new_links_already_expired(sandbox: Sandbox) -> None:
    sandbox.set_faults({"expire_links": True})
    sandbox.connect("fa-expired")
    assert sandbox.client.get(export_url(sandbox, "fa-expired")).status_code == 403


def test_bad_file_puts_one_invalid_line_in_the_export(sandbox: Sandbox) -> None:
    sandbox.set_faults({"bad_file": ["fa-bad"]})
    sandbox.connect("fa-bad")
    answer = sandbox.client.get(export_url(sandbox, "fa-bad"), follow_redirects=True)
    invalid = 0
    for line in answer.content.splitlines():
        try:
            orjson.loads(line)
        except orjson.JSONDecodeError:
            invalid += 1
    assert invalid == 1


def test_download_truncate_streams_half_the_file_with_a_matching_length(
    sandbox: Sandbox,
) -> None:
    sandbox.connect("fa-truncate")
    url = export_url(sandbox, "fa-truncate")
    sandbox.set_faults({"truncate": {"route": "download", "times": 1}})
    answer = sandbox.client.get(url, follow_redirects=True)
    assert int(answer.headers["content-length"]) == len(answer.content)
    assert not answer.content.endswith(b"\n")


def test_export_failed_webhook_carries_the_configured_reason(sandbox: Sandbox) -> None:
    sandbox.set_faults({"export_failed": {"fa-failed": "scope_patient_missing"}})
    sandbox.connect("fa-failed")
    failed = orjson.loads(sandbox.events("fa-failed", 2)[1].body)
    assert failed["type"] == "patient.ehi_export_failed"
    assert failed["data"]["failure_reason"] == "scope_patient_missing"


def test_duplicate_webhooks_arrive_twice_with_the_same_id(sandbox: Sandbox) -> None:
    sandbox.set_faults({"duplicate_webhooks": True})
    sandbox.connect("fa-duplicate")
    events = sandbox.events("fa-duplicate", 4)
    ids = [e.headers["webhook-id"] for e in events]
    assert ids[0] == ids[1] != ids[2] == ids[3]


def test_reorder_webhooks_sends_the_export_before_the_connection(sandbox: Sandbox) -> None:
    sandbox.set_faults({"reorder_webhooks": True})
    sandbox.connect("fa-reorder")
    events = sandbox.events("fa-reorder", 2)
    assert types(events)[:2] == ["patient.ehi_export_success", "patient.connection_success"]


def test_refresh_requires_basic_auth(sandbox: Sandbox) -> None:
    connection_id = sandbox.connect("fa-refresh-auth")[0]
    answer = sandbox.client.post(
        "/v1/bridge/fhir/ehi-export",
        json={"org_connection_id": connection_id},
        auth=(sandbox.config.fasten_public_id, "wrong"),
    )
    assert answer.status_code == 401


def test_refresh_answers_202_then_an_export_webhook_with_its_task_id(sandbox: Sandbox) -> None:
    connection_id = sandbox.connect("fa-refresh")[0]
    n_facilities = len(sandbox.patient("fasten", "fa-refresh")["patient"]["facilities"])
    answer = sandbox.client.post(
        "/v1/bridge/fhir/ehi-export",
        json={"org_connection_id": connection_id},
        auth=(sandbox.config.fasten_public_id, sandbox.config.fasten_private_key),
    )
    assert answer.status_code == 202
    task_id = answer.json()["task_id"]
    events = sandbox.events("fa-refresh", 2 * n_facilities + 1, timeout=5)
    bodies = [orjson.loads(e.body) for e in events]
    assert any(b["data"].get("task_id") == task_id for b in bodies)


def test_webhooks_are_retried_until_the_receiver_accepts(tmp_path: Path) -> None:
    with started_sandbox(tmp_path, fail_first=2) as sandbox:
        sandbox.connect("fa-retry")
        first = sandbox.events("fa-retry", 1)[0]
        assert sandbox.receiver.refused == 2
        assert orjson.loads(first.body)["type"] == "patient.connection_success"


@pytest.mark.parametrize("public_id", ["wrong", ""])
def test_connect_with_an_unknown_public_id_answers_401(sandbox: Sandbox, public_id: str) -> None:
    answer = sandbox.client.get(
        "/v1/connect", params={"public_id": public_id, "external_id": "fa-nobody"}
    )
    assert answer.status_code == 401
