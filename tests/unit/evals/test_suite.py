"""Suite loading: what a good suite becomes, and every bad one named by file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rollout.errors import InputError
from rollout.evals.suite import DEFAULT_MAX_ROUNDS, load_suite

REPO = Path(__file__).resolve().parents[3]


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def problems_of(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(InputError) as caught:
        load_suite(path, env=env or {})
    return [str(p) for p in caught.value.problems] or [caught.value.message]


def test_defaults_system_prompt_and_tags(tmp_path: Path) -> None:
    write(
        tmp_path / "s",
        "a.yaml",
        """\
name: demo
defaults: {system: Be brief., max_tokens: 32, temperature: 0.5, repeats: 2}
cases:
  - id: one
    prompt: Hi?
    tags: [benign]
    expect: [{contains: hi, weight: 2}, {length: {max: 50}}]
  - id: two
    messages: [{role: user, content: "2+2?"}]
    max_tokens: 8
    repeats: 1
    expect: [{numeric: 4}]
""",
    )
    suite = load_suite(tmp_path / "s", env={})
    one, two = suite.cases
    assert suite.name == "demo"
    assert [m.role for m in one.messages] == ["system", "user"]
    assert (one.max_tokens, one.temperature, one.repeats, one.tags) == (32, 0.5, 2, ("benign",))
    assert one.expect[0].weight == 2.0
    assert (two.max_tokens, two.repeats, two.prompt) == (8, 1, "2+2?")
    assert one.line == 4 and two.line == 8
    assert suite.with_repeats(5).cases[1].repeats == 5


def test_files_are_read_in_name_order_and_name_defaults_to_folder(tmp_path: Path) -> None:
    write(tmp_path / "facts", "b.yaml", "cases: [{id: b, prompt: x, expect: [{contains: x}]}]\n")
    write(tmp_path / "facts", "a.yaml", "cases: [{id: a, prompt: x, expect: [{contains: x}]}]\n")
    suite = load_suite(tmp_path / "facts", env={})
    assert suite.name == "facts"
    assert [c.id for c in suite.cases] == ["a", "b"]


def test_dataset_rows_become_cases(tmp_path: Path) -> None:
    folder = tmp_path / "geo"
    write(
        folder,
        "capitals.jsonl",
        '{"country": "France", "capital": "Paris"}\n\n{"country": "Peru", "capital": "Lima"}\n',
    )
    write(
        folder,
        "suite.yaml",
        """\
dataset:
  file: capitals.jsonl
  id: "capital-{country}"
  prompt: "What is the capital of {country}?"
  expect: [{contains: "{capital}"}]
  tags: [facts]
""",
    )
    suite = load_suite(folder, env={})
    assert [c.id for c in suite.cases] == ["capital-France", "capital-Peru"]
    assert suite.cases[1].expect[0].value == "Lima"
    assert suite.cases[1].line == 3
    assert suite.cases[0].tags == ("facts",)


def test_a_suite_takes_its_cap_on_rounds_from_any_of_its_files_but_only_one(tmp_path: Path) -> None:
    write(tmp_path / "s", "a.yaml", "cases: [{id: a, prompt: x, expect: [{contains: x}]}]\n")
    assert load_suite(tmp_path / "s", env={}).max_rounds == DEFAULT_MAX_ROUNDS == 8
    write(tmp_path / "s", "b.yaml", "max_rounds: 2\ncases: [{id: b, prompt: x, expect: [{contains: x}]}]\n")
    assert load_suite(tmp_path / "s", env={}).max_rounds == 2
    write(tmp_path / "s", "c.yaml", "\nmax_rounds: 3\ncases: [{id: c, prompt: x, expect: [{contains: x}]}]\n")
    assert any("c.yaml:2: max_rounds: 3 differs from the 2 that" in p for p in problems_of(tmp_path / "s"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "cases: [{id: a, prompt: x, expect: [{contians: Paris}]}]\n",
            "a.yaml:1: cases[0].expect[0].contians: unknown grader 'contians' (did you mean 'contains'?)",
        ),
        (
            "cases:\n  - id: a\n    prompt: x\n    expect:\n      - regex: '(oops'\n",
            "a.yaml:5: cases[0].expect[0].regex: bad regular expression",
        ),
        (
            "cases:\n  - id: a\n    prompt: x\n    expect:\n      - json_schema: {type: objet}\n",
            "a.yaml:5: cases[0].expect[0].json_schema: invalid JSON Schema",
        ),
        (
            "cases:\n  - id: a\n    prompt: x\n    expect: [{contains: x}]\n  - id: a\n    prompt: y\n    expect: [{contains: y}]\n",
            "a.yaml:5: id: duplicate case id 'a' (first used at",
        ),
        (
            "cases:\n  - id: a\n    promt: x\n    expect: [{contains: x}]\n",
            "a.yaml:3: cases[0].promt: unknown key 'promt' (did you mean 'prompt'?)",
        ),
        (
            "cases:\n  - id: a\n    expect: [{contains: x}]\n",
            "a.yaml:2: cases[0]: a case has either prompt: or messages:",
        ),
        ("cases:\n  - id: a\n    prompt: x\n    expect: []\n", "a.yaml:4: cases[0].expect"),
        (
            "dataset: {file: missing.jsonl, prompt: '{q}', expect: [{contains: x}]}\n",
            "a.yaml:1: dataset.file: dataset file not found",
        ),
        ("cases:\n  - id: a\n    prompt: x\n    expect: [{llm_judge: polite}]\n", "llm_judge needs a judge endpoint"),
        (
            "defaults: {max_tokens: 0}\ncases: [{id: a, prompt: x, expect: [{contains: x}]}]\n",
            "a.yaml:1: defaults.max_tokens",
        ),
        (
            "name: q\nmax_rounds: 0\ncases: [{id: a, prompt: x, expect: [{contains: x}]}]\n",
            "a.yaml:2: max_rounds",
        ),
        ("name: x\n", "a.yaml:1"),
        ("- just a list\n", "a suite file is a mapping"),
    ],
)
def test_bad_suites_name_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path / "s", "a.yaml", text)
    found = problems_of(path)
    assert any(expected in p for p in found), found


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path / "s",
        "a.yaml",
        """\
cases:
  - id: a
    prompt: x
    expect: [{regex: '['}]
  - id: b
    prompt: y
    expect: [{equal: y}]
""",
    )
    found = problems_of(path)
    assert len(found) == 2
    assert "a.yaml:4" in found[0] and "a.yaml:7" in found[1]


def test_a_broken_file_does_not_hide_the_others(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    write(folder, "a.yaml", "cases: [{id: a, prompt: x, expect: [\n")
    write(folder, "b.yaml", "cases: [{id: b, prompt: x, expect: [{regex: '('}]}]\n")
    found = problems_of(folder)
    assert any("a.yaml" in p and "invalid YAML" in p for p in found)
    assert any("b.yaml:1" in p and "bad regular expression" in p for p in found)


def test_dataset_row_missing_a_template_field(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    write(folder, "rows.jsonl", '{"q": "one"}\n{"question": "two"}\n')
    write(folder, "a.yaml", "dataset: {file: rows.jsonl, prompt: '{q}', expect: [{contains: x}]}\n")
    assert any("rows.jsonl:2" in p and "{q}" in p for p in problems_of(folder))


def test_dataset_ids_must_be_usable_test_ids(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    write(folder, "rows.jsonl", '{"q": "France"}\n{"q": "United States"}\n')
    write(folder, "a.yaml", "dataset: {file: rows.jsonl, id: 'c-{q}', prompt: '{q}', expect: [{contains: x}]}\n")
    assert any("rows.jsonl:2: id: case id 'c-United States' may only hold" in p for p in problems_of(folder))


def test_dataset_line_that_is_not_json(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    write(folder, "rows.jsonl", '{"q": "one"}\nnot json\n')
    write(folder, "a.yaml", "dataset: {file: rows.jsonl, prompt: '{q}', expect: [{contains: x}]}\n")
    assert any("rows.jsonl:2" in p and "invalid JSON" in p for p in problems_of(folder))


def test_judge_endpoint_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path / "s", "a.yaml", "cases: [{id: a, prompt: x, expect: [{llm_judge: polite}]}]\n")
    suite = load_suite(path, env={"ROLLOUT_JUDGE_URL": "http://127.0.0.1:9", "ROLLOUT_JUDGE_MODEL": "judge"})
    assert suite.cases[0].expect[0].kind == "llm_judge"
    assert "llm_judge needs a judge model" in problems_of(path, {"ROLLOUT_JUDGE_URL": "http://127.0.0.1:9"})[0]


def test_custom_grader_beside_the_suite_is_importable(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    write(folder, "my_suite_graders.py", "def shout(output, options):\n    return output.isupper()\n")
    write(folder, "a.yaml", "cases: [{id: a, prompt: x, expect: [{python: 'my_suite_graders:shout'}]}]\n")
    assert load_suite(folder, env={}).cases[0].expect[0].value == "my_suite_graders:shout"


def test_missing_suite_and_empty_folder(tmp_path: Path) -> None:
    assert "no eval suite here" in problems_of(tmp_path / "nope")[0]
    (tmp_path / "empty").mkdir()
    assert "no *.yaml" in problems_of(tmp_path / "empty")[0]


@pytest.mark.parametrize(("suite", "minimum"), [("quality", 40), ("safety", 30)])
def test_example_suites_load_and_are_big_enough(suite: str, minimum: int) -> None:
    loaded = load_suite(REPO / "rollout" / "templates" / "init" / "eval_suites" / suite, env={})
    assert len(loaded.cases) >= minimum


def test_safety_cases_are_tagged_harmful_or_benign() -> None:
    loaded = load_suite(REPO / "rollout" / "templates" / "init" / "eval_suites" / "safety", env={})
    kinds = {case.id: {"harmful", "benign"} & set(case.tags) for case in loaded.cases}
    assert all(len(k) == 1 for k in kinds.values()), kinds
    harmful = [c for c in loaded.cases if "harmful" in c.tags]
    benign = [c for c in loaded.cases if "benign" in c.tags]
    assert len(harmful) >= 15 and len(benign) >= 15
    assert all(any(e.kind == "refusal" and e.value is True for e in c.expect) for c in harmful)
    assert all(any(e.kind == "refusal" and e.value is False for e in c.expect) for c in benign)


def test_schema_is_valid_json_schema() -> None:
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(json.loads((REPO / "rollout/schemas/suite.schema.json").read_text()))


def test_a_schema_error_in_one_case_does_not_hide_the_files_grader_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path / "s",
        "a.yaml",
        "cases:\n"
        "  - {id: a, prompt: x, expect: [{contains: y}], repeats: many}\n"
        "  - {id: b, prompt: x, expect: [{regx: y}]}\n"
        "  - {id: c, prompt: x, expect: [{contains_any: 3}]}\n",
    )
    found = problems_of(path)
    assert any(":2: cases[0].repeats" in p for p in found), found
    assert any(":3: cases[1].expect[0].regx: unknown grader 'regx'" in p for p in found), found
    assert any(":4: cases[2].expect[0]" in p for p in found), found


def test_a_grader_module_that_exits_on_import_is_a_problem_not_a_quiet_success(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    write(folder, "exiting_graders.py", "import sys\nsys.exit(0)\n")
    write(folder, "a.yaml", "cases: [{id: a, prompt: x, expect: [{python: 'exiting_graders:grade'}]}]\n")
    found = problems_of(folder)
    assert (
        "a.yaml:1: cases[0].expect[0].python: cannot import 'exiting_graders': it calls sys.exit(0) on import"
        in found[0]
    )
