from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.model import RunningModel, running_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def smollm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningModel]:
    """One real SmolLM2 server for the whole session, served as model name 'smol'."""
    log = tmp_path_factory.mktemp("smollm") / "server.log"
    with running_model("smol", log=log) as model:
        yield model
