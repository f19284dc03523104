"""graph.validate: every class of mistake is reported at its exact FILE:LINE:COL, and no file,
however broken, makes the validator raise."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.yaml_source import ConfigError
from graph.validate import (
    MAX_BYTES,
    MAX_GRAPH_PROBLEMS,
    Problem,
    ValidationReport,
    known_bursts,
    load_graph,
    validate_file,
)

REPO = Path(__file__).resolve().parents[2]
TINY = Path(__file__).parent / "graphs" / "tiny.yaml"

# A minimal valid graph the tests below break one thing at a time. Line numbers matter: the
# tests find positions with _at(), which counts in the text as written.
BASE = """\
clinic:
  name: Test Clinic
settings:
  start: hello
  fallback: bye
intents:
  book:
    examples: [I want to book an appointment]
nodes:
  - id: hello
    say:
      neutral: Hello.
    transitions:
      - to: bye
        intent: book
  - id: bye
    say:
      neutral: Goodbye.
    actions:
      - type: end_call
"""


def _write(tmp_path: Path, text: str | bytes, name: str = "g.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _at(text: str, needle: str, nth: int = 1) -> str:
    """'LINE:COL' (1-based) of the nth occurrence of needle in text."""
    index = -1
    for _ in range(nth):
        index = text.index(needle, index + 1)
    before = text[:index]
    return f"{before.count(chr(10)) + 1}:{index - before.rfind(chr(10))}"


def _errors(tmp_path: Path, text: str | bytes) -> tuple[Path, list[str]]:
    path = _write(tmp_path, text)
    report = validate_file(path)
    assert report.spec is None
    return path, [str(p) for p in report.errors]


def _one(tmp_path: Path, text: str | bytes, where: str, *words: str) -> str:
    """The file has exactly one error, at ``where`` (LINE:COL), whose message has ``words``."""
    path, errors = _errors(tmp_path, text)
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{path}:{where}: "), errors
    for word in words:
        assert word in errors[0], errors
    return errors[0]


def _has(errors: list[str], path: Path, where: str, *words: str) -> None:
    matching = [e for e in errors if e.startswith(f"{path}:{where}: ") and all(w in e for w in words)]
    assert matching, f"no error at {where} with {words}: {errors}"


# --- valid files ------------------------------------------------------------------------------


def test_base_and_tiny_graphs_are_valid(tmp_path: Path) -> None:
    base = validate_file(_write(tmp_path, BASE))
    assert base.ok and base.errors == [] and base.warnings == [] and base.spec is not None
    tiny = validate_file(TINY)
    assert tiny.errors == [] and tiny.warnings == [], [str(p) for p in tiny.errors + tiny.warnings]
    assert tiny.spec is not None and tiny.spec.settings.start == "greeting"
    assert tiny.summary() == f"{TINY}: ok — 5 nodes, 5 transitions, 3 intents, 1 sensitive node"


def test_tiny_graph_has_what_other_tests_rely_on() -> None:
    spec = load_graph(TINY)
    ids = [n.id for n in spec.nodes]
    assert ids == ["greeting", "menu", "results", "goodbye", "operator"]
    assert spec.node("greeting").next == "menu"
    menu = spec.node("menu").transitions
    assert sum(1 for t in menu if t.intent and not t.emotion) == 2 and any(t.dtmf for t in menu)
    assert sum(1 for n in spec.nodes for t in n.transitions if t.emotion) == 1
    results = spec.node("results")
    assert results.topics and any(a.type == "callback" for a in results.actions)
    assert any(a.type == "end_call" for a in spec.node("goodbye").actions)
    assert any(a.type == "transfer" for a in spec.node("operator").actions)


def test_problem_str_and_report_summary(tmp_path: Path) -> None:
    assert str(Problem("a.yaml", 3, 7, "boom")) == "a.yaml:3:7: boom"
    assert str(Problem("a.yaml", 3, 7, "hm", warning=True)) == "a.yaml:3:7: warning: hm"
    report = ValidationReport("a.yaml", [Problem("a.yaml", 1, 1, "x")] * 2, [], None)
    assert not report.ok and report.summary() == "a.yaml: 2 errors"


def test_load_graph_raises_config_error_with_every_error_one_per_line(tmp_path: Path) -> None:
    text = BASE.replace("  start: hello", "  start: helo").replace("fallback: bye", "fallback: by")
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_graph(path)
    lines = str(info.value).splitlines()
    start, fallback = _at(text, "helo"), _at(text, "by\nintents")
    assert lines == [
        f"{path}:{start}: start: unknown node 'helo' (did you mean 'hello'?)",
        f"{path}:{fallback}: fallback: unknown node 'by' (did you mean 'bye'?)",
    ]


# --- a. YAML syntax ---------------------------------------------------------------------------


def test_yaml_syntax_error_at_the_parser_mark(tmp_path: Path) -> None:
    _one(tmp_path, "clinic:\n  name: x\n settings: y\n", "3:2", "YAML syntax error")
    _one(tmp_path, "clinic: [a, b\n", "2:1", "YAML syntax error")
    _one(tmp_path, "clinic:\n\tname: x\n", "2:1", "YAML syntax error", "'\\t'")
    _one(tmp_path, "a: *nowhere\n", "1:4", "undefined alias")
    _one(tmp_path, "a: 1\n---\nb: 2\n", "2:1", "single document")


# --- b. unknown keys --------------------------------------------------------------------------


def test_unknown_keys_with_did_you_mean(tmp_path: Path) -> None:
    text = BASE.replace("    transitions:", "    trasitions:")
    _, errors = _errors(tmp_path, text)
    assert errors[0] == f"{tmp_path / 'g.yaml'}:{_at(text, 'trasitions')}: unknown key 'trasitions' (did you mean 'transitions'?)"
    text = BASE.replace("nodes:", "node:")
    path, errors = _errors(tmp_path, text)
    _has(errors, path, _at(text, "node:"), "unknown key 'node'", "did you mean 'nodes'?")
    _has(errors, path, "1:1", "missing required key 'nodes'")
    text = BASE.replace("  name: Test Clinic", "  name: Test Clinic\n  zzzz: 1")
    _one(tmp_path, text, _at(text, "zzzz"), "unknown key 'zzzz'", "allowed here: name, phone")


def test_unknown_key_inside_an_action_uses_that_action_type(tmp_path: Path) -> None:
    text = BASE.replace("      - type: end_call", "      - type: transfer\n        too: nurse")
    path, errors = _errors(tmp_path, text)
    assert len(errors) == 2, errors
    _has(errors, path, _at(text, "too:"), "unknown key 'too' (did you mean 'to'?)")
    _has(errors, path, _at(text, "type: transfer"), "missing required key 'to'")
    text = BASE.replace("type: end_call", "type: endcall")
    _one(tmp_path, text, _at(text, "endcall"), "unknown type 'endcall'", "did you mean 'end_call'?", "transfer, end_call")
    text = BASE.replace("type: end_call", "kind: end_call")
    _one(tmp_path, text, _at(text, "kind:"), "missing 'type'", "transfer, end_call, callback, webhook")


# --- c. wrong types ---------------------------------------------------------------------------


def test_wrong_types_are_readable_and_point_at_the_value(tmp_path: Path) -> None:
    text = BASE.replace("  fallback: bye", "  fallback: bye\n  match_threshold: high")
    _one(tmp_path, text, _at(text, "high"), "match_threshold: expected a number, got text 'high'")
    text = BASE.replace("neutral: Goodbye.", "neutral: 5")
    error = _one(tmp_path, text, _at(text, "5\n"), "neutral: expected text or a list, got the number 5")
    assert "quotes" in error
    text = BASE.replace("neutral: Goodbye.", "neutral: [Goodbye., 7]")
    _one(tmp_path, text, _at(text, "7]"), "neutral: expected text, got the number 7")
    text = BASE.replace("        intent: book", "        dtmf: 0")
    _one(tmp_path, text, _at(text, "0\n"), "dtmf: expected text", "quotes")
    text = BASE.replace("    say:\n      neutral: Goodbye.", "    say: Goodbye.")
    _one(tmp_path, text, _at(text, "Goodbye."), "say: expected a mapping with keys neutral")
    text = BASE.replace("  - id: bye", "  - id: 5")
    _one(tmp_path, text, _at(text, "5\n"), "id: expected text, got the number 5")
    text = BASE.replace("  - id: bye", "  - id: Bye")
    _one(tmp_path, text, _at(text, "Bye"), "id: 'Bye' must be lowercase letters")


def test_nodes_not_a_list_and_enum_values(tmp_path: Path) -> None:
    text = "clinic: {name: x}\nsettings: {start: a, fallback: a}\nnodes: {id: a}\n"
    _one(tmp_path, text, "3:8", "nodes: expected a list, got a mapping")
    text = BASE.replace("    say:\n      neutral: Goodbye.", "    topics: [test_result]\n    say:\n      neutral: Goodbye.")
    _one(tmp_path, text, _at(text, "test_result]"), "'test_result' is not one of diagnosis", "did you mean 'test_results'?")
    text = BASE.replace("  name: Test Clinic", "  name: Test Clinic\n  hours: {mon: closed}")
    _one(tmp_path, text, _at(text, "mon:"), "hours: key: 'mon' is not one of monday", "did you mean 'monday'?")
    text = BASE.replace("  name: Test Clinic", "  name: Test Clinic\n  hours:\n    monday: '17:00-09:00'")
    _one(tmp_path, text, _at(text, "'17:00"), "hours.monday", "opening 17:00 is not before closing 09:00")


def test_model_level_rules_point_at_the_item(tmp_path: Path) -> None:
    text = BASE.replace("        intent: book\n", "")
    _one(tmp_path, text, _at(text, "to: bye"), "transitions: a transition needs intent")
    text = BASE.replace("    examples: [I want to book an appointment]\n", "    examples: []\n")
    _one(tmp_path, text, _at(text, "book:"), "intents: an intent needs examples or keywords")


# --- d. dangling targets ----------------------------------------------------------------------


def test_dangling_targets_with_did_you_mean(tmp_path: Path) -> None:
    text = BASE.replace("  start: hello", "  start: helo").replace("      - to: bye", "      - to: byee")
    text = text.replace("      - type: end_call", "      - type: end_call\n    next: hallo")
    text = text.replace("intents:", "global_transitions:\n  - {to: nurse, keywords: [nurse]}\nintents:")
    path, errors = _errors(tmp_path, text)
    assert len(errors) == 4, errors
    _has(errors, path, _at(text, "helo"), "start: unknown node 'helo' (did you mean 'hello'?)")
    _has(errors, path, _at(text, "byee"), "transition: unknown node 'byee' (did you mean 'bye'?)")
    _has(errors, path, _at(text, "hallo"), "next: unknown node 'hallo' (did you mean 'hello'?)")
    _has(errors, path, _at(text, "nurse,"), "transition: unknown node 'nurse'")


# --- e. unreachable nodes ---------------------------------------------------------------------


def test_unreachable_nodes(tmp_path: Path) -> None:
    island = "  - id: island\n    next: bye\n"
    text = BASE + island
    _one(tmp_path, text, _at(text, "id: island"), "node 'island' is unreachable")
    # reachable through a global transition, or as the fallback: not reported
    text = BASE.replace("intents:", "global_transitions:\n  - {to: island, keywords: [x]}\nintents:") + island
    assert validate_file(_write(tmp_path, text)).ok
    text = BASE.replace("fallback: bye", "fallback: island") + island
    assert validate_file(_write(tmp_path, text)).ok


# --- f. dead ends -----------------------------------------------------------------------------


def test_dead_ends(tmp_path: Path) -> None:
    text = BASE.replace("    actions:\n      - type: end_call\n", "")
    _one(tmp_path, text, _at(text, "id: bye"), "node 'bye' is a dead end")
    text = BASE.replace("- type: end_call", "- {type: transfer, to: nurse}")  # a transfer ends the call too
    assert validate_file(_write(tmp_path, text)).ok


# --- g. duplicate ids -------------------------------------------------------------------------


def test_duplicate_node_ids_point_at_the_second(tmp_path: Path) -> None:
    text = BASE + "  - id: hello\n    next: bye\n"
    error = _one(tmp_path, text, _at(text, "id: hello", 2), "duplicate node id 'hello'")
    assert f"first defined at line {_at(text, 'id: hello').split(':')[0]}" in error


def test_duplicate_yaml_keys(tmp_path: Path) -> None:
    text = BASE.replace("  fallback: bye", "  fallback: bye\n  start: bye")
    _one(tmp_path, text, _at(text, "start: bye"), "duplicate key 'start'", "first at line 4")


# --- h. placeholders, slots and intents -------------------------------------------------------


def test_placeholders_never_collected(tmp_path: Path) -> None:
    text = BASE.replace("neutral: Hello.", "neutral: Hello {clinic.name}, {full_name}.")
    text = text.replace("  fallback: bye", "  fallback: bye\n  clarify: {neutral: 'Sorry {nme}?'}\n"
                        "  unavailable: {neutral: 'Not at {tme}.'}")
    text = text.replace("    actions:", "    collect:\n      - name: name\n        kind: name\n"
                        "        ask: {neutral: ['Your name?', 'Your name, {callr}?']}\n    actions:")
    path, errors = _errors(tmp_path, text)
    assert len(errors) == 4, errors
    _has(errors, path, _at(text, "Hello {"), "placeholder {full_name} is never collected by any node")
    _has(errors, path, _at(text, "'Not at"), "placeholder {tme}")
    _has(errors, path, _at(text, "'Sorry"), "placeholder {nme}", "did you mean {name}?")
    _has(errors, path, _at(text, "'Your name, "), "placeholder {callr}")


def test_slot_references_and_intents(tmp_path: Path) -> None:
    text = BASE.replace("        intent: book", "        intent: bok\n        slots: {filled: [dob], equals: {consent: 'yes'}}\n        clear: [date_of_birth, tim]")
    text = text.replace("type: end_call", "{type: callback, team: nurse, include: [phone]}")
    text = text.replace("    actions:", "    collect:\n      - {name: date_of_birth, kind: date_of_birth, ask: {neutral: 'Birthday?'}}\n    actions:")
    path, errors = _errors(tmp_path, text)
    assert len(errors) == 6, errors
    _has(errors, path, _at(text, "tim]"), "slot 'tim' is never collected")
    _has(errors, path, _at(text, "id: bye"), "node 'bye' is a dead end")  # a callback does not end the call
    _has(errors, path, _at(text, "bok"), "unknown intent 'bok' (did you mean 'book'?)")
    _has(errors, path, _at(text, "dob]"), "slot 'dob' is never collected by any node")
    _has(errors, path, _at(text, "consent:"), "slot 'consent' is never collected")
    _has(errors, path, _at(text, "phone]"), "slot 'phone' is never collected")


# --- i. emotional conditions ------------------------------------------------------------------


def test_emotion_ranges_say_the_allowed_range(tmp_path: Path) -> None:
    text = BASE.replace("        intent: book", "        intent: book\n"
                        "        emotion: {valence_below: -1.5, arousal_above: 2, coherence_below: -0.1}")
    path, errors = _errors(tmp_path, text)
    assert len(errors) == 3, errors
    _has(errors, path, _at(text, "-1.5"), "valence_below: -1.5 is out of range (allowed -1..1)")
    _has(errors, path, _at(text, "2,"), "arousal_above: 2 is out of range (allowed 0..1)")
    _has(errors, path, _at(text, "-0.1"), "coherence_below: -0.1 is out of range (allowed 0..1)")


def test_unknown_burst_types(tmp_path: Path) -> None:
    text = BASE.replace("        intent: book", "        intent: book\n        emotion: {burst: [sigh, sighh, yodel]}")
    path, errors = _errors(tmp_path, text)
    assert len(errors) == 2, errors
    _has(errors, path, _at(text, "sighh"), "unknown burst type 'sighh' (did you mean 'sigh'?)")
    _has(errors, path, _at(text, "yodel"), "unknown burst type 'yodel'", "known: ")


def test_known_bursts_are_the_burst_models_labels() -> None:
    from agent.call.burst_table import load_burst_table  # imports torch (~2 s); validate itself does not
    from emotion.models.burst import NONE, output_labels

    assert known_bursts() == set(output_labels()) - {NONE}
    assert known_bursts() == set(load_burst_table().bursts)


def test_importing_the_validator_does_not_import_torch() -> None:
    code = "import sys, graph.validate; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


# --- warnings: overlapping examples -----------------------------------------------------------


def test_overlapping_examples_are_warnings(tmp_path: Path) -> None:
    text = BASE.replace(
        "    examples: [I want to book an appointment]",
        "    examples: [I want to book an appointment]\n"
        "  cancel:\n"
        "    examples: [\"I want to book an appointment!\", i want to book an appointment please]\n",
    )
    path = _write(tmp_path, text)
    report = validate_file(path)
    assert report.ok and report.spec is not None
    warnings = [str(w) for w in report.warnings]
    assert len(warnings) == 2, warnings
    quoted = _at(text, '"I want')
    assert warnings[0].startswith(f"{path}:{quoted}: warning: example 'i want to book an appointment'"
                                  " of intent 'cancel' is also an example of intent 'book' (line 8)")
    assert warnings[1].startswith(f"{path}:{_at(text, 'i want to book an appointment please')}: warning: ")
    assert "nearly the same" in warnings[1]
    assert report.summary().endswith("(2 warnings)")


def test_inline_examples_overlap_only_where_they_compete(tmp_path: Path) -> None:
    same_node = BASE.replace("        intent: book", "        intent: book\n      - to: hello\n        examples: [i want to book an appointment]")
    report = validate_file(_write(tmp_path, same_node))
    assert [w.message for w in report.warnings] == [
        "example 'i want to book an appointment' of the transition to 'hello' in node 'hello' is also an example"
        " of intent 'book' (line 8)"
    ]
    other_nodes = BASE.replace("        intent: book", "        examples: [call me back]").replace(
        "    actions:", "    transitions:\n      - {to: hello, examples: [call me back]}\n    actions:")
    report = validate_file(_write(tmp_path, other_nodes))
    assert report.ok and report.warnings == []


# --- robustness -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "where", "word"),
    [
        ("", "1:1", "empty"),
        ("# only a comment\n", "1:1", "empty"),
        ("- a\n- b\n", "1:1", "a list, not a mapping"),
        ("just text\n", "1:1", "text 'just text', not a mapping"),
        (b"clinic:\n  name: ab\xffc\n", "2:11", "not UTF-8: byte 0xff"),
        ("a: b\x00\n", "1:5", "#x0000"),
        ("a: &x [*x]\n", "1:4", "alias refers to the value that contains it"),
        ("a: " + "[" * 60 + "]" * 60 + "\n", "1:43", "nested too deeply"),
        ("a: " + "[" * 3000 + "]" * 3000 + "\n", "1:43", "nested too deeply"),
        ("a: 2024-13-01\n", "1:4", "month must be in 1..12"),
        ("a: !!float abc\n", "1:4", "YAML value error"),
        ("a: !!python/object:os.system x\n", "1:4", "could not determine a constructor"),
        ("? [a]\n: b\n", "1:3", "unhashable key"),
    ],
    ids=lambda v: repr(v)[:30] if isinstance(v, str | bytes) else None,
)
def test_broken_files_give_a_clean_error(tmp_path: Path, content: str | bytes, where: str, word: str) -> None:
    _one(tmp_path, content, where, word)


def test_alias_bombs_and_huge_files(tmp_path: Path) -> None:
    rows = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    rows += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    _one(tmp_path, "\n".join(rows) + "\n", "5:5", "too many values (more than 100000, counting aliases in full)")
    _one(tmp_path, "a: " + "x" * (MAX_BYTES + 1) + "\n", "1:1", "too large")


def test_graph_errors_stop_at_a_cap(tmp_path: Path) -> None:
    nodes = "".join(f"  - {{id: n{i}, next: x{i}}}\n" for i in range(MAX_GRAPH_PROBLEMS + 20))
    path, errors = _errors(tmp_path, "clinic: {name: X}\nsettings: {start: n0, fallback: n0}\nnodes:\n" + nodes)
    assert len(errors) == MAX_GRAPH_PROBLEMS + 1
    assert errors[0] == f"{path}:1:1: more than {MAX_GRAPH_PROBLEMS} graph errors; fix these first"


def test_unreadable_paths(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.yaml", tmp_path):
        report = validate_file(path)
        assert [str(p) for p in report.errors] == [f"{path}:1:1: cannot read the file: "
                                                   f"{'No such file or directory' if path != tmp_path else 'Is a directory'}"]


# --- fuzzing ----------------------------------------------------------------------------------

TINY_TEXT = TINY.read_text(encoding="utf-8")
TINY_DATA = yaml.safe_load(TINY_TEXT)
WORDS = ["menu", "greeting", "operator", "to", "id", "say", "neutral", "next", "type", "end_call", "transfer",
         "transitions", "intent", "results", "{full_name}", "{x}", "-1.5", "burst", "cry", ""]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10, 10), st.floats(allow_nan=True), st.text(max_size=12),
                    st.sampled_from(WORDS))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(WORDS) | st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
FUZZ = settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _containers(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every value inside a dict or list (the root excluded)."""
    out: list[tuple[Any, ...]] = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    for key, value in items:
        out.append((*prefix, key))
        out.extend(_containers(value, (*prefix, key)))
    return out


def _assert_clean(report: ValidationReport, path: Path) -> None:
    assert isinstance(report, ValidationReport)
    for problem in (*report.errors, *report.warnings):
        assert problem.line >= 1 and problem.col >= 1 and str(problem).startswith(f"{path}:")
    assert (report.spec is None) == bool(report.errors)


def _validate_text(tmp_path: Path, content: str | bytes) -> None:
    path = _write(tmp_path, content, "fuzz.yaml")
    _assert_clean(validate_file(path), path)


@FUZZ
@given(data=st.data())
def test_fuzz_mutated_tiny_graph(tmp_path: Path, data: st.DataObject) -> None:
    doc = copy.deepcopy(TINY_DATA)
    for _ in range(data.draw(st.integers(1, 4))):
        paths = _containers(doc)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(VALUES)
    _validate_text(tmp_path, yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))


@FUZZ
@given(at=st.integers(0, len(TINY_TEXT.encode())), junk=st.binary(max_size=20) | st.text(max_size=20).map(str.encode))
def test_fuzz_junk_inserted_into_tiny_graph(tmp_path: Path, at: int, junk: bytes) -> None:
    raw = TINY_TEXT.encode()
    _validate_text(tmp_path, raw[:at] + junk + raw[at:])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet="{}[]:-,&*!|>'\"#?% \n\tabcdnoeisx01.\\~@`", max_size=120))
def test_fuzz_random_yaml(tmp_path: Path, text: str) -> None:
    _validate_text(tmp_path, text)
