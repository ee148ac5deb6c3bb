"""DuckDB macros the compiled views call: FHIRPath collection semantics and typed output casts.

A FHIRPath collection is a ``JSON[]`` (NULLs never appear in it); an item is one ``JSON`` value.
The macros keep generated SQL readable and are temporary, so they must be installed on every
connection (``install_macros``) before a compiled view runs.
"""

from __future__ import annotations

import duckdb

_NUM = "('BIGINT', 'UBIGINT', 'DOUBLE')"
_INT = "('BIGINT', 'UBIGINT')"
_DATE = r"[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?"
_TZ = r"(Z|[+-][0-9]{2}:[0-9]{2})"
_TIME = r"[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
_DATETIME = rf"[0-9]{{4}}(-[0-9]{{2}}(-[0-9]{{2}}(T{_TIME}{_TZ}?)?)?)?"
_INSTANT = rf"[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}T[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}(\.[0-9]+)?{_TZ}"
# Reference forms whose target id is recoverable: [base/]Type/id[/_history/v], urn:uuid|oid, #id.
_REF = r"^(?:.*/)?([A-Z][A-Za-z]+)/([A-Za-z0-9\-\.]{1,64})(?:/_history/[^/]+)?$"
_URN = r"^(?:urn:(?:uuid|oid):|#)(.+)$"


def _text_matches(pattern: str) -> str:
    return (
        f"CASE WHEN json_type(j) = 'VARCHAR' AND regexp_full_match(sof_text(j), '{pattern}')"
        " THEN sof_text(j) END"
    )


# (name, parameters, body) in dependency order.
MACROS: tuple[tuple[str, str, str], ...] = (
    ("sof_text", "j", "json_extract_string(j, '$')"),
    ("sof_is_num", "j", f"json_type(j) IN {_NUM}"),
    (
        "sof_kids",
        "j, p",
        "CASE coalesce(json_type(json_extract(j, p)), 'NULL')"
        " WHEN 'NULL' THEN []::JSON[]"
        " WHEN 'ARRAY' THEN list_filter(CAST(json_extract(j, p) AS JSON[]),"
        " lambda x: x IS NOT NULL AND json_type(x) <> 'NULL')"
        " ELSE [json_extract(j, p)] END",
    ),
    ("sof_nav", "c, p", "flatten(list_transform(c, lambda x: sof_kids(x, p)))"),
    ("sof_wrap", "j", "CASE WHEN j IS NULL THEN []::JSON[] ELSE [j::JSON] END"),
    ("sof_of_bool", "b", "CASE WHEN b IS NULL THEN []::JSON[] ELSE [to_json(b)] END"),
    (
        "sof_single",
        "c",
        "CASE WHEN len(c) > 1 THEN error('FHIRPath: expected at most one item') ELSE c[1] END",
    ),
    ("sof_one_item", "c, msg", "CASE WHEN len(c) > 1 THEN error(msg) ELSE c[1] END"),
    (
        "sof_bool",
        "c",
        "CASE WHEN len(c) = 0 THEN NULL"
        " WHEN len(c) > 1 THEN error('FHIRPath: boolean context got several items')"
        " WHEN json_type(c[1]) = 'BOOLEAN' THEN c[1]::BOOLEAN ELSE true END",
    ),
    (
        "sof_where_bool",
        "c",
        "CASE WHEN len(c) = 0 THEN false"
        " WHEN len(c) = 1 AND json_type(c[1]) = 'BOOLEAN' THEN c[1]::BOOLEAN"
        " ELSE error('ViewDefinition where path did not evaluate to a boolean') END",
    ),
    (
        "sof_item_eq",
        "x, y",
        "CASE WHEN sof_is_num(x) AND sof_is_num(y) THEN x::DOUBLE = y::DOUBLE"
        " ELSE sof_text(x) = sof_text(y) END",
    ),
    (
        "sof_eq",
        "a, b",
        "CASE WHEN len(a) = 0 OR len(b) = 0 THEN NULL WHEN len(a) <> len(b) THEN false"
        " ELSE list_bool_and(list_transform(a, lambda x, i: sof_item_eq(x, b[i]))) END",
    ),
    (
        "sof_item_equiv",
        "x, y",
        "CASE WHEN sof_is_num(x) AND sof_is_num(y) THEN x::DOUBLE = y::DOUBLE"
        " ELSE lower(trim(sof_text(x))) = lower(trim(sof_text(y))) END",
    ),
    (
        "sof_equiv",
        "a, b",
        "CASE WHEN len(a) = 0 AND len(b) = 0 THEN true WHEN len(a) <> len(b) THEN false"
        " ELSE list_bool_and(list_transform(a, lambda x, i: sof_item_equiv(x, b[i]))) END",
    ),
    (
        "sof_item_cmp",
        "x, y",
        "CASE WHEN x IS NULL OR y IS NULL THEN NULL"
        " WHEN sof_is_num(x) AND sof_is_num(y) THEN sign(x::DOUBLE - y::DOUBLE)"
        " WHEN sof_text(x) < sof_text(y) THEN -1 WHEN sof_text(x) > sof_text(y) THEN 1 ELSE 0 END",
    ),
    ("sof_cmp", "a, b", "sof_item_cmp(sof_single(a), sof_single(b))"),
    (
        "sof_contains",
        "c, x",
        "CASE WHEN x IS NULL THEN NULL"
        " ELSE coalesce(list_bool_or(list_transform(c, lambda y: sof_item_eq(y, x))), false) END",
    ),
    (
        "sof_add",
        "x, y",
        f"CASE WHEN json_type(x) IN {_INT} AND json_type(y) IN {_INT}"
        " THEN to_json(x::BIGINT + y::BIGINT)"
        " WHEN sof_is_num(x) AND sof_is_num(y) THEN to_json(x::DOUBLE + y::DOUBLE)"
        " WHEN json_type(x) = 'VARCHAR' AND json_type(y) = 'VARCHAR'"
        " THEN to_json(sof_text(x) || sof_text(y)) END",
    ),
    (
        "sof_sub",
        "x, y",
        f"CASE WHEN json_type(x) IN {_INT} AND json_type(y) IN {_INT}"
        " THEN to_json(x::BIGINT - y::BIGINT)"
        " WHEN sof_is_num(x) AND sof_is_num(y) THEN to_json(x::DOUBLE - y::DOUBLE) END",
    ),
    (
        "sof_mul",
        "x, y",
        f"CASE WHEN json_type(x) IN {_INT} AND json_type(y) IN {_INT}"
        " THEN to_json(x::BIGINT * y::BIGINT)"
        " WHEN sof_is_num(x) AND sof_is_num(y) THEN to_json(x::DOUBLE * y::DOUBLE) END",
    ),
    (
        "sof_div",
        "x, y",
        "CASE WHEN sof_is_num(x) AND sof_is_num(y) AND y::DOUBLE <> 0"
        " THEN to_json(x::DOUBLE / y::DOUBLE) END",
    ),
    (
        "sof_intdiv",
        "x, y",
        "CASE WHEN sof_is_num(x) AND sof_is_num(y) AND y::DOUBLE <> 0"
        " THEN to_json(trunc(x::DOUBLE / y::DOUBLE)::BIGINT) END",
    ),
    (
        "sof_mod",
        "x, y",
        f"CASE WHEN json_type(x) IN {_INT} AND json_type(y) IN {_INT} AND y::BIGINT <> 0"
        " THEN to_json(x::BIGINT % y::BIGINT)"
        " WHEN sof_is_num(x) AND sof_is_num(y) AND y::DOUBLE <> 0"
        " THEN to_json(fmod(x::DOUBLE, y::DOUBLE)) END",
    ),
    (
        "sof_concat",
        "x, y",
        "to_json(coalesce(sof_text(x), '') || coalesce(sof_text(y), ''))",
    ),
    ("sof_ref", "j", "json_extract_string(j, '$.reference')"),
    (
        "sof_ref_key",
        "j, t",
        f"CASE WHEN regexp_matches(sof_ref(j), '{_REF}')"
        f" AND (t IS NULL OR regexp_extract(sof_ref(j), '{_REF}', 1) = t)"
        f" THEN to_json(regexp_extract(sof_ref(j), '{_REF}', 2))"
        f" WHEN regexp_matches(sof_ref(j), '{_URN}')"
        f" THEN to_json(regexp_extract(sof_ref(j), '{_URN}', 1)) END",
    ),
    # lowBoundary()/highBoundary(): precision ranges of decimals and partial dates/times.
    (
        "sof_decimal_bound",
        "j, sign",
        "to_json(j::DOUBLE + sign * 0.5 * pow(10, -length(regexp_extract(sof_text(j),"
        r" '\.([0-9]+)$', 1))))",
    ),
    ("sof_date_low", "s", "s || CASE length(s) WHEN 4 THEN '-01-01' WHEN 7 THEN '-01' ELSE '' END"),
    (
        "sof_date_high",
        "s",
        "CASE length(s) WHEN 4 THEN s || '-12-31'"
        " WHEN 7 THEN strftime(last_day(CAST(s || '-01' AS DATE)), '%Y-%m-%d') ELSE s END",
    ),
    (
        "sof_time_low",
        "t",
        "t || CASE length(t) WHEN 5 THEN ':00.000' WHEN 8 THEN '.000' ELSE '' END",
    ),
    (
        "sof_time_high",
        "t",
        "t || CASE length(t) WHEN 5 THEN ':59.999' WHEN 8 THEN '.999' ELSE '' END",
    ),
    (
        "sof_datetime_low",
        "s",
        "sof_date_low(regexp_extract(s, '^[0-9-]+')) || 'T'"
        " || sof_time_low(coalesce(nullif(regexp_extract(s, 'T([0-9:.]+)', 1), ''), '00:00'))"
        f" || coalesce(nullif(regexp_extract(s, '{_TZ}$', 1), ''), '+14:00')",
    ),
    (
        "sof_datetime_high",
        "s",
        "sof_date_high(regexp_extract(s, '^[0-9-]+')) || 'T'"
        " || sof_time_high(coalesce(nullif(regexp_extract(s, 'T([0-9:.]+)', 1), ''), '23:59'))"
        f" || coalesce(nullif(regexp_extract(s, '{_TZ}$', 1), ''), '-12:00')",
    ),
    # Output casts: JSON item -> column type; NULL when absent or not castable.
    ("sof_to_any", "j", "sof_text(j)"),
    (
        "sof_to_string",
        "j",
        "CASE WHEN json_type(j) NOT IN ('OBJECT', 'ARRAY') THEN sof_text(j) END",
    ),
    (
        "sof_to_boolean",
        "j",
        "CASE json_type(j) WHEN 'BOOLEAN' THEN j::BOOLEAN"
        " WHEN 'VARCHAR' THEN CASE sof_text(j) WHEN 'true' THEN true WHEN 'false' THEN false END"
        " END",
    ),
    (
        "sof_to_bigint",
        "j",
        f"CASE WHEN json_type(j) IN {_INT} THEN TRY_CAST(j AS BIGINT)"
        " WHEN json_type(j) IN ('DOUBLE', 'VARCHAR')"
        r" AND regexp_full_match(trim(sof_text(j)), '[+-]?[0-9]+(\.0*)?')"
        r" THEN TRY_CAST(regexp_extract(trim(sof_text(j)), '^[+-]?[0-9]+') AS BIGINT) END",
    ),
    (
        "sof_to_double",
        "j",
        "CASE WHEN json_type(j) IN ('BIGINT', 'UBIGINT', 'DOUBLE', 'VARCHAR')"
        " AND isfinite(TRY_CAST(sof_text(j) AS DOUBLE)) THEN TRY_CAST(sof_text(j) AS DOUBLE) END",
    ),
    ("sof_to_date", "j", _text_matches(_DATE)),
    ("sof_to_datetime", "j", _text_matches(_DATETIME)),
    ("sof_to_instant", "j", _text_matches(_INSTANT)),
    ("sof_to_time", "j", _text_matches(_TIME)),
)


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Create (or replace) the compiler's temporary macros on ``con``; safe to call repeatedly."""
    for name, params, body in MACROS:
        con.execute(f"CREATE OR REPLACE TEMP MACRO {name}({params}) AS {body}")
