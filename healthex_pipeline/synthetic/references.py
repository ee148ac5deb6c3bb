"""How a delivery writes references, which differs by source format and must be kept as sent."""

from __future__ import annotations

from enum import Enum


class RefStyle(Enum):
    """Reference conventions seen in real deliveries."""

    RELATIVE = "relative"
    """``Type/id``: bulk NDJSON and server searchsets."""
    URN = "urn"
    """``urn:uuid:id`` to an entry's fullUrl: Synthea-style transaction and collection bundles."""
    APPLE = "apple"
    """Apple exports: the patient by ``Type/id``; everything else by display only."""


def reference(
    style: RefStyle, resource_type: str, resource_id: str, display: str
) -> dict[str, str]:
    """A Reference to a resource of the same delivery, written in the delivery's style."""
    if style is RefStyle.URN:
        return {"reference": f"urn:uuid:{resource_id}", "display": display}
    if style is RefStyle.APPLE and resource_type != "Patient":
        return {"display": display}
    return {"reference": f"{resource_type}/{resource_id}", "display": display}
