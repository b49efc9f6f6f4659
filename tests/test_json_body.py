"""json_problem / load_json: what the API and the front doors refuse before parsing further."""

from __future__ import annotations

import orjson
import pytest

from pushgate.api.json_body import JsonProblem, json_problem, load_json


def nested(levels: int) -> bytes:
    return b'{"a": ' * levels + b"1" + b"}" * levels


def test_nesting_up_to_the_limit_is_fine_and_one_more_is_refused():
    assert json_problem(nested(64), 64) is None
    problem = json_problem(nested(65), 64)
    assert problem is not None and "deeper than 64" in problem


def test_many_shallow_brackets_or_brackets_in_strings_are_not_depth():
    wide = orjson.dumps({"notifications": [{"tokens": ["t"]} for _ in range(500)]})
    assert json_problem(wide, 64) is None
    in_text = orjson.dumps({"text": "[[[{{{" * 100})
    assert load_json(in_text, 64) == {"text": "[[[{{{" * 100}


def test_invalid_json_and_lone_surrogates_are_refused():
    for body in (b"{", b'{"a": "\\ud800"}'):
        with pytest.raises(JsonProblem, match="not valid JSON"):
            load_json(body, 64)
