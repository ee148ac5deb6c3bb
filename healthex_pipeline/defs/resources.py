"""The storage every asset reads and writes, behind one swappable resource."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

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
