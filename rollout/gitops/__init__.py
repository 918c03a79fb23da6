"""The GitOps loop: pull requests are the only way traffic moves.

    proposal.py   pure: the pull request for a decision (branch, title, body, files, fingerprint)
    planedit.py   pure: promote green to blue in the plan's text, comments kept
    sync.py       sync a forge's open rollout pull requests with one proposal (or none)
    commands.py   propose() and rollback(): read the checkout, decide, build the proposal, sync
    landing.py    apply's merge side: what a push moved, its deployment, the comment on its PR

See docs/gitops.md.
"""
