from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import duckdb
import orjson
import pytest

from healthex_pipeline.unpack import (
    DSTU2,
    R4,
    Framed,
    IngestLimits,
    InputRejected,
    frame,
    unpack,
)

SHA = "0" * 64
OBS = {"resourceType": "Observation", "id": "o1", "status": "final"}


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _unpack(con: duckdb.DuckDBPyConnection, path: Path, name: str | None = None):
    return unpack(con, frame(path.read_bytes(), name or path.name, IngestLimits()), SHA)


def test_bundle_entries_become_resources_with_full_urls(con, tmp_path):
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": "urn:uuid:1", "resource": OBS}],
    }
    result = _unpack(con, _write(tmp_path, "b.json", orjson.dumps(bundle)))
    rows = result.resources.to_pylist()
    assert [(r["resource_type"], r["resource_id"], r["full_url"], r["locator"]) for r in rows] == [
        ("Observation", "o1", "urn:uuid:1", "document entry 1")
    ]
    assert result.quarantined == []


def test_invalid_json_file_is_quarantined_with_its_reason(con, tmp_path):
    result = _unpack(con, _write(tmp_path, "bad.json", b'{"resourceType": "Observation",'))
    assert result.resources.num_rows == 0
    assert result.quarantined == [("document", None, None, "invalid JSON")]


def test_empty_file_is_rejected_whole(tmp_path):
    with pytest.raises(InputRejected, match="empty file"):
        frame(b"  \n", "empty.json", IngestLimits())


def test_bad_ndjson_line_is_quarantined_and_good_lines_land(con, tmp_path):
    lines = [orjson.dumps(OBS), b"{not json", b"", orjson.dumps({**OBS, "id": "o2"})]
    result = _unpack(con, _write(tmp_path, "x.ndjson", b"\n".join(lines)))
    assert result.resources.column("resource_id").to_pylist() == ["o1", "o2"]
    assert result.quarantined == [("line 2", None, None, "invalid JSON")]


def test_gzipped_ndjson_is_decompressed(con, tmp_path):
    data = gzip.compress(orjson.dumps(OBS) + b"\n")
    result = _unpack(con, _write(tmp_path, "x.ndjson.gz", data))
    assert result.resources.num_rows == 1


def test_gzip_over_the_decompression_limit_is_rejected(tmp_path):
    path = _write(tmp_path, "x.ndjson.gz", gzip.compress(b"\n" * 10_000))
    with pytest.raises(InputRejected, match="decompressed size"):
        frame(path.read_bytes(), path.name, IngestLimits(max_decompressed_bytes=1_000))


def test_resource_without_resource_type_is_quarantined(con, tmp_path):
    result = _unpack(con, _write(tmp_path, "x.json", b'{"id": "a"}'))
    assert result.quarantined == [("document", None, "a", "missing resourceType")]


def test_unknown_resource_type_is_quarantined(con, tmp_path):
    result = _unpack(con, _write(tmp_path, "x.json", b'{"resourceType": "Observaton", "id": "a"}'))
    assert result.quarantined == [("document", "Observaton", "a", "unknown resourceType")]


def test_bundle_entry_without_resource_is_quarantined_and_others_land(con, tmp_path):
    bundle = {
        "resourceType": "Bundle",
        "entry": [{"request": {"method": "POST"}}, {"resource": OBS}],
    }
    result = _unpack(con, _write(tmp_path, "b.json", orjson.dumps(bundle)))
    assert result.resources.column("resource_id").to_pylist() == ["o1"]
    assert result.quarantined == [("document entry 1", None, None, "bundle entry without resource")]


def test_searchset_outcomes_are_skipped_not_quarantined(con, tmp_path):
    outcome = {"resourceType": "OperationOutcome", "issue": []}
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"resource": OBS, "search": {"mode": "match"}},
            {"resource": outcome, "search": {"mode": "outcome"}},
        ],
    }
    result = _unpack(con, _write(tmp_path, "b.json", orjson.dumps(bundle)))
    assert (result.resources.num_rows, result.outcomes, result.quarantined) == (1, 1, [])


def test_resource_without_id_gets_a_stable_synthesized_key(con, tmp_path):
    path = _write(tmp_path, "x.json", b'{"resourceType": "Observation", "status": "final"}')
    first = _unpack(con, path).resources.to_pylist()[0]
    again = _unpack(con, path).resources.to_pylist()[0]
    assert first["id_synthesized"] is True
    assert first["resource_id"].startswith("anon-")
    assert first["resource_id"] == again["resource_id"]


def test_dstu2_shapes_mark_the_object_dstu2(con, tmp_path):
    dstu2_obs = {**OBS, "category": {"coding": [{"code": "laboratory"}]}}
    result = _unpack(con, _write(tmp_path, "x.json", orjson.dumps(dstu2_obs)))
    assert result.fhir_version == DSTU2


def test_r4_shapes_stay_r4(con, tmp_path):
    r4_obs = {**OBS, "category": [{"coding": [{"code": "laboratory"}]}]}
    assert _unpack(con, _write(tmp_path, "x.json", orjson.dumps(r4_obs))).fhir_version == R4


def test_apple_export_zip_reads_clinical_records_members(con, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("apple_health_export/clinical-records/a.json", orjson.dumps(OBS))
        archive.writestr("apple_health_export/export.xml", b"<xml/>")
    result = _unpack(con, _write(tmp_path, "export.zip", buffer.getvalue()))
    assert result.resources.column("locator").to_pylist() == ["zip member 1"]


def test_invalid_utf8_line_is_quarantined_alone(con, tmp_path):
    data = orjson.dumps(OBS) + b"\n" + b'{"resourceType": "Observation", "id": "\xff"}'
    result = _unpack(con, _write(tmp_path, "x.ndjson", data))
    assert result.resources.num_rows == 1
    assert result.quarantined == [("line 2", None, None, "invalid UTF-8")]


def test_empty_framing_unpacks_to_no_rows(con):
    assert unpack(con, Framed.empty(), SHA).resources.num_rows == 0
