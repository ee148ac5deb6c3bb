"""The pseudonym registry: one opaque, stable key per account, alone or in bulk."""

from __future__ import annotations

import re
from pathlib import Path

from healthex_pipeline.registry import USER_KEY_PATTERN, PseudonymRegistry


def test_bulk_registration_gives_the_keys_one_at_a_time_would(tmp_path: Path) -> None:
    registry = PseudonymRegistry(tmp_path / "registry.sqlite")
    first = registry.user_key("acct-0")

    keys = registry.user_keys(["acct-0", "acct-1", "acct-2", "acct-1"])

    assert keys[0] == first and keys[1] == keys[3]
    assert len(set(keys)) == 3
    assert all(re.fullmatch(USER_KEY_PATTERN, k) for k in keys)
    assert [registry.user_key(a) for a in ("acct-1", "acct-2")] == keys[1:3]
    assert all("acct" not in k for k in keys)
