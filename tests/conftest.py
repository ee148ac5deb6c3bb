from __future__ import annotations

from pathlib import Path

import pytest

from healthex_pipeline.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A fresh HEALTHEX_HOME per test, so tests never see each other's data."""
    home = Settings(home=tmp_path / "home")
    home.ensure()
    return home
