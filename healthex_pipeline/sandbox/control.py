"""The sandbox's own routes for tests and the demo: health, faults, and who got which patient."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from healthex_pipeline.sandbox.faults import FaultConfig, error, faults_of
from healthex_pipeline.sandbox.state import Assignment, state_of


async def health(request: Request) -> Response:
    """``GET /sandbox/health``: answers once the server is serving."""
    return JSONResponse({"ok": True})


async def set_faults(request: Request) -> Response:
    """``POST /sandbox/faults``: replace the whole fault configuration."""
    try:
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError("fault configuration must be a JSON object")
        config = FaultConfig.from_json(body)
    except (ValueError, TypeError, AttributeError) as exc:
        return error(400, f"invalid fault configuration: {exc}")
    faults_of(request).replace(config)
    return JSONResponse({"ok": True})


def _describe(assignment: Assignment, scale: float, now: float) -> dict[str, Any]:
    """Ids, timings and expected counts only: never the records themselves."""
    patient = assignment.patient
    described: dict[str, Any] = {
        "external_id": assignment.external_id,
        "vendor_id": assignment.vendor_id,
        "consented_at": assignment.consented_at,
        "patient": None,
    }
    if patient is None:
        return described
    released = {f.facility_id for f in assignment.released(scale, now)}
    described["patient"] = {
        "pool_index": patient.pool_index,
        "account_id": patient.account_id,
        "patient_id": patient.patient_id,
        "expected": patient.expected,
        "has_warning": patient.warning is not None,
        "facilities": [
            {
                "facility_id": f.facility_id,
                "slow": f.slow,
                "delay_seconds": f.delay_seconds * scale,
                "due_at": assignment.due_at(f, scale),
                "released": f.facility_id in released,
                "resources": len(f.resources),
                "expected": f.expected,
            }
            for f in patient.facilities
        ],
    }
    described["deliveries"] = [
        {"facility_ids": d.facility_ids, "delivery_id": d.delivery_id, "at": d.at, "ok": d.ok}
        for d in assignment.deliveries
    ]
    return described


async def patients(request: Request) -> Response:
    """``GET /sandbox/patients``: per connector, each ``externalId``'s patient and deliveries."""
    state = state_of(request)
    scale, now = state.config.time_scale, time.time()
    return JSONResponse(
        {
            connector: [_describe(a, scale, now) for a in assignments.values()]
            for connector, assignments in state.assignments.items()
        }
    )


routes = [
    Route("/sandbox/health", health, methods=["GET"]),
    Route("/sandbox/faults", set_faults, methods=["POST"]),
    Route("/sandbox/patients", patients, methods=["GET"]),
]
