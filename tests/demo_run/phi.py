"""Patients' PHI as search strings, and a scan that reports where they occur, never what.

A string matches only as a whole token (no letter, digit or decimal point on either side), so
a five-digit ZIP code is not "found" inside a run id, a timestamp or a duration; the same
matcher must find every string in the decrypted data layer, which proves it is not blind.
"""

from __future__ import annotations

import re
import zipfile
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from healthex_pipeline.synthetic import SyntheticUser
from tests.support.expected import iter_resources

Kind = Literal["name", "birth_date", "identifier", "address"]
KINDS: tuple[Kind, ...] = ("name", "birth_date", "identifier", "address")
MIN_LENGTH = 3
"""Shorter strings (initials, a state code) would match by chance, not because PHI leaked."""
MIN_DIGITS = 5
"""A bare number shorter than a ZIP code (some fixtures' identifiers) is an event id or a row
count as often as it is an identifier, and identifies no one."""


def _searchable(value: str) -> bool:
    return len(value) >= (MIN_DIGITS if value.isdigit() else MIN_LENGTH)


def _strings(values: Iterable[Any]) -> set[str]:
    return {v.strip() for v in values if isinstance(v, str) and _searchable(v.strip())}


def patient_phi(resources: Iterable[Mapping[str, Any]]) -> dict[Kind, set[str]]:
    """Names, birth dates, identifiers (the Patient's own id among them) and address parts."""
    found: dict[Kind, set[str]] = {kind: set() for kind in KINDS}
    for resource in resources:
        if resource.get("resourceType") != "Patient":
            continue
        for name in resource.get("name") or []:
            found["name"] |= _strings(
                [name.get("family"), name.get("text"), *name.get("given", [])]
            )
        found["birth_date"] |= _strings([resource.get("birthDate")])
        identifiers = [i.get("value") for i in resource.get("identifier") or []]
        found["identifier"] |= _strings([resource.get("id"), *identifiers])
        for address in resource.get("address") or []:
            parts = [address.get("city"), address.get("postalCode"), address.get("text")]
            found["address"] |= _strings([*parts, *address.get("line", [])])
    return found


def merge(*sets: Mapping[Kind, set[str]]) -> dict[Kind, set[str]]:
    """Union per kind."""
    return {kind: set().union(*(s.get(kind, set()) for s in sets)) for kind in KINDS}


def population_phi(users: Iterable[SyntheticUser], scratch: Path) -> dict[Kind, set[str]]:
    """The Patients of every delivery, read back from the files the generator writes."""
    for index, user in enumerate(users):
        for number, delivery in enumerate(user.deliveries):
            delivery.write(scratch / f"{index}-{number}")
    for export in scratch.rglob("*.zip"):
        with zipfile.ZipFile(export) as archive:
            archive.extractall(export.with_suffix(""))
    return patient_phi(iter_resources(scratch))


_TOKEN = re.compile(rb"[A-Za-z0-9]")


def _is_boundary(data: bytes, start: int, end: int) -> bool:
    """No letter or digit touches the match, nor a decimal point with a digit beyond it."""
    before, after = data[max(0, start - 2) : start], data[end : end + 2]
    return not (
        (before and _TOKEN.match(before[-1:]))
        or (after and _TOKEN.match(after[:1]))
        or (len(before) == 2 and before[1:] == b"." and before[:1].isdigit())
        or (len(after) == 2 and after[:1] == b"." and after[1:].isdigit())
    )


def occurrences(data: bytes, string: str) -> int:
    """Whole-token occurrences of ``string`` in ``data`` (bytes.find, then a boundary check)."""
    needle, found, start = string.encode(), 0, data.find(string.encode())
    while start != -1:
        found += _is_boundary(data, start, start + len(needle))
        start = data.find(needle, start + 1)
    return found


def hits(sources: Mapping[str, bytes], phi: Mapping[Kind, set[str]]) -> Counter[tuple[str, Kind]]:
    """Occurrences per (source, kind): counts and places only, safe to print."""
    found: Counter[tuple[str, Kind]] = Counter()
    for kind in KINDS:
        for where, data in sources.items():
            if count := sum(occurrences(data, string) for string in phi.get(kind, set())):
                found[(where, kind)] += count
    return found


def missing(data: bytes, phi: Mapping[Kind, set[str]]) -> Counter[Kind]:
    """How many strings of each kind the matcher does not find in ``data``."""
    absent: Counter[Kind] = Counter()
    for kind in KINDS:
        absent[kind] += sum(not occurrences(data, string) for string in phi.get(kind, set()))
    return +absent


def counts(phi: Mapping[Kind, set[str]]) -> dict[Kind, int]:
    """Strings per kind, for reports."""
    return {kind: len(phi.get(kind, set())) for kind in KINDS}
