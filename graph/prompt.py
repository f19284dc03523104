"""The prompt an LLM gets when it words one of a node's replies (``agent.services.llm.LlmWriter``).

The graph decides *what* is said (the node's scripted line, already rendered); the LLM only
decides *how*, so its reply can sound like a person who heard how the caller feels. The
system prompt therefore carries: the role and the phone-line style, the node's instructions,
the clinic's public facts, the guardrails (no diagnosis, no results, no PHI before identity
verification, 911 in an emergency), the line to convey, why the node's topics need care, the
caller's emotional state with a plain-English note on tone, and the chosen delivery.

Privacy: the caller's phone number and date of birth never enter a prompt (a phone or
date-of-birth slot's value, and digit runs or numeric dates in the history, are replaced by
placeholders; a line that reads one back is spoken as scripted), and other collected values
are included only once identity is verified -- before that only names."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from emotion.events import Channel, EmotionUpdate, Trend
from graph.schema import ClinicFacts, Node, SlotKind, Topic
from tts.expression import Expression

Speaker = Literal["caller", "agent"]

PHONE_PLACEHOLDER = "[the caller's phone number]"
BIRTH_PLACEHOLDER = "[the caller's date of birth]"
MAX_TURN_CHARS = 600  # one history turn in the prompt; a rambling caller cannot blow the budget

LOW_VALENCE = -0.3
POSITIVE_VALENCE = 0.3
HIGH_AROUSAL = 0.6
LOW_AROUSAL = 0.25
LOW_COHERENCE = 0.5
"""Tone-note thresholds, in the emotion subsystem's units (valence -1..1, arousal and
coherence 0..1). The same cut-offs the clinic graph uses for its emotional transitions."""

_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_PHONE_RUN = re.compile(r"\+?\d(?:[\s.\-()]*\d){6,}")
"""Seven or more digits, however spaced: a phone number the caller said (redacted in history)."""
_NUMERIC_DATE = re.compile(r"\b\d{1,2}[/.\-]\d{1,2}[/.\-](?:\d{4}|\d{2})\b")
"""03/14/1970, 3-14-70: most likely the date of birth at a clinic (redacted in history)."""

EXPRESSION_STYLE: dict[Expression, str] = {
    Expression.NEUTRAL: "friendly and even",
    Expression.CALM: "slow, steady and reassuring",
    Expression.SYMPATHETIC: "warm, gentle and unhurried",
    Expression.CONCERNED: "caring and attentive, a little serious",
    Expression.ENTHUSIASTIC: "bright and upbeat",
    Expression.DIRECT: "clear and to the point",
    Expression.URGENT: "firm, clear and quick: safety first",
}

TOPIC_CARE: dict[Topic, str] = {
    Topic.DIAGNOSIS: "the caller may be worried about what a symptom means; never speculate, offer a clinician",
    Topic.TEST_RESULTS: "waiting for results is stressful; never hint at what they show, a clinician will go "
    "through them",
    Topic.BILLING: "money can be embarrassing and stressful; be matter-of-fact and never judge",
    Topic.MISSED_APPOINTMENT: "the caller may feel blamed; no blame, make rebooking easy",
    Topic.BEREAVEMENT: "the caller may be grieving; slow down, acknowledge the loss, nothing cheerful",
    Topic.MENTAL_HEALTH: "the caller may be vulnerable; be warm and unhurried, never dismissive",
    Topic.EMERGENCY: "someone may be in danger; be calm and direct, 911 comes first",
    Topic.MEDICATION: "never advise on doses or what to take or stop; only take the request",
}

_BURST_NOTES: dict[str, str] = {
    "laugh": "they laughed: warmth and a light touch are fine",
    "giggle": "they laughed: warmth and a light touch are fine",
    "chuckle": "they laughed: warmth and a light touch are fine",
    "cry": "they may be crying: be gentle and sympathetic, and give them time",
    "whimper": "they may be crying: be gentle and sympathetic, and give them time",
    "sniff": "they may be tearful: be gentle",
    "sigh": "they sighed: acknowledge it may be tiring or frustrating, be sympathetic",
    "groan": "they groaned: be sympathetic, keep it simple",
    "moan": "they may be in pain or distress: be sympathetic; if it could be serious, check they are safe",
    "scream": "they screamed: check they are safe; if anyone may be in danger, 911",
    "gasp": "they gasped: check they are all right",
    "pant": "they sound out of breath: check they are all right",
    "wheeze": "they sound out of breath: check they are all right",
    "shout": "they raised their voice: stay calm and steady, never argue",
    "yawn": "they may be tired: keep it short",
    "tongue_click": "they may be impatient: be brief and clear",
}

_CHANNEL_WORD: dict[Channel, str] = {Channel.PROSODY: "voice", Channel.LANGUAGE: "words", Channel.BURST: "sounds"}


@dataclass(frozen=True)
class WordingRequest:
    """Everything needed to word one reply. Built by the call path, consumed by the LLM writer."""

    call_id: str
    node: Node  # the node whose reply is being worded
    clinic: ClinicFacts
    scripted: str  # the node's line, rendered for this expression: the content the LLM must convey
    expression: Expression  # how the reply will be delivered
    slots: Mapping[str, str]  # slot name -> spoken value, collected so far
    identity_verified: bool  # name + date of birth checked
    emotion: EmotionUpdate | None  # None or not .available: no emotional context
    history: Sequence[tuple[Speaker, str]] = ()  # oldest first, the last few turns
    caller_text: str | None = None  # what the caller just said
    hurry: bool = False  # call phase: a long call that is getting worse (agent/call/call_phase.py)


# ---- privacy -----------------------------------------------------------------------------


def _slot_kinds(node: Node) -> dict[str, SlotKind]:
    return {slot.name: slot.kind for slot in node.collect}


def _is_phone_slot(name: str, kinds: Mapping[str, SlotKind]) -> bool:
    return kinds.get(name) is SlotKind.PHONE or "phone" in name


def _is_birth_slot(name: str, kinds: Mapping[str, SlotKind]) -> bool:
    return kinds.get(name) is SlotKind.DATE_OF_BIRTH or "birth" in name or name in ("dob", "birthday")


def _is_name_slot(name: str, kinds: Mapping[str, SlotKind]) -> bool:
    return kinds.get(name) is SlotKind.NAME or name == "name" or name.endswith("_name")


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def phone_values(req: WordingRequest) -> tuple[str, ...]:
    """The caller's phone numbers collected so far (values of phone slots)."""
    kinds = _slot_kinds(req.node)
    return tuple(v for k, v in req.slots.items() if v.strip() and _is_phone_slot(k, kinds))


def birth_values(req: WordingRequest) -> tuple[str, ...]:
    """The caller's date of birth as collected (values of date-of-birth slots)."""
    kinds = _slot_kinds(req.node)
    return tuple(v for k, v in req.slots.items() if v.strip() and _is_birth_slot(k, kinds))


def mentions_phone(text: str, phones: Sequence[str]) -> bool:
    """Does ``text`` contain one of ``phones``, however its digits are spaced?"""
    digits = _digits(text)
    for phone in phones:
        phone_digits = _digits(phone)
        if phone in text or (len(phone_digits) >= 7 and phone_digits in digits):
            return True
    return False


def redact_private(text: str, req: WordingRequest) -> str:
    """Replace the caller's phone numbers (and any run of 7+ digits) and their date of birth
    (as collected, or written as digits) with placeholders."""
    for value in sorted(phone_values(req), key=len, reverse=True):
        text = text.replace(value, PHONE_PLACEHOLDER)
    for value in sorted(birth_values(req), key=len, reverse=True):
        text = text.replace(value, BIRTH_PLACEHOLDER)
    text = _NUMERIC_DATE.sub(BIRTH_PLACEHOLDER, text)
    return _PHONE_RUN.sub(PHONE_PLACEHOLDER, text)


def scripted_only_reason(req: WordingRequest) -> str:
    """Why this line must be spoken exactly as scripted ("" = the LLM may word it).

    A line that reads back the caller's phone number or date of birth would need it in the
    prompt; digits and dates are also best read verbatim, so the script is used."""
    if mentions_phone(req.scripted, phone_values(req)):
        return "phone_number"
    if any(value in req.scripted for value in birth_values(req)):
        return "date_of_birth"
    return ""


def prompt_slots(req: WordingRequest) -> dict[str, str]:
    """The collected values the LLM may see: names always, others only once identity is
    verified; never a phone number or the date of birth (wording never needs them)."""
    kinds = _slot_kinds(req.node)
    out: dict[str, str] = {}
    for name, value in req.slots.items():
        if not value.strip() or _is_phone_slot(name, kinds) or _is_birth_slot(name, kinds):
            continue
        if _is_name_slot(name, kinds) or req.identity_verified:
            out[name] = value
    return out


# ---- sections ----------------------------------------------------------------------------


def _hours(clinic: ClinicFacts) -> str:
    """"Monday-Thursday 08:00-18:00, Friday 08:00-17:00, Sunday closed": runs of equal days merged."""
    runs: list[tuple[str, str, str]] = []  # (first day, last day, span)
    for day in _DAYS:
        span = clinic.hours.get(day)  # type: ignore[call-overload]
        if span is None:
            continue
        if runs and runs[-1][2] == span and _DAYS.index(runs[-1][1]) == _DAYS.index(day) - 1:
            runs[-1] = (runs[-1][0], day, span)
        else:
            runs.append((day, day, span))
    return ", ".join(
        f"{first.title()}{'' if first == last else '-' + last.title()} {span}" for first, last, span in runs
    )


def _clinic_section(clinic: ClinicFacts) -> str:
    lines = [f"CLINIC FACTS (you may tell anyone these): {clinic.name}."]
    for label, value in (("Phone", clinic.phone), ("Address", clinic.address), ("Directions", clinic.directions)):
        if value.strip():
            lines.append(f"{label}: {value.strip()}")
    if clinic.hours:
        lines.append(f"Hours: {_hours(clinic)}.")
    lines.append(f"Appointments are {clinic.appointment_minutes} minutes long.")
    lines.extend(f"- {fact}" for fact in clinic.facts)
    return "\n".join(lines)


def _guardrails() -> str:
    """The rules every reply keeps; the same for every call (the caller's identity is stated apart)."""
    return "\n".join(
        (
            "RULES (never break these):",
            "- Never diagnose, guess what a symptom means, or give medical advice (what to take, doses); "
            "offer a clinician.",
            "- Never read out or hint at test results or whether they are back, not even 'normal'.",
            "- You cannot see the caller's record: never invent times, doses, amounts or names.",
            "- Emergency (chest pain, trouble breathing, stroke, heavy bleeding, self-harm): tell them to "
            "hang up and call 911 now.",
        )
    )


def _identity(identity_verified: bool) -> str:
    return (
        "Identity: VERIFIED (name and date of birth checked)."
        if identity_verified
        else "Identity: NOT VERIFIED yet. Until it is, say nothing about the caller's appointments, "
        "prescriptions, results, bills or anything in their record."
    )


def _task(req: WordingRequest) -> str:
    scripted = redact_private(" ".join(req.scripted.split()), req)
    return "\n".join(
        (
            f'Convey this, in your own words: "{scripted}"',
            "Keep its facts, times, names and any question (end with it); add no new offers, facts or "
            "promises. If unsure, say it as written.",
        )
    )


def _topics_section(topics: Sequence[Topic]) -> str:
    if not topics:
        return ""
    return "SENSITIVE HERE: " + "; ".join(f"{topic.value.replace('_', ' ')}: {TOPIC_CARE[topic]}" for topic in topics) + "."


def _slots_section(req: WordingRequest) -> str:
    slots = prompt_slots(req)
    if not slots:
        return ""
    return "CALLER DETAILS (from this call): " + "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in slots.items())


def _delivery(expression: Expression, hurry: bool = False) -> str:
    article = "an" if expression.value[0] in "aeiou" else "a"
    line = (
        f"DELIVERY: your words will be spoken in {article} {expression.value} voice ({EXPRESSION_STYLE[expression]}); "
        "word them to match."
    )
    if hurry:
        line += (" CALL PHASE: this call has gone on for a while and the caller is getting more upset: be brief "
                 "and direct, one short sentence, straight to what they need.")
    return line


# ---- emotion -----------------------------------------------------------------------------


def _valence_word(valence: float) -> str:
    for limit, word in ((-0.5, "very negative"), (-0.15, "negative"), (0.15, "neutral"), (0.5, "positive")):
        if valence < limit:
            return word
    return "very positive"


def _arousal_word(arousal: float) -> str:
    return "low" if arousal < LOW_AROUSAL else "moderate" if arousal < HIGH_AROUSAL else "high"


def _coherence_word(coherence: float) -> str:
    if coherence >= 0.7:
        return "words and voice agree"
    return "words and voice partly agree" if coherence >= LOW_COHERENCE else "words and voice disagree"


def _unique(names: Sequence[str], limit: int) -> list[str]:
    out: list[str] = []
    for name in names:
        if name not in out:
            out.append(name)
    return out[-limit:]


MAX_TONE_NOTES = 3


def _burst_note(emotion: EmotionUpdate) -> str:
    """The note for the newest burst that has one ("" if none)."""
    for burst in reversed(emotion.recent_bursts):
        note = _BURST_NOTES.get(burst.name)
        if note:
            return note[0].upper() + note[1:]
    return ""


def tone_notes(emotion: EmotionUpdate) -> list[str]:
    """What the numbers mean for the reply's tone, most important first (at most
    :data:`MAX_TONE_NOTES`: more advice than that is noise to a small model)."""
    notes: list[str] = []
    negative = emotion.valence < LOW_VALENCE
    if negative and emotion.trend is Trend.DETERIORATING:
        notes.append("They are getting more upset: acknowledge how they feel first, slow down, use shorter sentences")
    elif negative:
        notes.append("They sound unhappy: acknowledge their feelings before the task")
    elif emotion.trend is Trend.DETERIORATING:
        notes.append("Their mood is slipping: be a little warmer and check in")
    notes.append(_burst_note(emotion))
    if emotion.coherence < LOW_COHERENCE:
        notes.append("Their words and voice disagree: don't take 'I'm fine' at face value; check in gently")
    if emotion.arousal >= HIGH_AROUSAL and emotion.valence < 0:
        notes.append("They sound agitated or anxious: be calm and steady, one thing at a time")
    elif emotion.arousal >= HIGH_AROUSAL and emotion.valence >= POSITIVE_VALENCE:
        notes.append("They sound upbeat: some energy and warmth are fine")
    if emotion.trend is Trend.IMPROVING and emotion.valence < 0:
        notes.append("They are calming down: keep the same steady tone")
    notes = [note for note in notes if note]
    return notes[:MAX_TONE_NOTES] or ["They sound settled: a friendly, even tone"]


def emotional_context(emotion: EmotionUpdate | None) -> str:
    """The EMOTIONAL CONTEXT block: the numbers, named, and what they mean for tone."""
    if emotion is None or not emotion.available:
        return "EMOTIONAL CONTEXT: not available; assume neutral."
    lines = [
        "EMOTIONAL CONTEXT (estimated from the caller's voice and words; a guide, not a fact):",
        f"valence {emotion.valence:+.2f} ({_valence_word(emotion.valence)}, scale -1..1), "
        f"arousal {emotion.arousal:.2f} ({_arousal_word(emotion.arousal)}, 0..1), "
        f"trend {emotion.trend.value} ({emotion.slope_per_min:+.2f} per minute), "
        f"coherence {emotion.coherence:.2f} ({_coherence_word(emotion.coherence)}).",
    ]
    bursts = _unique([b.name for b in emotion.recent_bursts], 4)
    if bursts:
        lines.append("Recent sounds: " + ", ".join(b.replace("_", " ") for b in bursts) + ".")
    if emotion.top_emotions:
        tops = [f"{e.name} ({_CHANNEL_WORD.get(e.channel, str(e.channel))})" for e in emotion.top_emotions[:4]]
        lines.append("Top emotions: " + ", ".join(tops) + ".")
    lines.append("Tone: " + ". ".join(tone_notes(emotion)) + ".")
    return "\n".join(lines)


# ---- the prompt --------------------------------------------------------------------------


def static_prefix(clinic: ClinicFacts) -> str:
    """The start of every system prompt for ``clinic``: the role, the rules and the clinic's facts.

    It is the same for every reply of every call, and it comes first so that a server with a
    prompt-prefix cache (llama.cpp's, vLLM's, hosted APIs' prompt caching) evaluates it once: on
    2 CPU cores a 135M model reads about 130-250 prompt tokens a second, and these are about 330
    of them. Everything that changes per reply follows it (:func:`system_prompt`)."""
    role = (
        f"You are Bedside, the automated phone assistant for {clinic.name}. Your words are spoken aloud "
        "on a phone line: short spoken sentences, two or three at most, no lists, markdown, emoji or symbols."
    )
    return "\n\n".join((role, _guardrails(), _clinic_section(clinic)))


def brief_tone(emotion: EmotionUpdate | None) -> str:
    """The emotional context as its notes on tone only (no numbers, no channels): for
    ``llm.prompt_detail: brief``, where every token after the cached prefix is read per reply."""
    if emotion is None or not emotion.available:
        return ""
    return "TONE: " + ". ".join(tone_notes(emotion)) + "."


def system_prompt(req: WordingRequest, brief: bool = False) -> str:
    """The whole system prompt for one reply (typically 1,500-2,500 characters): the clinic's
    :func:`static_prefix`, then this reply's part, the line to convey last but for the tone and
    delivery notes (a small model follows what it read last). ``brief``: the emotional context
    is only its tone notes (:func:`brief_tone`), about 120 tokens fewer to read per reply."""
    instructions = f"INSTRUCTIONS FOR THIS STEP: {' '.join(req.node.instructions.split())}" if req.node.instructions else ""
    sections = (
        static_prefix(req.clinic),
        _identity(req.identity_verified),
        _topics_section(req.node.topics),
        _slots_section(req),
        brief_tone(req.emotion) if brief else emotional_context(req.emotion),
        instructions,
        _task(req),
        _delivery(req.expression, req.hurry),
    )
    return "\n\n".join(section for section in sections if section)


_NO_CALLER_WORDS = "(The caller has not said anything new. Say your line now.)"


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_TURN_CHARS else text[: MAX_TURN_CHARS - 3] + "..."


def chat_messages(req: WordingRequest, max_history: int = 6, brief: bool = False) -> list[dict[str, str]]:
    """The chat-completions ``messages``: the system prompt (``brief``: see :func:`system_prompt`), the last ``max_history`` turns
    (caller -> user, agent -> assistant, consecutive turns of one speaker merged, since some
    chat templates demand alternation), and a final user turn: what the caller just said, or a
    cue to speak. A chat never ends on an assistant turn, which some servers would continue."""
    turns = list(req.history)[-max_history:] if max_history > 0 else []
    caller_text = req.caller_text.strip() if req.caller_text and req.caller_text.strip() else None
    if caller_text and turns and turns[-1] == ("caller", req.caller_text):
        turns.pop()  # already in the history: do not send it twice
    if caller_text:
        turns.append(("caller", caller_text))
    elif not turns or turns[-1][0] != "caller":
        turns.append(("caller", _NO_CALLER_WORDS))
    messages: list[dict[str, str]] = [{"role": "system", "content": system_prompt(req, brief)}]
    for speaker, text in turns:
        role = "user" if speaker == "caller" else "assistant"
        content = text if text == _NO_CALLER_WORDS else _clip(redact_private(text, req))
        if not content:
            continue
        if messages[-1]["role"] == role:
            messages[-1]["content"] += " " + content
        else:
            messages.append({"role": role, "content": content})
    return messages


__all__ = [
    "EXPRESSION_STYLE",
    "BIRTH_PLACEHOLDER",
    "PHONE_PLACEHOLDER",
    "TOPIC_CARE",
    "WordingRequest",
    "brief_tone",
    "chat_messages",
    "emotional_context",
    "mentions_phone",
    "phone_values",
    "prompt_slots",
    "birth_values",
    "redact_private",
    "scripted_only_reason",
    "static_prefix",
    "system_prompt",
    "tone_notes",
]
