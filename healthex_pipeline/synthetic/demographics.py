"""Synthetic people: names, birth dates, US addresses and the time zone of where they live.

These values are data-layer PHI in shape only; they are invented, so the files may carry them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from healthex_pipeline.synthetic.codes import CHRONIC_CONDITIONS, ChronicCondition

AS_OF = date(2025, 6, 30)
"""The snapshot date every history ends at, fixed so that output never depends on the clock."""

Gender = Literal["female", "male"]


@dataclass(frozen=True, slots=True)
class Place:
    """A US city with a ZIP code and its standard UTC offset (Arizona keeps no DST)."""

    city: str
    state: str
    zip_code: str
    utc_offset: int
    observes_dst: bool = True


@dataclass(frozen=True, slots=True)
class Person:
    """One synthetic patient, shared by every delivery of the same user."""

    given: str
    family: str
    gender: Gender
    birth_date: date
    street: str
    place: Place
    phone: str
    conditions: tuple[ChronicCondition, ...]
    smoking: int  # index into codes.SMOKING_ANSWERS
    height_cm: float

    def age_on(self, day: date) -> int:
        """Age in whole years on the given day."""
        had_birthday = (day.month, day.day) >= (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - (0 if had_birthday else 1)


PLACES = (
    Place("Springfield", "MA", "01103", -5),
    Place("Worcester", "MA", "01608", -5),
    Place("Albany", "NY", "12207", -5),
    Place("Columbus", "OH", "43215", -5),
    Place("Raleigh", "NC", "27601", -5),
    Place("Atlanta", "GA", "30303", -5),
    Place("Madison", "WI", "53703", -6),
    Place("Minneapolis", "MN", "55401", -6),
    Place("Austin", "TX", "78701", -6),
    Place("Denver", "CO", "80202", -7),
    Place("Phoenix", "AZ", "85004", -7, observes_dst=False),
    Place("Sacramento", "CA", "95814", -8),
    Place("Portland", "OR", "97204", -8),
    Place("Tacoma", "WA", "98402", -8),
)
FEMALE_NAMES = (
    "Maria", "Jennifer", "Linda", "Patricia", "Aisha", "Mei", "Olivia", "Sofia", "Grace",
    "Hannah", "Priya", "Rosa", "Deborah", "Keisha", "Emily", "Nora",
)  # fmt: skip
MALE_NAMES = (
    "James", "Robert", "Michael", "David", "Carlos", "Wei", "Ethan", "Daniel", "Samuel",
    "Andre", "Raj", "Thomas", "Luis", "Kevin", "Omar", "Henry",
)  # fmt: skip
FAMILY_NAMES = (
    "Smith", "Johnson", "Garcia", "Nguyen", "Okafor", "Patel", "Kim", "Brown", "Lopez",
    "Wilson", "Anderson", "Haddad", "Novak", "Schmidt", "Rivera", "Chen", "Murphy", "Kowalski",
    "Yamamoto", "Jackson",
)  # fmt: skip
STREETS = (
    "Maple Ave", "Oak St", "Elm St", "Washington Blvd", "Lakeview Dr", "Park Pl", "Cedar Ln",
    "Highland Ave", "Main St", "Ridge Rd", "Sunset Blvd", "Chestnut St",
)  # fmt: skip


def make_person(rng: random.Random) -> Person:
    """Draw one adult with 0-3 chronic conditions, more of them with age."""
    gender: Gender = rng.choice(("female", "male"))
    birth_date = date(1942, 1, 1) + timedelta(days=rng.randrange(365 * 60))
    age = AS_OF.year - birth_date.year
    n_conditions = min(len(CHRONIC_CONDITIONS), rng.choice((0, 1, 1, 2)) + age // 45)
    conditions = tuple(rng.sample(CHRONIC_CONDITIONS, n_conditions))
    height_mean = 162.0 if gender == "female" else 176.0
    return Person(
        given=rng.choice(FEMALE_NAMES if gender == "female" else MALE_NAMES),
        family=rng.choice(FAMILY_NAMES),
        gender=gender,
        birth_date=birth_date,
        street=f"{rng.randrange(10, 9900)} {rng.choice(STREETS)}",
        place=rng.choice(PLACES),
        phone=f"555-{rng.randrange(200, 1000):03d}-{rng.randrange(10000):04d}",
        conditions=conditions,
        smoking=rng.choices((0, 1, 2), weights=(6, 3, 1))[0],
        height_cm=round(rng.gauss(height_mean, 7.0), 1),
    )
