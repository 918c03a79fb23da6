"""The GitOps loop: pull requests are the only way traffic moves.

    proposal.py   pure: the pull request for a decision (branch, title, body, files, fingerprint)
    planedit.py   pure: promote green to blue in the plan's text, comments kept
    propose.py    sync a forge's open rollout pull requests with one proposal (or none)
    flows.py      the propose and rollback commands: read the checkout, decide, sync
    landing.py    apply's merge side: what a push moved, its deployment, the comment on its PR

See docs/gitops.md.
"""
