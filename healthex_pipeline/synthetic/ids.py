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


def npi(rng: random.Random) -> str:
    """A 10-digit NPI whose last digit is the Luhn check digit over ``80840`` + the first nine."""
    body = "1" + "".join(rng.choices(string.digits, k=8))
    digits = [int(d) for d in "80840" + body]
    total = sum(
        d if i % 2 else (2 * d if 2 * d < 10 else 2 * d - 9) for i, d in enumerate(reversed(digits))
    )
    return body + str((10 - total % 10) % 10)
