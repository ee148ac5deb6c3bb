"""HealthEx API auth: HS256 JWTs valid 24 h, checked on every call but the token call."""

from __future__ import annotations

import functools
import time

import jwt
from starlette.requests import Request
from starlette.responses import Response

from healthex_pipeline.sandbox.faults import Endpoint, error, faults_of
from healthex_pipeline.sandbox.state import state_of

TOKEN_LIFETIME = 24 * 3600
ALGORITHM = "HS256"


def issue(secret: bytes, subject: str) -> str:
    """A bearer token for the API key ``subject``."""
    now = int(time.time())
    claims = {"sub": subject, "iat": now, "exp": now + TOKEN_LIFETIME}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def authenticated(endpoint: Endpoint) -> Endpoint:
    """Refuse with 401 unless a valid, unexpired bearer token comes with the request."""

    @functools.wraps(endpoint)
    async def checked(request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return error(401, "missing bearer token")
        try:
            jwt.decode(token, state_of(request).secret, algorithms=[ALGORITHM])
        except jwt.ExpiredSignatureError:
            return error(401, "token expired")
        except jwt.InvalidTokenError:
            return error(401, "invalid token")
        if faults_of(request).take_expired_token():
            return error(401, "token expired")
        return await endpoint(request)

    return checked
