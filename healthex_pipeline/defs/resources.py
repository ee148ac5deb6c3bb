"""The storage every asset reads and writes, behind one swappable resource."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg

from healthex_pipeline.connectors.fasten import FastenClient
from healthex_pipeline.connectors.healthex import HealthExClient
from healthex_pipeline.ingest import PartitionStores
from healthex_pipeline.raw_zone import RawPartition
from healthex_pipeline.settings import Settings
from healthex_pipeline.staging import StagingPartition
from healthex_pipeline.unpack import IngestLimits
from healthex_pipeline.warehouse import Warehouse


class PipelineStorage(dg.ConfigurableResource):
    """Local files under HEALTHEX_HOME; object storage later is another implementation."""

    home: str
    max_file_bytes: int = IngestLimits.max_file_bytes
    max_decompressed_bytes: int = IngestLimits.max_decompressed_bytes

    @property
    def settings(self) -> Settings:
        return Settings(home=Path(self.home))

    @property
    def limits(self) -> IngestLimits:
        return IngestLimits(self.max_file_bytes, self.max_decompressed_bytes)

    def warehouse(self) -> Warehouse:
        return Warehouse(self.settings.warehouse_root, self.settings.catalog_path)

    def stores(self, user_key: str, connector: str) -> PartitionStores:
        settings = self.settings
        return PartitionStores(
            raw=RawPartition(settings.raw_root, user_key, connector),
            staging=StagingPartition(settings.staging_root, user_key, connector),
            warehouse=self.warehouse(),
        )


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


def _from_env(fields: dict[str, str]) -> dict[str, Any]:
    return {
        name: dg.EnvVar(env)
        if env in os.environ
        else (UNCONFIGURED_URL if name == "base_url" else "unset")
        for name, env in fields.items()
    }


def vendor_clients() -> dict[str, dg.ConfigurableResource]:
    """The HealthEx and Fasten clients, configured from the environment."""
    return {
        "healthex": HealthExClient(**_from_env(_HEALTHEX_ENV)),
        "fasten": FastenClient(**_from_env(_FASTEN_ENV)),
    }
