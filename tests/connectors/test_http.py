"""The retry policy on its own: Retry-After parsing, bounds, and PHI-free errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from healthex_pipeline.connectors.http import (
    RetryPolicy,
    TransientVendorError,
    VendorError,
    parse_retry_after,
)

NOW = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)
TINY = RetryPolicy(attempts=3, budget_seconds=10, wait_initial=0.001, wait_max=0.001, wait_jitter=0)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("2", 2.0),
        (" 120 ", 120.0),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        (format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_seconds_or_http_date(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


def test_attempts_are_bounded_and_the_error_names_operation_and_status() -> None:
    calls: list[int] = []

    def always_busy() -> None:
        calls.append(1)
        raise TransientVendorError("everything", 503)

    with pytest.raises(VendorError) as raised:
        TINY.run("everything", always_busy)

    assert len(calls) == 3
    assert str(raised.value) == "everything: HTTP 503"
    assert type(raised.value) is VendorError


def test_transport_errors_become_phi_free_vendor_errors() -> None:
    request = httpx.Request("GET", "https://vendor.example/Person/secret-id")

    def reset() -> None:
        raise httpx.ReadError("connection reset", request=request)

    with pytest.raises(VendorError) as raised:
        TINY.run("everything", reset)

    assert str(raised.value) == "everything: transport error ReadError"
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_final_errors_are_not_retried() -> None:
    calls: list[int] = []

    def not_found() -> None:
        calls.append(1)
        raise VendorError("everything", 404)

    with pytest.raises(VendorError):
        TINY.run("everything", not_found)
    assert len(calls) == 1


@pytest.mark.parametrize(("status", "expected_calls"), [(500, 1), (503, 3), (429, 3)])
def test_non_idempotent_calls_repeat_only_when_surely_not_processed(
    status: int, expected_calls: int
) -> None:
    calls: list[int] = []

    def fail() -> None:
        calls.append(1)
        raise TransientVendorError("request export", status)

    with pytest.raises(VendorError):
        TINY.run("request export", fail, idempotent=False)
    assert len(calls) == expected_calls


def test_time_budget_bounds_the_retries() -> None:
    policy = RetryPolicy(attempts=1000, budget_seconds=0.2, wait_initial=0.05, wait_max=0.05)
    calls: list[int] = []

    def busy() -> None:
        calls.append(1)
        raise TransientVendorError("auth", 500)

    with pytest.raises(VendorError):
        policy.run("auth", busy)
    assert 2 <= len(calls) <= 6
