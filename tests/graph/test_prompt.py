"""graph/prompt.py: the system prompt and chat messages an LLM gets to word a node's line.

No LLM can run here: these tests check the text itself. tests/agent/services/test_llm.py checks that
the same prompt reaches a STAND-IN for a real OpenAI-compatible endpoint
(tests/agent/services/openai_standin.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from emotion.events import BurstEvent, Channel, EmotionScore, EmotionUpdate, Trend, UpdateSource
from graph.prompt import (
    BIRTH_PLACEHOLDER,
    PHONE_PLACEHOLDER,
    WordingRequest,
    chat_messages,
    emotional_context,
    prompt_slots,
    scripted_only_reason,
    static_prefix,
    system_prompt,
    tone_notes,
)
from graph.schema import ClinicFacts, Node, Say, Slot, SlotKind, Topic
from tts.expression import Expression

CLINIC = ClinicFacts(
    name="Riverside Family Clinic",
    phone="555 010 2030",
    address="120 River Street, Springfield",
    directions="We're on the ground floor, opposite the public library. Free parking is behind the building.",
    hours={"monday": "08:00-18:00", "tuesday": "08:00-18:00", "wednesday": "08:00-18:00",
           "thursday": "08:00-18:00", "friday": "08:00-17:00", "saturday": "09:00-12:00", "sunday": "closed"},
    facts=["Same-day appointments are released at 8 AM each weekday.",
           "Prescription refills take up to two working days once approved."],
)

RESULTS = Node(
    id="results_gentle",
    topics=[Topic.TEST_RESULTS],
    instructions="The caller sounds upset. Acknowledge that first. Never say or hint at what any result shows.",
    say=Say(neutral="I'm sorry, I can hear this is a worrying time. I can't share results on this line, but "
                    "I'll ask a clinician to call you back today."),
    collect=[Slot(name="callback_phone", kind=SlotKind.PHONE, ask=Say(neutral="What's the best number?"))],
)
SCRIPTED = (
    "I'm sorry, I can hear this is a worrying time. I can't share results on this line, but I'll ask a clinician "
    "to call you back today."
)

CALLER_PHONE = "555 123 4567"
SLOTS = {"full_name": "Maria Lopez", "date_of_birth": "March 3rd, 1970", "callback_phone": CALLER_PHONE,
         "medication": "metformin"}

UPSET = EmotionUpdate(
    call_id="c1", at_s=42.0, valence=-0.62, arousal=0.71, trend=Trend.DETERIORATING, slope_per_min=-0.4,
    coherence=0.35, source=UpdateSource.READING,
    top_emotions=(EmotionScore(Channel.PROSODY, "sad", 0.61), EmotionScore(Channel.LANGUAGE, "annoyance", 0.4)),
    recent_bursts=(BurstEvent("sigh", 30.0, 0.8), BurstEvent("cry", 38.0, 0.7)),
)


def request(**changes: object) -> WordingRequest:
    base = WordingRequest(
        call_id="c1", node=RESULTS, clinic=CLINIC, scripted=SCRIPTED, expression=Expression.SYMPATHETIC,
        slots=SLOTS, identity_verified=True, emotion=UPSET,
        history=(("agent", "Thank you, Maria. How can I help today?"),),
        caller_text="I'm calling about my biopsy results.",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def calm(**changes: object) -> EmotionUpdate:
    base = EmotionUpdate(call_id="c1", at_s=10.0, valence=0.05, arousal=0.35, trend=Trend.STABLE, slope_per_min=0.0,
                         coherence=0.9, source=UpdateSource.READING)
    return replace(base, **changes)  # type: ignore[arg-type]


# ---- the system prompt ---------------------------------------------------------------------


def test_role_and_phone_line_style() -> None:
    prompt = system_prompt(request())
    assert "phone assistant for Riverside Family Clinic" in prompt
    assert "two or three at most" in prompt and "no lists, markdown, emoji" in prompt


def test_scripted_line_is_the_content_to_convey() -> None:
    assert f'Convey this, in your own words: "{SCRIPTED}"' in system_prompt(request())


def test_node_instructions_are_included() -> None:
    assert "Acknowledge that first. Never say or hint at what any result shows." in system_prompt(request())


def test_clinic_facts_with_hours_merged() -> None:
    prompt = system_prompt(request())
    for fact in ("555 010 2030", "120 River Street, Springfield", "opposite the public library",
                 "Monday-Thursday 08:00-18:00, Friday 08:00-17:00, Saturday 09:00-12:00, Sunday closed",
                 "- Same-day appointments are released at 8 AM each weekday."):
        assert fact in prompt


@pytest.mark.parametrize("verified", [False, True])
def test_guardrails(verified: bool) -> None:
    prompt = system_prompt(request(identity_verified=verified))
    assert "Never diagnose" in prompt and "medical advice" in prompt
    assert "Never read out or hint at test results" in prompt
    assert "hang up and call 911" in prompt
    if verified:
        assert "Identity: VERIFIED" in prompt and "NOT VERIFIED" not in prompt
    else:
        assert "Identity: NOT VERIFIED yet" in prompt
        assert "appointments, prescriptions, results, bills" in prompt


def test_topics_say_why_to_be_gentle() -> None:
    prompt = system_prompt(request())
    assert "SENSITIVE HERE: test results: waiting for results is stressful" in prompt
    assert "SENSITIVE HERE" not in system_prompt(request(node=RESULTS.model_copy(update={"topics": []})))


def test_emotional_context_numbers_and_tone() -> None:
    prompt = system_prompt(request())
    assert "valence -0.62 (very negative" in prompt
    assert "arousal 0.71 (high" in prompt
    assert "trend deteriorating (-0.40 per minute)" in prompt
    assert "coherence 0.35 (words and voice disagree)" in prompt
    assert "Recent sounds: sigh, cry." in prompt
    assert "Top emotions: sad (voice), annoyance (words)." in prompt
    assert "acknowledge how they feel first, slow down, use shorter sentences" in prompt
    assert "crying" in prompt  # the newest burst's note
    assert "don't take 'I'm fine' at face value" in prompt


def test_delivery_expression() -> None:
    assert "spoken in a sympathetic voice (warm, gentle and unhurried)" in system_prompt(request())
    assert "spoken in an urgent voice" in system_prompt(request(expression=Expression.URGENT))


def test_compact() -> None:
    assert len(system_prompt(request())) < 2500
    assert len(system_prompt(request(emotion=None, node=RESULTS.model_copy(update={"instructions": None})))) < 2000


def test_every_reply_starts_with_the_clinics_static_prefix() -> None:
    """What changes per reply (identity, node, line, emotion, delivery) comes after the part a
    prefix cache can keep: two different replies share it exactly, and it holds nothing of the call."""
    prefix = static_prefix(CLINIC)
    other = request(node=RESULTS.model_copy(update={"id": "other", "instructions": None, "topics": []}),
                    scripted="Our opening hours are on the website.", identity_verified=False, emotion=None,
                    expression=Expression.NEUTRAL, slots={})
    for prompt in (system_prompt(request()), system_prompt(other)):
        assert prompt.startswith(prefix + "\n\n")
    assert "RULES" in prefix and CLINIC.name in prefix and "Identity" not in prefix and "Maria" not in prefix
    assert len(prefix) > 800  # the bulk of the prompt is the cached part
    tail = system_prompt(request())[len(prefix):]
    assert tail.index("EMOTIONAL CONTEXT") < tail.index("Convey this") < tail.index("DELIVERY")


# ---- emotional context ---------------------------------------------------------------------


@pytest.mark.parametrize("emotion", [None, calm(available=False, source=UpdateSource.DEFAULTS)])
def test_no_emotion_means_assume_neutral(emotion: EmotionUpdate | None) -> None:
    assert emotional_context(emotion) == "EMOTIONAL CONTEXT: not available; assume neutral."
    assert "not available; assume neutral" in system_prompt(request(emotion=emotion))


def test_settled_caller_gets_a_plain_note() -> None:
    assert tone_notes(calm()) == ["They sound settled: a friendly, even tone"]


def test_high_arousal_negative_is_calm_and_steady() -> None:
    notes = tone_notes(calm(valence=-0.2, arousal=0.8))
    assert any("calm and steady" in n for n in notes)


def test_low_coherence_checks_in_gently() -> None:
    notes = tone_notes(calm(coherence=0.3))
    assert notes == ["Their words and voice disagree: don't take 'I'm fine' at face value; check in gently"]


def test_laugh_allows_warmth() -> None:
    text = emotional_context(calm(valence=0.5, recent_bursts=(BurstEvent("laugh", 9.0, 0.9),)))
    assert "Recent sounds: laugh." in text and "warmth and a light touch are fine" in text


def test_sigh_is_sympathetic() -> None:
    assert any("sympathetic" in n for n in tone_notes(calm(recent_bursts=(BurstEvent("sigh", 9.0, 0.9),))))


def test_unhappy_but_stable_acknowledges_first() -> None:
    assert tone_notes(calm(valence=-0.5))[0] == "They sound unhappy: acknowledge their feelings before the task"


def test_improving_keeps_the_tone() -> None:
    assert any("calming down" in n for n in tone_notes(calm(valence=-0.1, trend=Trend.IMPROVING, slope_per_min=0.3)))


def test_at_most_three_tone_notes() -> None:
    assert len(tone_notes(UPSET)) == 3


# ---- privacy -------------------------------------------------------------------------------


def _everything(req: WordingRequest) -> str:
    return "\n".join(m["content"] for m in chat_messages(req))


def test_caller_phone_number_never_in_the_prompt() -> None:
    req = request(caller_text=f"My number is {CALLER_PHONE}, or 555-123-4567.",
                  history=(("caller", "call me on 5551234567"), ("agent", "Thanks.")))
    text = _everything(req)
    assert CALLER_PHONE not in text and "5551234567" not in text and "555-123-4567" not in text
    assert PHONE_PLACEHOLDER in text
    assert "555 010 2030" in text  # the clinic's own number is a public fact


def test_a_line_reading_back_the_phone_number_stays_scripted() -> None:
    req = request(scripted=f"Thank you. A clinician will call you on {CALLER_PHONE} today.")
    assert scripted_only_reason(req) == "phone_number"
    assert CALLER_PHONE not in system_prompt(req)
    assert scripted_only_reason(request()) == ""


def test_before_verification_only_names() -> None:
    req = request(identity_verified=False)
    assert prompt_slots(req) == {"full_name": "Maria Lopez"}
    prompt = system_prompt(req)
    assert "Maria Lopez" in prompt and "metformin" not in prompt


def test_after_verification_no_birth_date_or_phone() -> None:
    assert prompt_slots(request()) == {"full_name": "Maria Lopez", "medication": "metformin"}
    prompt = system_prompt(request())
    assert "1970" not in prompt and CALLER_PHONE not in prompt


# ---- chat messages -------------------------------------------------------------------------


def test_messages_roles_and_order() -> None:
    messages = chat_messages(request())
    assert [m["role"] for m in messages] == ["system", "assistant", "user"]
    assert messages[1]["content"] == "Thank you, Maria. How can I help today?"
    assert messages[-1]["content"] == "I'm calling about my biopsy results."


def test_history_is_cut_to_the_last_turns() -> None:
    history = tuple(("caller" if i % 2 == 0 else "agent", f"turn {i}") for i in range(10))
    messages = chat_messages(request(history=history, caller_text="now"), max_history=4)
    assert [m["content"] for m in messages[1:]] == ["turn 6", "turn 7", "turn 8", "turn 9", "now"]
    assert chat_messages(request(history=history, caller_text=None), max_history=0)[1:] == [
        {"role": "user", "content": "(The caller has not said anything new. Say your line now.)"}
    ]


def test_consecutive_turns_of_one_speaker_are_merged() -> None:
    history = (("agent", "Hello."), ("agent", "Is it okay to continue?"), ("caller", "yes"))
    messages = chat_messages(request(history=history, caller_text="I need a refill"))
    assert messages[1:] == [
        {"role": "assistant", "content": "Hello. Is it okay to continue?"},
        {"role": "user", "content": "yes I need a refill"},
    ]


def test_never_ends_on_an_assistant_turn() -> None:
    messages = chat_messages(request(caller_text=None))
    assert messages[-1]["role"] == "user"
    assert "not said anything new" in messages[-1]["content"]


def test_caller_text_already_in_history_is_not_repeated() -> None:
    req = request(history=(("agent", "How can I help?"), ("caller", "my results")), caller_text="my results")
    assert [m["content"] for m in chat_messages(req)[1:]] == ["How can I help?", "my results"]


def test_date_of_birth_never_in_the_prompt() -> None:
    req = request(caller_text="It's March 3rd, 1970.", history=(("caller", "oh sorry, 03/03/1970"),))
    text = _everything(req)
    assert "1970" not in text and BIRTH_PLACEHOLDER in text
    readback = request(scripted="Thanks. I have your date of birth as March 3rd, 1970. Is that right?")
    assert scripted_only_reason(readback) == "date_of_birth"
