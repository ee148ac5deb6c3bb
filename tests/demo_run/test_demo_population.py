"""The demo population the browser and PHI tests run reaches every connector and FHIR version."""

from __future__ import annotations

from tests.demo_run.harness import demo_population


def test_demo_population_reaches_every_connector_and_dstu2() -> None:
    shapes = {
        (delivery.connector, delivery.fhir_version)
        for user in demo_population()
        for delivery in user.deliveries
    }

    assert {
        ("healthex", "4.0.1"),
        ("fasten", "4.0.1"),
        ("fasten", "1.0.2"),
        ("apple_health", "4.0.1"),
    } <= shapes, f"delivery shapes of the demo population: {sorted(shapes)}"
