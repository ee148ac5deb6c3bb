"""The storage every asset reads and writes, behind one swappable resource."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg

from healthex_pipeline.connectors.fasten import FastenClient
from healthex_pipeline.connectors.healthex import HealthExClient
from healthex_pipeline.ingest import PartitionStores
from healthex_pipeline.limits import IngestLimits
from healthex_pipeline.settings import Settings
from healthex_pipeline.warehouse import Warehouse


class PipelineStorage(dg.ConfigurableResource):
    """Local files under HEALTHEX_HOME; object storage later is another implementation."""

    home: str
    landing_dir: str | None = None
    """A landing folder path or ``s3://bucket/prefix``; None: the folder in HEALTHEX_HOME."""
    max_file_bytes: int = IngestLimits.max_file_bytes
    max_decompressed_bytes: int = IngestLimits.max_decompressed_bytes
    max_compression_ratio: int = IngestLimits.max_compression_ratio
    max_json_depth: int = IngestLimits.max_json_depth

    @classmethod
    def for_settings(cls, settings: Settings) -> PipelineStorage:
        """The storage resource of one HEALTHEX_HOME (and landing area)."""
        return cls(home=str(settings.home), landing_dir=settings.landing_location)

    @property
    def settings(self) -> Settings:
        return Settings(home=Path(self.home), landing=self.landing_dir)

    @property
    def limits(self) -> IngestLimits:
        return IngestLimits(
            self.max_file_bytes,
            self.max_decompressed_bytes,
            self.max_compression_ratio,
            self.max_json_depth,
        )

    def warehouse(self) -> Warehouse:
        return Warehouse.for_settings(self.settings)

    def stores(self, user_key: str, connector: str) -> PartitionStores:
        return PartitionStores.for_settings(self.settings, user_key, connector)


# Vendor configuration comes from the environment (secrets as EnvVars, so the UI never shows
# them); unset fields get inert placeholders so definitions load anywhere, e.g. in tests.
_HEALTHEX_ENV = {
    "base_url": "HEALTHEX_API_URL",
    "api_key": "HEALTHEX_API_KEY",
    "api_secret": "HEALTHEX_API_SECRET",
    "project_id": "HEALTHEX_PROJECT_ID",
}
_FASTEN_ENV = {
    "base_url": "FASTEN_API_URL",
    "public_id": "FASTEN_PUBLIC_ID",
    "private_key": "FASTEN_PRIVATE_KEY",
}
UNCONFIGURED_URL = "http://vendor-not-configured.invalid"


def _from_env(fields: dict[str, str], resolve: bool) -> dict[str, Any]:
    """Field values from the environment: EnvVars for Dagster, plain strings for the CLI."""
    values: dict[str, Any] = {}
    for name, env in fields.items():
        if env in os.environ:
            values[name] = os.environ[env] if resolve else dg.EnvVar(env)
        else:
            values[name] = UNCONFIGURED_URL if name == "base_url" else "unset"
    return values


def healthex_client(resolve: bool = False) -> HealthExClient:
    """The HealthEx client as configured by ``HEALTHEX_API_*`` variables."""
    return HealthExClient(**_from_env(_HEALTHEX_ENV, resolve))


def fasten_client(resolve: bool = False) -> FastenClient:
    """The Fasten Connect client as configured by ``FASTEN_*`` variables."""
    return FastenClient(**_from_env(_FASTEN_ENV, resolve))


def vendor_clients() -> dict[str, dg.ConfigurableResource]:
    """The clients bound in the Definitions (secrets stay EnvVars there)."""
    return {"healthex": healthex_client(), "fasten": fasten_client()}
