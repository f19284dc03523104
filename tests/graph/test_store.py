"""Hot reload: a valid edit applies to new calls, an invalid one is rejected with its errors logged
and the previous graph kept. Uses the tiny test graph and the real MiniLM embedder."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from graph.navigator import CallerInput, Navigator
from graph.store import GraphStore
from graph.yaml_source import ConfigError

TINY = Path(__file__).parent / "graphs" / "tiny.yaml"


def touch_later(path: Path) -> None:
    """Some filesystems keep a 1-s mtime: make sure the edit is seen as a change."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


@pytest.fixture
def graph_file(tmp_path: Path) -> Path:
    target = tmp_path / "graph.yaml"
    shutil.copy(TINY, target)
    return target


async def test_valid_edit_applies_to_new_calls_and_running_calls_keep_theirs(graph_file, text_encoder):
    store = GraphStore(graph_file, text_encoder)
    before = store.current
    running = Navigator(before)
    greeting_before = running.start()
    first_node = before.spec.settings.start
    text = graph_file.read_text()
    line = before.nodes[first_node].say.variants("neutral")[0]
    graph_file.write_text(text.replace(line, "Welcome to the edited clinic line."))
    touch_later(graph_file)
    result = await store.reload_if_changed()
    assert result is not None and result.applied and result.version != before.version
    assert store.current is not before
    assert "edited clinic line" in Navigator(store.current).start().text("neutral")
    assert running.compiled is before  # a call in progress keeps the graph it started with
    assert greeting_before.text("neutral") == Navigator(before).start().text("neutral")
    assert await store.reload_if_changed() is None  # unchanged file: nothing to do


async def test_invalid_edit_is_rejected_logged_and_the_old_graph_kept(graph_file, text_encoder):
    store = GraphStore(graph_file, text_encoder)
    before = store.current
    broken = graph_file.read_text().replace("nodes:", "nodes:\n  - id: orphan\n    say: {neutral: Hi}\n    transitions: [{to: nowhere, intent: nothing}]", 1)
    graph_file.write_text(broken)
    touch_later(graph_file)
    with capture_logs() as logs:
        result = await store.reload_if_changed()
    assert result is not None and not result.applied
    assert store.current is before
    (rejected,) = [e for e in logs if e["event"] == "graph_reload_rejected"]
    assert rejected["kept"] == before.version
    assert any(f"{graph_file}:" in e and "nowhere" in e for e in rejected["errors"]), rejected["errors"]
    # A syntax error too: the position is in the message.
    graph_file.write_text("nodes: [\n  - id: x\n")
    touch_later(graph_file)
    with capture_logs() as logs:
        result = await store.reload_if_changed()
    assert not result.applied and store.current is before
    assert any(e.startswith(f"{graph_file}:") for e in result.errors)


async def test_a_deleted_file_keeps_the_graph_and_the_watcher_survives(graph_file, text_encoder):
    store = GraphStore(graph_file, text_encoder)
    before = store.current
    watcher = asyncio.create_task(store.watch(0.05))
    graph_file.unlink()
    await asyncio.sleep(0.3)
    assert store.current is before and not watcher.done()
    shutil.copy(TINY, graph_file)
    graph_file.write_text(graph_file.read_text() + "\n# edited\n")
    await asyncio.sleep(1.5)  # compiling embeds the examples again
    assert store.current is not before
    watcher.cancel()


def test_a_bad_graph_at_start_up_is_an_error_with_positions(tmp_path, text_encoder):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nclinic: {name: X}\nsettings: {start: a, fallback: a}\nnodes:\n  - id: a\n    sya: {neutral: hi}\n")
    with pytest.raises(ConfigError) as info:
        GraphStore(bad, text_encoder)
    assert f"{bad}:6:5" in str(info.value) and "say" in str(info.value)


def test_navigator_runs_on_the_tiny_graph(graph_file, text_encoder):
    store = GraphStore(graph_file, text_encoder)
    nav = Navigator(store.current)
    assert nav.start().path[0] == store.current.spec.settings.start
    step = nav.handle(CallerInput("operator please"))
    assert step.path  # the tiny graph has a global operator transition
