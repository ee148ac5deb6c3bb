"""The event store: duplicates dropped, cursor reads in arrival order, shared across processes."""

from __future__ import annotations

from pathlib import Path

from healthex_pipeline.webhooks.store import WebhookEventStore


def test_a_repeated_event_id_is_dropped(tmp_path: Path) -> None:
    store = WebhookEventStore(tmp_path / "webhooks.sqlite")

    assert store.record("evt-1", "webhook.test", "2026-01-05T12:00:00+00:00", {}) is True
    assert store.record("evt-1", "webhook.test", "2026-01-05T12:00:09+00:00", {"x": 1}) is False

    [stored] = store.events_after(0, 10)
    assert (stored.event_id, stored.data, stored.received_at) == (
        "evt-1",
        {},
        "2026-01-05T12:00:00+00:00",
    )


def test_cursor_reads_pages_in_arrival_order_across_instances(tmp_path: Path) -> None:
    writer = WebhookEventStore(tmp_path / "webhooks.sqlite")
    for n in range(5):
        writer.record(f"evt-{n}", "patient.connection_success", "t", {"n": n})
    reader = WebhookEventStore(tmp_path / "webhooks.sqlite")

    first = reader.events_after(0, 2)
    rest = reader.events_after(first[-1].rowid, 10)

    assert [e.data["n"] for e in first + rest] == [0, 1, 2, 3, 4]
    assert reader.events_after(rest[-1].rowid, 10) == []
