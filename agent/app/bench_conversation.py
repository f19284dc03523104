"""The clinic conversation ``bedside bench latency`` holds with the product's default path (the
graph responder on configs/graphs/clinic.yaml, emotion on), and its per-kind timings.

Each bench call is a caller of the clinic: consents, gives a name, a date of birth (said on even
calls, keyed on odd ones), asks the opening hours, books the first time offered, confirms it and
says goodbye; the graph ends the call. The caller's lines are spoken by the piper voice, rendered
once before the calls (so no synthesis competes with the server for the CPU while it is timed).

A turn's kind is where the agent's reply started (agent/call/speaker.py's ReplySource: a cached
line, a line with the caller's details prepared while they answered or synthesized now, an
LLM-worded line) or, for keyed digits, the keypad. The server logs it with each turn (``turn`` lines, agent/call/turn_trace.py); the
caller measures voice to voice. The two are joined per call by the SIP Call-ID (``call_started``
logs it; a browser call, by the call id the console's answer names) and then in order; a call whose server turns do not pair one-to-one with the caller's
lines (a sentence split in two by the end-of-turn silence) counts its voice turns as unmatched."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agent.app.audio_files import write_wav
from agent.app.config import BedsideConfig

StepKind = Literal["say", "dtmf"]
TurnInputKind = Literal["voice", "keypad"]

DATE_OF_BIRTH_SAID = "March third, nineteen eighty-five."
DATE_OF_BIRTH_KEYED = "03031985"  # month, day, year: what the graph's date-of-birth prompt asks for


@dataclass(frozen=True, slots=True)
class Step:
    kind: StepKind
    value: str


def conversation(call_no: int) -> list[Step]:
    """One caller's lines, in order; ``call_no`` decides whether the date of birth is said or keyed."""
    birth = Step("say", DATE_OF_BIRTH_SAID) if call_no % 2 == 0 else Step("dtmf", DATE_OF_BIRTH_KEYED)
    return [
        Step("say", "Yes, that's fine."),
        Step("say", "My name is Maria Lopez."),
        birth,
        Step("say", "What are your opening hours?"),
        Step("say", "I'd like to book an appointment."),
        Step("say", "The first one, please."),
        Step("say", "Yes, please."),
        Step("say", "No, that's all, thank you."),
    ]


def render_lines(steps: Iterable[Step], config: BedsideConfig, into: Path) -> dict[str, Path]:
    """The caller's spoken lines as WAV files in ``into`` (text -> file), rendered once."""
    from agent.app.expression_file import load_expressions
    from tts.synthesizer import PiperSynthesizer

    texts = list(dict.fromkeys(step.value for step in steps if step.kind == "say"))
    synth = PiperSynthesizer(config.tts, load_expressions(config.tts.expressions))
    into.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for n, text in enumerate(texts):
        files[text] = into / f"line-{n}.wav"
        write_wav(str(files[text]), synth.synthesize(text))
    return files


def as_script(steps: Sequence[Step], lines: Mapping[str, Path]) -> list[tuple[str, str]]:
    """The QA caller's script items: spoken lines played from their files, keys sent as DTMF."""
    return [("play", str(lines[s.value])) if s.kind == "say" else ("dtmf", s.value) for s in steps]


# ---- joining the caller's measurements and the server's turns --------------------------------
@dataclass(frozen=True, slots=True)
class CallerTiming:
    """One caller's call: what both ends know it by (``call_key``: the SIP Call-ID, or a browser
    call's id in the console) and, per line, the input and voice-to-voice ms (None: no agent audio
    came after it)."""

    call_key: str
    turns: tuple[tuple[TurnInputKind, float | None], ...]

    def to_json(self) -> dict[str, object]:
        return {"call_key": self.call_key, "turns": [list(t) for t in self.turns]}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> CallerTiming:
        turns = data["turns"]
        assert isinstance(turns, list)
        return cls(str(data["call_key"]), tuple((kind, ms) for kind, ms in turns))


def server_turns(events: Iterable[Mapping[str, object]]) -> dict[str, list[Mapping[str, object]]]:
    """The server's ``turn`` lines of each call, in turn order, keyed as the caller knows the call:
    its SIP Call-ID, or (a browser call, which has none) the server's own call id."""
    keys: dict[object, str] = {}
    turns: dict[object, list[Mapping[str, object]]] = {}
    for event in events:
        if event.get("event") == "call_started" and event.get("call_id"):
            keys[event["call_id"]] = str(event.get("sip_call_id") or event["call_id"])
        elif event.get("event") == "turn":
            turns.setdefault(event.get("call_id"), []).append(event)
    return {keys[call]: sorted(ts, key=lambda t: int(t.get("turn") or 0)) for call, ts in turns.items() if call in keys}


UNMATCHED = "unmatched"
KEYPAD = "keypad"


def timings_by_kind(calls: Iterable[CallerTiming], server: Mapping[str, Sequence[Mapping[str, object]]]) -> dict[str, list[float]]:
    """Voice-to-voice ms per turn kind: ``keypad``, the reply source of a voice turn (``cached``,
    ``synthesized``, ``worded``) or ``unmatched``."""
    kinds: dict[str, list[float]] = {}
    for call in calls:
        theirs = server.get(call.call_key, ()) if call.call_key else ()
        paired = len(theirs) == len(call.turns) and all(
            str(turn.get("input", "voice")) == kind for turn, (kind, _) in zip(theirs, call.turns, strict=True))
        for n, (kind, ms) in enumerate(call.turns):
            if ms is None:
                continue
            if kind == "keypad":
                label = KEYPAD
            else:
                label = str(theirs[n].get("reply") or UNMATCHED) if paired else UNMATCHED
            kinds.setdefault(label, []).append(ms)
    return kinds


def completed_calls(events: Iterable[Mapping[str, object]]) -> int:
    """Calls the graph itself ended (the goodbye node): the conversation went the whole way."""
    return sum(1 for e in events if e.get("event") == "call_ended" and e.get("reason") == "responder ended call")


KIND_NAMES = {
    "cached": "cached line (pre-synthesized)",
    "prepared": "line with the caller's details (prepared while they answered)",
    "speculated": "line with the caller's details (synthesized from the words before the pause)",
    "synthesized": "line with the caller's details (synthesized now)",
    "worded": "LLM path (worded, or the scripted line in its place: see the LLM table)",
    KEYPAD: "keypad entry (from the caller's last key)",
    UNMATCHED: "voice turn not paired with a server turn",
}


__all__ = [
    "DATE_OF_BIRTH_KEYED", "DATE_OF_BIRTH_SAID", "KEYPAD", "KIND_NAMES", "UNMATCHED", "CallerTiming", "Step", "as_script",
    "completed_calls", "conversation", "render_lines", "server_turns", "timings_by_kind",
]
