"""The node's HTTP port: ``/health`` and ``/metrics``, and the QA console when it is enabled.

One socket and one uvicorn server on ``console.host:console.port`` in the front process of
``bedside serve``, up from the start of start-up (``/health`` says ``starting`` while the models
load) to the end of draining. ``/health`` is for orchestrators and the SIP dispatcher in front of
the node: 200 ``ready`` while it takes calls, 503 ``starting`` before, 503 ``draining`` once
SIGTERM stopped new calls. ``/metrics`` is the Prometheus text format. Neither needs a sign-in
and neither carries PHI (counts, states and timings only). The console's app, mounted when it is
ready, answers every other path; without it they are 404.

The socket is bound before uvicorn sees it, so a taken port is an ``OSError`` the server logs and
calls go on without the port (uvicorn would exit the process), and uvicorn's signal handling is
off (the server's own drains the calls)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the web stack is imported where the port opens (the front), never by a SIP worker
    from starlette.applications import Starlette
    from starlette.types import ASGIApp, Receive, Scope, Send


class NodeState(StrEnum):
    STARTING = "starting"
    READY = "ready"
    DRAINING = "draining"


@dataclass(frozen=True, slots=True)
class Health:
    """What ``/health`` answers: no PHI, counts only."""

    status: NodeState
    active_calls: int
    capacity: int
    worker_processes: int  # SIP workers alive (besides the front)

    @property
    def http_status(self) -> int:
        return 200 if self.status is NodeState.READY else 503

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "status": str(self.status)}


class _Console:
    """Forwards to the console app once one is attached; 404 before (or without) it."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is None:
            from starlette.responses import PlainTextResponse

            if scope["type"] == "http":
                await PlainTextResponse("not found\n", status_code=404)(scope, receive, send)
            return  # a websocket without the console: closed unanswered
        await self.app(scope, receive, send)


def create_node_app(health: Callable[[], Health], metrics: Callable[[], Awaitable[tuple[bytes, str]]]) -> tuple[Starlette, _Console]:
    """The app and the slot the console's app goes in."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Mount, Route

    console = _Console()

    async def health_route(request: Request) -> Response:
        reading = health()
        return JSONResponse(reading.as_dict(), status_code=reading.http_status, headers={"Cache-Control": "no-store"})

    async def metrics_route(request: Request) -> Response:
        body, content_type = await metrics()
        return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})

    app = Starlette(routes=[
        Route("/health", health_route, methods=["GET", "HEAD"]),
        Route("/metrics", metrics_route, methods=["GET", "HEAD"]),
        Mount("/", app=console),
    ])
    return app, console


class NodeHttp:
    def __init__(self, host: str, port: int, health: Callable[[], Health],
                 metrics: Callable[[], Awaitable[tuple[bytes, str]]], certfile: str | None = None,
                 keyfile: str | None = None) -> None:
        import uvicorn

        from agent.app.console.app import listening_socket

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self):  # the host process handles SIGTERM/SIGINT and stops us
                yield

        self.app, self._console = create_node_app(health, metrics)
        self.socket = listening_socket(host, port)  # OSError: port taken, address refused
        self.server = Server(uvicorn.Config(self.app, ssl_certfile=certfile, ssl_keyfile=keyfile, log_level="warning",
                                            access_log=False, server_header=False, lifespan="off"))
        self.url = f"{'https' if certfile else 'http'}://{host}:{self.socket.getsockname()[1]}/"
        self._task: asyncio.Task[None] | None = None

    def attach_console(self, app: ASGIApp) -> None:
        self._console.app = app

    async def start(self, timeout_s: float = 10.0) -> None:
        """Serve; a server that does not come up is stopped (its task and socket gone) and the error raised."""
        self._task = asyncio.create_task(self.server.serve(sockets=[self.socket]), name="node-http")
        deadline = asyncio.get_running_loop().time() + timeout_s
        try:
            while not self.server.started:
                if self._task.done():
                    self._task.result()
                    raise RuntimeError("the node's HTTP server stopped while starting")
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError("the node's HTTP server did not start")
                await asyncio.sleep(0.05)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        self.socket.close()


__all__ = ["Health", "NodeHttp", "NodeState", "create_node_app"]
