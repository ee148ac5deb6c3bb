"""Resource ids drawn from the seeded generator, so that the same seed gives the same ids."""

from __future__ import annotations

import random
import string
import uuid
from typing import Literal

IdStyle = Literal["uuid", "epic"]
_EPIC_ALPHABET = string.ascii_letters + string.digits


def new_uuid(rng: random.Random) -> str:
    """A version-4 UUID from the seeded generator (never ``uuid4()``, which is not seeded)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def new_id(rng: random.Random, style: IdStyle) -> str:
    """A resource id: a UUID, or an opaque Epic-like id (``e`` + 23 letters and digits)."""
    if style == "uuid":
        return new_uuid(rng)
    return "e" + "".join(rng.choices(_EPIC_ALPHABET, k=23))
