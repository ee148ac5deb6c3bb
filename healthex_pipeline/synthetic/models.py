"""The generator's public records: a synthetic user and the deliveries their connectors made."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Connector = Literal["healthex", "fasten", "apple_health"]
FhirVersion = Literal["4.0.1", "1.0.2"]
DeliveryKind = Literal["bundle", "ndjson", "ndjson_gz", "apple_folder", "apple_zip"]


@dataclass(frozen=True)
class SyntheticDelivery:
    """One connector's delivery: the exact files it sends and the rows they should yield.

    ``expected`` holds, per curated table (lab_results, medications, immunizations,
    encounters), the distinct resources the pipeline must keep, counted as they were generated.
    """

    connector: Connector
    fhir_version: FhirVersion
    kind: DeliveryKind
    files: dict[str, bytes]
    expected: dict[str, int]

    def write(self, directory: Path) -> list[Path]:
        """Write the files under ``directory`` and return what to import.

        That is the folder itself for an Apple export folder (it then holds
        ``clinical-records/``, so give each delivery its own directory), else each file.
        """
        for name, data in self.files.items():
            path = directory / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        if self.kind == "apple_folder":
            return [directory]
        return [directory / name for name in self.files]


@dataclass(frozen=True)
class SyntheticUser:
    """A user of the app (an opaque account id, never PHI) and their deliveries."""

    account_id: str
    deliveries: list[SyntheticDelivery]
