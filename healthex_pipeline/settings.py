"""Everything the project writes lives under one HEALTHEX_HOME; this module names every path in it.

Per-user data is always below a ``user=<key>/connector=<c>`` directory so that purging a user is
deleting directories, never rewriting shared files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CONNECTORS: tuple[str, ...] = ("healthex", "fasten", "apple_health")


@dataclass(frozen=True)
class Settings:
    """Resolved locations under HEALTHEX_HOME."""

    home: Path
    landing: Path | None = None
    """HealthEx's push target; defaults to a folder in HEALTHEX_HOME."""

    @classmethod
    def from_env(cls) -> Settings:
        """Read HEALTHEX_HOME (default ``./.healthex``) and HEALTHEX_LANDING_DIR, made absolute."""
        landing = os.environ.get("HEALTHEX_LANDING_DIR")
        return cls(
            home=Path(os.environ.get("HEALTHEX_HOME", ".healthex")).resolve(),
            landing=Path(landing).resolve() if landing else None,
        )

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def registry_path(self) -> Path:
        return self.home / "registry.sqlite"

    @property
    def raw_root(self) -> Path:
        return self.home / "raw"

    @property
    def staging_root(self) -> Path:
        return self.home / "staging"

    @property
    def warehouse_root(self) -> Path:
        return self.home / "warehouse"

    @property
    def landing_root(self) -> Path:
        """Where HealthEx pushes deliveries (its S3/SFTP target, a local folder by default)."""
        return self.landing or self.home / "landing" / "healthex"

    @property
    def webhooks_path(self) -> Path:
        return self.home / "webhooks.sqlite"

    @property
    def catalog_path(self) -> Path:
        return self.warehouse_root / "catalog.duckdb"

    def ensure(self) -> None:
        """Create the top-level folders and a Dagster instance config if missing."""
        for path in (self.dagster_home, self.raw_root, self.staging_root, self.warehouse_root):
            path.mkdir(parents=True, exist_ok=True)
        config = self.dagster_home / "dagster.yaml"
        if not config.exists():
            config.write_text(
                "telemetry:\n  enabled: false\n"
                "run_coordinator:\n  module: dagster.core.run_coordinator\n"
                "  class: DefaultRunCoordinator\n"
            )


def partition_dir(root: Path, user_key: str, connector: str) -> Path:
    """The one directory a layer keeps for a user × connector partition."""
    return root / f"user={user_key}" / f"connector={connector}"
