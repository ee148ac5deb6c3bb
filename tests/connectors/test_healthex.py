"""HealthEx faults the sandbox cannot produce (resets, short-lived tokens, foreign links).

Every fault a server can produce is tested over real HTTP in ``test_sandbox.py``.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import httpx
import pytest
import respx

from healthex_pipeline.connectors.healthex import HealthExClient
from healthex_pipeline.connectors.http import VendorError
from healthex_pipeline.raw_zone import RawPartition
from tests.connectors.support import (
    ATTEMPTS,
    EXTERNAL_ID,
    HEALTHEX_URL,
    PATIENT_ID,
    assert_phi_free,
    inbox_entries,
    make_healthex,
    make_token,
)

TOKEN = make_token()
LINK_PATH = "/v1/projects/proj-1/link"
EVERYTHING_PATH = f"/FHIR/R4/Person/{PATIENT_ID}/$everything"
LINK_ANSWER = {"link": f"{HEALTHEX_URL}/consent/abc", "externalId": EXTERNAL_ID}


def _bundle(number: int, total: int) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": {"resourceType": "Observation", "id": f"obs-{number}"}}],
        "link": [],
    }
    if number < total:
        next_url = f"{HEALTHEX_URL}{EVERYTHING_PATH}?_count=2&_offset={number * 2}"
        bundle["link"].append({"relation": "next", "url": next_url})
    return bundle


@pytest.fixture
def token_route(vendor: respx.MockRouter) -> respx.Route:
    return vendor.post(f"{HEALTHEX_URL}/v1/auth/token").respond(200, json={"token": TOKEN})


def _link_route(vendor: respx.MockRouter) -> respx.Route:
    return vendor.post(f"{HEALTHEX_URL}{LINK_PATH}")


def _everything_route(vendor: respx.MockRouter) -> respx.Route:
    return vendor.get(f"{HEALTHEX_URL}{EVERYTHING_PATH}")


def _phi(error: VendorError) -> None:
    assert_phi_free(error, TOKEN, EXTERNAL_ID, PATIENT_ID, "healthex.example", "secret-1")


def test_token_near_its_expiry_is_renewed_before_use(
    healthex: HealthExClient, vendor: respx.MockRouter
) -> None:
    tokens = vendor.post(f"{HEALTHEX_URL}/v1/auth/token")
    tokens.side_effect = [
        httpx.Response(200, json={"token": make_token(lifetime=60)}),
        httpx.Response(200, json={"token": TOKEN}),
    ]
    _link_route(vendor).respond(200, json=LINK_ANSWER)

    healthex.create_link(EXTERNAL_ID)
    healthex.create_link(EXTERNAL_ID)

    assert tokens.call_count == 2


def test_works_as_a_dagster_resource_and_keeps_credentials_out_of_its_repr(
    vendor: respx.MockRouter, token_route: respx.Route
) -> None:
    _link_route(vendor).respond(200, json=LINK_ANSWER)
    links: list[str] = []

    @dg.asset
    def enrolment(healthex: HealthExClient) -> None:
        links.append(healthex.create_link(EXTERNAL_ID))

    result = dg.materialize([enrolment], resources={"healthex": make_healthex()})

    assert result.success and links == [LINK_ANSWER["link"]]
    assert "secret-1" not in repr(make_healthex()) and "key-1" not in repr(make_healthex())


@pytest.mark.parametrize(
    "fault",
    [httpx.ConnectTimeout("timed out"), httpx.ConnectError("refused"), httpx.ReadError("reset")],
    ids=["connect-timeout", "connection-refused", "connection-reset"],
)
def test_connection_faults_are_retried(
    healthex: HealthExClient,
    vendor: respx.MockRouter,
    token_route: respx.Route,
    partition: RawPartition,
    fault: Exception,
) -> None:
    pages = _everything_route(vendor)
    pages.side_effect = [fault, httpx.Response(200, json=_bundle(1, 1))]

    healthex.fetch_everything(PATIENT_ID, partition)

    assert pages.call_count == 2


def test_resets_stop_after_the_attempt_limit_and_leave_no_batch(
    healthex: HealthExClient,
    vendor: respx.MockRouter,
    token_route: respx.Route,
    partition: RawPartition,
) -> None:
    pages = _everything_route(vendor)
    pages.side_effect = [
        httpx.Response(200, json=_bundle(1, 2)),
        *[httpx.RemoteProtocolError("peer closed connection")] * ATTEMPTS,
    ]

    with pytest.raises(VendorError) as raised:
        healthex.fetch_everything(PATIENT_ID, partition)

    assert pages.call_count == 1 + ATTEMPTS
    assert raised.value.reason == "transport error RemoteProtocolError"
    assert inbox_entries(partition) == []
    _phi(raised.value)


def test_next_link_to_another_host_is_refused(
    healthex: HealthExClient,
    vendor: respx.MockRouter,
    token_route: respx.Route,
    partition: RawPartition,
) -> None:
    bundle = _bundle(1, 1) | {"link": [{"relation": "next", "url": "https://elsewhere.example/x"}]}
    _everything_route(vendor).respond(200, json=bundle)

    with pytest.raises(VendorError, match="next link outside the API"):
        healthex.fetch_everything(PATIENT_ID, partition)
    assert inbox_entries(partition) == []
