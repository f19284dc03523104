"""What a reply's first audio waits for (agent/call/speaker.py's Speaker.source_of)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from agent.call.responder import AgentReply
from agent.call.speaker import ReplySource, Speaker
from tts.expression import Expression
from tts.synthesizer import VoiceParams


class Phrases:
    """The phrase cache: only the neutral voice's "Hello." is cached."""

    def get(self, text: str, params: VoiceParams | None = None) -> bytes | None:
        return b"\x00\x00" * 320 if text == "Hello." and params == VoiceParams() else None


class Streamer:
    def params_for(self, expression: Expression | None) -> VoiceParams:
        return VoiceParams() if expression in (None, Expression.NEUTRAL) else VoiceParams(length_scale=1.2)

    def pause(self, params: VoiceParams | None = None) -> bytes:
        return b""

    async def stream(self, text: str, params: VoiceParams | None = None) -> AsyncIterator[bytes]:
        yield b""


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
