"""The ViewDefinition compiler and its DuckDB macros: one behaviour per test."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from healthex_pipeline.sof.compiler import compile_view
from healthex_pipeline.sof.errors import ViewDefinitionError
from healthex_pipeline.sof.macros import install_macros
from tests.sof.conftest import load_resources, run_view


def one_column(path: str, resource: str = "Observation", **column: Any) -> dict[str, Any]:
    return {
        "resource": resource,
        "select": [
            {"column": [{"name": "id", "path": "id"}, {"name": "v", "path": path, **column}]}
        ],
    }


def values(con: duckdb.DuckDBPyConnection, view: dict[str, Any]) -> list[Any]:
    return [row["v"] for row in sorted(run_view(con, view), key=lambda r: r["id"])]


def test_rows_are_limited_to_the_view_resource_type(con: duckdb.DuckDBPyConnection) -> None:
    load_resources(
        con, [{"resourceType": "Patient", "id": "p"}, {"resourceType": "Observation", "id": "o"}]
    )
    assert [r["id"] for r in run_view(con, one_column("status"))] == ["o"]


def test_passthrough_columns_come_first_unchanged(con: duckdb.DuckDBPyConnection) -> None:
    resource = '{"resourceType": "Observation", "id": "o"}'
    con.execute(f"CREATE TABLE wide AS SELECT 42 AS n, 'x' AS tag, '{resource}'::JSON AS resource")
    compiled = compile_view(one_column("status"), source="wide", passthrough=("tag", "n"))
    assert con.sql(compiled.sql).fetchall() == [("x", 42, "o", None, [])]
    assert compiled.columns == [
        ("tag", "ANY"),
        ("n", "ANY"),
        ("id", "VARCHAR"),
        ("v", "VARCHAR"),
        ("_cast_errors", "VARCHAR[]"),
    ]


def test_declared_types_map_to_duckdb_types() -> None:
    view = {
        "resource": "Patient",
        "select": [
            {
                "column": [
                    {"name": "b", "path": "active", "type": "boolean"},
                    {"name": "i", "path": "multipleBirth", "type": "integer"},
                    {"name": "d", "path": "x", "type": "decimal"},
                    {"name": "t", "path": "birthDate", "type": "date"},
                    {"name": "g", "path": "name.given", "type": "string", "collection": True},
                ]
            }
        ],
    }
    types = dict(compile_view(view, source="s").columns)
    assert types == {
        "b": "BOOLEAN",
        "i": "BIGINT",
        "d": "DOUBLE",
        "t": "VARCHAR",
        "g": "VARCHAR[]",
        "_cast_errors": "VARCHAR[]",
    }


def test_untyped_columns_are_inferred_from_the_expression() -> None:
    view = {
        "resource": "Patient",
        "select": [
            {
                "column": [
                    {"name": "has_name", "path": "name.exists()"},
                    {"name": "n", "path": "name.count()"},
                    {"name": "family", "path": "name.family.first()"},
                ]
            }
        ],
    }
    assert compile_view(view, source="s").columns[:3] == [
        ("has_name", "BOOLEAN"),
        ("n", "BIGINT"),
        ("family", "VARCHAR"),
    ]


def test_uncastable_value_is_null_and_named_in_cast_errors(
    con: duckdb.DuckDBPyConnection,
) -> None:
    load_resources(
        con,
        [
            {"resourceType": "Observation", "id": "bad", "valueQuantity": {"value": "abc"}},
            {"resourceType": "Observation", "id": "ok", "valueQuantity": {"value": 1.5}},
        ],
    )
    rows = run_view(con, one_column("value.ofType(Quantity).value", type="decimal"))
    assert sorted((r["id"], r["v"], r["_cast_errors"]) for r in rows) == [
        ("bad", None, ["v"]),
        ("ok", 1.5, []),
    ]


def test_integer_column_rejects_a_fraction(con: duckdb.DuckDBPyConnection) -> None:
    load_resources(con, [{"resourceType": "Observation", "id": "o", "valueInteger": 1.5}])
    (row,) = run_view(con, one_column("value.ofType(integer)", type="integer"))
    assert (row["v"], row["_cast_errors"]) == (None, ["v"])


def test_malformed_datetime_is_a_cast_error(con: duckdb.DuckDBPyConnection) -> None:
    load_resources(con, [{"resourceType": "Observation", "id": "o", "issued": "yesterday"}])
    (row,) = run_view(con, one_column("issued", type="instant"))
    assert (row["v"], row["_cast_errors"]) == (None, ["v"])


def test_datetime_keeps_the_fhir_string_form(con: duckdb.DuckDBPyConnection) -> None:
    load_resources(
        con, [{"resourceType": "Observation", "id": "o", "effectiveDateTime": "2020-02"}]
    )
    assert values(con, one_column("effective.ofType(dateTime)", type="dateTime")) == ["2020-02"]


def test_untyped_column_never_reports_cast_errors(con: duckdb.DuckDBPyConnection) -> None:
    load_resources(con, [{"resourceType": "Observation", "id": "o", "code": {"text": "t"}}])
    (row,) = run_view(con, one_column("code"))
    assert (row["v"], row["_cast_errors"]) == ('{"text":"t"}', [])


def test_navigation_flattens_single_objects_and_arrays(con: duckdb.DuckDBPyConnection) -> None:
    load_resources(
        con,
        [
            {"resourceType": "Observation", "id": "dstu2", "category": {"coding": [{"code": "a"}]}},
            {
                "resourceType": "Observation",
                "id": "r4",
                "category": [{"coding": [{"code": "b"}, {"code": "c"}]}],
            },
        ],
    )
    view = one_column("category.coding.code", type="code", collection=True)
    assert values(con, view) == [["a"], ["b", "c"]]


def test_of_type_reads_the_choice_element(con: duckdb.DuckDBPyConnection) -> None:
    load_resources(
        con,
        [
            {"resourceType": "Observation", "id": "q", "valueQuantity": {"unit": "mg"}},
            {"resourceType": "Observation", "id": "s", "valueString": "x"},
        ],
    )
    assert values(con, one_column("value.ofType(Quantity).unit")) == ["mg", None]


def test_of_type_filters_resources_by_type(con: duckdb.DuckDBPyConnection) -> None:
    contained = [{"resourceType": "Patient", "id": "p"}, {"resourceType": "Medication", "id": "m"}]
    load_resources(con, [{"resourceType": "Observation", "id": "o", "contained": contained}])
    assert values(con, one_column("contained.ofType(Medication).id")) == ["m"]


def test_extension_selects_by_url(con: duckdb.DuckDBPyConnection) -> None:
    extensions = [{"url": "a", "valueString": "1"}, {"url": "b", "valueString": "2"}]
    load_resources(con, [{"resourceType": "Observation", "id": "o", "extension": extensions}])
    assert values(con, one_column("extension('b').value.ofType(string)")) == ["2"]


def test_reference_key_of_a_bundle_urn(con: duckdb.DuckDBPyConnection) -> None:
    load_resources(
        con,
        [{"resourceType": "Observation", "id": "o", "encounter": {"reference": "urn:uuid:e-1"}}],
    )
    assert values(con, one_column("encounter.getReferenceKey()")) == ["e-1"]


def test_reference_key_with_a_wrong_type_is_empty(con: duckdb.DuckDBPyConnection) -> None:
    load_resources(
        con, [{"resourceType": "Observation", "id": "o", "subject": {"reference": "Patient/p"}}]
    )
    assert values(con, one_column("subject.getReferenceKey(Group)")) == [None]


def test_comparison_of_a_missing_value_is_empty(con: duckdb.DuckDBPyConnection) -> None:
    load_resources(con, [{"resourceType": "Observation", "id": "o"}])
    assert values(con, one_column("status = 'final'")) == [None]


def test_iif_picks_a_branch(con: duckdb.DuckDBPyConnection) -> None:
    load_resources(con, [{"resourceType": "Observation", "id": "o", "status": "final"}])
    assert values(con, one_column("iif(status = 'final', 'done', 'open')")) == ["done"]


def test_several_values_in_a_scalar_column_fail_naming_the_column(
    con: duckdb.DuckDBPyConnection,
) -> None:
    load_resources(
        con,
        [{"resourceType": "Observation", "id": "o", "category": [{"text": "a"}, {"text": "b"}]}],
    )
    with pytest.raises(duckdb.Error, match=r"select\[0\]\.column\[1\] \(v\) yields several values"):
        run_view(con, one_column("category.text"))


def test_where_that_is_not_boolean_fails_at_run_time(con: duckdb.DuckDBPyConnection) -> None:
    load_resources(con, [{"resourceType": "Observation", "id": "o", "status": "final"}])
    view = {**one_column("id"), "where": [{"path": "status"}]}
    with pytest.raises(duckdb.Error, match="did not evaluate to a boolean"):
        run_view(con, view)


def test_install_macros_is_idempotent() -> None:
    connection = duckdb.connect()
    install_macros(connection)
    install_macros(connection)
    assert connection.sql("SELECT sof_text('\"x\"'::JSON)").fetchall() == [("x",)]


@pytest.mark.parametrize(
    ("view", "message"),
    [
        ({"select": [{"column": [{"name": "id", "path": "id"}]}]}, "view.resource"),
        (one_column("id", name="1bad"), r"select\[0\]\.column\[1\]\.name"),
        (one_column("id.nope()"), r"select\[0\]\.column\[1\]\.path: FHIRPath function nope\(\)"),
        (one_column("%missing"), "undefined constant %missing"),
        (one_column("name.("), r"select\[0\]\.column\[1\]\.path: expected a name or function"),
        (
            {
                "resource": "Patient",
                "select": [{"forEach": 1, "column": [{"name": "a", "path": "id"}]}],
            },
            r"select\[0\]\.forEach must be",
        ),
        ({"resource": "Patient", "select": [{}]}, "needs a column, select or unionAll"),
        (
            {
                "resource": "Patient",
                "select": [
                    {
                        "unionAll": [
                            {"column": [{"name": "a", "path": "id"}]},
                            {"column": [{"name": "b", "path": "id"}]},
                        ]
                    }
                ],
            },
            r"unionAll\[1\] columns \['b'\] differ",
        ),
        (
            {
                "resource": "Patient",
                "select": [{"column": [{"name": "a", "path": "id"}, {"name": "A", "path": "id"}]}],
            },
            "duplicate column names",
        ),
        ({**one_column("id"), "constant": [{"name": "c"}]}, "needs exactly one value"),
    ],
)
def test_invalid_views_raise_with_location(view: dict[str, Any], message: str) -> None:
    with pytest.raises(ViewDefinitionError, match=message):
        compile_view(view, source="s")


def test_passthrough_may_not_shadow_a_view_column() -> None:
    with pytest.raises(ViewDefinitionError, match="clash"):
        compile_view(one_column("id"), source="s", passthrough=("ID",))


def test_boundaries_of_a_partial_date(con: duckdb.DuckDBPyConnection) -> None:
    load_resources(con, [{"resourceType": "Patient", "id": "p", "birthDate": "1970-02"}])
    view = one_column("birthDate.lowBoundary() | birthDate.highBoundary()", "Patient")
    view["select"][0]["column"][1]["collection"] = True
    assert sorted(values(con, view)[0]) == ["1970-02-01", "1970-02-28"]
