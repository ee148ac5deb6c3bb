from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sandbox.harness import Sandbox, started_sandbox


@pytest.fixture(scope="session")
def shared_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """One server for the session; each test uses its own externalIds."""
    with started_sandbox(tmp_path_factory.mktemp("landing")) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(shared_sandbox: Sandbox) -> Iterator[Sandbox]:
    """The shared server, with no faults before and after the test."""
    shared_sandbox.set_faults({})
    yield shared_sandbox
    shared_sandbox.set_faults({})
