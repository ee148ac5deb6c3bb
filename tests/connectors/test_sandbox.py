"""Every fault mode against the sandbox over real HTTP, webhooks through the real receiver.

Attempt counts come from the client's own request log (an httpx event hook), so they are the
requests that really went over the wire.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from healthex_pipeline.connectors.fasten import FastenClient
from healthex_pipeline.connectors.healthex import HealthExClient
from healthex_pipeline.connectors.http import VendorError
from healthex_pipeline.connectors.resource import VendorResource
from healthex_pipeline.raw_zone import RawPartition
from healthex_pipeline.sandbox.config import DelayPlan, SandboxConfig
from healthex_pipeline.sandbox.testing import running_sandbox
from healthex_pipeline.settings import Settings
from healthex_pipeline.webhooks.store import StoredEvent, WebhookEventStore
from healthex_pipeline.webhooks.testing import running_receiver
from tests.connectors.support import (
    CountingPartition,
    assert_phi_free,
    batch_files,
    inbox_entries,
)
from tests.webhooks.support import SECRET

CONFIG = SandboxConfig(
    n_users=40,
    webhook_secret=SECRET,
    delays=DelayPlan(fast_min_seconds=0.0, fast_max_seconds=0.2, slow_share=0.0),
)
_pseudonyms = (f"u_sandbox_{n:03d}" for n in itertools.count())


@pytest.fixture(scope="module")
def receiver_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("receiver-home")


@pytest.fixture(scope="module")
def sandbox(receiver_home: Path) -> Iterator[str]:
    with running_receiver(receiver_home, SECRET) as receiver:
        config = SandboxConfig(**{**CONFIG.__dict__, "webhook_url": f"{receiver}/webhooks/fasten"})
        with running_sandbox(config) as base_url:
            yield base_url


@pytest.fixture
def faults(sandbox: str) -> Iterator[Callable[[dict[str, Any]], None]]:
    def configure(config: dict[str, Any]) -> None:
        httpx.post(f"{sandbox}/sandbox/faults", json=config).raise_for_status()

    yield configure
    configure({})


@pytest.fixture
def events(receiver_home: Path) -> WebhookEventStore:
    return WebhookEventStore(Settings(home=receiver_home).webhooks_path)


def _client_kwargs(**overrides: float) -> dict[str, Any]:
    return {
        "max_attempts": 4,
        "retry_budget_seconds": 30.0,
        "backoff_initial_seconds": 0.01,
        "backoff_max_seconds": 0.02,
        "backoff_jitter_seconds": 0.0,
        "retry_after_max_seconds": 5.0,
        **overrides,
    }


def _healthex(base_url: str, **overrides: float) -> HealthExClient:
    return HealthExClient(
        base_url=base_url,
        api_key=CONFIG.api_key,
        api_secret=CONFIG.api_secret,
        project_id=CONFIG.project_id,
        page_size=25,
        **_client_kwargs(**overrides),
    )


def _fasten(base_url: str) -> FastenClient:
    return FastenClient(
        base_url=base_url,
        public_id=CONFIG.fasten_public_id,
        private_key=CONFIG.fasten_private_key,
        **_client_kwargs(),
    )


def _request_log(client: VendorResource) -> list[str]:
    """The path of every request the client sends from now on (redirects included)."""
    paths: list[str] = []
    client.http().event_hooks["request"].append(lambda request: paths.append(request.url.path))
    return paths


def _count(paths: list[str], fragment: str) -> int:
    return sum(fragment in p for p in paths)


def _consented_patient(sandbox: str, client: HealthExClient) -> tuple[str, str]:
    """Enrol a new pseudonym, consent as the patient, wait until every facility delivered."""
    external_id = next(_pseudonyms)
    patient_id = httpx.get(client.create_link(external_id)).json()["healthexPatientId"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        listed = httpx.get(f"{sandbox}/sandbox/patients").json()["healthex"]
        [mine] = [a for a in listed if a["external_id"] == external_id]
        if all(f["released"] for f in mine["patient"]["facilities"]):
            return external_id, patient_id
        time.sleep(0.05)
    raise TimeoutError("facilities did not release")


def _exports_of(
    store: WebhookEventStore, external_id: str, count: int, task_id: str | None = None
) -> list[StoredEvent]:
    """Wait for ``count`` export webhooks of the pseudonym (and, if given, one of ``task_id``)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = [
            e
            for e in store.events_after(0, 10_000)
            if e.type == "patient.ehi_export_success" and e.data["external_id"] == external_id
        ]
        if len(found) >= count and (
            task_id is None or task_id in {e.data["task_id"] for e in found}
        ):
            return found
        time.sleep(0.05)
    raise TimeoutError("export webhooks did not arrive")


def _connected(sandbox: str, store: WebhookEventStore, client: FastenClient) -> StoredEvent:
    """Complete Fasten Connect for a new pseudonym; its first export's webhook event."""
    external_id = next(_pseudonyms)
    httpx.get(client.connect_url(external_id)).raise_for_status()
    return _exports_of(store, external_id, 1)[0]


def _pages_fetched(partition: RawPartition, batch: str) -> list[Any]:
    return [orjson.loads(page) for page in batch_files(partition, batch)]


@pytest.fixture
def healthex_partition(settings: Settings) -> RawPartition:
    return RawPartition.at(settings, "u_test", "healthex")


@pytest.fixture
def fasten_partition(settings: Settings) -> RawPartition:
    return RawPartition.at(settings, "u_test", "fasten")


def test_token_is_fetched_once_for_many_calls(sandbox: str) -> None:
    client = _healthex(sandbox)
    paths = _request_log(client)

    client.create_link(next(_pseudonyms))
    client.create_link(next(_pseudonyms))

    assert [p.rsplit("/", 1)[-1] for p in paths] == ["token", "link", "link"]


def test_401_after_a_renewal_is_final(
    sandbox: str, faults: Callable[[dict[str, Any]], None]
) -> None:
    client = _healthex(sandbox)
    paths = _request_log(client)
    faults({"expire_token": {"times": 2}})

    with pytest.raises(VendorError) as raised:
        client.create_link(next(_pseudonyms))

    assert [p.rsplit("/", 1)[-1] for p in paths] == ["token", "link", "token", "link"]
    assert str(raised.value) == "create link: HTTP 401"


def test_unknown_patient_is_final(sandbox: str, healthex_partition: RawPartition) -> None:
    client = _healthex(sandbox)
    paths = _request_log(client)

    with pytest.raises(VendorError) as raised:
        client.fetch_everything("no-such-patient", healthex_partition)

    assert (raised.value.status, _count(paths, "$everything")) == (404, 1)
    assert inbox_entries(healthex_partition) == []
    assert_phi_free(raised.value, "no-such-patient", "127.0.0.1")


def test_every_page_lands_in_one_inbox_batch(
    sandbox: str, healthex_partition: RawPartition
) -> None:
    client = _healthex(sandbox)
    _, patient_id = _consented_patient(sandbox, client)

    batch = client.fetch_everything(patient_id, healthex_partition)

    pages = _pages_fetched(healthex_partition, batch)
    nexts = [[k for k in p.get("link", []) if k["relation"] == "next"] for p in pages]
    assert len(pages) > 1 and all(nexts[:-1]) and not nexts[-1]
    matches = [e for p in pages for e in p.get("entry", []) if e["search"]["mode"] == "match"]
    assert len(matches) == pages[0]["total"]
    meta = orjson.loads((healthex_partition.inbox / batch / "batch.json").read_bytes())
    assert meta["kind"] == "healthex-everything" and len(meta["names"]) == len(pages)
    assert patient_id not in str(meta)


@pytest.mark.parametrize(
    ("action_needed", "outcome"), [(False, "in_progress"), (True, "patient_action_needed")]
)
def test_update_data_outcomes(
    sandbox: str, faults: Callable[[dict[str, Any]], None], action_needed: bool, outcome: str
) -> None:
    client = _healthex(sandbox)
    external_id, patient_id = _consented_patient(sandbox, client)
    faults({"patient_action_needed": [external_id] if action_needed else []})

    assert client.update_data(patient_id) == outcome


def test_expired_token_is_renewed_once(
    sandbox: str, faults: Callable[[dict[str, Any]], None]
) -> None:
    client = _healthex(sandbox)
    paths = _request_log(client)
    faults({"expire_token": {"times": 1}})

    client.create_link(next(_pseudonyms))

    assert [p.rsplit("/", 1)[-1] for p in paths] == ["token", "link", "token", "link"]


def test_rate_limit_retry_after_seconds_is_waited(
    sandbox: str, faults: Callable[[dict[str, Any]], None]
) -> None:
    client = _healthex(sandbox)
    client.create_link(next(_pseudonyms))
    paths = _request_log(client)
    faults({"rate_limit": {"route": "link", "times": 1, "retry_after": "1"}})

    started = time.monotonic()
    client.create_link(next(_pseudonyms))
    waited = time.monotonic() - started

    assert _count(paths, "/link") == 2
    assert 0.95 <= waited < 10.0  # upper bound loose: CI machines are loaded


def test_rate_limit_retry_after_http_date_is_waited_and_capped(
    sandbox: str, faults: Callable[[dict[str, Any]], None], healthex_partition: RawPartition
) -> None:
    client = _healthex(sandbox)
    _, patient_id = _consented_patient(sandbox, client)
    paths = _request_log(client)
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    faults({"rate_limit": {"route": "everything", "times": 1, "retry_after": soon}})

    started = time.monotonic()
    client.fetch_everything(patient_id, healthex_partition)
    waited = time.monotonic() - started

    assert 0.9 <= waited < 10.0

    capped = _healthex(sandbox, retry_after_max_seconds=0.2)
    an_hour = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    faults({"rate_limit": {"route": "everything", "times": 1, "retry_after": an_hour}})
    started = time.monotonic()
    capped.fetch_everything(patient_id, healthex_partition)
    assert time.monotonic() - started < 10.0  # far below the hour asked for
    assert _count(paths, "$everything") >= 2


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried_then_succeed(
    sandbox: str,
    faults: Callable[[dict[str, Any]], None],
    healthex_partition: RawPartition,
    status: int,
) -> None:
    client = _healthex(sandbox)
    _, patient_id = _consented_patient(sandbox, client)
    paths = _request_log(client)
    faults({"server_error": {"route": "everything", "times": 2, "status": status}})

    batch = client.fetch_everything(patient_id, healthex_partition)

    pages = _pages_fetched(healthex_partition, batch)
    assert _count(paths, "$everything") == len(pages) + 2
    assert all(page["resourceType"] == "Bundle" for page in pages)


def test_server_errors_beyond_the_attempt_limit_fail_cleanly(
    sandbox: str, faults: Callable[[dict[str, Any]], None]
) -> None:
    client = _healthex(sandbox)
    _, patient_id = _consented_patient(sandbox, client)
    paths = _request_log(client)
    faults({"server_error": {"route": "update_data", "times": 10, "status": 503}})

    with pytest.raises(VendorError) as raised:
        client.update_data(patient_id)

    assert _count(paths, "$updateData") == 4
    assert str(raised.value) == "update data: HTTP 503"
    assert_phi_free(raised.value, patient_id, "127.0.0.1")


def test_truncated_page_is_fetched_again(
    sandbox: str, faults: Callable[[dict[str, Any]], None], healthex_partition: RawPartition
) -> None:
    client = _healthex(sandbox)
    _, patient_id = _consented_patient(sandbox, client)
    paths = _request_log(client)
    faults({"truncate": {"route": "everything", "times": 1}})

    batch = client.fetch_everything(patient_id, healthex_partition)

    assert _count(paths, "$everything") == len(_pages_fetched(healthex_partition, batch)) + 1


def test_page_truncated_every_time_fails_after_the_attempt_limit(
    sandbox: str, faults: Callable[[dict[str, Any]], None], healthex_partition: RawPartition
) -> None:
    client = _healthex(sandbox)
    _, patient_id = _consented_patient(sandbox, client)
    paths = _request_log(client)
    faults({"truncate": {"route": "everything", "times": 10}})

    with pytest.raises(VendorError) as raised:
        client.fetch_everything(patient_id, healthex_partition)

    assert _count(paths, "$everything") == 4
    assert str(raised.value) == "everything: truncated or invalid JSON body (HTTP 200)"
    assert inbox_entries(healthex_partition) == []


def test_slow_answer_times_out_and_is_retried(
    sandbox: str, faults: Callable[[dict[str, Any]], None], healthex_partition: RawPartition
) -> None:
    client = _healthex(sandbox, read_timeout_seconds=0.3)
    _, patient_id = _consented_patient(sandbox, client)
    paths = _request_log(client)
    faults({"slow": {"route": "everything", "times": 1, "seconds": 8.0}})

    started = time.monotonic()
    batch = client.fetch_everything(patient_id, healthex_partition)

    assert time.monotonic() - started < 6.0, "the client must give up on the slow answer"
    assert _count(paths, "$everything") == len(_pages_fetched(healthex_partition, batch)) + 1


def test_export_download_follows_the_redirect_and_lands_once_when_repeated(
    sandbox: str, events: WebhookEventStore, settings: Settings
) -> None:
    fasten_partition = CountingPartition(settings.raw_root, "u_test", "fasten", settings.vault())
    client = _fasten(sandbox)
    export = _connected(sandbox, events, client)
    url = export.data["download_links"][0]["url"]
    paths = _request_log(client)

    client.download(url, fasten_partition, {"task_id": export.data["task_id"]})
    client.download(url, fasten_partition, {"task_id": export.data["task_id"]})

    # Each download: the signed link, then the storage URL it redirected to.
    assert [p.split("/")[1] for p in paths] == ["v1", "files", "v1", "files"]
    batches = fasten_partition.pending_batches()
    lines = batch_files(fasten_partition, batches[0].name)[0].splitlines()
    assert len(lines) == export.data["stats"]["total_resources"]
    committed = [fasten_partition.commit(fasten_partition.land(b), b) for b in batches]
    assert committed == [True, False]
    digest = hashlib.sha256(b"\n".join(lines) + b"\n").hexdigest()
    assert [p.name for p in fasten_partition.objects_dir.iterdir()] == [digest]


def test_truncated_export_is_downloaded_again(
    sandbox: str,
    faults: Callable[[dict[str, Any]], None],
    events: WebhookEventStore,
    fasten_partition: RawPartition,
) -> None:
    client = _fasten(sandbox)
    export = _connected(sandbox, events, client)
    paths = _request_log(client)
    faults({"truncate": {"route": "download", "times": 1}})

    batch = client.download(export.data["download_links"][0]["url"], fasten_partition, {})

    assert _count(paths, "/files/") == 2
    lines = batch_files(fasten_partition, batch)[0].splitlines()
    assert len(lines) == export.data["stats"]["total_resources"]
    assert all(orjson.loads(line) for line in lines)
    assert inbox_entries(fasten_partition) == [batch]


def test_download_failing_every_time_stops_after_the_attempt_limit(
    sandbox: str,
    faults: Callable[[dict[str, Any]], None],
    events: WebhookEventStore,
    fasten_partition: RawPartition,
) -> None:
    client = _fasten(sandbox)
    export = _connected(sandbox, events, client)
    url = export.data["download_links"][0]["url"]
    paths = _request_log(client)
    faults({"server_error": {"route": "download", "times": 10, "status": 500}})

    with pytest.raises(VendorError) as raised:
        client.download(url, fasten_partition, {})

    assert _count(paths, "/files/") == 4
    assert str(raised.value) == "download: HTTP 500"
    assert inbox_entries(fasten_partition) == []
    assert_phi_free(raised.value, url, httpx.URL(url).params["signature"], "127.0.0.1")


def test_expired_download_link_is_a_clear_final_error(
    sandbox: str,
    faults: Callable[[dict[str, Any]], None],
    events: WebhookEventStore,
    fasten_partition: RawPartition,
) -> None:
    client = _fasten(sandbox)
    faults({"expire_links": True})
    export = _connected(sandbox, events, client)
    url = export.data["download_links"][0]["url"]
    paths = _request_log(client)

    with pytest.raises(VendorError) as raised:
        client.download(url, fasten_partition, {})

    assert str(raised.value) == "download: download link expired (HTTP 403)"
    assert _count(paths, "/v1/downloads/") == 1
    assert inbox_entries(fasten_partition) == []
    assert_phi_free(raised.value, url, httpx.URL(url).params["signature"], "127.0.0.1")


def test_duplicate_webhooks_are_stored_once_and_refresh_brings_a_new_export(
    sandbox: str, faults: Callable[[dict[str, Any]], None], events: WebhookEventStore
) -> None:
    client = _fasten(sandbox)
    faults({"duplicate_webhooks": True})
    first = _connected(sandbox, events, client)

    task_id = client.request_export(first.data["org_connection_id"])

    exports = _exports_of(events, first.data["external_id"], 2, task_id)
    assert task_id in {e.data["task_id"] for e in exports}
    stored = events.events_after(0, 10_000)
    assert len({e.event_id for e in stored}) == len(stored)
