"""Evals: run a suite against one model version and write the results the gates read.

suite.py         eval_suites/<suite>/*.yaml (+ *.jsonl) -> Suite of Cases, every problem with file:line
graders.py       pure graders: (answer, expect item) -> score in [0, 1]
judge.py         llm_judge, the one grader that calls out (a judge model on an OpenAI-compatible URL)
target.py        blue / green (through the plan) or a URL -> Target (URL, served name, revision)
runner.py        asyncio workers streaming chat completions; run_suite() -> EvalResults
transport.py     one keep-alive HTTP/1.1 connection per worker (h11 over asyncio)
stream.py        reading SSE and JSON chat completions
results.py       rollout.eval-results/v1: write, load, validate
reuse.py         pure: reuse recorded results, add repeats to a sampled suite's, or run afresh
summary.py       the one-line account `rollout eval` prints
pytest_plugin.py cases as pytest items (entry point pytest11)
"""
