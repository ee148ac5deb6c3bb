from __future__ import annotations

from collections.abc import Iterator

import pytest
import respx

from healthex_pipeline.connectors.fasten import FastenClient
from healthex_pipeline.connectors.healthex import HealthExClient
from healthex_pipeline.raw_zone import RawPartition
from healthex_pipeline.settings import Settings
from tests.connectors.support import make_fasten, make_healthex


@pytest.fixture
def vendor() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
def healthex() -> Iterator[HealthExClient]:
    client = make_healthex()
    yield client
    client.close()


@pytest.fixture
def fasten() -> Iterator[FastenClient]:
    client = make_fasten()
    yield client
    client.close()


@pytest.fixture
def partition(settings: Settings) -> RawPartition:
    return RawPartition.at(settings, "u_test", "healthex")
