"""The whole Definitions loads, and its graph matches the reviewed snapshot."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg

from healthex_pipeline.definitions import build_defs
from healthex_pipeline.settings import Settings

SNAPSHOT = Path(__file__).parent / "definitions_snapshot.json"


def _snapshot(defs: dg.Definitions) -> dict[str, object]:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys()):
        node = graph.get(key)
        partitions = node.partitions_def
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "owners": sorted(node.owners),
            "metadata_keys": sorted(node.metadata),
            "deps": sorted(dep.to_user_string() for dep in node.parent_keys),
            "kinds": sorted(node.kinds),
            "partitions": (
                sorted(d.name for d in partitions.partitions_defs)
                if isinstance(partitions, dg.MultiPartitionsDefinition)
                else None
            ),
            "checks": sorted(check.name for check in node.check_keys),
            "pools": sorted(node.pools or ()),
        }
    checks = {
        key.to_user_string(): {"blocking": graph.get_check_spec(key).blocking}
        for key in sorted(graph.asset_check_keys, key=lambda k: k.to_user_string())
    }
    jobs = sorted(job.name for job in defs.jobs or [])
    return {"assets": assets, "checks": checks, "jobs": jobs}


def test_definitions_match_the_snapshot(tmp_path: Path) -> None:
    defs = build_defs(Settings(home=tmp_path))
    dg.Definitions.validate_loadable(defs)
    actual = _snapshot(defs)
    if os.environ.get("HEALTHEX_UPDATE_GOLDENS") == "1":
        SNAPSHOT.write_text(json.dumps(actual, indent=2, sort_keys=True) + "\n")
    assert actual == json.loads(SNAPSHOT.read_text())


def test_module_level_definitions_load() -> None:
    from healthex_pipeline.definitions import defs

    assert defs.resolve_job_def("partition_pipeline").partitions_def is not None
