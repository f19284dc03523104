"""Speech to text on the node's model host: a SIP worker's ``SttWorker`` (agent/services/model_host.py).

The call runtime sees the same face as the local worker: ``transcribe`` returns a ``Transcript``
or raises ``SttOverloaded``/``SttError`` (a transcript that fails never ends a call), and
``idle``/``queue_depth`` describe the node's one decoder, as the host last reported them."""

from __future__ import annotations

from agent.services.model_client import HostError, ModelHostClient
from agent.services.model_wire import Op
from agent.services.stt import SttError, SttOverloaded, SttStopped, Transcript


class RemoteStt:
    def __init__(self, client: ModelHostClient) -> None:
        self._client = client
        self._pending = 0  # this process's requests not answered yet (the host's status may lag by a tick)

    @property
    def idle(self) -> bool:
        return self._pending == 0 and self._client.status.stt_idle

    @property
    def queue_depth(self) -> int:
        return self._client.status.stt_queue

    async def start(self) -> None:
        await self._client.connect()

    async def stop(self) -> None:
        """The client is the server's to close (the synthesizer shares it)."""

    async def transcribe(self, pcm: bytes, call_id: str) -> Transcript:
        self._pending += 1
        try:
            frame = await self._client.request(Op.TRANSCRIBE, {"call_id": call_id}, pcm)
        except HostError as exc:
            error = {"overloaded": SttOverloaded, "stopped": SttStopped}.get(exc.kind, SttError)
            raise error(f"model host: {exc}") from None
        finally:
            self._pending -= 1
        return Transcript(**frame.fields)


__all__ = ["RemoteStt"]
