"""Injected faults: what the next requests on a route suffer, each consumed as ``times`` says.

The configuration is the JSON ``POST /sandbox/faults`` takes (see docs/vendor-apis.md); the
``faulty`` decorator applies the per-request ones around an endpoint.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

Route = Literal["token", "link", "everything", "update_data", "download", "connect"]
ROUTES: frozenset[str] = frozenset(get_args(Route))
FailureReason = Literal[
    "token_refresh_failure",
    "scope_patient_missing",
    "resource_patient_failure",
    "resource_invalid_content",
    "suppressed_please_contact",
]
FAILURE_REASONS: frozenset[str] = frozenset(get_args(FailureReason))
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass
class RouteFault:
    """A fault on one route that affects the next ``times`` requests there."""

    route: Route
    times: int = 1
    retry_after: str = "1"
    """For rate limits: the ``Retry-After`` value, seconds or an HTTP-date."""
    status: int = 500
    """For server errors: 500 or 503."""
    seconds: float = 1.0
    """For slow answers: wall-clock seconds to wait (not scaled, it exercises client timeouts)."""


@dataclass
class FaultConfig:
    """The whole fault configuration; counted faults are decremented in place as they fire."""

    expire_token: int = 0
    rate_limit: RouteFault | None = None
    server_error: RouteFault | None = None
    truncate: RouteFault | None = None
    slow: RouteFault | None = None
    expire_links: bool = False
    patient_action_needed: frozenset[str] = frozenset()
    export_failed: dict[str, FailureReason] = field(default_factory=dict)
    duplicate_webhooks: bool = False
    reorder_webhooks: bool = False
    bad_file: frozenset[str] = frozenset()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultConfig:
        """Validate and build; raises ValueError on unknown keys, routes or reasons."""
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        failed = dict(data.get("export_failed", {}))
        bad_reasons = set(failed.values()) - FAILURE_REASONS
        if bad_reasons:
            raise ValueError(f"unknown failure_reason: {sorted(bad_reasons)}")
        expire_token = data.get("expire_token") or {}
        return cls(
            expire_token=int(expire_token.get("times", 1)) if expire_token else 0,
            rate_limit=_route_fault(data.get("rate_limit")),
            server_error=_route_fault(data.get("server_error")),
            truncate=_route_fault(data.get("truncate")),
            slow=_route_fault(data.get("slow")),
            expire_links=bool(data.get("expire_links", False)),
            patient_action_needed=frozenset(data.get("patient_action_needed", ())),
            export_failed=cast(dict[str, FailureReason], failed),
            duplicate_webhooks=bool(data.get("duplicate_webhooks", False)),
            reorder_webhooks=bool(data.get("reorder_webhooks", False)),
            bad_file=frozenset(data.get("bad_file", ())),
        )


def _route_fault(data: dict[str, Any] | None) -> RouteFault | None:
    if not data:
        return None
    route = data.get("route")
    if route not in ROUTES:
        raise ValueError(f"fault route must be one of {sorted(ROUTES)}")
    status = int(data.get("status", 500))
    if not 500 <= status <= 599:
        raise ValueError("server_error status must be 5xx")
    return RouteFault(
        route=cast(Route, route),
        times=int(data.get("times", 1)),
        retry_after=str(data.get("retry_after", "1")),
        status=status,
        seconds=float(data.get("seconds", 1.0)),
    )


class FaultState:
    """The live fault configuration of one sandbox process."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config

    def replace(self, config: FaultConfig) -> None:
        """Swap in a new configuration (``POST /sandbox/faults``)."""
        self.config = config

    def take(
        self, kind: Literal["rate_limit", "server_error", "truncate", "slow"], route: Route
    ) -> RouteFault | None:
        """The fault of that kind if it targets ``route``, consuming one of its ``times``."""
        fault: RouteFault | None = getattr(self.config, kind)
        if fault is None or fault.route != route or fault.times <= 0:
            return None
        fault.times -= 1
        if fault.times <= 0:
            setattr(self.config, kind, None)
        return fault

    def take_expired_token(self) -> bool:
        """Whether this authenticated request must be refused as if its token had expired."""
        if self.config.expire_token <= 0:
            return False
        self.config.expire_token -= 1
        return True


def faults_of(request: Request) -> FaultState:
    """The fault state the app factory put on the app."""
    return cast(FaultState, request.app.state.faults)


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The vendors' error shape: ``{"error": ...}``."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def faulty(route: Route) -> Callable[[Endpoint], Endpoint]:
    """Apply slow, rate-limit, server-error and truncate faults around an endpoint."""

    def wrap(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            faults = faults_of(request)
            slow = faults.take("slow", route)
            if slow is not None:
                await asyncio.sleep(slow.seconds)
            limited = faults.take("rate_limit", route)
            if limited is not None:
                return error(429, "rate limited", {"Retry-After": limited.retry_after})
            failed = faults.take("server_error", route)
            if failed is not None:
                return error(failed.status, "server error")
            response = await endpoint(request)
            if response.status_code < 300 and faults.take("truncate", route) is not None:
                _truncate(response)
            return response

        return guarded

    return wrap


def _truncate(response: Response) -> None:
    """Cut the body in half with a matching Content-Length, so only parsing the body fails."""
    if isinstance(response, StreamingResponse):
        limit = int(response.headers.get("content-length", "0")) // 2
        response.body_iterator = _cut(response.body_iterator, limit)
    else:
        limit = len(response.body) // 2
        response.body = bytes(response.body[:limit])
    response.headers["content-length"] = str(limit)


async def _cut(chunks: AsyncIterable[str | bytes | memoryview], limit: int) -> AsyncIterator[bytes]:
    """The first ``limit`` bytes of a streamed body."""
    sent = 0
    async for chunk in chunks:
        data = chunk.encode() if isinstance(chunk, str) else bytes(chunk)
        piece = data[: max(limit - sent, 0)]
        sent += len(piece)
        if piece:
            yield piece
        if sent >= limit:
            return
