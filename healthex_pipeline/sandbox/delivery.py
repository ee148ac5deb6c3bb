"""Background deliveries: HealthEx pushes to the landing area, Fasten exports and webhooks.

Everything runs as asyncio tasks of the server's event loop, started and cancelled by the app's
lifespan; each facility delivers after its own (scaled) delay.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any, cast

from starlette.requests import Request

from healthex_pipeline.landing_store import LandingStore
from healthex_pipeline.sandbox import bundles, links
from healthex_pipeline.sandbox.population import Facility, distinct_resources
from healthex_pipeline.sandbox.state import Assignment, Delivered, Export, SandboxState
from healthex_pipeline.sandbox.webhooks import Event, WebhookSender, new_event

log = logging.getLogger(__name__)
EXPIRED_LINK_AGE = 60
"""How long ago links made under the ``expire_links`` fault expired, in seconds."""


def org_connection_id(assignment: Assignment, facility: Facility) -> str:
    """Fasten has one org connection per provider the patient connected: here, per facility."""
    return f"{assignment.vendor_id}.{facility.facility_id}"


class Scheduler:
    """Owns the background tasks of one sandbox process."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        config = state.config
        self.webhooks = WebhookSender(
            config.webhook_url,
            config.webhook_secret,
            config.webhook_attempts,
            max(config.scaled(1.0), 0.01),
            state.faults,
        )
        self.landing = LandingStore.at(config.landing_dir) if config.landing_dir else None
        """Where pushes go, written atomically so the pipeline never takes half a file."""
        self.tasks: set[asyncio.Task[None]] = set()
        self.held: dict[str, Event] = {}
        """``connection_success`` events held back until the first export (reorder fault)."""

    def start(self) -> None:
        """Start the webhook worker; call from inside the running loop."""
        self._spawn(self.webhooks.run())

    async def stop(self) -> None:
        """Cancel every pending delivery and the webhook worker."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _after(self, facility_delay: float, action: Callable[[], None]) -> None:
        async def wait_then_act() -> None:
            await asyncio.sleep(self.state.config.scaled(facility_delay))
            action()

        self._spawn(wait_then_act())

    def push_all(self, assignment: Assignment) -> None:
        """Schedule a fresh HealthEx push of every facility, each after its delay."""
        for facility in assignment.require_patient().facilities:
            self._after(facility.delay_seconds, partial(self._push, assignment, facility))

    def _push(self, assignment: Assignment, facility: Facility) -> None:
        config = self.state.config
        delivery_id = str(uuid.uuid4())
        assignment.deliveries.append(Delivered([facility.facility_id], delivery_id, time.time()))
        if self.landing is None:
            return
        patient_id = assignment.require_patient().patient_id
        key = "/".join(
            (
                config.org_id,
                config.project_id,
                patient_id,
                assignment.external_id,
                facility.facility_id,
                f"{delivery_id}.json",
            )
        )
        fhir_base = f"{config.base_url}/FHIR/R4"
        self.landing.write(key, bundles.collection(delivery_id, facility.resources, fhir_base))
        log.info(
            "pushed delivery %s facility %s (%d resources)",
            delivery_id,
            facility.facility_id,
            len(facility.resources),
        )

    def connect(self, assignment: Assignment) -> None:
        """Per facility (one org connection each): ``connection_success``, then an export."""
        for facility in assignment.require_patient().facilities:
            event = new_event(
                "patient.connection_success", self._connection_data(assignment, facility)
            )
            if self.state.faults.config.reorder_webhooks:
                self.held[org_connection_id(assignment, facility)] = event
            else:
                self.webhooks.send(event)
            task_id = str(uuid.uuid4())
            action = partial(self._export, assignment, facility, task_id)
            self._after(facility.delay_seconds, action)

    def refresh(self, assignment: Assignment, facility: Facility) -> str:
        """Schedule a new export of one org connection (facility), after its usual delay."""
        task_id = str(uuid.uuid4())
        self._after(facility.delay_seconds, partial(self._export, assignment, facility, task_id))
        return task_id

    def _connection_data(self, assignment: Assignment, facility: Facility) -> dict[str, Any]:
        return {
            "org_connection_id": org_connection_id(assignment, facility),
            "endpoint_id": f"endpoint-{facility.facility_id}",
            "brand_id": f"brand-{facility.facility_id}",
            "portal_id": f"portal-{facility.facility_id}",
            "connection_status": "authorized",
            "external_id": assignment.external_id,
        }

    def _export(self, assignment: Assignment, facility: Facility, task_id: str) -> None:
        faults = self.state.faults.config
        config = self.state.config
        facilities = [facility]
        common = {
            "org_connection_id": org_connection_id(assignment, facility),
            "task_id": task_id,
            "external_id": assignment.external_id,
        }
        facility_ids = [f.facility_id for f in facilities]
        reason = faults.export_failed.get(assignment.external_id)
        if reason is not None:
            assignment.deliveries.append(Delivered(facility_ids, task_id, time.time(), ok=False))
            event = new_event("patient.ehi_export_failed", {**common, "failure_reason": reason})
        else:
            resources = distinct_resources(facilities)
            bad = assignment.external_id in faults.bad_file
            export = Export(str(uuid.uuid4()), bundles.ndjson(resources, bad_line=bad))
            self.state.add_export(export)
            assignment.deliveries.append(Delivered(facility_ids, export.export_id, time.time()))
            lifetime = -EXPIRED_LINK_AGE if faults.expire_links else config.link_ttl_seconds
            expires = int(time.time() + lifetime)
            url = links.signed_url(config.base_url, self.state.secret, export.export_id, expires)
            link = {
                "url": url,
                "export_type": "jsonl",
                "content_type": "application/fhir+ndjson",
            }
            data = {
                **common,
                "org_id": config.fasten_org_id,
                "download_links": [link],
                "stats": {"total_resources": len(resources)},
            }
            event = new_event("patient.ehi_export_success", data)
            log.info(
                "export %s task %s ready (%d resources)", export.export_id, task_id, len(resources)
            )
        self.webhooks.send(event)
        held = self.held.pop(org_connection_id(assignment, facility), None)
        if held is not None:
            self.webhooks.send(held)


def scheduler_of(request: Request) -> Scheduler:
    """The scheduler the app's lifespan started."""
    return cast(Scheduler, request.app.state.scheduler)
