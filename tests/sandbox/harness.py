"""The test-side view of a running sandbox: a client plus helpers for the vendor flows."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from healthex_pipeline.sandbox.config import DelayPlan, SandboxConfig
from healthex_pipeline.sandbox.testing import (
    ReceivedWebhook,
    WebhookReceiver,
    running_sandbox,
    webhook_receiver,
)

TIME_SCALE = 0.001
"""Fast facilities deliver within ~6 ms, slow ones after 1 s."""


@dataclass
class Sandbox:
    """A running sandbox as the tests see it."""

    base_url: str
    config: SandboxConfig
    landing: Path
    receiver: WebhookReceiver
    client: httpx.Client

    def token(self) -> str:
        answer = self.client.post(
            "/v1/auth/token",
            json={"apiKey": self.config.api_key, "apiSecret": self.config.api_secret},
        )
        answer.raise_for_status()
        return answer.json()["token"]

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def set_faults(self, faults: dict[str, Any]) -> None:
        self.client.post("/sandbox/faults", json=faults).raise_for_status()

    def enroll_and_consent(self, external_id: str) -> str:
        """Link + consent; the HealthEx patient id."""
        answer = self.client.post(
            f"/v1/projects/{self.config.project_id}/link",
            json={"externalId": external_id},
            headers=self.auth(),
        )
        answer.raise_for_status()
        consented = self.client.get(answer.json()["link"])
        consented.raise_for_status()
        return consented.json()["healthexPatientId"]

    def connect(self, external_id: str) -> list[str]:
        """Fasten connect; one org_connection_id per facility the patient connected."""
        answer = self.client.get(
            "/v1/connect",
            params={"public_id": self.config.fasten_public_id, "external_id": external_id},
        )
        answer.raise_for_status()
        return answer.json()["org_connection_ids"]

    def patient(self, connector: str, external_id: str) -> dict[str, Any]:
        listing = self.client.get("/sandbox/patients").json()[connector]
        return next(a for a in listing if a["external_id"] == external_id)

    def wait_delivered(
        self, connector: str, external_id: str, deliveries: int | None = None
    ) -> dict[str, Any]:
        """Poll until every facility delivered (or ``deliveries`` were made)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            described = self.patient(connector, external_id)
            wanted = deliveries or len(described["patient"]["facilities"])
            if len(described["deliveries"]) >= wanted:
                return described
            time.sleep(0.05)
        raise TimeoutError(f"{external_id} not delivered")

    def events(self, external_id: str, count: int, timeout: float = 10.0) -> list[ReceivedWebhook]:
        """The first ``count`` webhooks about ``external_id``, in arrival order."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mine = [
                w
                for w in self.receiver.received
                if orjson.loads(w.body)["data"].get("external_id") == external_id
            ]
            if len(mine) >= count:
                return mine
            time.sleep(0.02)
        raise TimeoutError(f"fewer than {count} webhooks for {external_id}")


def sandbox_config(landing: Path, webhook_url: str, **overrides: Any) -> SandboxConfig:
    settings: dict[str, Any] = {
        "n_users": 40,
        "seed": 11,
        "time_scale": TIME_SCALE,
        "delays": DelayPlan(slow_seconds=1000.0),
        "landing_dir": str(landing),
        "webhook_url": webhook_url,
    }
    return SandboxConfig(**{**settings, **overrides})


@contextmanager
def started_sandbox(landing: Path, fail_first: int = 0, **overrides: Any) -> Iterator[Sandbox]:
    """A dedicated sandbox subprocess with its own webhook receiver."""
    with webhook_receiver(fail_first) as receiver:
        config = sandbox_config(landing, receiver.url, **overrides)
        with running_sandbox(config) as base_url, httpx.Client(base_url=base_url) as client:
            yield Sandbox(base_url, config, landing, receiver, client)
