from __future__ import annotations

from collections import Counter

import pytest

from healthex_pipeline.sandbox.config import DelayPlan, SandboxConfig
from healthex_pipeline.sandbox.population import build_pools, distinct_resources
from healthex_pipeline.sandbox.records import curated_counts, delivery_resources, table_of
from healthex_pipeline.synthetic import generate_population

N_USERS, SEED = 24, 5


def test_split_facilities_sum_to_the_generators_expected_counts() -> None:
    users = generate_population(N_USERS, SEED)
    pools = build_pools(N_USERS, SEED, DelayPlan())
    for connector in ("healthex", "fasten"):
        deliveries = [
            d
            for u in users
            for d in u.deliveries
            if d.connector == connector and d.fhir_version == "4.0.1"
        ]
        patients = pools.of(connector)
        assert len(patients) == len(deliveries)
        for patient, delivery in zip(patients, deliveries, strict=True):
            assert patient.expected == delivery.expected


def test_every_table_resource_is_in_exactly_one_facility_and_patient_in_all() -> None:
    pools = build_pools(N_USERS, SEED, DelayPlan())
    for patient in pools.healthex + pools.fasten:
        placed = Counter(
            (r["resourceType"], r["id"])
            for f in patient.facilities
            for r in f.resources
            if table_of(r) is not None
        )
        assert set(placed.values()) == {1}
        for facility in patient.facilities:
            assert any(r["resourceType"] == "Patient" for r in facility.resources)
        assert curated_counts(distinct_resources(patient.facilities)) == patient.expected


def test_pools_are_deterministic_and_skip_dstu2() -> None:
    first = build_pools(N_USERS, SEED, DelayPlan())
    second = build_pools(N_USERS, SEED, DelayPlan())
    assert [p.patient_id for p in first.healthex] == [p.patient_id for p in second.healthex]
    assert [f.facility_id for p in first.fasten for f in p.facilities] == [
        f.facility_id for p in second.fasten for f in p.facilities
    ]
    for patient in first.fasten:
        for facility in patient.facilities:
            assert all(r["resourceType"] != "MedicationOrder" for r in facility.resources)


def test_about_one_facility_in_five_is_slow() -> None:
    pools = build_pools(40, SEED, DelayPlan())
    facilities = [f for p in pools.healthex + pools.fasten for f in p.facilities]
    share = sum(f.slow for f in facilities) / len(facilities)
    assert 0.08 < share < 0.35
    assert all(f.delay_seconds == 3600.0 for f in facilities if f.slow)
    assert all(2.0 <= f.delay_seconds <= 6.0 for f in facilities if not f.slow)


def test_delivery_resources_reads_back_the_searchset_warning() -> None:
    users = generate_population(N_USERS, SEED)
    warnings = [
        delivery_resources(d)[1] for u in users for d in u.deliveries if d.connector == "healthex"
    ]
    assert any(w is not None for w in warnings)
    assert any(w is None for w in warnings)


def test_config_round_trips_through_json_and_rejects_unknown_keys() -> None:
    config = SandboxConfig(
        port=1234, time_scale=0.5, delays=DelayPlan(slow_share=0.5), faults={"expire_links": True}
    )
    assert SandboxConfig.from_json(config.to_json()) == config
    with pytest.raises(ValueError, match="prot"):
        SandboxConfig.from_dict({"prot": 1})


def test_config_rejects_an_invalid_fault_route() -> None:
    with pytest.raises(ValueError, match="route"):
        SandboxConfig(faults={"slow": {"route": "nowhere"}})
