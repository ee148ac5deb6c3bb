"""HealthEx's API: token, enrollment link, patient consent, ``$everything`` and ``$updateData``."""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from healthex_pipeline.sandbox import bundles
from healthex_pipeline.sandbox.auth import authenticated, issue
from healthex_pipeline.sandbox.delivery import scheduler_of
from healthex_pipeline.sandbox.faults import error, faults_of, faulty
from healthex_pipeline.sandbox.population import distinct_resources
from healthex_pipeline.sandbox.state import Assignment, PoolExhaustedError, state_of

log = logging.getLogger(__name__)
DEFAULT_COUNT = 50
MAX_COUNT = 1000
FHIR_JSON = "application/fhir+json"
ACTION_NEEDED = "PATIENT_ACTION_NEEDED"
NO_ACTION_NEEDED = "IN_PROGRESS_NO_ACTION_NEEDED"


async def _json_body(request: Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@faulty("token")
async def token(request: Request) -> Response:
    """``POST /v1/auth/token``: trade the API key and secret for a 24 h bearer token."""
    body = await _json_body(request)
    config = state_of(request).config
    if body is None or (body.get("apiKey"), body.get("apiSecret")) != (
        config.api_key,
        config.api_secret,
    ):
        return error(401, "invalid credentials")
    return JSONResponse({"token": issue(state_of(request).secret, config.api_key)})


@faulty("link")
@authenticated
async def link(request: Request) -> Response:
    """``POST /v1/projects/{projectId}/link``: the link a patient opens to share records."""
    state = state_of(request)
    if request.path_params["project_id"] != state.config.project_id:
        return error(404, "unknown project")
    body = await _json_body(request)
    external_id = body.get("externalId") if body else None
    if not isinstance(external_id, str) or not external_id:
        return error(400, "externalId is required")
    assignment = state.enroll("healthex", external_id, secrets.token_urlsafe(16))
    url = f"{_base(request)}/v1/consent/{assignment.vendor_id}"
    return JSONResponse({"link": url, "externalId": external_id})


async def consent(request: Request) -> Response:
    """``GET {link}``: the patient consents; their facilities then deliver, each after a delay."""
    state = state_of(request)
    assignment = state.by_vendor_id.get(request.path_params["link_token"])
    if assignment is None or assignment.connector != "healthex":
        return error(404, "unknown link")
    try:
        fresh = state.consent(assignment)
    except PoolExhaustedError:
        return error(409, "no synthetic patient left in the healthex pool")
    patient = assignment.require_patient()
    if fresh:
        scheduler_of(request).push_all(assignment)
        log.info("consent: pool patient %d", patient.pool_index)
    return JSONResponse({"healthexPatientId": patient.patient_id})


def _patient_assignment(request: Request) -> Assignment | None:
    assignment = state_of(request).by_patient_id.get(request.path_params["patient_id"])
    if assignment is None or assignment.connector != "healthex":
        return None
    return assignment


def _int_param(request: Request, name: str, default: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    return int(raw) if raw.isdigit() else None


@faulty("everything")
@authenticated
async def everything(request: Request) -> Response:
    """``GET /FHIR/R4/Person/{id}/$everything``: released facilities' resources, paged."""
    state = state_of(request)
    assignment = _patient_assignment(request)
    if assignment is None:
        return error(404, "unknown patient")
    count = _int_param(request, "_count", DEFAULT_COUNT)
    offset = _int_param(request, "_offset", 0)
    if count is None or offset is None or count < 1:
        return error(400, "_count and _offset must be non-negative integers, _count >= 1")
    count = min(count, MAX_COUNT)
    released = assignment.released(state.config.time_scale, time.time())
    resources = distinct_resources(released)
    patient = assignment.require_patient()
    base = _base(request)
    page_url = f"{base}{request.url.path}?_count={count}&_offset={{}}"
    links = {"self": page_url.format(offset)}
    if offset + count < len(resources):
        links["next"] = page_url.format(offset + count)
    warning = patient.warning if offset == 0 else None
    body = bundles.searchset_page(
        str(uuid.uuid4()),
        resources[offset : offset + count],
        len(resources),
        links,
        f"{base}/FHIR/R4",
        warning,
    )
    return Response(body, media_type=FHIR_JSON)


@faulty("update_data")
@authenticated
async def update_data(request: Request) -> Response:
    """``POST .../identified-patients/{id}/$updateData``: pull fresh data from every facility."""
    state = state_of(request)
    if request.path_params["project_id"] != state.config.project_id:
        return error(404, "unknown project")
    assignment = _patient_assignment(request)
    if assignment is None:
        return error(404, "unknown patient")
    if assignment.external_id in faults_of(request).config.patient_action_needed:
        return JSONResponse({"message": ACTION_NEEDED}, status_code=201)
    scheduler_of(request).push_all(assignment)
    return JSONResponse({"message": NO_ACTION_NEEDED}, status_code=201)


routes = [
    Route("/v1/auth/token", token, methods=["POST"]),
    Route("/v1/projects/{project_id}/link", link, methods=["POST"]),
    Route("/v1/consent/{link_token}", consent, methods=["GET"]),
    Route("/FHIR/R4/Person/{patient_id}/$everything", everything, methods=["GET"]),
    Route(
        "/v1/projects/{project_id}/recruitment/identified-patients/{patient_id}/$updateData",
        update_data,
        methods=["POST"],
    ),
]
