"""`healthex consent grant|revoke|status`, run as a user would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from healthex_pipeline.registry import PseudonymRegistry
from healthex_pipeline.settings import Settings

HEALTHEX = str(Path(sys.executable).parent / "healthex")
ACCOUNT = "acct-consent-cli"


def _run(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HEALTHEX_HOME": str(settings.home)}
    env.pop("HEALTHEX_CONSENT_DB_URL", None)
    return subprocess.run(
        [HEALTHEX, "consent", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_grant_revoke_and_status(settings: Settings) -> None:
    PseudonymRegistry(settings.registry_path).user_key(ACCOUNT)

    granted = _run(settings, "grant", "--user", ACCOUNT, "--connector", "fasten")
    revoked = _run(settings, "revoke", "--user", ACCOUNT)
    shown = _run(settings, "status", "--user", ACCOUNT, "--connector", "fasten")
    unknown = _run(settings, "status", "--user", "acct-nobody")

    assert granted.returncode == 0 and granted.stdout.startswith("fasten\tactive\texpires ")
    assert revoked.stdout == "revoked: fasten\n"
    assert shown.stdout.startswith("fasten\trevoked\t")
    assert unknown.returncode == 2 and "no such account" in unknown.stderr
    assert all(ACCOUNT not in r.stdout + r.stderr for r in (granted, revoked, shown))
