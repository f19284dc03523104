"""records.*: the database URL, the paths, and the notice callers hear."""

from __future__ import annotations

from pathlib import Path

from agent.services.records.config import RecordsConfig
from graph.config import DEFAULT_GRAPH
from graph.navigator import Navigator
from graph.store import GraphStore
from tts.expression import Expression


def test_sqlite_is_the_default_and_postgresql_urls_use_psycopg(tmp_path: Path) -> None:
    assert RecordsConfig(data_dir=tmp_path).database_url() == f"sqlite:///{tmp_path.resolve()}/records.sqlite3"
    assert RecordsConfig(url="postgresql://bedside@db/records").database_url() == "postgresql+psycopg://bedside@db/records"
    assert RecordsConfig(data_dir=tmp_path).key_path() == tmp_path / "records.key"


def test_the_notice_says_what_is_kept_and_for_how_long() -> None:
    kept = RecordsConfig(retention_days=30).notice()
    assert "30 days" in kept and "don't record your voice or keep your words" in kept
    words = RecordsConfig(keep_transcripts=True).notice()
    assert "written record of what you say" in words and "90 days" in words and "keep your words" not in words
    assert RecordsConfig(enabled=False).notice() == "Nothing from this call is kept once it ends."


def test_the_clinic_graph_asks_consent_with_the_servers_notice(text_encoder) -> None:
    notice = RecordsConfig(retention_days=45).notice()
    store = GraphStore(DEFAULT_GRAPH, text_encoder, fixed_values={"records.notice": notice})
    navigator = Navigator(store.current)
    said = navigator.start().text(Expression.NEUTRAL)
    assert "45 days" in said and "recorded" not in said.replace("record your voice", ""), said
