"""graph/sensitive.py: what text is about, and what the agent must not say.

The sentences below stand in for what a real OpenAI-compatible LLM might word (no LLM can run
here; tests/agent/services/openai_standin.py is the STAND-IN endpoint the LLM tests use). False
positives matter as much as misses: every flagged sentence is replaced by the scripted line."""

from __future__ import annotations

import pytest

from graph.schema import Topic
from graph.sensitive import DISCLOSURE_RULES, TOPIC_RULES, detect_topics, violation_category, violations

ALL_TOPICS = set(Topic)


def categories(text: str, allowed: set[Topic] | None = None, verified: bool = True,
               caller_raised: set[Topic] | None = None) -> list[str]:
    return [violation_category(v) for v in violations(text, allowed or set(), verified, caller_raised or set())]


# ---- the tables ----------------------------------------------------------------------------


def test_every_topic_has_a_documented_row() -> None:
    assert {rule.topic for rule in TOPIC_RULES} == ALL_TOPICS
    assert all(rule.why and rule.patterns for rule in TOPIC_RULES)
    assert all(rule.message and rule.patterns for rule in DISCLOSURE_RULES)


# ---- detect_topics -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("Your results came back.", Topic.TEST_RESULTS),
        ("The biopsy is being looked at.", Topic.TEST_RESULTS),
        ("Your levels are fine.", Topic.TEST_RESULTS),
        ("The test came back negative.", Topic.TEST_RESULTS),
        ("It sounds like you have the flu.", Topic.DIAGNOSIS),
        ("You were diagnosed last year.", Topic.DIAGNOSIS),
        ("It could be an infection.", Topic.DIAGNOSIS),
        ("I have a question about my bill.", Topic.BILLING),
        ("There's an outstanding balance on the account.", Topic.BILLING),
        ("The insurance claim was rejected.", Topic.BILLING),
        ("I was charged twice.", Topic.BILLING),
        ("My husband passed away last week.", Topic.BEREAVEMENT),
        ("I'm so sorry for your loss.", Topic.BEREAVEMENT),
        ("Please accept our condolences.", Topic.BEREAVEMENT),
        ("I've been feeling really depressed.", Topic.MENTAL_HEALTH),
        ("I've had thoughts of self-harm.", Topic.MENTAL_HEALTH),
        ("My anxiety is bad today.", Topic.MENTAL_HEALTH),
        ("I take 20 mg every morning.", Topic.MEDICATION),
        ("I need a refill of my prescription.", Topic.MEDICATION),
        ("Which pharmacy should it go to?", Topic.MEDICATION),
        ("I missed my appointment yesterday.", Topic.MISSED_APPOINTMENT),
        ("The letter says I was a no-show.", Topic.MISSED_APPOINTMENT),
        ("I have chest pain.", Topic.EMERGENCY),
        ("He can't breathe.", Topic.EMERGENCY),
        ("She can\u2019t breathe.", Topic.EMERGENCY),  # a typographic apostrophe, as LLMs write it
        ("Please hang up and call 911.", Topic.EMERGENCY),
        ("I think it's a stroke.", Topic.EMERGENCY),
        ("He's bleeding heavily.", Topic.EMERGENCY),
    ],
)
def test_detects_the_topic(text: str, topic: Topic) -> None:
    assert topic in detect_topics(text)


@pytest.mark.parametrize(
    "text",
    [
        "I can book you in for Tuesday.",
        "Sorry, I missed that. Could you say it again?",  # "missed" alone is not a missed visit
        "Free parking is behind the building.",
        "The nurse in charge will call you.",  # "in charge" is not a charge
        "Hearing loss is something we can look at.",  # nor is hearing loss a bereavement
        "We're open from eight until six, Monday to Thursday.",
        "Thank you, Maria. How can I help today?",
        "It could be a few days before we hear back.",
        "The test is quick and painless.",
        "",
    ],
)
def test_ordinary_replies_have_no_topic(text: str) -> None:
    assert detect_topics(text) == frozenset()


def test_whole_words_only() -> None:
    assert detect_topics("The billboard outside has our number.") == frozenset()  # not "bill"
    assert detect_topics("Diedre will call you back.") == frozenset()  # not "died"
    assert Topic.BILLING in detect_topics("BILLING questions go to the team.")  # case-insensitive


# ---- violations: ordinary replies are fine ---------------------------------------------------


@pytest.mark.parametrize("verified", [False, True])
@pytest.mark.parametrize(
    "text",
    [
        "I can book you in for Tuesday.",
        "I have a nine thirty or a two fifteen on Tuesday. Which would suit you?",
        "Let me arrange a call-back from a clinician about your results.",
        "A clinician will call you to discuss your results.",
        "A clinician will go over your results with you.",
        "I can't share test results on this line, but a clinician can call you back.",
        "A clinician will call you once your test results are back.",  # a condition, not news
        "If your results are ready, the clinician will explain them.",
        "I can help with a prescription refill.",
        "I can pass your billing question to our billing team.",
        "To help you safely, I first need to confirm who you are.",
        "Do you have asthma?",  # a question, not a diagnosis
        "Are you still taking it?",
        "If this is an emergency, please hang up and call 911.",
        "We're on the ground floor, opposite the library.",
        "Sorry, I missed that. Could you say it again?",
        "I understand, waiting can be really hard.",
        "There's nothing to worry about with the form, I'll fill it in for you.",
    ],
)
def test_ordinary_replies_are_not_violations(text: str, verified: bool) -> None:
    assert violations(text, set(), verified) == []


# ---- violations: always ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Your results came back positive.",
        "Your results show a small change.",
        "Your results are ready.",  # whether results are back is itself a result
        "Your blood work came back normal.",
        "The scan showed nothing unusual.",
        "Your cholesterol levels are a bit high.",
        "You tested negative for strep.",
        "The results have come back.",
        "Your biopsy was clear.",
        "Nothing abnormal was found.",
        "When your results came back positive, we wanted to tell you.",  # news, despite "when"
        "Your results\u2019re all fine.",
    ],
)
def test_results_are_always_a_violation(text: str) -> None:
    # ... whatever the node allows and even after identity verification
    assert categories(text, allowed=ALL_TOPICS, verified=True) == ["test_results"]


@pytest.mark.parametrize(
    "text",
    [
        "It sounds like you have the flu.",
        "You might have an infection.",
        "It could be a heart condition.",
        "That's probably nothing serious.",
        "This is likely a migraine.",
        "You've been diagnosed with diabetes.",
        "Those sound like symptoms of a UTI.",
    ],
)
def test_diagnoses_are_always_a_violation(text: str) -> None:
    assert "diagnosis" in categories(text, allowed=ALL_TOPICS, verified=True)


@pytest.mark.parametrize(
    "text",
    [
        "You should stop taking it.",
        "Try taking some ibuprofen.",
        "You can take two tablets tonight.",
        "Double your dose until you feel better.",
        "It's safe to take them together.",
        "You don't need to see a doctor for that.",
    ],
)
def test_medical_advice_is_always_a_violation(text: str) -> None:
    assert "medical_advice" in categories(text, allowed=ALL_TOPICS, verified=True)


# ---- violations: record detail waits for identity ------------------------------------------


@pytest.mark.parametrize(
    ("text", "category", "topic"),
    [
        ("Your appointment is on Tuesday at 3 pm.", "appointment", None),
        ("You have an appointment with Dr. Patel tomorrow.", "appointment", None),
        ("I can see you down for Friday.", "appointment", None),
        ("Your records show an allergy to penicillin.", "record", None),
        ("Your prescription for lisinopril is ready.", "medication", Topic.MEDICATION),
        ("That's metformin, 500 mg twice a day.", "medication", Topic.MEDICATION),
        ("You owe one hundred and twenty dollars.", "billing", Topic.BILLING),
        ("Your balance is forty dollars.", "billing", Topic.BILLING),
        ("You missed your appointment last Monday.", "missed_appointment", Topic.MISSED_APPOINTMENT),
    ],
)
def test_record_detail_needs_identity(text: str, category: str, topic: Topic | None) -> None:
    allowed = {topic} if topic else set()
    assert categories(text, allowed=allowed, verified=False) == [category]
    assert categories(text, allowed=allowed, verified=True) == []


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("I've sent the request for metformin 500 mg to your care team.", Topic.MEDICATION),
        ("Your balance is forty dollars.", Topic.BILLING),
        ("You missed your appointment last Monday.", Topic.MISSED_APPOINTMENT),
    ],
)
def test_detail_after_verification_only_where_the_node_is_about_it(text: str, topic: Topic) -> None:
    assert categories(text, allowed={topic}, verified=True) == []
    assert categories(text, allowed=set(), verified=True) != []  # e.g. a booking node speaking a dose


def test_appointment_detail_after_verification_needs_no_topic() -> None:
    assert violations("Your appointment is now Tuesday at 3 pm.", set(), True) == []


# ---- violations: unprompted sensitive subjects ---------------------------------------------


def test_condolences_only_where_someone_raised_a_loss() -> None:
    text = "I'm so sorry for your loss."
    assert categories(text) == ["bereavement"]
    assert categories(text, allowed={Topic.BEREAVEMENT}) == []
    assert categories(text, caller_raised={Topic.BEREAVEMENT}) == []


def test_mental_health_only_where_someone_raised_it() -> None:
    text = "It sounds like you've been feeling depressed."
    assert categories(text) == ["mental_health"]
    assert categories(text, allowed={Topic.MENTAL_HEALTH}) == []


def test_caller_raising_a_topic_does_not_unlock_results_or_detail() -> None:
    raised = set(Topic)
    assert categories("Your results came back positive.", caller_raised=raised) == ["test_results"]
    assert categories("Your prescription for lisinopril is ready.", verified=False, caller_raised=raised) == ["medication"]


def test_messages_never_quote_the_text() -> None:
    text = "Your results came back positive for hepatitis."
    for message in violations(text, set(), False):
        assert "hepatitis" not in message and "positive for" not in message


def test_several_sentences_are_checked_one_by_one() -> None:
    text = "Thanks for waiting. Do you have asthma? You probably have asthma."
    assert categories(text) == ["diagnosis"]  # the question is exempt, the statement is not
