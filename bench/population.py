"""The project's synthetic population as one NDJSON file of mixed R4 resources, at any size.

``healthex_pipeline.synthetic.generate_population`` builds users and serializes each delivery in
its connector's container (bundles, NDJSON, Apple files, zips). A throughput benchmark needs the
same resources as plain lines, a given count of them, without the containers: this module builds
deliveries exactly as the population does (a person, the delivery shape's EHR conventions, the
patient, the organization and ``build_history``; Apple deliveries keep only what Apple
downloads) and writes their resources, one a line, until ``count`` are written. Only R4 shapes
are drawn (the DSTU2 shape is a file import). Seeded: same seed and count, same bytes.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
from tqdm import tqdm

from healthex_pipeline.synthetic import population
from healthex_pipeline.synthetic.demographics import make_person
from healthex_pipeline.synthetic.history import Generated, build_history
from healthex_pipeline.synthetic.ids import new_id, npi
from healthex_pipeline.synthetic.resources import organization, patient
from healthex_pipeline.synthetic.source import Source

R4_VARIANTS = tuple(v for v in population.VARIANTS if v.fhir_version == population.R4)
_CHUNK = 20_000


def _delivery_resources(rng: random.Random, index: int) -> list[dict[str, Any]]:
    """One R4 delivery's resources, built the way ``population`` builds them."""
    variant = rng.choices(R4_VARIANTS, weights=[max(v.weight, 1) for v in R4_VARIANTS])[0]
    person = make_person(rng)
    flavor = population._flavor(rng, variant)  # the delivery shape's EHR conventions
    facility = rng.choice(population.ORGANIZATION_NAMES)
    src = Source(
        rng=rng,
        person=person,
        flavor=flavor,
        patient_id=new_id(rng, flavor.id_style),
        organization_id=new_id(rng, flavor.id_style),
        organization_name=facility.format(city=person.place.city),
    )
    mrn_system = f"urn:oid:1.2.840.114350.1.13.{rng.randrange(100, 999)}.2.7.5.737384.14"
    error = population.ERROR_CYCLE[index % len(population.ERROR_CYCLE)]
    generated = [
        Generated(patient(src, mrn_system, str(rng.randrange(10**6, 10**9))), None),
        Generated(organization(src, npi(rng), f"{rng.randrange(1, 999)} Main Street"), None),
        *build_history(src, error),
    ]
    resources = [g.resource for g in generated]
    if variant.connector == "apple_health":
        resources = [r for r in resources if r["resourceType"] in population.APPLE_TYPES]
    return resources


def resources(count: int, seed: int) -> Iterator[dict[str, Any]]:
    """``count`` resources of the population, delivery after delivery (the last one cut)."""
    rng = random.Random(seed)
    written = 0
    index = 0
    while written < count:
        delivery = _delivery_resources(random.Random(rng.getrandbits(64)), index)
        index += 1
        yield from delivery[: count - written]
        written += min(len(delivery), count - written)


def write_ndjson(
    path: Path, count: int, seed: int, checkpoints: Sequence[int] = (), progress: bool = True
) -> dict[int, dict[str, int]]:
    """Write ``count`` resources to ``path``, one a line.

    Returns the count of each resource type in the first ``n`` lines, for ``count`` and each
    of ``checkpoints`` (the first ``n`` lines are the population of size ``n``: the same seed
    writes the same resources in the same order whatever the count).
    """
    marks = sorted({n for n in checkpoints if 0 < n < count} | {count})
    types: Counter[str] = Counter()
    counted: dict[int, dict[str, int]] = {}
    lines: list[bytes] = []
    with (
        path.open("wb") as out,
        tqdm(total=count, desc="generate", unit="res", disable=not progress) as bar,
    ):
        for number, resource in enumerate(resources(count, seed), start=1):
            types[resource["resourceType"]] += 1
            lines.append(orjson.dumps(resource))
            if number == marks[0]:
                counted[marks.pop(0)] = dict(sorted(types.items()))
            if len(lines) == _CHUNK or not marks:
                out.write(b"\n".join(lines) + b"\n")
                bar.update(len(lines))
                lines = []
    return counted


def write_prefix(source: Path, path: Path, count: int) -> Path:
    """The first ``count`` lines of ``source`` as their own NDJSON file."""
    with source.open("rb") as lines, path.open("wb") as out:
        for number, line in enumerate(lines):
            if number == count:
                break
            out.write(line)
    return path


def write_bundles(source: Path, directory: Path, per_bundle: int) -> int:
    """Wrap ``source``'s lines into ``collection`` Bundles of ``per_bundle`` entries each.

    One file per bundle under ``directory`` (the folder fhiry's bundle path reads); returns
    the bytes written. The entries carry ``urn:uuid`` fullUrls, as Synthea-style bundles do.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written = 0
    number = 0
    entries: list[bytes] = []

    def flush() -> int:
        nonlocal number
        data = (
            b'{"resourceType":"Bundle","type":"collection","entry":[' + b",".join(entries) + b"]}"
        )
        (directory / f"bundle-{number:06d}.json").write_bytes(data)
        number += 1
        return len(data)

    with source.open("rb") as lines:
        for line in lines:
            resource = line.rstrip(b"\n")
            if not resource:
                continue
            resource_id = orjson.loads(resource).get("id", f"entry-{len(entries)}")
            entries.append(
                b'{"fullUrl":"urn:uuid:%s","resource":%s}' % (resource_id.encode(), resource)
            )
            if len(entries) == per_bundle:
                written += flush()
                entries = []
    if entries:
        written += flush()
    return written
