"""Text to speech on the node's model host: a SIP worker's piper voice (agent/services/model_host.py).

The speaker (agent/call/speaker.py) sees ``PiperSynthesizer``'s streaming face: the rendering
settings of each expression (computed here from the same config, without loading the voice),
the sentence pause, ``stream`` one chunk per sentence, and ``busy`` for the node's one voice.
A host that fails mid-reply ends that reply's audio early, as a sentence piper cannot say is
skipped: the call goes on."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import asdict

import structlog

from agent.services.model_client import HostError, ModelHostClient
from agent.services.model_wire import Op
from tts.config import TtsConfig
from tts.expression import Expression, ExpressionBook, bundled_expressions
from tts.synthesizer import VoiceParams, expression_params, silence

log = structlog.get_logger(component="tts")


class RemoteSynthesizer:
    def __init__(self, client: ModelHostClient, config: TtsConfig, expressions: ExpressionBook | None = None) -> None:
        self._client = client
        self.config = config
        self._params = expression_params(config, expressions or bundled_expressions())
        self.params = self._params[Expression.NEUTRAL]
        self._streams = 0  # this process's replies being synthesized

    def params_for(self, expression: Expression | None) -> VoiceParams:
        return self._params[expression] if expression is not None else self.params

    def pause(self, params: VoiceParams | None = None) -> bytes:
        return silence((params or self.params).sentence_pause_ms)

    @property
    def busy(self) -> bool:
        return self._streams > 0 or self._client.status.tts_busy

    async def stream(self, text: str, params: VoiceParams | None = None) -> AsyncIterator[bytes]:
        self._streams += 1
        try:
            request = self._client.stream(Op.SYNTHESIZE, {"text": text, "params": asdict(params or self.params)})
            async with contextlib.aclosing(request) as frames:  # closed early (barge-in): cancelled at the host now
                async for frame in frames:
                    if frame.payload:
                        yield frame.payload
        except HostError as exc:
            log.error("tts_remote_failed", kind=exc.kind, chars=len(text))  # never the text
        finally:
            self._streams -= 1


__all__ = ["RemoteSynthesizer"]
