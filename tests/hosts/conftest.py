"""Multi-host tests: skipped with the reason when this machine cannot make network namespaces, except
where they must run (``VEILPROOF_REQUIRE_HOSTS=1``, set by ``.ci/run``): there they fail instead."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from netns import unavailable_reason

_WHY = unavailable_reason()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _WHY is None or os.environ.get("VEILPROOF_REQUIRE_HOSTS"):
        return  # run (and fail with the reason, from HostNetwork.create, if namespaces are missing)
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.skip(reason=f"multi-host tests: {_WHY}"))
