"""Fasten's signed, expiring download links: ``?expires=<unix>&signature=<hex HMAC>``."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode


def _signature(secret: bytes, export_id: str, expires: int) -> str:
    return hmac.new(secret, f"{export_id}:{expires}".encode(), hashlib.sha256).hexdigest()


def signed_url(base_url: str, secret: bytes, export_id: str, expires: int) -> str:
    """The download link of an export, valid until ``expires``."""
    query = urlencode({"expires": expires, "signature": _signature(secret, export_id, expires)})
    return f"{base_url}/v1/downloads/{export_id}?{query}"


def valid(secret: bytes, export_id: str, expires: str, signature: str) -> bool:
    """Whether a link is untampered and unexpired."""
    if not expires.isdigit():
        return False
    expected = _signature(secret, export_id, int(expires))
    return hmac.compare_digest(expected, signature) and int(expires) > time.time()
