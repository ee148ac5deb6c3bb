"""Everything the project writes lives under one HEALTHEX_HOME; this module names every path in it.

Per-user data is always below a ``user=<key>/connector=<c>`` directory so that purging a user is
deleting directories, never rewriting shared files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from healthex_pipeline.encryption import Vault
from healthex_pipeline.instance_config import InstanceConfig, write_instance_config
from healthex_pipeline.landing_store import is_remote

CONNECTORS: tuple[str, ...] = ("healthex", "fasten", "apple_health")


@dataclass(frozen=True)
class Settings:
    """Resolved locations under HEALTHEX_HOME."""

    home: Path
    landing: str | None = None
    """HealthEx's push target, a folder path or ``s3://bucket/prefix``; defaults to a folder in
    HEALTHEX_HOME."""
    instance: InstanceConfig = field(default_factory=InstanceConfig.from_env)
    """The Dagster instance's storage and limits, from the environment like the vendor settings,
    so every Settings a process builds (the CLI's, a resource's) writes the same dagster.yaml."""

    @classmethod
    def from_env(cls) -> Settings:
        """Read HEALTHEX_HOME (default ``./.healthex``) and HEALTHEX_LANDING_DIR, paths absolute."""
        landing = os.environ.get("HEALTHEX_LANDING_DIR")
        if landing and not is_remote(landing):
            landing = str(Path(landing).resolve())
        return cls(
            home=Path(os.environ.get("HEALTHEX_HOME", ".healthex")).resolve(),
            landing=landing or None,
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
    def serving_root(self) -> Path:
        """The AI team's extract: plaintext per-user files and a catalog of views over them."""
        return self.home / "serving"

    @property
    def landing_location(self) -> str:
        """Where HealthEx pushes deliveries: a folder path or an ``s3://`` URL."""
        return self.landing or str(self.home / "landing" / "healthex")

    @property
    def landing_root(self) -> Path:
        """The landing folder, for code that needs a local path; an S3 landing has none."""
        if is_remote(self.landing_location):
            raise ValueError("the landing area is an S3 location, not a local folder")
        return Path(self.landing_location)

    @property
    def webhooks_path(self) -> Path:
        return self.home / "webhooks.sqlite"

    @property
    def keys_path(self) -> Path:
        return self.home / "keys.sqlite"

    @property
    def secrets_dir(self) -> Path:
        return self.home / "secrets"

    def vault(self) -> Vault:
        """The home's encryption of per-partition files (one per process and home)."""
        return _vault(self.keys_path, self.secrets_dir)

    # Consent registry (issue 5): a SQLAlchemy URL, so production can point it at PostgreSQL.
    @property
    def consent_db_url(self) -> str:
        """HEALTHEX_CONSENT_DB_URL, or a SQLite file in HEALTHEX_HOME."""
        return os.environ.get("HEALTHEX_CONSENT_DB_URL") or f"sqlite:///{self.home}/consent.sqlite"

    def ensure(self) -> None:
        """Create the top-level folders; (re)write the Dagster instance config from settings."""
        for path in (self.dagster_home, self.raw_root, self.staging_root, self.warehouse_root):
            path.mkdir(parents=True, exist_ok=True)
        write_instance_config(self.instance, self.dagster_home)


@cache
def _vault(keys_path: Path, secrets_dir: Path) -> Vault:
    return Vault.at(keys_path, secrets_dir)


def partition_dir(root: Path, user_key: str, connector: str) -> Path:
    """The one directory a layer keeps for a user × connector partition."""
    return root / f"user={user_key}" / f"connector={connector}"
