"""Text-level scenarios that walk the bundled clinic graph (configs/graphs/clinic.yaml) with the
real MiniLM embedder: caller lines in; node path, slots, actions and delivery out. Emotional
branches are driven by EmotionUpdate events like those the emotion client emits."""

from __future__ import annotations

from datetime import datetime

import pytest

from agent.call.burst_table import load_burst_table
from agent.call.voice_style import VoiceStyleConfig, choose_expression
from emotion.events import BurstEvent, EmotionUpdate, Trend, UpdateSource
from graph.config import DEFAULT_GRAPH
from graph.navigator import CallerInput, CompiledGraph, Navigator, Step, StepKind, describe_hours
from graph.schema import ActionType, Topic
from graph.validate import load_graph
from tts.expression import Expression

NOW = datetime(2026, 12, 1, 10, 15)  # a Tuesday morning


@pytest.fixture(scope="module")
def clinic(text_encoder) -> CompiledGraph:
    return CompiledGraph(load_graph(DEFAULT_GRAPH), text_encoder, version="test")


def mood(valence: float = 0.0, arousal: float = 0.3, trend: Trend = Trend.STABLE, coherence: float = 0.9,
         bursts: tuple[str, ...] = (), available: bool = True, at_s: float = 30.0) -> EmotionUpdate:
    return EmotionUpdate(
        call_id="test", at_s=at_s, valence=valence, arousal=arousal, trend=trend, slope_per_min=0.0,
        coherence=coherence, source=UpdateSource.READING, available=available,
        recent_bursts=tuple(BurstEvent(b, at_s - 1.0, 0.9) for b in bursts), readings=8,
    )


CALM = mood()


def walk(clinic: CompiledGraph, *turns: str | tuple[str, EmotionUpdate | None]) -> tuple[Navigator, list[Step]]:
    """Start a call and play caller turns; a turn starting with '#' is keypad digits."""
    nav = Navigator(clinic, clock=lambda: NOW)
    steps = [nav.start()]
    for turn in turns:
        text, emotion = turn if isinstance(turn, tuple) else (turn, CALM)
        said = CallerInput(dtmf=text[1:]) if text.startswith("#") else CallerInput(text)
        steps.append(nav.handle(said, emotion))
    return nav, steps


def identified(*more: str | tuple[str, EmotionUpdate | None]) -> tuple:
    """Consent, name and date of birth, then ``more``."""
    return ("Yes, that's fine.", "My name is Maria Lopez.", "March 3rd, 1985.", *more)


def test_greeting_discloses_the_ai_and_asks_consent(clinic):
    nav, (start,) = walk(clinic)
    text = start.text(Expression.NEUTRAL)
    assert start.path == ("greeting", "consent")
    assert "Riverside Family Clinic" in text and "automated assistant" in text and "not a person" in text
    assert "911" in text and "okay to continue" in text
    assert nav.pending_slot is not None and nav.pending_slot.name == "consent"


def test_booking_an_appointment_end_to_end(clinic):
    nav, steps = walk(clinic, *identified(
        "Hi, I'd like to book an appointment please.", "The first one.", "Yes please.", "No, that's all, thank you.",
    ))
    consent, name, dob, book, pick, confirm, done = steps[1:]
    assert consent.path == ("identify",) and "full name" in consent.text(Expression.NEUTRAL)
    assert name.filled["full_name"].value == "Maria Lopez"
    assert "Thanks, Maria Lopez" in name.text(Expression.NEUTRAL)
    assert dob.filled["date_of_birth"].value == "1985-03-03" and dob.path == ("menu",)
    assert nav.identity_verified
    assert book.path == ("booking",) and book.chosen.by in ("examples", "keyword")
    offers = nav.offers
    assert len(offers) == 3 and all(o > NOW for o in offers)
    assert "I have" in book.text(Expression.NEUTRAL)
    assert pick.filled["appointment"].value == offers[0].isoformat(timespec="minutes")
    assert pick.path == ("booking_confirm",) and "Shall I book it?" in pick.text(Expression.NEUTRAL)
    assert confirm.path == ("booked", "anything_else")
    (webhook,) = confirm.actions
    assert webhook.type is ActionType.WEBHOOK and webhook.event == "appointment_booked"
    assert set(webhook.include) <= set(nav.slots)
    assert done.path == ("goodbye",) and done.end_call and not done.transfer_to
    # The booked time is no longer offered to the next caller.
    assert offers[0] not in Navigator(clinic, clock=lambda: NOW).compiled.schedule.offers(NOW, count=3)


def test_a_fork_walks_on_alone_and_leaves_the_walk_it_came_from_as_it_was(clinic):
    nav, _ = walk(clinic, *identified("I'd like to book an appointment."))
    before = (nav.node_id, dict(nav.slots), list(nav.history), list(nav.offers), nav.pending_slot)
    fork = nav.fork()
    step = fork.handle(CallerInput("The first one."), CALM)
    assert (nav.node_id, dict(nav.slots), list(nav.history), list(nav.offers), nav.pending_slot) == before
    assert fork.slots.keys() > nav.slots.keys() and fork.compiled is nav.compiled
    again = nav.handle(CallerInput("The first one."), CALM)  # the same turn on the walk itself: the same step
    assert (again.path, again.text(Expression.NEUTRAL)) == (step.path, step.text(Expression.NEUTRAL))


def test_a_fork_books_in_the_shared_schedule_only_once_adopted(text_encoder):
    clinic = CompiledGraph(load_graph(DEFAULT_GRAPH), text_encoder, version="own schedule")  # booked times stay
    nav, steps = walk(clinic, *identified("I'd like to book an appointment.", "The first one."))
    first = nav.offers[0]
    assert clinic.schedule.is_free(first)
    dropped = nav.fork()
    dropped.handle(CallerInput("Yes please."), CALM)  # confirms: the booking webhook runs on the fork
    assert "appointment_booked" in [getattr(a, "event", None) for a in dropped.actions]
    assert clinic.schedule.is_free(first)  # held back: this fork may be discarded
    adopted = nav.fork()
    adopted.handle(CallerInput("Yes please."), CALM)
    adopted.commit()
    assert not clinic.schedule.is_free(first)


def test_keypad_works_for_consent_date_of_birth_and_menu(clinic):
    nav, steps = walk(clinic, "#1", "Maria Lopez", "#03031985", "#2")
    assert steps[3].filled["date_of_birth"].value == "1985-03-03"
    assert steps[4].path == ("refill",) and steps[4].chosen.by == "dtmf"
    assert nav.pending_slot.name == "medication"


def test_keys_that_answer_the_turn_are_known_before_the_keypad_pause(clinic):
    nav, _ = walk(clinic)
    assert nav.pending_slot.name == "consent" and nav.keys_complete("1")  # yes/no: one key
    nav.handle(CallerInput(dtmf="1"), CALM)
    assert nav.pending_slot.name == "full_name" and not nav.keys_complete("1")  # a name takes no keys
    nav.handle(CallerInput("Maria Lopez"), CALM)
    assert nav.pending_slot.name == "date_of_birth"
    assert not nav.keys_complete("0303198") and nav.keys_complete("03031985")  # MMDDYYYY
    nav.handle(CallerInput(dtmf="03031985"), CALM)
    assert nav.node_id == "menu" and nav.pending_slot is None
    assert nav.keys_complete("1") and nav.keys_complete("2") and not nav.keys_complete("3") and not nav.keys_complete("")


def test_declining_consent_transfers_to_the_front_desk(clinic):
    _, steps = walk(clinic, "No, I'd rather not.")
    assert steps[-1].path == ("consent_declined",)
    assert steps[-1].transfer_to == "operator"


def test_distressed_caller_gets_the_gentle_menu(clinic):
    _, steps = walk(clinic, "Yes.", "Maria Lopez.", ("March 3rd, 1985.", mood(valence=-0.6, trend=Trend.DETERIORATING)))
    assert steps[-1].path == ("menu_distressed",)
    assert steps[-1].chosen.emotional


def test_test_results_are_never_read_and_a_clinician_calls_back(clinic):
    nav, steps = walk(clinic, *identified("Have my blood test results come back yet?", "It's 555 123 4567."))
    results, callback = steps[-2:]
    assert results.path == ("results",) and Topic.TEST_RESULTS in results.topics
    assert "can't share" in results.text(Expression.NEUTRAL)
    (request,) = callback.actions
    assert request.type is ActionType.CALLBACK and request.team == "clinician" and request.priority == "routine"
    assert nav.slots["callback_phone"].value == "5551234567"


def test_an_upset_caller_asking_for_results_gets_an_urgent_call_back(clinic):
    sad = mood(valence=-0.55, arousal=0.4, bursts=("sigh",))
    _, steps = walk(clinic, *identified(("I'm calling about my biopsy results, I'm so worried.", sad), ("555 123 4567", sad)))
    assert steps[-2].path == ("results_gentle",) and steps[-2].chosen.emotional
    (request,) = steps[-1].actions
    assert request.priority == "urgent"


def test_billing_frustration_goes_to_a_person_while_a_calm_question_gets_a_call_back(clinic):
    angry = mood(valence=-0.5, arousal=0.85)
    _, upset = walk(clinic, *identified(("I was charged twice for the same visit!", angry)))
    assert upset[-1].path == ("billing_upset",) and upset[-1].transfer_to == "billing"
    nav, calm = walk(clinic, *identified("I was charged twice for the same visit.", "The bill shows two charges for one visit."))
    assert calm[-2].path == ("billing",)
    assert calm[-1].path == ("billing_callback", "anything_else")
    assert calm[-1].actions[0].team == "billing"


def test_emotion_never_overrides_what_the_caller_asked_for(clinic):
    devastated = mood(valence=-0.95, arousal=0.9, trend=Trend.DETERIORATING, bursts=("cry",))
    _, steps = walk(clinic, *identified(("What time do you close today?", devastated)))
    assert steps[-1].path == ("hours", "after_information", "anything_else")
    assert not steps[-1].chosen.emotional


def test_without_an_emotional_reading_the_plain_path_is_taken(clinic):
    unavailable = mood(valence=-0.9, available=False)
    _, steps = walk(clinic, *identified(("I'm calling about my test results.", unavailable)))
    assert steps[-1].path == ("results",)
    _, steps = walk(clinic, *identified(("I'm calling about my test results.", None)))
    assert steps[-1].path == ("results",)


@pytest.mark.parametrize("line", ["I've got really bad chest pain", "I can't breathe properly", "I feel suicidal",
                                  "I'm having a hard time breathing", "I think I'm having a heart attack"])
def test_emergency_words_lead_at_once_to_guidance_and_a_transfer_from_any_node(clinic, line):
    for turns in [(line,), ("Yes.", line), identified(line)]:
        _, steps = walk(clinic, *turns)
        step = steps[-1]
        assert step.kind is StepKind.GLOBAL and step.path == ("emergency",)
        assert step.transfer_to == "emergency" and "911" in step.text(Expression.DIRECT)


@pytest.mark.parametrize("line", ["I have a headache and need to see someone", "I'm feeling a bit down lately",
                                  "I need to cancel", "My name is Maria Lopez"])
def test_ordinary_lines_are_not_emergencies(clinic, line):
    _, steps = walk(clinic, "Yes.", line)
    assert steps[-1].kind is not StepKind.GLOBAL, steps[-1]


def test_a_call_being_handed_off_stays_handed_off(clinic):
    nav, steps = walk(clinic, "Yes.", "I've got chest pain.", "Hello? Hello?")
    assert steps[-2].transfer_to == "emergency"
    assert steps[-1].path == ("emergency",) and steps[-1].transfer_to == "emergency"  # not a clarification


def test_asking_for_a_person_transfers(clinic):
    _, steps = walk(clinic, *identified("Can I just talk to a real person please?"))
    assert steps[-1].kind is StepKind.GLOBAL and steps[-1].transfer_to == "operator"


def test_clarifies_then_falls_back_to_a_person(clinic):
    _, steps = walk(clinic, *identified("Purple elephants dance on Tuesdays.", "Blorp.", "Zzz fnord."))
    assert [s.kind for s in steps[-3:]] == [StepKind.CLARIFY, StepKind.CLARIFY, StepKind.FALLBACK]
    assert steps[-3].node == "menu" and "say it another way" in steps[-3].text(Expression.NEUTRAL)
    assert steps[-1].path == ("human_fallback",) and steps[-1].transfer_to == "operator"


def test_a_slot_not_understood_is_asked_again_then_falls_back(clinic):
    nav, steps = walk(clinic, "Yes.", "Maria Lopez.", "Um, I'm not sure.", "Blue.")
    assert steps[-2].kind is StepKind.SLOT and nav.node_id in ("identify", "human_fallback")
    assert "date of birth" in steps[-2].text(Expression.NEUTRAL)
    _, steps = walk(clinic, "Yes.", "Maria Lopez.", "Um, I'm not sure.", "Blue.", "Green.")
    assert steps[-1].kind is StepKind.FALLBACK


def test_opening_hours_before_identification_then_back_to_identify(clinic):
    nav, steps = walk(clinic, "Yes.", "What are your opening hours?", "I'd like to book an appointment.")
    assert steps[2].path == ("hours", "after_information", "information_only")
    assert "Monday to Thursday 8 AM to 6 PM" in steps[2].text(Expression.NEUTRAL)
    assert steps[3].path == ("identify",) and nav.pending_slot.name == "full_name"


def test_refill_collects_free_text_slots(clinic):
    nav, steps = walk(clinic, *identified("I need a refill on my prescription.", "Lisinopril, 10 milligrams.", "The CVS on Main Street."))
    assert steps[-1].path == ("refill_sent", "anything_else")
    assert nav.slots["medication"].value.startswith("Lisinopril")
    assert "CVS on Main Street" in steps[-1].text(Expression.NEUTRAL)
    assert steps[-1].actions[0].event == "refill_requested"


def test_rejecting_an_offer_asks_again_with_the_slot_cleared(clinic):
    nav, steps = walk(clinic, *identified("I want to book an appointment.", "The second one.", "No.", "The first one.", "Yes."))
    assert steps[-3].path == ("booking",) and "appointment" not in steps[-3].filled
    assert steps[-1].path == ("booked", "anything_else")


def test_topics_of_the_upcoming_node_are_known_before_its_words_are_rendered(clinic):
    _, steps = walk(clinic, *identified("I got a letter saying I missed an appointment."))
    step = steps[-1]
    assert Topic.MISSED_APPOINTMENT in step.topics
    bursts = load_burst_table()
    expression = choose_expression(step.topics, CALM, bursts, VoiceStyleConfig()).expression
    assert expression is Expression.SYMPATHETIC
    assert step.text(expression).startswith("Thank you for letting us know")
    assert clinic.topics_ahead("menu") >= {Topic.TEST_RESULTS, Topic.BILLING, Topic.MISSED_APPOINTMENT}


def test_variants_rotate_when_a_line_is_repeated(clinic):
    _, steps = walk(clinic, *identified("Purple elephants.", "Blorp."))
    assert steps[-2].text(Expression.NEUTRAL) != steps[-1].text(Expression.NEUTRAL)


def test_hours_are_spoken_as_a_person_would():
    assert describe_hours({"monday": "08:00-18:00", "tuesday": "08:00-18:00", "saturday": "09:30-12:00",
                           "sunday": "closed"}) == "Monday to Tuesday 8 AM to 6 PM, Saturday 9:30 AM to 12 PM"
    assert describe_hours({}) == "by appointment only"


def test_sentences_ahead_are_the_next_replies_first_sentences_that_carry_the_callers_details(clinic):
    nav, _ = walk(clinic, "Yes, that's fine.")
    assert nav.sentences_ahead(Expression.NEUTRAL) == []  # the name is not known yet
    nav.handle(CallerInput("My name is Maria Lopez."), CALM)
    # Asking the date of birth: the menu (or its distressed variant) starts with the name next.
    assert nav.sentences_ahead(Expression.NEUTRAL) == ["Thank you, Maria Lopez."]
    assert nav.sentences_ahead(Expression.ENTHUSIASTIC) == ["Thank you, Maria Lopez.", "Thanks, Maria Lopez!"]
    nav.handle(CallerInput("March 3rd, 1985."), CALM)
    assert nav.sentences_ahead(Expression.NEUTRAL) == []  # the menu's next lines are fixed (cached)
    nav.handle(CallerInput("I'd like to book an appointment."), CALM)
    # Times on offer: the read-back of each, ready before the caller picks one.
    ahead = nav.sentences_ahead(Expression.NEUTRAL)
    assert len(ahead) == len(nav.offers) == 3 and all(s.startswith("That's ") for s in ahead), ahead
    picked = nav.handle(CallerInput("The first one, please."), CALM)
    assert picked.text(Expression.NEUTRAL).startswith(ahead[0])
    assert nav.sentences_ahead(Expression.NEUTRAL) == [f"You're booked for {nav.slots['appointment'].spoken}."]
    done = nav.handle(CallerInput("Yes."), CALM)
    assert done.text(Expression.NEUTRAL).startswith(f"You're booked for {nav.slots['appointment'].spoken}.")
