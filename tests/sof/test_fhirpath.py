"""FHIRPath tokenizer and parser: one behaviour per test."""

from __future__ import annotations

import pytest

from healthex_pipeline.sof.errors import ViewDefinitionError
from healthex_pipeline.sof.fhirpath import parse
from healthex_pipeline.sof.fhirpath_ast import (
    Binary,
    Call,
    Constant,
    EmptyLiteral,
    Indexer,
    Literal,
    Member,
    TypeOp,
    Unary,
    Variable,
)


def test_member_chain_nests_left_to_right() -> None:
    assert parse("code.coding.code") == Member(Member(Member(None, "code"), "coding"), "code")


def test_function_call_keeps_its_base_and_arguments() -> None:
    assert parse("name.where(use = 'official')") == Call(
        Member(None, "name"),
        "where",
        (Binary("=", Member(None, "use"), Literal("string", "official")),),
    )


def test_bare_function_call_has_no_base() -> None:
    assert parse("getResourceKey()") == Call(None, "getResourceKey", ())


def test_indexer_applies_to_the_preceding_term() -> None:
    assert parse("name[1].family") == Member(
        Indexer(Member(None, "name"), Literal("integer", "1")), "family"
    )


def test_and_binds_looser_than_equality() -> None:
    assert parse("a = 'x' and b") == Binary(
        "and", Binary("=", Member(None, "a"), Literal("string", "x")), Member(None, "b")
    )


def test_or_binds_looser_than_and() -> None:
    tree = parse("a or b and c")
    assert tree == Binary(
        "or", Member(None, "a"), Binary("and", Member(None, "b"), Member(None, "c"))
    )


def test_multiplication_binds_tighter_than_addition() -> None:
    tree = parse("1 + 2 * 3")
    assert tree == Binary(
        "+",
        Literal("integer", "1"),
        Binary("*", Literal("integer", "2"), Literal("integer", "3")),
    )


def test_parenthesised_expression_can_be_invoked() -> None:
    assert parse("(gender = 'male').not()") == Call(
        Binary("=", Member(None, "gender"), Literal("string", "male")), "not", ()
    )


def test_string_escapes_are_decoded() -> None:
    assert parse(r"'it\'s \u00e9'") == Literal("string", "it's é")


def test_backtick_identifier_is_never_a_keyword() -> None:
    assert parse("`div`.x") == Member(Member(None, "div"), "x")


def test_keyword_operator_is_a_binary_operator() -> None:
    assert parse("a div b") == Binary("div", Member(None, "a"), Member(None, "b"))


def test_external_constant_and_variable() -> None:
    assert parse("%rowIndex") == Constant("rowIndex")
    assert parse("$this") == Variable("this")


def test_number_literals_distinguish_integer_and_decimal() -> None:
    assert parse("12") == Literal("integer", "12")
    assert parse("1.50") == Literal("decimal", "1.50")


def test_date_time_and_datetime_literals() -> None:
    assert parse("@2020-01-02") == Literal("date", "2020-01-02")
    assert parse("@2020-01-02T10:00:00Z") == Literal("dateTime", "2020-01-02T10:00:00Z")
    assert parse("@T12:30") == Literal("time", "12:30")


def test_boolean_and_empty_literals() -> None:
    assert parse("true") == Literal("boolean", "true")
    assert parse("{}") == EmptyLiteral()


def test_is_operator_takes_a_type_name() -> None:
    assert parse("value is FHIR.Quantity") == TypeOp("is", Member(None, "value"), "FHIR.Quantity")


def test_unary_minus() -> None:
    assert parse("-x") == Unary("-", Member(None, "x"))


def test_comments_and_whitespace_are_ignored() -> None:
    assert parse("name /* c */ . family // end") == Member(Member(None, "name"), "family")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("@@", "invalid date/time literal at offset 0"),
        ("'open", "unterminated"),
        ("name family", "unexpected token at offset 5"),
        ("name.", "expected a name or function"),
        ("where(", "expected an expression"),
        ("a #", "unexpected character '#'"),
        ("   ", "non-empty"),
    ],
)
def test_syntax_errors_say_what_and_where(source: str, message: str) -> None:
    with pytest.raises(ViewDefinitionError, match=message):
        parse(source)
