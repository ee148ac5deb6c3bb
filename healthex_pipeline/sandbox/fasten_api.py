"""Fasten Connect's API: the connect stand-in, export refresh, signed downloads and the files."""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import uuid
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from healthex_pipeline.sandbox import links
from healthex_pipeline.sandbox.delivery import org_connection_id, scheduler_of
from healthex_pipeline.sandbox.faults import error, faulty
from healthex_pipeline.sandbox.state import PoolExhaustedError, state_of

log = logging.getLogger(__name__)
CHUNK = 16 * 1024
NDJSON = "application/fhir+ndjson"


@faulty("connect")
async def connect(request: Request) -> Response:
    """``GET /v1/connect``: the patient completes Fasten Connect; webhooks follow."""
    state = state_of(request)
    if request.query_params.get("public_id") != state.config.fasten_public_id:
        return error(401, "unknown public_id")
    external_id = request.query_params.get("external_id")
    if not external_id:
        return error(400, "external_id is required")
    assignment = state.enroll("fasten", external_id, str(uuid.uuid4()))
    try:
        fresh = state.consent(assignment)
    except PoolExhaustedError:
        return error(409, "no synthetic patient left in the fasten pool")
    if fresh:
        scheduler_of(request).connect(assignment)
        log.info(
            "connect: pool patient %d as %s",
            assignment.require_patient().pool_index,
            assignment.vendor_id,
        )
    connections = [
        org_connection_id(assignment, f) for f in assignment.require_patient().facilities
    ]
    return JSONResponse({"org_connection_ids": connections})


def _basic_auth_ok(request: Request) -> bool:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    config = state_of(request).config
    expected = f"{config.fasten_public_id}:{config.fasten_private_key}"
    return hmac.compare_digest(decoded, expected)


async def ehi_export(request: Request) -> Response:
    """``POST /v1/bridge/fhir/ehi-export``: export the connection's record again."""
    if not _basic_auth_ok(request):
        return error(401, "invalid credentials")
    try:
        body = await request.json()
    except ValueError:
        body = None
    connection_id = str(body.get("org_connection_id") if isinstance(body, dict) else None)
    vendor_id, _, facility_id = connection_id.partition(".")
    assignment = state_of(request).by_vendor_id.get(vendor_id)
    if assignment is None or assignment.connector != "fasten" or assignment.patient is None:
        return error(404, "unknown org_connection_id")
    facility = next(
        (f for f in assignment.patient.facilities if f.facility_id == facility_id), None
    )
    if facility is None:
        return error(404, "unknown org_connection_id")
    task_id = scheduler_of(request).refresh(assignment, facility)
    return JSONResponse({"task_id": task_id}, status_code=202)


async def download(request: Request) -> Response:
    """``GET`` a signed link: 302 to the file's storage URL, 403 when expired or tampered."""
    state = state_of(request)
    export = state.exports.get(request.path_params["export_id"])
    expires = request.query_params.get("expires", "")
    signature = request.query_params.get("signature", "")
    if export is None:
        return error(404, "unknown export")
    if not links.valid(state.secret, export.export_id, expires, signature):
        return error(403, "link expired or invalid")
    location = f"{str(request.base_url).rstrip('/')}/files/{export.file_token}"
    return RedirectResponse(location, status_code=302)


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]


@faulty("download")
async def file(request: Request) -> Response:
    """``GET /files/{token}``: the export's NDJSON, streamed in chunks."""
    export = state_of(request).files.get(request.path_params["token"])
    if export is None:
        return error(404, "unknown file")
    headers = {"content-length": str(len(export.data))}
    return StreamingResponse(_chunks(export.data), media_type=NDJSON, headers=headers)


routes = [
    Route("/v1/connect", connect, methods=["GET"]),
    Route("/v1/bridge/fhir/ehi-export", ehi_export, methods=["POST"]),
    Route("/v1/downloads/{export_id}", download, methods=["GET"]),
    Route("/files/{token}", file, methods=["GET"]),
]
