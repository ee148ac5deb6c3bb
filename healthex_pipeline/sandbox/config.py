"""The sandbox's settings, plain JSON so a test or the CLI can hand them to a subprocess."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from healthex_pipeline.sandbox.faults import FaultConfig

CONFIG_ENV = "HEALTHEX_SANDBOX_CONFIG"
"""Environment variable holding a config JSON path (or the JSON itself) for ``from_env``."""


@dataclass(frozen=True)
class DelayPlan:
    """When facilities deliver after consent: most within seconds, about one in five an hour."""

    fast_min_seconds: float = 2.0
    fast_max_seconds: float = 6.0
    slow_seconds: float = 3600.0
    slow_share: float = 0.2


@dataclass(frozen=True)
class SandboxConfig:
    """Everything one sandbox process needs; every delay is multiplied by ``time_scale``."""

    host: str = "127.0.0.1"
    port: int = 8765
    n_users: int = 20
    seed: int = 7
    api_key: str = "sandbox-api-key"
    api_secret: str = "sandbox-api-secret"
    project_id: str = "proj-sandbox"
    org_id: str = "org-sandbox"
    fasten_public_id: str = "public_test_sandbox"
    fasten_private_key: str = "private_test_sandbox"
    fasten_org_id: str = "fasten-org-sandbox"
    webhook_url: str | None = None
    """Where Fasten webhooks are POSTed; None sends none."""
    webhook_secret: str = "whsec_c2FuZGJveC13ZWJob29rLXNlY3JldA=="
    webhook_attempts: int = 4
    """Deliveries of one webhook before the sender gives up on a non-2xx receiver."""
    landing_dir: str | None = None
    """The customer's storage HealthEx pushes to, a folder path or ``s3://bucket/prefix``; None:
    no push. An S3 endpoint and credentials come from the sandbox process's environment, the
    same variables the pipeline reads (``HEALTHEX_LANDING_S3_ENDPOINT``, ``AWS_*``)."""
    time_scale: float = 1.0
    delays: DelayPlan = field(default_factory=DelayPlan)
    link_ttl_seconds: float = 3600.0
    """Lifetime of a Fasten download link (wall clock, not scaled)."""
    faults: dict[str, Any] = field(default_factory=dict)
    """The initial fault configuration, as ``POST /sandbox/faults`` takes it."""

    def __post_init__(self) -> None:
        FaultConfig.from_json(self.faults)

    @property
    def base_url(self) -> str:
        """The absolute URL prefix links and webhooks point at."""
        return f"http://{self.host}:{self.port}"

    def scaled(self, seconds: float) -> float:
        """A configured delay in real seconds."""
        return seconds * self.time_scale

    def to_json(self) -> str:
        """The config as JSON, readable back with ``from_json``."""
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SandboxConfig:
        """Build from parsed JSON, rejecting unknown keys so typos do not pass silently."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown sandbox config keys: {sorted(unknown)}")
        values = dict(data)
        if "delays" in values:
            values["delays"] = DelayPlan(**values["delays"])
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> SandboxConfig:
        """Parse a JSON document."""
        return cls.from_dict(json.loads(text))

    @classmethod
    def load(cls, path: Path) -> SandboxConfig:
        """Read a JSON file."""
        return cls.from_json(path.read_text())

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> SandboxConfig:
        """Read ``HEALTHEX_SANDBOX_CONFIG`` (a path or inline JSON); defaults when unset."""
        value = (os.environ if environ is None else environ).get(CONFIG_ENV)
        if not value:
            return cls()
        if value.lstrip().startswith("{"):
            return cls.from_json(value)
        return cls.load(Path(value))
