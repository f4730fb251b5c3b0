from __future__ import annotations

import pytest

from lightly_ray.formats.jsonfile import parse_json, strip_trailing_commas
from lightly_ray.formats.problems import FieldError, FormatProblem, describe


def test_trailing_commas_as_in_the_product_documentation_are_accepted() -> None:
    text = b'{"categories": [{"id": 0, "name": "car",}, {"id": 1, "name": "a,}",},],}'
    assert parse_json(text) == {"categories": [{"id": 0, "name": "car"}, {"id": 1, "name": "a,}"}]}


def test_strip_trailing_commas_keeps_strings_and_escapes() -> None:
    assert strip_trailing_commas('["a\\",]", 1 ,\n ]') == '["a\\",]", 1 \n ]'


def test_syntax_errors_name_line_and_column() -> None:
    with pytest.raises(
        FieldError, match=r"^expected valid JSON, got a syntax error at line 2 column 2: Extra data$"
    ):
        parse_json(b'{"a": 1\n}}')
    with pytest.raises(FieldError, match="expected UTF-8 text"):
        parse_json(b'{"a": "\xff"}')


def test_byte_order_mark_is_accepted() -> None:
    assert parse_json(b'\xef\xbb\xbf["x"]') == ["x"]


def test_describe_and_problem_text() -> None:
    assert [describe(value) for value in (None, True, 3, 1.5, "x", [1], {"a": 1})] == [
        "null",
        "true",
        "3",
        "1.5",
        '"x"',
        "a list of 1 item",
        "an object",
    ]
    assert describe("x" * 100).endswith('..."')
    assert str(FormatProblem("f.json", "a.b", "expected x, got y")) == "f.json: a.b: expected x, got y"
    assert str(FormatProblem("f.json", "", "expected x, got y")) == "f.json: expected x, got y"
