"""Shared test fixtures: paths to ../shared data and the repo, a real PostgreSQL cluster."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # imported in the fixture: psycopg is needed by the tests that use it only
    from tests.postgres import PostgresServer

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BEDSIDE_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared() -> Path:
    if not (SHARED / "data").is_dir():
        pytest.fail(f"../shared data not found at {SHARED} (set BEDSIDE_SHARED)")
    return SHARED


def noizeus_transcripts(shared: Path) -> dict[str, str]:
    rows = (shared / "data" / "noizeus" / "transcripts.tsv").read_text().strip().splitlines()
    return {name: text for name, text in (row.split("\t", 1) for row in rows)}


@pytest.fixture(scope="session")
def text_encoder():
    """The MiniLM sentence encoder (loaded once; the graph matcher and language model use it)."""
    from emotion.text_encoder import TextEncoder

    return TextEncoder.load()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One real PostgreSQL cluster per test session (per xdist worker: its own port and data).

    Missing Debian binaries fail the tests that need it: a skip would let CI pass with the
    PostgreSQL store untested."""
    from tests.postgres import PostgresMissing, PostgresServer

    try:
        server = PostgresServer.create(tmp_path_factory.mktemp("postgres"))
    except PostgresMissing as e:
        pytest.fail(str(e), pytrace=False)
    with server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database for one test (SQLAlchemy URL), dropped afterwards. A test that stopped
    the server (store-down tests) and did not start it again gets it started for the next one."""
    if not postgres_server.running:
        postgres_server.start()
    slug = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")[:40]
    name = f"t_{slug}_{uuid.uuid4().hex[:8]}"
    postgres_server.create_database(name)
    yield postgres_server.url(name)
    if not postgres_server.running:
        postgres_server.start()
    postgres_server.drop_database(name)


@pytest.fixture(autouse=True)
def _fresh_structlog() -> Iterator[None]:
    """Tests that run the CLI in-process configure structlog for the process (e.g. at WARNING);
    without a reset, a later test's ``capture_logs`` would miss INFO lines."""
    yield
    import structlog

    structlog.reset_defaults()
