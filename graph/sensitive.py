"""Sensitive content in text Bedside is about to say (usually a sentence an LLM worded).

Two questions, answered separately because they have different costs:

* :func:`detect_topics` -- *what is this about?* Broad, for tagging and for knowing what the
  caller raised. "Let me arrange a call-back about your results" is about test results.
* :func:`violations` -- *may the agent say this?* Narrow, because every flagged sentence is
  replaced by the node's scripted line: a false positive costs natural wording, a false
  negative can cost a patient. Mentioning results is fine; revealing them never is.

What is never said, whatever the node (Bedside is not a clinician and has no record access):
test results or their status, a diagnosis, medical advice. What waits for identity
verification (name + date of birth): anything about the caller's record -- appointments,
medication, bills, missed visits. After verification, medication, billing and missed-visit
detail is still only said at nodes marked with that topic (minimum necessary: a booking node
has no reason to speak a dose). Bereavement and mental health are only raised where the node
is marked for them or the caller brought them up (never presume a death or a crisis).

All matching is whole words, case-insensitive, on text with typographic apostrophes folded to
``'``. Questions are exempt from the diagnosis and advice rules ("Do you have asthma?" asks,
it does not diagnose), and a result phrase after "once"/"when"/"if" is a condition, not a
disclosure ("a clinician will call once your results are back")."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import StrEnum

from graph.schema import Topic
from tts.sentences import split_sentences

_CONDITIONS = (
    r"(?:an? |the |some )?(?:"
    r"(?:chest |ear |throat |sinus |urinary tract |kidney |bladder |skin |viral |bacterial )?infection"
    r"|virus|flu|influenza|covid(?:-19)?|(?:a )?cold|cancer|tumou?r|diabetes|asthma|pneumonia|bronchitis"
    r"|sinusitis|migraines?|stroke|heart attack|heart (?:condition|disease|problem)|hypertension"
    r"|(?:high|low) blood pressure|depression|anxiety(?: disorder)?|allerg(?:y|ies)|allergic reaction"
    r"|fracture|broken (?:bone|arm|leg|wrist|ankle|rib)|sprain|concussion|strep(?: throat)?|uti"
    r"|kidney stones?|appendicitis|arthritis|an(?:a)?emia|thyroid (?:problem|condition)|gout|shingles"
    r"|eczema|psoriasis|dementia|alzheimer'?s|ulcer|hernia|gastroenteritis|food poisoning|stomach bug"
    r"|condition|disease|disorder|syndrome|something serious|nothing serious)"
)
"""Conditions an agent might name when it (wrongly) diagnoses. Generic words ("a condition")
are in: "it could be a heart condition" and "you may have a condition" are both diagnoses."""

_RESULT_PREFIX = r"(?:(?:test|lab|blood|scan|biopsy|x-ray|mri|ct|ultrasound|mammogram|screening|smear|urine)\s)?"
_RESULT_NOUN = _RESULT_PREFIX + r"(?:results?|labs?|lab work|bloods|blood work|biopsy|levels?)"
"""Things that *are* a result: "your results are ..." reveals something whatever follows."""
_RESULT_SOURCE = _RESULT_PREFIX + r"(?:tests?|scans?|x-rays?|mri|report|screening)"
"""Things that *produce* a result: "the test is quick" is fine, "the scan showed" is not."""
_REVEAL_VERB = (
    r"(?:show(?:s|ed)?|indicate[sd]?|suggest(?:s|ed)?|(?:have |has )?c(?:a|o)me back|reveal(?:s|ed)?"
    r"|confirm(?:s|ed)?|found|came in|(?:have |has )?arrived|look(?:s|ed)?|were|was)"
)
_STATE_VERB = r"(?: are| is| have been| has been|'re|'s)"  # with its own space: "results're" has none
_RESULT_WORD = r"(?:positive|negative|normal|abnormal|clear|elevated|high|low|fine|okay|ok|good|bad|borderline)"
_POSSESSIVE = r"(?:your|the|his|her|their|these|those|my)"
_CONDITIONAL_BEFORE = re.compile(r"\b(?:when|once|if|as soon as|until|after|before|whether)(?:\s+[\w'-]+){0,3}\s+$", re.I)
"""A result phrase right after one of these (within three words) is a condition, not news."""


@dataclass(frozen=True)
class TopicRule:
    """One row of the detection table: the topic, why it is sensitive, what mentions it."""

    topic: Topic
    why: str
    patterns: tuple[str, ...]


TOPIC_RULES: tuple[TopicRule, ...] = (
    TopicRule(
        Topic.TEST_RESULTS,
        "a result read out on the phone, to the wrong person or without a clinician, can do real harm",
        (
            r"results?",
            r"lab (?:work|report)",
            r"blood (?:work|tests?)",
            r"biopsy",
            r"came back",
            r"abnormal",
            r"levels? (?:is|are|was|were)",
            r"(?:tested|test (?:is|was)|came back|results? (?:is|was|are|were)) (?:\w+ )?(?:positive|negative)",
            r"(?:positive|negative) (?:for|result|test)",
            r"(?:x-ray|mri|ct scan|scan|ultrasound|mammogram) (?:shows?|showed|found)",
        ),
    ),
    TopicRule(
        Topic.DIAGNOSIS,
        "naming what a symptom means is a clinician's job; a wrong guess misleads or frightens",
        (
            r"diagnos\w*",
            r"sounds like (?:you (?:have|'ve got|might have|may have)|it(?:'s| is)|an?) " + _CONDITIONS,
            r"you (?:have|'ve got|might have|may have|probably have|likely have|could have) " + _CONDITIONS,
            r"(?:it|that|this)(?: could| might| may|'s probably|'s likely| is probably| is likely)(?: be)? "
            + _CONDITIONS,
        ),
    ),
    TopicRule(
        Topic.BILLING,
        "money is embarrassing and stressful; balances are part of the record",
        (
            r"bill(?:s|ed|ing)?",
            r"(?<!in )(?<!free of )charge[sd]?",
            r"overcharged",
            r"invoices?",
            r"(?:account |outstanding |remaining |your )balance|balance (?:due|owing|of|outstanding)",
            r"insurance (?:claim|company|covers?|cover(?:ed|age))",
            r"claims?",
            r"payments?",
            r"co-?pays?",
            r"deductible",
            r"refund(?:s|ed)?",
            r"owe[sd]?",
        ),
    ),
    TopicRule(
        Topic.BEREAVEMENT,
        "the caller may be grieving; presuming a death that did not happen is cruel",
        (
            r"passed (?:away|on)",
            r"died",
            r"deaths?",
            r"dead",
            r"(?<!hearing )(?<!weight )(?<!memory )(?<!blood )(?<!hair )(?<!data )loss(?:es)?",
            r"condolences",
            r"bereave\w*",
            r"funeral",
            r"lost (?:my|your|his|her|their|our) (?:husband|wife|partner|mother|father|mum|mom|dad|son"
            r"|daughter|child|baby|brother|sister|friend|grandmother|grandfather)",
        ),
    ),
    TopicRule(
        Topic.MENTAL_HEALTH,
        "the caller may be vulnerable; a clumsy word can push them away from help",
        (
            r"depress(?:ed|ion|ive)",
            r"suicid\w*",
            r"anxiety",
            r"panic attacks?",
            r"self[- ]harm\w*",
            r"(?:hurt|harm)(?:ing)? (?:my|your|him|her|them)sel(?:f|ves)",
            r"kill(?:ing)? (?:my|your|him|her|them)sel(?:f|ves)",
            r"end(?:ing)? (?:my|your|his|her|their) (?:own )?life",
            r"mental health",
        ),
    ),
    TopicRule(
        Topic.MEDICATION,
        "doses and prescriptions are record detail, and advice on them is a clinician's job",
        (
            r"dos(?:e|es|age|ing)",
            r"\d+(?:\.\d+)? ?(?:mg|mcg|ml|milligrams?|micrograms?|millilit(?:er|re)s?)",
            r"prescri(?:ption|bed|be)s?",
            r"refills?(?:ed)?",
            r"pharmac(?:y|ies|ist)",
            r"medications?|medicines?",
            r"tablets?|pills?|capsules?",
            r"inhalers?|insulin",
        ),
    ),
    TopicRule(
        Topic.MISSED_APPOINTMENT,
        "callers feel blamed; a missed visit is also record detail",
        (
            r"missed (?:(?:your|an|the|my|his|her|their|today's|yesterday's|last) )?(?:appointments?|visits?|booking"
            r"|slot|check-?up)",
            r"no[- ]shows?",
            r"did(?:n't| not) (?:attend|come in|show up|make it (?:in|to))",
        ),
    ),
    TopicRule(
        Topic.EMERGENCY,
        "someone may be in danger; the only right answer is 911, fast",
        (
            r"chest pains?",
            r"can(?:'t|not) breathe",
            r"(?:trouble|difficulty) breathing",
            r"not breathing",
            r"911",
            r"strokes?",
            r"heart attack",
            r"bleeding (?:heavily|badly|a lot)|heavy bleeding|won't stop bleeding",
            r"unconscious|unresponsive|collapsed",
            r"overdos(?:e|ed|ing)",
            r"seizures?",
            r"emergenc(?:y|ies)",
        ),
    ),
)
"""The detection table, one row per topic."""


class Gate(StrEnum):
    """When a disclosure rule applies."""

    ALWAYS = "always"  # never said
    IDENTITY = "identity"  # said only once identity is verified
    IDENTITY_AND_TOPIC = "identity_and_topic"  # ... and only at a node marked with the rule's topic
    UNPROMPTED = "unprompted"  # raised only where the node or the caller raised the topic


@dataclass(frozen=True)
class DisclosureRule:
    """One row of the violation table: what the agent must not say, and when."""

    category: str  # the first word of a violation message, e.g. "test_results"
    gate: Gate
    message: str  # what is wrong, without the offending text (messages are logged)
    patterns: tuple[str, ...]
    topic: Topic | None = None  # the topic a node (or caller) must carry, for the topic gates
    questions_exempt: bool = False  # "Do you have asthma?" asks, it does not diagnose
    conditional_exempt: bool = False  # "once your results are back" promises nothing about them


DISCLOSURE_RULES: tuple[DisclosureRule, ...] = (
    DisclosureRule(
        "test_results",
        Gate.ALWAYS,
        "says whether a test result is back or what it shows; results are only given by a clinician",
        (
            _POSSESSIVE + r" " + _RESULT_NOUN + r"(?: " + _REVEAL_VERB + r"|" + _STATE_VERB + r")",
            _POSSESSIVE + r" " + _RESULT_SOURCE + r" " + _REVEAL_VERB,
            r"results? (?:have |has )?(?:came|come) back",
        ),
        topic=Topic.TEST_RESULTS,
        conditional_exempt=True,
    ),
    DisclosureRule(
        "test_results",
        Gate.ALWAYS,
        "reveals what a test result shows; results are only given by a clinician",
        (
            r"came back (?:as )?(?:all )?" + _RESULT_WORD,
            r"tested (?:positive|negative)",
            r"(?:positive|negative) for",
            r"(?:normal|abnormal|elevated|clear|good|bad|borderline) (?:results?|findings?|levels?|scan|test|bloods)",
            r"(?:level|count|reading|a1c|cholesterol|glucose|sugar|psa|blood pressure|iron|thyroid)s? "
            r"(?:is|are|was|were|look|looks|looked) (?:a (?:bit|little) )?(?:" + _RESULT_WORD + r"|\d)",
            r"your biopsy",
            r"nothing (?:abnormal|concerning|unusual|worrying|to worry about) (?:was |has been )?(?:found|showed up"
            r"|came back|in (?:your|the) results?)",
        ),
        topic=Topic.TEST_RESULTS,
    ),
    DisclosureRule(
        "diagnosis",
        Gate.ALWAYS,
        "states or guesses a diagnosis; only a clinician diagnoses",
        (
            r"sounds like (?:you (?:have|'ve got|might have|may have)|it(?:'s| is| could be| might be)|an?) "
            + _CONDITIONS,
            r"you (?:have|'ve got|might have|may have|probably have|likely have|could have) " + _CONDITIONS,
            r"(?:it|that|this)(?: could| might| may|'s probably|'s likely| is probably| is likely|'s just| is just"
            r"|'s| is)(?: be)? " + _CONDITIONS,
            r"you(?:'ve| have)? been diagnosed",
            r"diagnos(?:ed|e|ing) (?:you |it |this )?(?:with|as)",
            r"(?:probably|likely|most likely|sounds like|I'm sure it's|I am sure it is) nothing (?:serious|to worry about)",
            r"symptoms? of " + _CONDITIONS,
        ),
        topic=Topic.DIAGNOSIS,
        questions_exempt=True,
    ),
    DisclosureRule(
        "medical_advice",
        Gate.ALWAYS,
        "gives medical advice; Bedside only takes requests and arranges clinicians",
        (
            r"(?:stop|start|keep|continue|try|avoid) taking",
            r"(?:increase|decrease|double|halve|skip|lower|raise|reduce|change) (?:your|the) "
            r"(?:dose|dosage|medications?|medicines?|tablets|pills|insulin)",
            r"take (?:\d+|one|two|three|four|half|another|extra|some more) (?:more )?"
            r"(?:tablets?|pills?|capsules?|doses?|puffs?|mg|milligrams?)",
            r"(?:should|need to|ought to|can|could|might want to) (?:take|use|try) (?:some |an? )?"
            r"(?:ibuprofen|paracetamol|acetaminophen|tylenol|advil|aspirin|antibiotics?|painkillers?|pain relief"
            r"|antihistamines?)",
            r"(?:it's|it is|that's|that is) (?:safe|fine|okay|ok) to (?:take|stop|mix|combine|skip)",
            r"(?:don't|do not|no) need to (?:see|call) (?:a|the|your) (?:doctor|clinician|nurse|gp)",
        ),
        questions_exempt=True,
    ),
    DisclosureRule(
        "appointment",
        Gate.IDENTITY,
        "states the caller's appointment details before identity is verified",
        (
            r"your (?:next |upcoming |last |previous |current |existing )?(?:appointment|visit|booking)s? "
            r"(?:is|was|are|were|'s|on|at|with|has been)",
            r"you(?: have|'ve got| had) an? (?:appointment|visit|booking) (?:on|at|with|for|booked|scheduled"
            r"|tomorrow|today|next|this)",
            r"(?:we|I) (?:have|'ve got|see|can see) you (?:down|booked|scheduled|in the diary)",
        ),
    ),
    DisclosureRule(
        "record",
        Gate.IDENTITY,
        "refers to the caller's record before identity is verified",
        (
            r"(?:your|the) (?:records?|file|chart|notes|account|history) (?:shows?|says|indicates?|lists?|has)",
            r"according to (?:your|our|the) (?:records?|file|chart|notes|system)",
            r"I can see (?:on|in) (?:your|the|our) (?:records?|file|chart|system|notes)",
        ),
    ),
    DisclosureRule(
        "medication",
        Gate.IDENTITY_AND_TOPIC,
        "states the caller's medication detail (a dose, a prescription) before identity is verified or "
        "at a node not about medication",
        (
            r"your (?:prescriptions?|medications?|medicines?|doses?|dosage|refills?|repeat prescriptions?|inhalers?"
            r"|insulin) (?:for|of|is|was|are|were|'s|has|have|will|at)",
            r"\d+(?:\.\d+)? ?(?:mg|mcg|milligrams?|micrograms?|units)",
            r"you(?:'re| are) (?:currently )?(?:on|taking) (?:\w+ )?\d",
        ),
        topic=Topic.MEDICATION,
    ),
    DisclosureRule(
        "billing",
        Gate.IDENTITY_AND_TOPIC,
        "states the caller's billing detail before identity is verified or at a node not about billing",
        (
            r"you (?:still )?owe",
            r"your (?:outstanding |remaining |current |account |unpaid )?(?:bill|balance|invoice|statement|co-?pay"
            r"|deductible|claim)s? (?:is|was|are|were|'s|of|shows?|comes? to|came to|totals?|has|have|will|went)",
            r"(?:outstanding|overdue|unpaid) (?:balance|bill|invoice|amount)s? (?:of|on your)",
            r"(?:balance|amount) (?:due|owing|outstanding) (?:is|of)",
        ),
        topic=Topic.BILLING,
    ),
    DisclosureRule(
        "missed_appointment",
        Gate.IDENTITY_AND_TOPIC,
        "says the caller missed a visit before identity is verified or at a node not about it",
        (
            r"you (?:missed|didn't attend|did not attend|didn't come to|didn't make it to) (?:your|an|the|a)",
            r"(?:marked|recorded|listed) (?:you )?as (?:an? )?no[- ]show",
            r"you were (?:an? )?no[- ]show",
        ),
        topic=Topic.MISSED_APPOINTMENT,
    ),
    DisclosureRule(
        "bereavement",
        Gate.UNPROMPTED,
        "raises a death or a loss that neither the node nor the caller raised",
        tuple(next(r.patterns for r in TOPIC_RULES if r.topic is Topic.BEREAVEMENT)),
        topic=Topic.BEREAVEMENT,
    ),
    DisclosureRule(
        "mental_health",
        Gate.UNPROMPTED,
        "raises mental health that neither the node nor the caller raised",
        tuple(next(r.patterns for r in TOPIC_RULES if r.topic is Topic.MENTAL_HEALTH)),
        topic=Topic.MENTAL_HEALTH,
    ),
)
"""The violation table. Order is the order of the messages :func:`violations` returns."""


def _compile(patterns: Iterable[str]) -> re.Pattern[str]:
    """One case-insensitive alternation, whole words at both ends (a pattern may end in a digit)."""
    return re.compile(r"(?<!\w)(?:" + "|".join(f"(?:{p})" for p in patterns) + r")(?!\w)", re.IGNORECASE)


_TOPIC_PATTERNS: tuple[tuple[Topic, re.Pattern[str]], ...] = tuple((r.topic, _compile(r.patterns)) for r in TOPIC_RULES)
_DISCLOSURE_PATTERNS: tuple[tuple[DisclosureRule, re.Pattern[str]], ...] = tuple(
    (r, _compile(r.patterns)) for r in DISCLOSURE_RULES
)


def normalize(text: str) -> str:
    """Fold typographic apostrophes and collapse whitespace, so one pattern fits all spellings."""
    return " ".join(text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'").split())


def detect_topics(text: str) -> frozenset[Topic]:
    """Every sensitive topic ``text`` mentions (reveals or not)."""
    text = normalize(text)
    return frozenset(topic for topic, pattern in _TOPIC_PATTERNS if pattern.search(text))


def _matches(rule: DisclosureRule, pattern: re.Pattern[str], sentence: str) -> bool:
    if rule.questions_exempt and sentence.rstrip().endswith("?"):
        return False
    for match in pattern.finditer(sentence):
        if rule.conditional_exempt and _CONDITIONAL_BEFORE.search(sentence, 0, match.start()):
            continue
        return True
    return False


def _gated(rule: DisclosureRule, allowed: Collection[Topic], identity_verified: bool,
           caller_raised: Collection[Topic]) -> bool:
    """Does the rule apply in this situation (True: a match is a violation)?"""
    if rule.gate is Gate.ALWAYS:
        return True
    if rule.gate is Gate.IDENTITY:
        return not identity_verified
    if rule.gate is Gate.IDENTITY_AND_TOPIC:
        return not identity_verified or rule.topic not in allowed
    return rule.topic not in allowed and rule.topic not in caller_raised  # UNPROMPTED


def violations(
    text: str,
    allowed: Collection[Topic],
    identity_verified: bool,
    caller_raised: Collection[Topic] = (),
) -> list[str]:
    """What in ``text`` the agent must not say, as ``"<category>: <why>"`` messages ([] = fine).

    ``allowed`` are the node's topics; ``caller_raised`` the topics the caller brought up (they
    let the agent acknowledge a loss the caller mentioned, nothing more). Messages never quote
    the text, so they can be logged."""
    sentences = split_sentences(normalize(text)) or [normalize(text)]
    found: dict[str, str] = {}  # category -> message: one message per category
    for rule, pattern in _DISCLOSURE_PATTERNS:
        if rule.category in found or not _gated(rule, allowed, identity_verified, caller_raised):
            continue
        if any(_matches(rule, pattern, sentence) for sentence in sentences):
            found[rule.category] = f"{rule.category}: {rule.message}"
    return list(found.values())


def violation_category(message: str) -> str:
    """``"test_results"`` from ``"test_results: reveals ..."``."""
    return message.split(":", 1)[0]


__all__ = [
    "DISCLOSURE_RULES",
    "TOPIC_RULES",
    "DisclosureRule",
    "Gate",
    "TopicRule",
    "detect_topics",
    "normalize",
    "violation_category",
    "violations",
]
