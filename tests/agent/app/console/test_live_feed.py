"""The softphone page's live feed: one small JSON message per journal entry (no slot values, words
only with console.captions), while every entry still reaches the records writer's journal, words
only when that journal keeps transcripts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from agent.app.console.live_feed import LiveFeed, live_message
from agent.services.records.entries import (
    ActionLogged,
    CallClosed,
    CallOpened,
    Entry,
    NullJournal,
    ReplyLogged,
    SegmentScored,
    StateChanged,
    TranscriptLogged,
    TurnTimed,
    UtteranceScored,
    WebhookOrder,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET = "Maria Lopez, born 1961-04-02"  # what a slot or a transcript may hold: PHI

STATE = StateChanged("wr-1", 1, 12.3456, -0.123456, 0.654321, "falling", 0.87654, True, "sigh")
SEGMENT = SegmentScored("wr-1", 2, 4.004, 6.006, 0.11111, -0.22222, "laugh", 0.98765, {"pitch": 1.0}, (0.1, 0.2))
REPLY = ReplyLogged("wr-1", 3, 7.5, "reply", 2, "billing", "calm", "caller_distressed")
TURN = TurnTimed("wr-1", 2, 1.23456, {"vad_ms": 300, "transcript_ms": 180, "reply_ready_ms": None, "first_audio_ms": 790})
ACTION = ActionLogged(
    "wr-1", 4, NOW, "callback", node="results", target="front_desk", priority="high", reason=f"caller said {SECRET}",
    slots={"name": SECRET, "phone": "+15551234567"}, work_item="callback",
    webhook=WebhookOrder("https://hooks.example/cb", 5.0, {"name": SECRET}),
)
WORDS = TranscriptLogged("wr-1", 5, 9.87654, SECRET)
CLOSED = CallClosed("wr-1", NOW, "caller_hangup", 3, 1, 0, True, False, -0.4, 0.6, "falling")
OPENED = CallOpened("wr-1", NOW, "host", 0, "v1", "webrtc:lee")
UTTERANCE = UtteranceScored("wr-1", 6, 3.0, 0.1, 0.2, (("calm", 0.9),))


class Recording:
    """A records writer's journal that keeps what it is given."""

    def __init__(self, keeps_transcripts: bool, delivers_webhooks: bool = False) -> None:
        self.keeps_transcripts = keeps_transcripts
        self.delivers_webhooks = delivers_webhooks
        self.entries: list[Entry] = []

    def write(self, entry: Entry) -> None:
        self.entries.append(entry)


def feed(keeps_transcripts: bool, captions: bool, delivers_webhooks: bool = False) -> tuple[LiveFeed, Recording, list[dict[str, Any]]]:
    inner = Recording(keeps_transcripts, delivers_webhooks)
    sent: list[dict[str, Any]] = []
    return LiveFeed(inner, sent.append, captions), inner, sent


def test_a_state_change_becomes_a_rounded_state_message() -> None:
    assert live_message(STATE, captions=False) == {
        "type": "state", "at_s": 12.35, "valence": -0.123, "arousal": 0.654, "trend": "falling", "coherence": 0.877,
        "available": True, "burst": "sigh",
    }


def test_a_scored_segment_becomes_a_segment_message_without_prosody_or_embedding() -> None:
    assert live_message(SEGMENT, captions=False) == {
        "type": "segment", "begin_s": 4.0, "end_s": 6.01, "valence": 0.111, "arousal": -0.222, "burst": "laugh",
        "burst_score": 0.988,
    }


def test_a_reply_carries_its_node_expression_and_why() -> None:
    assert live_message(REPLY, captions=False) == {
        "type": "reply", "at_s": 7.5, "label": "reply", "turn": 2, "node": "billing", "expression": "calm",
        "why": "caller_distressed",
    }


def test_a_turn_carries_its_speech_length_and_a_copy_of_its_timings() -> None:
    message = live_message(TURN, captions=False)
    assert message == {
        "type": "turn", "turn": 2, "speech_s": 1.23,
        "timings_ms": {"vad_ms": 300, "transcript_ms": 180, "reply_ready_ms": None, "first_audio_ms": 790},
    }
    assert type(message["timings_ms"]) is dict  # JSON-serialisable even when the entry holds a read-only mapping


def test_an_action_says_what_was_decided_and_never_a_slot_value_or_reason() -> None:
    message = live_message(ACTION, captions=True)
    assert message == {"type": "action", "kind": "callback", "node": "results", "target": "front_desk", "priority": "high"}
    text = json.dumps(message)
    for phi in (SECRET, "Maria", "+15551234567", "hooks.example"):
        assert phi not in text


def test_the_callers_words_reach_the_page_only_with_captions_on() -> None:
    assert live_message(WORDS, captions=True) == {"type": "caption", "at_s": 9.88, "text": SECRET}
    assert live_message(WORDS, captions=False) is None


def test_the_end_of_the_call_says_why_how_many_turns_and_whether_urgent() -> None:
    assert live_message(CLOSED, captions=False) == {"type": "ended", "reason": "caller_hangup", "turns": 3, "urgent": True}


@pytest.mark.parametrize("entry", [OPENED, UTTERANCE], ids=["call_opened", "utterance_scored"])
def test_entries_the_page_does_not_show_give_no_message(entry: Entry) -> None:
    assert live_message(entry, captions=True) is None


def test_every_message_is_plain_json() -> None:
    for entry in (STATE, SEGMENT, REPLY, TURN, ACTION, WORDS, CLOSED):
        message = live_message(entry, captions=True)
        assert message is not None and json.loads(json.dumps(message)) == message


def test_the_feed_passes_every_entry_to_the_records_journal_and_sends_messages_in_order() -> None:
    live, inner, sent = feed(keeps_transcripts=True, captions=True)
    entries: list[Entry] = [OPENED, STATE, SEGMENT, UTTERANCE, REPLY, WORDS, TURN, ACTION, CLOSED]
    for entry in entries:
        live.write(entry)
    assert inner.entries == entries  # unchanged, in order, the page's silence included
    assert [m["type"] for m in sent] == ["state", "segment", "reply", "caption", "turn", "action", "ended"]
    assert sent[3]["text"] == SECRET


def test_words_do_not_reach_a_records_journal_that_does_not_keep_transcripts() -> None:
    live, inner, sent = feed(keeps_transcripts=False, captions=True)
    for entry in (STATE, WORDS, CLOSED):
        live.write(entry)
    assert inner.entries == [STATE, CLOSED]
    assert [m["type"] for m in sent] == ["state", "caption", "ended"]  # the page still gets its captions


def test_words_reach_a_journal_that_keeps_transcripts_even_with_captions_off() -> None:
    live, inner, sent = feed(keeps_transcripts=True, captions=False)
    live.write(WORDS)
    assert inner.entries == [WORDS] and sent == []


def test_with_neither_captions_nor_kept_transcripts_words_go_nowhere() -> None:
    live, inner, sent = feed(keeps_transcripts=False, captions=False)
    live.write(WORDS)
    assert inner.entries == [] and sent == []


@pytest.mark.parametrize(("keeps", "captions", "expected"), [
    (False, False, False), (False, True, True), (True, False, True), (True, True, True),
])
def test_the_call_sends_words_when_either_the_records_or_the_page_wants_them(keeps: bool, captions: bool, expected: bool) -> None:
    live, _, _ = feed(keeps_transcripts=keeps, captions=captions)
    assert live.keeps_transcripts is expected


@pytest.mark.parametrize("delivers", [False, True])
def test_webhook_delivery_is_the_records_journals_own(delivers: bool) -> None:
    live, _, _ = feed(keeps_transcripts=False, captions=True, delivers_webhooks=delivers)
    assert live.delivers_webhooks is delivers


def test_records_off_still_feeds_the_page() -> None:
    sent: list[dict[str, Any]] = []
    live = LiveFeed(NullJournal(), sent.append, captions=False)
    assert (live.keeps_transcripts, live.delivers_webhooks) == (False, False)
    for entry in (STATE, WORDS, CLOSED):
        live.write(entry)
    assert [m["type"] for m in sent] == ["state", "ended"]
