from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import fixture_sets


def test_local_copy_wins_over_shared() -> None:
    assert fixture_sets.fixture_dir("synthea-r4") == fixture_sets.LOCAL / "bundles/synthea-r4"


def test_missing_shared_only_set_skips(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(fixture_sets, "SHARED", tmp_path)

    with pytest.raises(pytest.skip.Exception, match="unlicensed set"):
        fixture_sets.require_set("fasten")
