"""Where pull requests live, and GitHub Actions' side channels.

base.py       the Forge protocol and its PullRequest / Commit records
github.py     GitHub and GitHub Enterprise through ghapi, with retries (retry.py)
local.py      a plain git repository: branches plus records under .git/
registry.py   pick one by name (auto, github, local)
actions.py    step outputs, step summary, annotations
"""
