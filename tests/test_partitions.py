from __future__ import annotations

import pytest

from healthex_pipeline.defs.partitions import ensure_users
from healthex_pipeline.runs import instance_for
from healthex_pipeline.settings import Settings


def test_ensure_users_tolerates_a_concurrent_add(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = instance_for(settings)
    instance.add_dynamic_partitions("users", ["u_000000000000000000000001"])
    answers = iter([False, True])  # the check misses it: another process added it meanwhile
    monkeypatch.setattr(instance, "has_dynamic_partition", lambda name, key: next(answers))

    ensure_users(instance, ["u_000000000000000000000001"])

    assert instance.get_dynamic_partitions("users") == ["u_000000000000000000000001"]


def test_ensure_users_adds_missing_keys_once(settings: Settings) -> None:
    instance = instance_for(settings)

    ensure_users(instance, ["u_000000000000000000000002"])
    ensure_users(instance, ["u_000000000000000000000002"])

    assert instance.get_dynamic_partitions("users") == ["u_000000000000000000000002"]
