"""A seeded population of users, each with 1-3 deliveries from different connectors.

Users' first deliveries take turns through a shuffled rotation holding every delivery shape, so
any population of at least 12 users (the rotation's length) contains every shape; further
deliveries are drawn at random. All randomness flows from one ``random.Random(seed)``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, time
from typing import Literal

from healthex_pipeline.synthetic import dstu2, formats
from healthex_pipeline.synthetic.demographics import AS_OF, STREETS, Person, make_person
from healthex_pipeline.synthetic.history import TABLES, ErrorType, Generated, build_history
from healthex_pipeline.synthetic.ids import IdStyle, new_id, npi
from healthex_pipeline.synthetic.models import (
    Connector,
    DeliveryKind,
    FhirVersion,
    SyntheticDelivery,
    SyntheticUser,
)
from healthex_pipeline.synthetic.references import RefStyle
from healthex_pipeline.synthetic.resources import organization, patient
from healthex_pipeline.synthetic.source import Flavor, Resource, Source
from healthex_pipeline.synthetic.timing import aware

R4: FhirVersion = "4.0.1"
DSTU2: FhirVersion = "1.0.2"
BundleType = Literal["searchset", "collection", "transaction"]
CONNECTORS: tuple[Connector, ...] = ("healthex", "fasten", "apple_health")
APPLE_TYPES = frozenset(
    {"Observation", "MedicationRequest", "MedicationStatement", "Immunization", "Condition"}
)
"""What Apple Health downloads from a provider: no Patient, Encounter or Organization."""
APPLE_WITHOUT_ID_SHARE = 0.2
HEALTHEX_BASE_URL = "https://api.healthex.io/FHIR/R4"
WARNINGS = (
    "Records from 1 of 2 linked organizations could not be retrieved. Try again later.",
    "Some information was not returned because the organization restricts it from patients.",
)
ORGANIZATION_NAMES = (
    "{city} Family Medicine",
    "{city} Community Health Center",
    "{city} Internal Medicine Associates",
    "Mercy Primary Care of {city}",
    "St. Luke's Medical Group",
    "Riverside Health Partners",
)
ERROR_CYCLE: tuple[ErrorType | None, ...] = (
    "Observation",
    None,
    None,
    "MedicationRequest",
    None,
    None,
    "Immunization",
    None,
    None,
    None,
)
"""Which delivery (by position in the population) carries one entered-in-error resource."""


@dataclass(frozen=True, slots=True)
class Variant:
    """A delivery shape: connector, container, FHIR version and bundle type."""

    connector: Connector
    kind: DeliveryKind
    fhir_version: FhirVersion
    bundle_type: BundleType | None = None
    warning: bool = False
    slots: int = 1
    """How many turns the shape has in the rotation of users' first deliveries."""
    weight: int = 1
    """How often the shape is drawn for a user's further deliveries."""


VARIANTS = (
    Variant("healthex", "bundle", R4, "searchset", slots=2, weight=3),
    Variant("healthex", "bundle", R4, "searchset", warning=True, weight=2),
    Variant("fasten", "ndjson", R4, slots=2, weight=4),
    Variant("fasten", "ndjson_gz", R4, slots=2, weight=3),
    Variant("fasten", "bundle", R4, "collection"),
    Variant("fasten", "bundle", R4, "transaction"),
    Variant("fasten", "bundle", DSTU2, "transaction", weight=0),
    Variant("apple_health", "apple_folder", R4, weight=2),
    Variant("apple_health", "apple_zip", R4, weight=2),
)


def _flavor(rng: random.Random, variant: Variant) -> Flavor:
    """The writing conventions of the EHR behind a delivery shape."""
    if variant.fhir_version == DSTU2:
        return Flavor(RefStyle.URN, "uuid", ("codeable",), 0.0, local_codings=False)
    if variant.connector == "apple_health":
        return Flavor(RefStyle.APPLE, "epic", ("contained", "codeable"), 0.5, local_codings=True)
    if variant.bundle_type in ("collection", "transaction"):
        return Flavor(RefStyle.URN, "uuid", ("codeable", "bundled"), 0.0, local_codings=False)
    epic_like = rng.random() < 0.5
    id_style: IdStyle = "epic" if epic_like else "uuid"
    styles = ("codeable", "contained", "bundled") if epic_like else ("codeable", "bundled")
    return Flavor(RefStyle.RELATIVE, id_style, styles, 0.1, local_codings=epic_like)


def _files(
    variant: Variant, resources: list[Resource], rng: random.Random, person: Person
) -> dict[str, bytes]:
    """Serialize the resources in the delivery's container."""
    fetched_at = datetime.combine(AS_OF, time(rng.randrange(8, 20), rng.randrange(60)))
    fetched = aware(fetched_at, person.place).isoformat(timespec="seconds")
    if variant.kind in ("ndjson", "ndjson_gz"):
        return formats.ndjson(resources, compress=variant.kind == "ndjson_gz")
    if variant.bundle_type == "searchset":
        warning = rng.choice(WARNINGS) if variant.warning else None
        data = formats.searchset(resources, HEALTHEX_BASE_URL, fetched, rng, warning)
        return {"everything.json": data}
    if variant.bundle_type is not None:
        data = formats.urn_bundle(resources, variant.bundle_type, fetched, rng)
        suffix = "-dstu2" if variant.fhir_version == DSTU2 else ""
        return {f"records-{variant.bundle_type}{suffix}.json": data}
    records = formats.apple_records(resources, rng, APPLE_WITHOUT_ID_SHARE)
    if variant.kind == "apple_folder":
        return records
    birth_date = person.birth_date.isoformat()
    return {"export.zip": formats.apple_zip(records, aware(fetched_at, person.place), birth_date)}


def _delivery(
    rng: random.Random, person: Person, variant: Variant, facility: str, error: ErrorType | None
) -> SyntheticDelivery:
    """Build one delivery's resources, count them by table, and serialize them."""
    flavor = _flavor(rng, variant)
    src = Source(
        rng=rng,
        person=person,
        flavor=flavor,
        patient_id=new_id(rng, flavor.id_style),
        organization_id=new_id(rng, flavor.id_style),
        organization_name=facility.format(city=person.place.city),
    )
    mrn_system = f"urn:oid:1.2.840.114350.1.13.{rng.randrange(100, 999)}.2.7.5.737384.14"
    mrn = str(rng.randrange(10**6, 10**9))
    street = f"{rng.randrange(1, 999)} {rng.choice(STREETS)}"
    generated = [
        Generated(patient(src, mrn_system, mrn), None),
        Generated(organization(src, npi(rng), street), None),
        *build_history(src, error),
    ]
    if variant.connector == "apple_health":
        generated = [g for g in generated if g.resource["resourceType"] in APPLE_TYPES]
    resources = [g.resource for g in generated]
    if variant.fhir_version == DSTU2:
        resources = [dstu2.downgrade(r) for r in resources]
    return SyntheticDelivery(
        connector=variant.connector,
        fhir_version=variant.fhir_version,
        kind=variant.kind,
        files=_files(variant, resources, rng, person),
        expected={table: sum(g.table == table for g in generated) for table in TABLES},
    )


def _variants_of_user(rng: random.Random, first: Variant) -> list[Variant]:
    """The user's first delivery shape plus 0-2 more, each from another connector."""
    others = [c for c in CONNECTORS if c != first.connector]
    chosen = [first]
    for connector in rng.sample(others, rng.choice((0, 1, 1, 2))):
        candidates = [v for v in VARIANTS if v.connector == connector and v.weight > 0]
        chosen.append(rng.choices(candidates, weights=[v.weight for v in candidates])[0])
    return sorted(chosen, key=lambda v: CONNECTORS.index(v.connector))


def generate_population(n_users: int = 20, seed: int = 7) -> list[SyntheticUser]:
    """Generate ``n_users`` users; the same arguments always give byte-identical files."""
    rng = random.Random(seed)
    order = [variant for variant in VARIANTS for _ in range(variant.slots)]
    rng.shuffle(order)
    account_numbers = rng.sample(range(1, 10**6), n_users)
    users: list[SyntheticUser] = []
    delivery_count = 0
    for index, number in enumerate(account_numbers):
        user_rng = random.Random(rng.getrandbits(64))
        person = make_person(user_rng)
        variants = _variants_of_user(user_rng, order[index % len(order)])
        facilities = user_rng.sample(ORGANIZATION_NAMES, len(variants))
        deliveries: list[SyntheticDelivery] = []
        for variant, facility in zip(variants, facilities, strict=True):
            error = ERROR_CYCLE[delivery_count % len(ERROR_CYCLE)]
            delivery_rng = random.Random(user_rng.getrandbits(64))
            deliveries.append(_delivery(delivery_rng, person, variant, facility, error))
            delivery_count += 1
        users.append(SyntheticUser(f"acct-{number:06d}", deliveries))
    return users
