"""What a reply's first audio waits for, and sentences prepared ahead (agent/call/speaker.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from agent.call.responder import AgentReply
from agent.call.speaker import ReplySource, Speaker
from telephony.frames import PlaybackMark
from tts.expression import Expression
from tts.synthesizer import VoiceParams

SYMPATHETIC = VoiceParams(length_scale=1.2)


class Phrases:
    """The phrase cache: only the neutral voice's "Hello." is cached."""

    def get(self, text: str, params: VoiceParams | None = None) -> bytes | None:
        return b"\x01\x00" * 320 if text == "Hello." and params == VoiceParams() else None


class Streamer:
    """Synthesizes instantly (a sentence's bytes are its text), recording what it was asked; busy
    while ``busy_for`` says so."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.busy_for = 0

    @property
    def busy(self) -> bool:
        if self.busy_for:
            self.busy_for -= 1
            return True
        return False

    def params_for(self, expression: Expression | None) -> VoiceParams:
        return VoiceParams() if expression in (None, Expression.NEUTRAL) else SYMPATHETIC

    def pause(self, params: VoiceParams | None = None) -> bytes:
        return b""

    async def stream(self, text: str, params: VoiceParams | None = None) -> AsyncIterator[bytes]:
        self.asked.append(text)
        yield text.encode()


class Session:
    """Plays at once: every mark is reached the moment it is asked for."""

    def __init__(self) -> None:
        self.call_id = "in-1"
        self.played: list[bytes] = []
        self.ended = asyncio.Event()

    def _reached(self) -> asyncio.Future[PlaybackMark]:
        future = asyncio.get_running_loop().create_future()
        future.set_result(PlaybackMark(True, 0.0))
        return future

    def play(self, pcm: bytes) -> asyncio.Future[PlaybackMark]:
        self.played.append(pcm)
        return self._reached()

    def mark(self, label: str) -> asyncio.Future[PlaybackMark]:
        return self._reached()

    def stop_playback(self) -> int:
        return 0


async def streamed() -> AsyncIterator[str]:
    yield "Hello."


def test_the_first_sentence_decides_the_source() -> None:
    speaker = Speaker(session=None, phrases=Phrases(), streamer=Streamer())  # type: ignore[arg-type]
    assert speaker.source_of(AgentReply("Hello. Thanks, Maria.")) is ReplySource.CACHED
    assert speaker.source_of(AgentReply("Thanks, Maria. Hello.")) is ReplySource.SYNTHESIZED
    # Cached in the neutral voice only: the sympathetic reading of it is synthesized now.
    assert speaker.source_of(AgentReply("Hello.", expression=Expression.SYMPATHETIC)) is ReplySource.SYNTHESIZED
    assert speaker.source_of(AgentReply("Hello.", scripted=False)) is ReplySource.SYNTHESIZED  # an echo
    assert speaker.source_of(AgentReply("Hello.", sentences=streamed())) is ReplySource.WORDED


async def test_a_streamed_sentence_that_is_cached_plays_from_the_cache() -> None:
    """The LLM writer's fallback is the graph's scripted line: its cached sentences are not redone."""
    session, streamer = Session(), Streamer()
    speaker = Speaker(session, Phrases(), streamer)  # type: ignore[arg-type]

    async def fallback() -> AsyncIterator[str]:
        yield "Hello."
        yield "Thanks, Maria."

    await speaker.say(AgentReply("Hello. Thanks, Maria.", sentences=fallback()), "turn-1")
    assert session.played[-2:] == [b"\x01\x00" * 320, b"Thanks, Maria."]
    assert streamer.asked == ["Thanks, Maria."]


async def test_sentences_ahead_are_prepared_after_a_reply_and_start_the_next_one() -> None:
    session, streamer = Session(), Streamer()
    speaker = Speaker(session, Phrases(), streamer)  # type: ignore[arg-type]
    streamer.busy_for = 3  # the worker is busy (another call's reply): preparing waits its turn
    await speaker.say(AgentReply("Hello.", ahead=("You're booked, Maria.", "Hello.")), "turn-1")
    assert speaker._preparing is not None
    await speaker._preparing
    assert streamer.asked == ["You're booked, Maria."] and streamer.busy_for == 0  # the cached one is not redone
    booked = AgentReply("You're booked, Maria. See you then.")
    assert speaker.source_of(booked) is ReplySource.PREPARED
    assert speaker.source_of(AgentReply("You're booked, Maria.", expression=Expression.SYMPATHETIC)) is ReplySource.SYNTHESIZED
    await speaker.say(booked, "turn-2")
    assert session.played[-2:] == [b"You're booked, Maria.", b"See you then."]  # the first one as prepared
    assert streamer.asked == ["You're booked, Maria.", "See you then."]
    assert speaker.source_of(booked) is ReplySource.SYNTHESIZED  # that reply prepared nothing: gone


async def test_ending_the_call_stops_preparing_and_forgets_what_was_prepared() -> None:
    streamer = Streamer()
    speaker = Speaker(Session(), Phrases(), streamer)  # type: ignore[arg-type]
    streamer.busy_for = 10_000
    speaker.prepare(("Thanks, Maria.",), None)
    await asyncio.sleep(0.05)
    speaker.stop_preparing()
    await asyncio.sleep(0.05)
    assert streamer.asked == [] and speaker.source_of(AgentReply("Thanks, Maria.")) is ReplySource.SYNTHESIZED


async def test_with_prepare_ahead_off_nothing_is_prepared() -> None:
    streamer = Streamer()
    speaker = Speaker(Session(), Phrases(), streamer, prepare_ahead=False)  # type: ignore[arg-type]
    await speaker.say(AgentReply("Hello.", ahead=("You're booked, Maria.",)), "turn-1")
    assert speaker._preparing is None and streamer.asked == []


class Failing(Streamer):
    """Piper could not say the first sentence (no audio), and the second one raises."""

    async def stream(self, text: str, params: VoiceParams | None = None) -> AsyncIterator[bytes]:
        self.asked.append(text)
        if text.startswith("Boom"):
            raise RuntimeError("onnxruntime fell over")
        yield b""


async def test_a_sentence_that_fails_to_prepare_is_left_to_the_reply() -> None:
    streamer = Failing()
    speaker = Speaker(Session(), Phrases(), streamer)  # type: ignore[arg-type]
    speaker.prepare(("Thanks, Maria.", "Boom, Maria.", "After, Maria."), None)
    assert speaker._preparing is not None
    await speaker._preparing
    assert streamer.asked == ["Thanks, Maria.", "Boom, Maria."]
    assert speaker.source_of(AgentReply("Thanks, Maria.")) is ReplySource.SYNTHESIZED


async def test_preparing_waits_while_a_caller_on_any_call_awaits_a_reply() -> None:
    streamer, waiting = Streamer(), [True]
    speaker = Speaker(Session(), Phrases(), streamer, others_waiting=lambda: waiting[0])  # type: ignore[arg-type]
    speaker.prepare(("Thanks, Maria.",), None)
    await asyncio.sleep(0.1)
    assert streamer.asked == []
    waiting[0] = False
    assert speaker._preparing is not None
    await speaker._preparing
    assert streamer.asked == ["Thanks, Maria."]


class Slow(Streamer):
    """Takes ``seconds`` per sentence, like piper on a loaded core."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.finished: list[str] = []

    async def stream(self, text: str, params: VoiceParams | None = None) -> AsyncIterator[bytes]:
        self.asked.append(text)
        await asyncio.sleep(self.seconds)
        self.finished.append(text)
        yield text.encode()


async def test_a_speculated_first_sentence_starts_at_once_and_the_reply_plays_it() -> None:
    session, streamer = Session(), Slow(0.05)
    speaker = Speaker(session, Phrases(), streamer)  # type: ignore[arg-type]
    reply = AgentReply("Thank you, Maria Lopez. Hello.")
    speaker.prepare_head(reply)
    assert speaker.source_of(reply) is ReplySource.SPECULATED
    await asyncio.sleep(0.01)
    assert streamer.asked == ["Thank you, Maria Lopez."]  # under way before the turn ended
    await speaker.say(reply, "turn-2")
    assert session.played == [b"Thank you, Maria Lopez.", b"\x01\x00" * 320]
    assert streamer.asked == ["Thank you, Maria Lopez."]  # synthesized once


async def test_a_second_speculation_with_the_same_first_sentence_keeps_its_synthesis() -> None:
    session, streamer = Session(), Slow(0.05)
    speaker = Speaker(session, Phrases(), streamer)  # type: ignore[arg-type]
    speaker.prepare_head(AgentReply("Thank you, Maria Lopez."))
    await asyncio.sleep(0.01)
    speaker.prepare_head(AgentReply("Thank you, Maria Lopez. Hello."))  # the next pause, the same start
    await speaker.say(AgentReply("Thank you, Maria Lopez. Hello."), "turn-2")
    assert streamer.asked == ["Thank you, Maria Lopez."] and streamer.finished == ["Thank you, Maria Lopez."]


async def test_a_speculated_sentence_the_reply_does_not_start_with_is_cancelled() -> None:
    session, streamer = Session(), Slow(0.05)
    speaker = Speaker(session, Phrases(), streamer)  # type: ignore[arg-type]
    speaker.prepare_head(AgentReply("Thank you, Maria."))
    await asyncio.sleep(0.01)
    await speaker.say(AgentReply("Thank you, Maria Lopez."), "turn-2")  # the caller said more
    await asyncio.sleep(0.08)
    assert session.played == [b"Thank you, Maria Lopez."] and streamer.finished == ["Thank you, Maria Lopez."]


async def test_nothing_is_speculated_for_cached_worded_or_echoed_replies_and_a_call_end_drops_it() -> None:
    streamer = Slow(0.05)
    speaker = Speaker(Session(), Phrases(), streamer)  # type: ignore[arg-type]
    for reply in (AgentReply("Hello."), AgentReply("Hi, Maria.", sentences=streamed()), AgentReply("Maria.", scripted=False)):
        speaker.prepare_head(reply)
    await asyncio.sleep(0.01)
    assert streamer.asked == []
    speaker.prepare_head(AgentReply("Thanks, Maria."))
    speaker.stop_preparing()
    await asyncio.sleep(0.08)
    assert streamer.finished == [] and speaker.source_of(AgentReply("Thanks, Maria.")) is ReplySource.SYNTHESIZED
