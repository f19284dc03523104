"""Fixtures shared by the end-to-end call tests: the external SIP tools and one real
``bedside serve`` per test module."""

from __future__ import annotations

import shutil

import pytest

from tests.e2e.harness import start_server


def require_tool(tool: str) -> str:
    """The path of a Debian tool the call tests drive; fails (never skips) when missing."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed (scripts/install.sh installs sip-tester, baresip, sox); CI installs it")
    return path


@pytest.fixture(scope="module")
def sipp() -> str:
    return require_tool("sipp")


@pytest.fixture(scope="module")
def sox() -> str:
    return require_tool("sox")


@pytest.fixture(scope="module")
def baresip() -> str:
    return require_tool("baresip")


@pytest.fixture(scope="module")
def server(request, tmp_path_factory):
    """One server for a whole test module, with default settings or the module's
    ``SERVER_SETTINGS``; it must stop cleanly."""
    settings = getattr(request.module, "SERVER_SETTINGS", ())
    srv = start_server(tmp_path_factory.mktemp(f"serve-{request.module.__name__.rsplit('.', 1)[-1]}"), *settings)
    yield srv
    assert srv.stop() == 0, srv.log_path.read_text()[-2000:]
