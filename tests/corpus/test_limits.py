"""Ingest limits: safe defaults, set by environment variables, each enforced by framing."""

from __future__ import annotations

import gzip
import json

import pytest

from healthex_pipeline.limits import ENV_VARS, SAFE_DEFAULTS, IngestLimits
from healthex_pipeline.unpack import InputRejected, frame


def _nested(depth: int) -> bytes:
    """A resource whose JSON nests ``depth`` levels (the resource object is level 1)."""
    value: object = "leaf"
    for _ in range(depth - 1):
        value = [value]
    return json.dumps({"resourceType": "Basic", "id": "b1", "x": value}).encode()


def test_limits_default_to_safe_values_without_environment() -> None:
    assert IngestLimits.from_env({}) == IngestLimits(**SAFE_DEFAULTS)


def test_each_limit_is_set_by_its_environment_variable() -> None:
    environ = {variable: str(n) for n, variable in enumerate(ENV_VARS.values(), start=7)}
    limits = IngestLimits.from_env(environ)
    assert [getattr(limits, field) for field in ENV_VARS] == [7, 8, 9, 10]


@pytest.mark.parametrize("value", ["0", "-1", "ten", "1.5"])
def test_invalid_limit_names_the_variable(value: str) -> None:
    with pytest.raises(ValueError, match="HEALTHEX_MAX_JSON_DEPTH must be a positive integer"):
        IngestLimits.from_env({"HEALTHEX_MAX_JSON_DEPTH": value})


def test_json_depth_limit_is_configuration() -> None:
    doc = _nested(12)
    assert frame(doc, "r.json", IngestLimits(max_json_depth=12)).rejected == []
    framed = frame(doc, "r.json", IngestLimits(max_json_depth=11))
    assert framed.rejected == [("document", "nesting exceeds the configured limit")]
    assert framed.docs.num_rows == 0


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    doc = json.dumps({"resourceType": "Basic", "id": "b1", "text": "[{" * 500}).encode()
    assert frame(doc, "r.json", IngestLimits(max_json_depth=5)).rejected == []


def test_file_size_limit_rejects_the_file() -> None:
    with pytest.raises(InputRejected, match="file exceeds the configured size limit"):
        frame(b'{"resourceType": "Basic"}', "r.json", IngestLimits(max_file_bytes=10))


def test_decompressed_size_and_ratio_limits_have_their_own_reasons() -> None:
    data = gzip.compress(b" " * (4 << 20) + b"{}", mtime=0)
    with pytest.raises(InputRejected, match="decompressed size exceeds the configured limit"):
        frame(data, "r.json.gz", IngestLimits(max_decompressed_bytes=1 << 20))
    with pytest.raises(InputRejected, match="compression ratio exceeds the configured limit"):
        frame(data, "r.json.gz", IngestLimits(max_compression_ratio=10))


def test_every_member_of_a_concatenated_gzip_is_read() -> None:
    lines = [json.dumps({"resourceType": "Basic", "id": f"b{n}"}).encode() + b"\n" for n in (1, 2)]
    data = gzip.compress(lines[0], mtime=0) + gzip.compress(lines[1], mtime=0)
    assert frame(data, "r.ndjson.gz", IngestLimits()).docs.num_rows == 2


def test_gzip_cut_short_is_corrupt() -> None:
    data = gzip.compress(b'{"resourceType": "Basic"}\n' * 50, mtime=0)
    with pytest.raises(InputRejected, match="corrupt gzip stream"):
        frame(data[:-10], "r.ndjson.gz", IngestLimits())
