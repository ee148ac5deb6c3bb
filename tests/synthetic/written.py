"""Written deliveries, read back with plain ``json`` independently of the generator's code."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from healthex_pipeline.synthetic import SyntheticDelivery, SyntheticUser

Resource = dict[str, Any]


@dataclass(frozen=True)
class Written:
    """A delivery, the directory it was written to and the paths ``write`` returned."""

    account_id: str
    delivery: SyntheticDelivery
    directory: Path
    paths: list[Path]


def write_population(users: list[SyntheticUser], root: Path) -> list[Written]:
    """Write every delivery into a directory of its own, as the demo does."""
    out: list[Written] = []
    for user in users:
        for number, delivery in enumerate(user.deliveries):
            directory = root / user.account_id / f"{number}-{delivery.connector}"
            out.append(Written(user.account_id, delivery, directory, delivery.write(directory)))
    return out


def _documents(path: Path) -> Iterator[tuple[str, bytes]]:
    """Yield (locator, JSON text) for every document in a written path."""
    if path.is_dir():
        for child in sorted(p for p in path.rglob("*.json") if p.is_file()):
            yield str(child), child.read_bytes()
    elif path.name.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
            for name in sorted(archive.namelist()):
                if "/clinical-records/" in name and name.endswith(".json"):
                    yield f"{path}!{name}", archive.read(name)
    elif path.name.endswith((".ndjson", ".ndjson.gz")):
        data = path.read_bytes()
        data = gzip.decompress(data) if path.name.endswith(".gz") else data
        for number, line in enumerate(data.splitlines(), start=1):
            if line.strip():
                yield f"{path}:{number}", line
    else:
        yield str(path), path.read_bytes()


def read_resources(paths: list[Path]) -> Iterator[tuple[str, Resource]]:
    """Yield (locator, resource) for every resource: bundle entries, lines, Apple files."""
    for path in paths:
        for locator, text in _documents(path):
            document = json.loads(text)
            if document["resourceType"] != "Bundle":
                yield locator, document
                continue
            for number, entry in enumerate(document["entry"]):
                yield f"{locator}#entry{number}", entry["resource"]


def read_bundles(paths: list[Path]) -> Iterator[tuple[str, Resource]]:
    """Yield (locator, bundle) for every Bundle file."""
    for path in paths:
        if path.is_file() and path.name.endswith(".json"):
            document = json.loads(path.read_bytes())
            if document["resourceType"] == "Bundle":
                yield str(path), document


def is_laboratory(resource: Resource) -> bool:
    """An Observation with a category coding ``laboratory`` (category is one object in DSTU2)."""
    if resource["resourceType"] != "Observation":
        return False
    categories = resource.get("category", [])
    categories = [categories] if isinstance(categories, dict) else categories
    return any(c.get("code") == "laboratory" for cat in categories for c in cat.get("coding", []))
