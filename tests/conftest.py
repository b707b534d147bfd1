"""Shared fixtures: a real sidecar process per test (or per module) on a temp data dir."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import Sidecar, launch


@pytest.fixture
def sidecar(tmp_path) -> Iterator[Sidecar]:
    proc = launch(tmp_path / "data")
    yield proc
    proc.kill()
    assert proc.token not in proc.stderr(), "the token leaked into the logs"


@pytest.fixture(scope="module")
def shared_sidecar(tmp_path_factory) -> Iterator[Sidecar]:
    proc = launch(tmp_path_factory.mktemp("shared") / "data")
    yield proc
    proc.kill()
    assert proc.token not in proc.stderr(), "the token leaked into the logs"
