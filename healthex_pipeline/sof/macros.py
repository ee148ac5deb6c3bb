"""DuckDB macros the compiled views call: FHIRPath collection semantics and typed output casts.

Casts of data sit behind CASE guards, but DuckDB's optimizer may hoist a repeated sub-expression
out of a CASE and evaluate it for every row, so they are TRY_CASTs: same result where the guard
holds, no error where it does not.

A FHIRPath collection is a ``JSON[]`` (NULLs never appear in it); an item is one ``JSON`` value.
The macros keep generated SQL readable and are temporary, so they must be installed on every
connection (``install_macros``) before a compiled view runs.
"""

from __future__ import annotations

import re

import duckdb

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
        f"CASE WHEN sof_lead(j) = '\"' AND regexp_full_match(sof_text(j), '{pattern}')"
        " THEN sof_text(j) END"
    )


# (name, parameters, body) in dependency order.
MACROS: tuple[tuple[str, str, str], ...] = (
    # The first character of a JSON value tells its type (string, number, object...) without
    # parsing it, as json_type() would. Values here are compact JSON (json_extract, to_json,
    # read_json and json() write no leading space), so that character is the value's first.
    ("sof_lead", "j", "left(j::VARCHAR, 1)"),
    ("sof_text", "j", "json_extract_string(j, '$')"),
    ("sof_is_num", "j", "contains('-0123456789', sof_lead(j))"),
    # Text of a number or string (a number's JSON text is its text; DOUBLE casts agree).
    ("sof_scalar", "j", "CASE WHEN sof_is_num(j) THEN trim(j::VARCHAR) ELSE sof_text(j) END"),
    ("sof_num", "j", "TRY_CAST(j AS DOUBLE)"),
    ("sof_finite", "x", "CASE WHEN isfinite(x) THEN x END"),
    ("sof_int", "j", "TRY_CAST(j AS BIGINT)"),
    # One element's value (as json_extract wrote it: compact, so the first character gives the
    # JSON type without parsing it again) as a collection: [] for absent/null, an array's items.
    (
        "sof_field",
        "j",
        "CASE WHEN j IS NULL THEN []::JSON[]"
        " WHEN starts_with(j::VARCHAR, '[') THEN list_filter(TRY_CAST(j AS JSON[]),"
        " lambda x: x IS NOT NULL)"
        " WHEN j::VARCHAR = 'null' THEN []::JSON[] ELSE [j] END",
    ),
    # Member navigation: each item parsed once (the inner list_transform), then normalised.
    (
        "sof_nav",
        "c, p",
        "flatten(list_transform(list_transform(c, lambda x: json_extract(x, p)),"
        " lambda y: sof_field(y)))",
    ),
    ("sof_wrap", "j", "CASE WHEN j IS NULL THEN []::JSON[] ELSE [j::JSON] END"),
    ("sof_of_bool", "b", "CASE WHEN b IS NULL THEN []::JSON[] ELSE [to_json(b)] END"),
    (
        "sof_single",
        "c",
        "CASE WHEN len(c) > 1 THEN error('FHIRPath: expected at most one item') ELSE c[1] END",
    ),
    ("sof_one_item", "c, msg", "CASE WHEN len(c) > 1 THEN error(msg) ELSE c[1] END"),
    # sof_one_item(sof_field(j), msg) without building the list when j is not an array.
    (
        "sof_json_item",
        "j, msg",
        "CASE WHEN starts_with(j::VARCHAR, '[') THEN sof_one_item(sof_field(j), msg)"
        " WHEN j::VARCHAR = 'null' THEN NULL ELSE j END",
    ),
    # A typed read's assumption (shapes.py); failing makes the caller rerun on the JSON path.
    (
        "sof_assume",
        "b",
        "CASE WHEN b THEN true ELSE error('SQL-on-FHIR typed read: assumption failed') END",
    ),
    (
        "sof_bool",
        "c",
        "CASE WHEN len(c) = 0 THEN NULL"
        " WHEN len(c) > 1 THEN error('FHIRPath: boolean context got several items')"
        " WHEN json_type(c[1]) = 'BOOLEAN' THEN TRY_CAST(c[1] AS BOOLEAN) ELSE true END",
    ),
    (
        "sof_where_bool",
        "c",
        "CASE WHEN len(c) = 0 THEN false"
        " WHEN len(c) = 1 AND json_type(c[1]) = 'BOOLEAN' THEN TRY_CAST(c[1] AS BOOLEAN)"
        " ELSE error('ViewDefinition where path did not evaluate to a boolean') END",
    ),
    (
        "sof_item_eq",
        "x, y",
        "CASE WHEN sof_is_num(x) AND sof_is_num(y) THEN sof_num(x) = sof_num(y)"
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
        "CASE WHEN sof_is_num(x) AND sof_is_num(y) THEN sof_num(x) = sof_num(y)"
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
        " WHEN sof_is_num(x) AND sof_is_num(y) THEN sign(sof_num(x) - sof_num(y))"
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
        " THEN to_json(sof_int(x) + sof_int(y))"
        " WHEN sof_is_num(x) AND sof_is_num(y) THEN to_json(sof_num(x) + sof_num(y))"
        " WHEN json_type(x) = 'VARCHAR' AND json_type(y) = 'VARCHAR'"
        " THEN to_json(sof_text(x) || sof_text(y)) END",
    ),
    (
        "sof_sub",
        "x, y",
        f"CASE WHEN json_type(x) IN {_INT} AND json_type(y) IN {_INT}"
        " THEN to_json(sof_int(x) - sof_int(y))"
        " WHEN sof_is_num(x) AND sof_is_num(y) THEN to_json(sof_num(x) - sof_num(y)) END",
    ),
    (
        "sof_mul",
        "x, y",
        f"CASE WHEN json_type(x) IN {_INT} AND json_type(y) IN {_INT}"
        " THEN to_json(sof_int(x) * sof_int(y))"
        " WHEN sof_is_num(x) AND sof_is_num(y) THEN to_json(sof_num(x) * sof_num(y)) END",
    ),
    (
        "sof_div",
        "x, y",
        "CASE WHEN sof_is_num(x) AND sof_is_num(y) AND sof_num(y) <> 0"
        " THEN to_json(sof_num(x) / sof_num(y)) END",
    ),
    (
        "sof_intdiv",
        "x, y",
        "CASE WHEN sof_is_num(x) AND sof_is_num(y) AND sof_num(y) <> 0"
        " THEN to_json(trunc(sof_num(x) / sof_num(y))::BIGINT) END",
    ),
    (
        "sof_mod",
        "x, y",
        f"CASE WHEN json_type(x) IN {_INT} AND json_type(y) IN {_INT} AND sof_int(y) <> 0"
        " THEN to_json(sof_int(x) % sof_int(y))"
        " WHEN sof_is_num(x) AND sof_is_num(y) AND sof_num(y) <> 0"
        " THEN to_json(fmod(sof_num(x), sof_num(y))) END",
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
        "to_json(sof_num(j) + sign * 0.5 * pow(10, -length(regexp_extract(sof_text(j),"
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
    # A text value (VARCHAR read where the sample had JSON strings, shapes.py) as the output
    # may use it; else the typed read's assumption fails and the caller reruns the view on the
    # JSON path. Suspect: what DuckDB turns into text silently, an object or array (read as its
    # JSON text: starting with '{' or '[' and valid JSON, unlike UCUM's '{score}' or '[lb_av]')
    # or a number in exponent form.
    (
        "sof_text_checked",
        "s",
        "CASE WHEN ((s >= '[' AND s < '\\') OR (s >= '{' AND s < '|')) AND json_valid(s)"
        " THEN CAST(sof_assume(false) AS VARCHAR)"
        " WHEN s >= '-' AND s < ':' AND contains(s, 'e')"
        r" AND regexp_full_match(s, '-?[0-9]+(\.[0-9]+)?e[+-][0-9]+')"
        " THEN CAST(sof_assume(false) AS VARCHAR) ELSE s END",
    ),
    # For a decimal or boolean column, whose cast treats an object, a number in exponent form
    # and a boolean as the JSON cast does: only an array differs.
    (
        "sof_number_checked",
        "s",
        "CASE WHEN starts_with(s, '[') AND json_valid(s)"
        " THEN CAST(sof_assume(false) AS VARCHAR) ELSE s END",
    ),
    # For a date/time column: its pattern rejects objects and numbers in exponent form as the
    # JSON cast does, leaving arrays and bare numbers (no '-' after the first character, no
    # ':'), which DuckDB turns into text that may look like a year; year-only dates fall back.
    (
        "sof_date_checked",
        "s",
        "CASE WHEN (starts_with(s, '[') AND json_valid(s))"
        " OR (strpos(s, '-') <= 1 AND NOT contains(s, ':'))"
        " THEN CAST(sof_assume(false) AS VARCHAR) ELSE s END",
    ),
    # text = 'literal' as the JSON comparison makes it; only an array read as text differs.
    (
        "sof_text_eq",
        "s, t",
        "CASE WHEN starts_with(s, '[') AND json_valid(s) THEN sof_assume(false) ELSE s = t END",
    ),
    # Output casts of text values (VARCHAR read from JSON strings): as the JSON casts below.
    ("sof_text_to_date", "s", f"CASE WHEN regexp_full_match(s, '{_DATE}') THEN s END"),
    ("sof_text_to_datetime", "s", f"CASE WHEN regexp_full_match(s, '{_DATETIME}') THEN s END"),
    ("sof_text_to_instant", "s", f"CASE WHEN regexp_full_match(s, '{_INSTANT}') THEN s END"),
    ("sof_text_to_time", "s", f"CASE WHEN regexp_full_match(s, '{_TIME}') THEN s END"),
    (
        "sof_text_to_boolean",
        "s",
        "CASE s WHEN 'true' THEN true WHEN 'false' THEN false END",
    ),
    (
        "sof_text_to_bigint",
        "s",
        r"CASE WHEN regexp_full_match(trim(s), '[+-]?[0-9]+(\.0*)?')"
        r" THEN TRY_CAST(regexp_extract(trim(s), '^[+-]?[0-9]+') AS BIGINT) END",
    ),
    (
        "sof_text_to_double",
        "s",
        "CASE WHEN isfinite(TRY_CAST(s AS DOUBLE)) THEN TRY_CAST(s AS DOUBLE) END",
    ),
    # Output casts: JSON item -> column type; NULL when absent or not castable.
    ("sof_to_any", "j", "sof_text(j)"),
    (
        "sof_to_string",
        "j",
        "CASE WHEN sof_lead(j) NOT IN ('{', '[') THEN sof_text(j) END",
    ),
    (
        "sof_to_boolean",
        "j",
        "CASE sof_lead(j) WHEN 't' THEN true WHEN 'f' THEN false"
        " WHEN '\"' THEN CASE sof_text(j) WHEN 'true' THEN true WHEN 'false' THEN false END"
        " END",
    ),
    (
        "sof_to_bigint",
        "j",
        "CASE WHEN (sof_is_num(j) OR sof_lead(j) = '\"')"
        r" AND regexp_full_match(trim(sof_scalar(j)), '[+-]?[0-9]+(\.0*)?')"
        r" THEN TRY_CAST(regexp_extract(trim(sof_scalar(j)), '^[+-]?[0-9]+') AS BIGINT) END",
    ),
    (
        "sof_to_double",
        "j",
        "CASE WHEN sof_is_num(j) THEN sof_finite(TRY_CAST(j::VARCHAR AS DOUBLE))"
        " WHEN sof_lead(j) = '\"' THEN sof_finite(TRY_CAST(sof_text(j) AS DOUBLE)) END",
    ),
    ("sof_to_date", "j", _text_matches(_DATE)),
    ("sof_to_datetime", "j", _text_matches(_DATETIME)),
    ("sof_to_instant", "j", _text_matches(_INSTANT)),
    ("sof_to_time", "j", _text_matches(_TIME)),
)


_CALL = re.compile(r"\b(sof_[a-z_]+)\(")


def _called(sql: str) -> set[str]:
    """The macros ``sql`` calls, directly or through other macros."""
    needed = set(_CALL.findall(sql))
    for name, _, body in reversed(MACROS):  # dependency order: callers come after callees
        if name in needed:
            needed.update(_CALL.findall(body))
    return needed


def install_macros(con: duckdb.DuckDBPyConnection, used_by: str | None = None) -> None:
    """Create (or replace) the compiler's temporary macros on ``con``; safe to call repeatedly.

    With ``used_by`` (SQL text), only the macros it needs: creating all of them takes longer
    than sampling the input, a cost a one-off run pays in full.
    """
    needed = None if used_by is None else _called(used_by)
    statements = [
        f"CREATE OR REPLACE TEMP MACRO {name}({params}) AS {body}"
        for name, params, body in MACROS
        if needed is None or name in needed
    ]
    if statements:
        con.execute(";\n".join(statements))
