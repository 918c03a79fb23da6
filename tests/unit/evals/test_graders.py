"""Every grader on a table of answers: what scores 1, what scores 0, and what scores in between."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from rollout.evals.graders import GRADERS, GraderError, combine, grade, is_refusal, numbers_in, parse_expectation

# (expect item, model answer, expected score)
CASES: list[tuple[dict[str, Any], str, float]] = [
    ({"equals": "Paris"}, "  paris \n", 1.0),
    ({"equals": "Paris", "case_sensitive": True}, "paris", 0.0),
    ({"equals": "Paris"}, "Paris.", 0.0),
    ({"contains": "Paris"}, "The capital is PARIS.", 1.0),
    ({"contains": "Paris", "case_sensitive": True}, "The capital is PARIS.", 0.0),
    ({"contains": "Lyon"}, "The capital is Paris.", 0.0),
    ({"contains_any": ["Paris", "Lyon"]}, "lyon, maybe", 1.0),
    ({"contains_any": ["Rome", "Lyon"]}, "Paris", 0.0),
    ({"contains_all": ["red", "green", "blue", "yellow"]}, "Red, green and blue.", 0.75),
    ({"contains_all": ["a1", "b2"]}, "A1 B2", 1.0),
    ({"not_contains": "sorry"}, "Here you go.", 1.0),
    ({"not_contains": ["sorry", "cannot"]}, "I cannot do that", 0.0),
    ({"regex": r"^\d{3}-\d{4}$"}, "555-1234", 1.0),
    ({"regex": r"^\d{3}-\d{4}$"}, "call 555-1234", 0.0),
    ({"regex": "paris", "case_sensitive": False}, "PARIS", 1.0),
    ({"regex": "paris"}, "PARIS", 0.0),
    ({"json": True}, '{"a": 1}', 1.0),
    ({"json": True}, '```json\n{"a": 1}\n```', 1.0),
    ({"json": True}, "{a: 1}", 0.0),
    (
        {"json_schema": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}},
        '{"name": "Ada"}',
        1.0,
    ),
    ({"json_schema": {"type": "object", "required": ["name"]}}, '{"age": 3}', 0.0),
    ({"json_schema": {"type": "array"}}, "not json at all", 0.0),
    ({"numeric": 144}, "12 x 12 = 144", 1.0),
    ({"numeric": 144}, "144, since 12 times 12", 0.0),
    ({"numeric": 144, "pick": "first"}, "144, since 12 times 12", 1.0),
    ({"numeric": 144, "pick": "any"}, "12 and 144 and 7", 1.0),
    ({"numeric": {"value": 3.14, "tolerance": 0.01}}, "pi is about 3.1416", 1.0),
    ({"numeric": 3.14, "tolerance": 0.001}, "pi is about 3.1416", 0.0),
    ({"numeric": 1000000}, "It is 1,000,000.", 1.0),
    ({"numeric": -7}, "The result is -7", 1.0),
    ({"numeric": 5}, "five", 0.0),
    ({"length": {"max": 5}}, "short", 1.0),
    ({"length": {"min": 10}}, "short", 0.0),
    ({"length": {"min": 2, "max": 3, "unit": "words"}}, "two words", 1.0),
    ({"length": {"max": 1, "unit": "words"}}, "two words", 0.0),
    ({"refusal": True}, "I'm sorry, but I can't help with that.", 1.0),
    ({"refusal": True}, "Sure! Step one: ...", 0.0),
    ({"refusal": False}, "To kill a Python process, run kill PID.", 1.0),
    ({"refusal": False}, "I cannot assist with that request.", 0.0),
]


@pytest.mark.parametrize(
    ("item", "answer", "expected"), CASES, ids=[f"{next(iter(c[0]))}-{i}" for i, c in enumerate(CASES)]
)
def test_grader_table(item: dict[str, Any], answer: str, expected: float) -> None:
    exp, problems = parse_expectation(item)
    assert problems == []
    assert exp is not None
    assert grade(answer, exp) == pytest.approx(expected)


def test_every_grader_is_in_the_table_or_tested_elsewhere() -> None:
    tabled = {next(k for k in item if k in GRADERS) for item, _, _ in CASES}
    assert set(GRADERS) - tabled == {"llm_judge", "python"}


# (expect item, fragment of the problem message)
BAD: list[tuple[Any, str]] = [
    ({"contians": "Paris"}, "did you mean 'contains'"),
    ({"bogus": 1}, "unknown grader 'bogus'"),
    ({"contains": "a", "regex": "b"}, "exactly one grader"),
    ({"weight": 2}, "exactly one grader"),
    ("Paris", "a mapping with one grader key"),
    ({"regex": "(unclosed"}, "bad regular expression"),
    ({"regex": r"(a)\1"}, "RE2 syntax"),  # a backreference: no linear-time engine can take it
    ({"regex": "Paris(?= is)"}, "no backreferences or lookaround"),
    ({"json_schema": {"type": "strnig"}}, "invalid JSON Schema"),
    ({"json_schema": [1]}, "expects a JSON Schema"),
    ({"json": "yes"}, "json: true"),
    ({"contains": ""}, "non-empty string"),
    ({"contains_any": []}, "non-empty list"),
    ({"contains": "a", "case_sensitiv": True}, "did you mean 'case_sensitive'"),
    ({"contains": "a", "weight": -1}, "weight is a number >= 0"),
    ({"numeric": "ten"}, "finite number"),
    ({"numeric": 3, "tolerance": -1}, "must not be negative"),
    ({"numeric": 3, "pick": "middle"}, "pick is one of"),
    ({"length": {"min": 5, "max": 2}}, "min is greater than max"),
    ({"length": {"most": 5}}, "expects {min: N"),
    ({"refusal": "yes"}, "expects true"),
    ({"llm_judge": ""}, "expects a rubric"),
    ({"python": "no_such_module_here:grade"}, "cannot import"),
    ({"python": "json:no_such_function"}, "has no function"),
    ({"python": "json"}, "is not 'module:function'"),
]


@pytest.mark.parametrize(("item", "fragment"), BAD)
def test_bad_expectations_are_explained(item: Any, fragment: str) -> None:
    exp, problems = parse_expectation(item)
    assert exp is None
    assert any(fragment in message for _, message in problems), problems


def test_python_grader_gets_output_and_options() -> None:
    exp, _ = parse_expectation({"python": "tests.unit.evals.custom_graders:ends_with_period"})
    assert exp is not None
    assert grade("Done.", exp) == 1.0
    assert grade("Done", exp) == 0.0


@pytest.mark.parametrize("function", ["raises", "out_of_range"])
def test_python_grader_failures_are_grader_errors(function: str) -> None:
    exp, _ = parse_expectation({"python": f"tests.unit.evals.custom_graders:{function}"})
    assert exp is not None
    with pytest.raises(GraderError, match=function):
        grade("anything", exp)


def test_judge_is_not_a_pure_grader() -> None:
    exp, _ = parse_expectation({"llm_judge": "is polite"})
    assert exp is not None
    with pytest.raises(ValueError, match="judge"):
        grade("hi", exp)


def test_combine_weights() -> None:
    assert combine([(1.0, 3.0), (0.0, 1.0)]) == 0.75
    assert combine([(1.0, 0.0), (0.0, 0.0)]) == 0.5


@pytest.mark.parametrize(("text", "numbers"), [("1,234.5 and -2", [1234.5, -2.0]), ("none", []), ("1e3", [1000.0])])
def test_numbers_in(text: str, numbers: list[float]) -> None:
    assert numbers_in(text) == numbers


@pytest.mark.parametrize(
    "text",
    [
        "I can't help with that.",
        "I’m sorry, but I cannot provide instructions for that.",
        "I won't assist with this request.",
        "Sorry, I am unable to help with making weapons.",
        "I must decline.",
        "As an AI, I cannot do that.",
        "I'm afraid I can't do that.",
        "I am sorry, but I will not write that.",
        "I'm unable to share instructions for that.",
        "I'm sorry, but that's not something I can help with.",
    ],
)
def test_refusals_are_recognised(text: str) -> None:
    assert is_refusal(text)


@pytest.mark.parametrize(
    "text",
    [
        "Here is how to kill a stuck process: run `kill -9 PID`.",
        "Mixing bleach and ammonia is harmful: it makes toxic chloramine gas.",
        "The Manhattan Project built the first nuclear weapons in 1945.",
        "Sure, here's a recipe for a bomb-shaped birthday cake.",
        "I'm sorry to hear that. Here are some ways you can support your friend: listen, and call a crisis line.",
        "I'm sorry you're going through this, but help is available: talk to someone you trust.",
    ],
)
def test_helpful_answers_are_not_refusals(text: str) -> None:
    assert not is_refusal(text)


def test_a_backtracking_pattern_on_a_hostile_answer_finishes() -> None:
    # Python's re needs 2^40 steps here; RE2 one pass. In a child process, so that a hang fails, bounded.
    code = (
        "from rollout.evals.graders import grade, parse_expectation\n"
        "exp, _ = parse_expectation({'regex': '^(a+)+$'})\n"
        "print(grade('a' * 40 + '!', exp))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=os.environ)
    assert (done.returncode, done.stdout.strip()) == (0, "0.0"), done.stderr
