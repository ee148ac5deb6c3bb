from __future__ import annotations

import pytest

from healthex_pipeline.synthetic import SyntheticDelivery, SyntheticUser, generate_population
from tests.synthetic.written import Written, write_population


@pytest.fixture(scope="session")
def population() -> list[SyntheticUser]:
    return generate_population()


@pytest.fixture(scope="session")
def deliveries(population: list[SyntheticUser]) -> list[SyntheticDelivery]:
    return [delivery for user in population for delivery in user.deliveries]


@pytest.fixture(scope="session")
def written(
    population: list[SyntheticUser], tmp_path_factory: pytest.TempPathFactory
) -> list[Written]:
    return write_population(population, tmp_path_factory.mktemp("population"))
