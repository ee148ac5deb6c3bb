"""The one place that decides when a vendor call is retried, for how long, and what it raises.

Errors raised from here name the operation and the HTTP status only: vendor URLs carry patient
ids, tokens and signatures, so neither they nor httpx's exceptions (which hold the request) are
ever chained onto what callers see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
import orjson
import stamina

T = TypeVar("T")

_RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Answers that prove the vendor did not act on the request, so even a non-idempotent call may
# be repeated; a transport error other than failing to connect leaves that unknown.
_NOT_PROCESSED_STATUSES = frozenset({429, 503})


class VendorError(Exception):
    """A vendor call that failed for good; the message is PHI-free by construction."""

    def __init__(self, operation: str, status: int | None = None, reason: str | None = None):
        self.operation = operation
        self.status = status
        self.reason = reason
        detail = reason or (f"HTTP {status}" if status is not None else "failed")
        if reason and status is not None:
            detail = f"{reason} (HTTP {status})"
        super().__init__(f"{operation}: {detail}")


class TransientVendorError(VendorError):
    """A failure worth another attempt; ``retry_after`` is the vendor's requested pause."""

    def __init__(
        self,
        operation: str,
        status: int | None = None,
        reason: str | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(operation, status, reason)
        self.retry_after = retry_after


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait per a ``Retry-After`` header (delta-seconds or HTTP-date), never negative."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def check_status(operation: str, response: httpx.Response) -> None:
    """Raise for an error answer: transient (429, 5xx) or final (any other 4xx)."""
    status = response.status_code
    if status in _RETRYABLE_STATUSES:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise TransientVendorError(operation, status, retry_after=retry_after)
    if status >= 400:
        raise VendorError(operation, status)


def read_json(operation: str, response: httpx.Response) -> Any:
    """Decode a JSON answer; a cut-off or garbled body is transient (the next try may be whole)."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise TransientVendorError(
            operation, response.status_code, reason="truncated or invalid JSON body"
        ) from None


def required_field(operation: str, document: Any, name: str) -> str:
    """A required string field of a vendor answer; a missing one is a final, PHI-free error."""
    value = document.get(name) if isinstance(document, dict) else None
    if not isinstance(value, str) or not value:
        raise VendorError(operation, reason=f"answer without '{name}'")
    return value


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter; a vendor's ``Retry-After`` wins, up to a cap."""

    attempts: int = 5
    budget_seconds: float = 120.0
    wait_initial: float = 0.5
    wait_max: float = 10.0
    wait_jitter: float = 1.0
    retry_after_max: float = 60.0

    def run(self, operation: str, call: Callable[[], T], *, idempotent: bool = True) -> T:
        """Call until it succeeds, fails for good, or the attempts or time budget run out.

        A non-idempotent call is repeated only when the vendor certainly did not act on it.
        """

        def backoff(exc: Exception) -> bool | float:
            if isinstance(exc, httpx.UnsupportedProtocol):
                return False
            if isinstance(exc, httpx.TransportError):
                return idempotent or isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
            if not isinstance(exc, TransientVendorError):
                return False
            if not idempotent and exc.status not in _NOT_PROCESSED_STATUSES:
                return False
            if exc.retry_after is None:
                return True
            return min(exc.retry_after, self.retry_after_max)

        try:
            for attempt in stamina.retry_context(
                on=backoff,
                attempts=self.attempts,
                timeout=self.budget_seconds,
                wait_initial=self.wait_initial,
                wait_max=self.wait_max,
                wait_jitter=self.wait_jitter,
            ):
                with attempt:
                    return call()
        except TransientVendorError as exc:
            raise VendorError(operation, exc.status, exc.reason) from None
        except httpx.TransportError as exc:
            raise VendorError(operation, reason=f"transport error {type(exc).__name__}") from None
        raise AssertionError("stamina ended without a result or an error")
