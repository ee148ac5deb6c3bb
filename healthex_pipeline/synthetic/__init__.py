"""A deterministic, seeded synthetic population of users and their connectors' FHIR deliveries.

The demo runs the whole pipeline on it without outside data; the tests use its ``expected``
counts as ground truth.
"""

from __future__ import annotations

from healthex_pipeline.synthetic.models import SyntheticDelivery, SyntheticUser
from healthex_pipeline.synthetic.population import generate_population

__all__ = ["SyntheticDelivery", "SyntheticUser", "generate_population"]
