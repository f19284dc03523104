"""``bedside serve``: wires the SIP gateway to one ``CallAgent`` per call.

Shared, loaded once: the STT worker (bounded queue), the piper voice and its phrase cache
(every scripted line pre-synthesized before the first call), the silero VAD model, the
conversation graph (validated, compiled, watched for edits: ``graph.store``), the LLM writer
and the webhook sender when configured, and (in the
front process, by default) the emotion service, which every call of every process reaches over
its own WebSocket (``emotion.service.mode``: in_process, remote or off). With SIP workers, the
front also serves its Whisper, piper voice, sentence encoder and pre-synthesized sentences to
them (``node.shared_models``, agent/services/model_host.py): a worker loads only its VAD.
SIGTERM/SIGINT stop new calls (503) and let calls in progress finish, up to
``sip.drain_timeout_s``. The front answers ``/health`` and ``/metrics`` on the node's HTTP port
(agent/app/node_http.py) from the start of start-up to the end of draining; every process traces
its calls when ``telemetry.traces`` is on (agent/app/telemetry.py)."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

from opentelemetry import trace as otel_trace

from agent.app.config import BedsideConfig
from agent.app.console.similar_search import SimilarSearch
from agent.app.expression_file import load_expressions
from agent.app.logs import get_logger
from agent.app.metrics_dir import MetricsDirectory
from agent.app.node_http import Health, NodeState
from agent.app.node_metrics import CONTENT_TYPE, REFRESH_S, NodeCollector, NodeMetrics, ProcessReadings
from agent.app.telemetry import start_tracing
from agent.app.workers import (
    WorkerPool,
    exit_when_front_dies,
    print_status,
    process_count,
    worker_config,
)
from agent.call.burst_table import load_burst_table
from agent.call.call_agent import CallAgent, CallSettings
from agent.call.escalation import Escalator
from agent.call.responder import (
    GraphResponderFactory,
    ResponderFactory,
    ResponderKind,
    create_responder_factory,
)
from agent.call.speaker import Speaker
from agent.call.turns_in_flight import TurnsInFlight
from agent.call.webhooks import WebhookSender
from agent.services.llm import LlmWriter
from agent.services.metrics import Metrics
from agent.services.model_client import ModelHostClient
from agent.services.model_host import ModelHost, ModelHostAddress
from agent.services.records.crypto import KeyRing
from agent.services.records.entries import CallOpened, Journal, NullJournal
from agent.services.records.outbox import WebhookOutbox
from agent.services.records.rows import utc_now
from agent.services.records.writer import RecordWriter
from agent.services.remote_embedder import RemoteEmbedder
from agent.services.remote_stt import RemoteStt
from agent.services.remote_tts import RemoteSynthesizer
from agent.services.stt import SttWorker
from emotion.client import EmotionClient
from emotion.config import ServiceMode
from emotion.models.base import ModelLoadError
from emotion.window import RollingWindow
from graph.prompt import static_prefix
from graph.store import GraphStore
from telephony.admission import Admission, Role
from telephony.call_session import CallSession
from telephony.redirect_ticket import RedirectTickets, new_key
from telephony.segmenter import Segmenter
from telephony.turn_end import TurnEndModel
from telephony.user_agent import SipUserAgent
from telephony.vad import create_vad, load_shared_vad_model
from tts.expression import Expression
from tts.phrase_cache import PhraseCache
from tts.sentences import split_sentences
from tts.shared_phrases import PhraseEntry, SharedPhrases
from tts.synthesizer import PiperSynthesizer

if TYPE_CHECKING:  # browser calls and the node's HTTP port are the front's: a SIP worker never imports aiortc or uvicorn
    from agent.app.node_http import NodeHttp
    from telephony.webrtc_call import WebRtcCall
    from telephony.webrtc_gateway import WebRtcGateway

RETENTION_EVERY_S = 6 * 3600  # how often the front deletes calls past records.retention_days


class BedsideServer:
    def __init__(self, config: BedsideConfig, worker_index: int | None = None, ticket_key: bytes | None = None,
                 metrics_dir: MetricsDirectory | None = None, model_host: ModelHostAddress | None = None) -> None:
        """``worker_index``/``ticket_key``: this process is a sibling SIP worker of a front that
        redirects callers to it with tickets signed by that key. ``metrics_dir``: the front's
        multiprocess metrics directory (agent/app/metrics_dir.py; workers write to it through the
        environment they inherit), so its ``/metrics`` counts the workers' calls. ``model_host``:
        (a worker) the front's shared speech models; without it the process loads its own."""
        self.worker_index = worker_index
        processes = 1 if worker_index is not None else process_count(config)
        self.pool: WorkerPool | None = None
        if worker_index is not None:
            assert ticket_key is not None, "a worker needs the front's ticket key"
            tickets = RedirectTickets(ticket_key, config.sip.redirect_ttl_s)
            admission = Admission(config.sip, Role.WORKER, tickets)
        elif processes > 1:
            key = new_key()
            tickets = RedirectTickets(key, config.sip.redirect_ttl_s)
            self.pool = WorkerPool(config, processes, tickets, key,
                                   on_exit=metrics_dir.forget if metrics_dir is not None else None)
            config = worker_config(config, 0, processes)
            admission = Admission(config.sip, Role.FRONT, tickets, self.pool.pick, self.pool.load)
        else:
            admission = Admission(config.sip, Role.SINGLE)
        self.config = config
        self.call_settings = CallSettings(config.turn, config.call_phase, config.escalation, config.stt.max_queue_wait_s + 5,
                                          partial_max_s=config.stt.encoder_window_s)
        self.log = get_logger("server")
        self.metrics = Metrics()
        self.metrics_dir = metrics_dir
        self.state = NodeState.STARTING  # what /health says
        self.node_http: NodeHttp | None = None  # the front's /health, /metrics and console port
        self._node_http_error: str | None = None  # why it did not open
        self._readings_task: asyncio.Task[None] | None = None
        self.graphs: GraphStore | None = None  # the conversation graph and its hot reload (responder: graph)
        self.wording: LlmWriter | None = LlmWriter(config.llm, self.metrics) if config.llm.base_url else None
        self.responders: ResponderFactory | None = None
        self.webhooks: WebhookSender | None = None  # created on the loop, in start()
        self._graph_watch: asyncio.Task[None] | None = None
        # The speech models: this process's own, or (a worker of a front that shares them) the front's.
        self.model_client: ModelHostClient | None = None
        self.model_host: ModelHost | None = None  # (the front) serving its models to the workers
        self.remote_embedder: RemoteEmbedder | None = None
        shared_phrases: SharedPhrases | None = None
        if model_host is not None:
            shared_phrases = phrases = SharedPhrases(Path(model_host.phrase_path))
            self.model_client = ModelHostClient(model_host, lambda frame: phrases.add(PhraseEntry.from_fields(frame.fields)))
            self.remote_embedder = RemoteEmbedder(model_host)
        self.stt: SttWorker | RemoteStt = SttWorker(config.stt) if self.model_client is None else RemoteStt(self.model_client)
        self.host = config.node.name or socket.gethostname()  # this node in records, outbox claims and traces
        self.tracing = start_tracing(config.telemetry, self.host, worker_index or 0)
        # The records key is read (the front creates it on first start) before any worker starts:
        # a malformed or unreadable key stops start-up with its file named, like a bad graph.
        self.records_keys = KeyRing.load(config.records.key_path(), create=worker_index is None) if config.records.enabled else None
        self.records: RecordWriter | None = None
        self._retention: asyncio.Task[None] | None = None
        self.outbox: WebhookOutbox | None = None  # durable webhook delivery, one per process
        expressions = load_expressions(config.tts.expressions)
        self.synth: PiperSynthesizer | RemoteSynthesizer
        self.phrases: PhraseCache | SharedPhrases
        if self.model_client is not None:
            assert shared_phrases is not None
            self.synth, self.phrases = RemoteSynthesizer(self.model_client, config.tts, expressions), shared_phrases
        else:
            synth = self.synth = PiperSynthesizer(config.tts, expressions)
            if self.pool is not None and config.node.shared_models:
                self.model_host = ModelHost(self.stt, synth, None, round(config.tts.cache_mb * 1_000_000))
            self.phrases = PhraseCache(synth, on_added=self.model_host.phrase_added if self.model_host else None)
        self._presynthesis: asyncio.Task[None] | None = None
        self.bursts = load_burst_table(config.voice_style.burst_table)  # validated now: a bad table stops startup
        self.burst_meanings = self.bursts.meanings()
        self.emotion_service = None
        self.console_search: SimilarSearch | None = None  # the console's similar-call search, when console.enabled
        self.browser: WebRtcGateway | None = None  # browser calls from the console's softphone page
        self.emotion_url = config.emotion.service.url if config.emotion.service.mode is ServiceMode.REMOTE else None
        self.vad_model = None
        self.turn_model: TurnEndModel | None = None  # turn.end_model: shared by the process's calls
        self.ua = SipUserAgent(
            config.sip,
            on_incoming=self._on_call,
            admission=admission,
            on_load=self._report_load if worker_index is not None else None,
        )
        self._calls: set[asyncio.Task[object]] = set()
        self._emotion_clients: set[EmotionClient] = set()  # the live calls' (their breakers, for /metrics)
        self.readings = ProcessReadings(self.metrics, self.wording, lambda: self.records, lambda: self._emotion_clients)
        self.turns_in_flight = TurnsInFlight()  # this process's callers awaiting a reply
        self._stop = asyncio.Event()

    async def start(self) -> None:
        started = time.monotonic()
        if self.worker_index is None and (self.config.telemetry.http or self.config.console.enabled):
            await self._start_node_http()  # first: /health answers "starting" while the models load
        self._readings_task = asyncio.create_task(self._keep_readings(), name="metrics-readings")
        if self.config.emotion.service.mode is ServiceMode.IN_PROCESS:
            try:
                await self._start_emotion_service()
            except (ModelLoadError, OSError) as exc:  # emotion must never stop calls: run without it
                self.log.error("emotion_unavailable", error=str(exc))
        if self.records_keys is not None:
            self.records = RecordWriter.from_config(self.config.records, self.records_keys, self.metrics, self.host,
                                                    self.worker_index or 0)
            owner = f"{self.host}-{self.worker_index or 0}"
            self.outbox = WebhookOutbox(self.records.store, self.config.records.outbox, self.metrics, owner)
            self.records.on_committed = self.outbox.committed  # a new webhook goes out at once, not at the next poll
            self.outbox.start()
            self.records.start()  # connects and migrates on its own thread, beside the model loading
        if self.pool is not None and self.model_host is None:
            await self.pool.spawn(self.emotion_url)  # they load their own models, beside the front's
        self.vad_model = await asyncio.to_thread(load_shared_vad_model, self.config.segmentation)
        if self.config.turn.end_model == "smart_turn":
            self.turn_model = await asyncio.to_thread(TurnEndModel)
        self.responders = await self._responders()
        if self.wording is not None and self.graphs is not None:
            self.wording.warm(static_prefix(self.graphs.current.spec.clinic))  # the LLM reads the shared prompt start now
        self.webhooks = WebhookSender(self.metrics)
        await self.stt.start()
        if self.model_client is None:
            await self._warm_speech()
        if self.model_host is not None:  # only made when there is a pool
            assert self.pool is not None
            await self.model_host.start()  # the default expression's sentences are in its file now
            await self.pool.spawn(self.emotion_url, self.model_host.address)
        if self.pool is not None:
            await self.pool.wait_ready()
        records_ready = None
        if self.records is not None:
            # A store that is down does not keep calls out: their records wait in the spool.
            records_ready = await asyncio.to_thread(self.records.wait_ready, 15.0)
            if self.worker_index is None:  # one process per server keeps the promise the greeting makes
                self._retention = asyncio.create_task(self._keep_retention(), name="records-retention")
                if self.config.console.enabled:
                    await self._start_console()
        await self.ua.start()
        self.state = NodeState.READY
        if self.worker_index is not None:
            print_status("ready", self.ua.port, self.ua.active_calls)
        self.log.info(
            "ready" if self.worker_index is None else "worker_ready",  # "ready" = calls can come in
            sip_port=self.ua.port,
            responder=self.config.turn.responder,
            graph=self.graphs.current.version if self.graphs else None,
            llm=self.wording is not None,
            stt_model=self.config.stt.model.value,
            emotion=self.emotion_url is not None,
            presynthesis=self._presynthesis is not None,  # the other expressions follow in the background
            speech_models="front's" if self.model_client is not None else "own, shared" if self.model_host else "own",
            records=records_ready,  # None: off; False: the store is not answering, records are spooled
            startup_s=round(time.monotonic() - started, 2),
        )

    async def _warm_speech(self) -> None:
        """This process's own voice: warmed, every fixed sentence in the default expression
        synthesized before the first call, the other expressions in the background."""
        assert isinstance(self.synth, PiperSynthesizer) and isinstance(self.phrases, PhraseCache) and self.responders
        await asyncio.to_thread(self.synth.warm)
        turn = self.config.turn  # the turn loop's own lines: reprompts, goodbyes, a failed transfer
        escalation = self.config.escalation  # ... and the hand-off's
        own = [turn.reprompt, turn.goodbye, turn.max_call_goodbye, turn.not_understood, escalation.urgent_line,
               escalation.hold_message, escalation.no_answer]
        # Cached by sentence: the speaker plays fixed lines sentence by sentence.
        lines = [*self.responders.scripted_lines(), *own]
        sentences = list(dict.fromkeys(s for line in lines for s in split_sentences(line)))
        # The default expression is ready before the first call; the others follow in the background.
        default = self.config.voice_style.default_expression
        await self.phrases.warm(sentences, self.synth.params_for(default))
        if self.config.tts.presynthesize:
            others = [e for e in Expression if e != default]
            self._presynthesis = asyncio.create_task(self._presynthesize(sentences, others), name="presynthesis")

    async def _start_node_http(self) -> None:
        """The node's HTTP port (console.host:console.port). It never keeps calls out: a taken port
        or a refused address is logged and the server goes on without it."""
        console = self.config.console
        collector = NodeCollector(self.config.sip.max_calls, lambda: self.emotion_service,
                                  lambda: self.records.store if self.records is not None else None)
        self._node_metrics = NodeMetrics(self.metrics, collector, self.metrics_dir)
        from agent.app.node_http import NodeHttp

        try:
            node = NodeHttp(console.host, console.port, self.health, self._scrape, console.certfile, console.keyfile)
            await node.start()
        except (OSError, RuntimeError, TimeoutError) as exc:
            self._node_http_error = f"{type(exc).__name__}: {exc}"
            self.log.error("node_http_unavailable", error=self._node_http_error, port=console.port)
            return
        self.node_http = node
        self.log.info("node_http_ready", url=node.url, health=f"{node.url}health", metrics=f"{node.url}metrics")

    def health(self) -> Health:
        """The node as ``/health`` tells it: counts only, no PHI."""
        workers = self.pool.snapshot() if self.pool is not None else []
        active = self.ua.active_calls + (self.pool.load() if self.pool is not None else 0)
        if self.browser is not None:
            active += self.browser.active_calls
        return Health(self.state, active, self.config.sip.max_calls, sum(1 for w in workers if w["alive"]))

    async def _scrape(self) -> tuple[bytes, str]:
        self.readings.refresh()  # this process's breakers and writer, as of now
        return await asyncio.to_thread(self._node_metrics.render), CONTENT_TYPE

    async def _keep_readings(self) -> None:
        """Copies this process's breaker and writer state into its gauges: a worker's reach the
        front's ``/metrics`` only through the shared directory."""
        while True:
            self.readings.refresh()
            await asyncio.sleep(REFRESH_S)

    async def _start_console(self) -> None:
        """The QA console on the node's HTTP port (console.enabled). It never keeps calls out: a
        port that did not open or a refused address is logged and the server goes on without it."""
        from agent.app.console.app import check_exposure, create_app
        from agent.app.console.similar_search import ChildProcessSearch
        from telephony.webrtc_gateway import WebRtcGateway
        from telephony.webrtc_ice import host_addresses_for

        assert self.records is not None
        if self.node_http is None:
            self.log.error("console_unavailable", error=self._node_http_error or "the node's HTTP port is off")
            return
        console = self.config.console
        webrtc = self.config.webrtc  # with max_calls 0 the gateway refuses every offer, and says why
        browser = WebRtcGateway(webrtc, self._on_browser_call, host_addresses_for(console.host, webrtc.ice_addresses))
        try:
            check_exposure(console, console.certfile)
            search = ChildProcessSearch(self.config.records)
            app = create_app(console, self.records.store, browser_calls=browser, graph_path=self.config.graph.file,
                             similar_search=search)
        except (OSError, ValueError, RuntimeError) as exc:
            self.log.error("console_unavailable", error=f"{type(exc).__name__}: {exc}")
            return
        self.node_http.attach_console(app)
        self.console_search, self.browser = search, browser
        self.log.info("console_ready", url=self.node_http.url, browser_calls=webrtc.max_calls)

    async def _presynthesize(self, sentences: list[str], expressions: list[Expression]) -> None:
        """Every scripted sentence in every other expression, one at a time and only while no call
        is up (on the node, when the workers share this voice): a live call's sentences must never
        queue behind pre-synthesis on the TTS worker."""
        assert isinstance(self.synth, PiperSynthesizer) and isinstance(self.phrases, PhraseCache)
        started = time.monotonic()
        made = 0
        for expression in expressions:
            params = self.synth.params_for(expression)
            made += await self.phrases.warm(sentences, params, wait_while=self._busy, stop_when_full=True)
            if self.phrases.full:
                break  # the size bound wins: the default expression, warmed first, stays whole
        self.log.info("presynthesized", expressions=len(expressions) + 1, sentences=len(sentences), synthesized=made,
                      entries=len(self.phrases), mb=round(self.phrases.bytes / 1e6, 1), evictions=self.phrases.evictions,
                      took_s=round(time.monotonic() - started, 1))

    async def _keep_retention(self) -> None:
        """Deletes calls older than ``records.retention_days`` at start and every few hours, so
        what callers are told ("kept for 90 days") is what happens even if nobody runs
        ``bedside records purge``. A store that is down is tried again next time."""
        from agent.services.records.queries import purge

        assert self.records is not None
        days = self.config.records.retention_days
        while True:
            try:
                result = await asyncio.to_thread(purge, self.records.store, days)
            except Exception as exc:  # noqa: BLE001 - a store that is down (or a bug) must not end the loop
                self.log.error("records_purge_failed", error=str(exc), kind=type(exc).__name__)
            else:
                self.log.info("records_purged", calls=result.calls, open_items=result.open_items, audit_rows=result.audit_rows,
                              before=result.calls_before.isoformat())
            await asyncio.sleep(RETENTION_EVERY_S)

    def _busy(self) -> bool:
        workers_busy = self.model_host is not None and self.pool is not None and self.pool.load() > 0
        return self.ua.active_calls > 0 or workers_busy or (self.browser is not None and self.browser.active_calls > 0)

    async def _responders(self) -> ResponderFactory:
        kind = ResponderKind(self.config.turn.responder)
        if kind is not ResponderKind.GRAPH:
            return create_responder_factory(kind, self.config.turn)
        from emotion.onnx_sentence import load_sentence_encoder

        graph = self.config.graph
        # ONNX, not torch: importing torch alone costs each SIP process ~330 MB (docs/benchmarks.md)
        embedder = self.remote_embedder or await asyncio.to_thread(load_sentence_encoder)
        if self.model_host is not None:
            self.model_host.embedder = embedder
        notice = {"records.notice": self.config.records.notice()}  # what callers are told is kept
        self.graphs = await asyncio.to_thread(GraphStore, graph.file, embedder, None, notice)  # a bad graph stops start-up
        if graph.reload:
            self._graph_watch = asyncio.create_task(self.graphs.watch(graph.reload_interval_s), name="graph-watch")
        store = self.graphs
        return GraphResponderFactory(lambda: store.current, self.bursts, self.config.voice_style, self.metrics, self.wording)

    async def _start_emotion_service(self) -> None:
        from emotion.engine import EmotionEngine
        from emotion.service import EmotionService, check_exposure

        service_config = self.config.emotion.service
        check_exposure(service_config, service_config.host)  # before loading models it would not use
        if service_config.max_connections < self.config.sip.max_calls:
            # every call of every process opens one connection: the last ones would run without emotion
            self.log.warning("emotion_connections_below_calls", max_connections=service_config.max_connections,
                             max_calls=self.config.sip.max_calls)
        engine = await asyncio.to_thread(EmotionEngine.load, None, service_config.workers)
        self.emotion_service = EmotionService(engine, service_config)
        await self.emotion_service.start()
        self.emotion_url = self.emotion_service.url

    async def serve_forever(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        watcher = asyncio.create_task(exit_when_front_dies(self._stop)) if self.worker_index is not None else None
        await self._stop.wait()
        if watcher is not None:
            watcher.cancel()
        self.state = NodeState.DRAINING  # /health: 503 from now on, while calls finish
        self.log.info("draining", active_calls=self.ua.active_calls)
        timeout = self.config.sip.drain_timeout_s
        drains = [self._drain_calls(timeout)]
        if self.pool is not None:
            drains.append(self.pool.drain_and_stop(timeout))
        await asyncio.gather(*drains)
        await self.stop()

    async def _drain_calls(self, timeout: float) -> None:
        """Waits for SIP legs to end, then for their agents to finish the call's bookkeeping
        (summary, webhooks, ``call_ended``): a leg is gone before its agent has wrapped up."""
        started = time.monotonic()
        if self.browser is not None:
            self.browser.stop_accepting()
        await self.ua.drain(timeout)
        remaining = max(0.0, timeout - (time.monotonic() - started))
        if self._calls:
            await asyncio.wait(set(self._calls), timeout=remaining)

    def request_stop(self) -> None:
        self._stop.set()

    async def stop(self) -> None:
        self.state = NodeState.DRAINING
        if self.console_search is not None:  # a child process (FAISS stays out of this one)
            await asyncio.to_thread(self.console_search.close)
        if self.browser is not None:
            await self.browser.stop()  # browser calls still up are hung up and wrap up their records
        if self._retention is not None:
            self._retention.cancel()
            await asyncio.gather(self._retention, return_exceptions=True)
        if self._presynthesis is not None:
            self._presynthesis.cancel()
            await asyncio.gather(self._presynthesis, return_exceptions=True)
        for task in list(self._calls):
            task.cancel()
        await asyncio.gather(*self._calls, return_exceptions=True)
        if self._graph_watch is not None:
            self._graph_watch.cancel()
            await asyncio.gather(self._graph_watch, return_exceptions=True)
        if self.wording is not None:
            await self.wording.aclose()
        if self.webhooks is not None:
            await self.webhooks.aclose()
        await self.ua.stop()
        if self.outbox is not None:
            await self.outbox.aclose()  # unfinished sends hand their claims back for the next start
        if self.records is not None:
            await asyncio.to_thread(self.records.close)
            status = self.records.status
            self.log.info("records_closed", committed=status.committed, spooled=status.spooled, lost=status.lost,
                          healthy=status.healthy)
        if self.model_host is not None:
            await self.model_host.stop()  # the workers are gone by now
        await self.stt.stop()
        if self.model_client is not None:
            await self.model_client.close()
        if self.remote_embedder is not None:
            self.remote_embedder.close()
        if isinstance(self.phrases, SharedPhrases):
            self.phrases.close()
        if self.emotion_service is not None:
            await self.emotion_service.stop()
            self.emotion_service.engine.close()
        if self._readings_task is not None:
            self._readings_task.cancel()
            await asyncio.gather(self._readings_task, return_exceptions=True)
        if self.node_http is not None:
            await self.node_http.stop()  # last: /health said "draining" until the calls were done
        await asyncio.to_thread(self.tracing.shutdown)  # sends the spans still batched
        self.log.info("stopped", metrics=json.dumps(self.metrics.snapshot()))

    def _speaker(self, session: CallSession) -> Speaker:
        return Speaker(session, self.phrases, self.synth, prepare_ahead=self.config.tts.prepare_ahead,
                       others_waiting=lambda: self.turns_in_flight.any)

    def _report_load(self, active: int) -> None:
        print_status("load", self.ua.port, active)

    def _emotion_client(self, call_id: str) -> EmotionClient:
        emotion = self.config.emotion
        token = emotion.service.token.get_secret_value() if emotion.service.token else None
        client = EmotionClient(
            call_id, self.emotion_url, self.burst_meanings, emotion.client, RollingWindow(emotion.window, emotion.defaults),
            self.metrics, token=token,
        )
        self._emotion_clients.add(client)
        return client

    async def _on_browser_call(self, call: WebRtcCall) -> None:
        """A call from the console's softphone page: the same runtime as a SIP call, with its
        journal also sent, entry by entry, to the page (agent/app/console/live_feed.py)."""
        from agent.app.console.live_feed import LiveFeed

        await self._on_call(call.session, LiveFeed(self.records or NullJournal(), call.send, self.config.console.captions))

    async def _on_call(self, session: CallSession, journal: Journal | None = None) -> None:
        """One call, SIP or browser; ``journal``: where its facts go (default: the records writer)."""
        task = asyncio.current_task()
        assert task is not None
        self._calls.add(task)
        self.metrics.calls_active.inc()
        emotion: EmotionClient | None = None
        # The call's span; its turns are child spans (agent/call/turn_trace.py). Ids and counts only: no PHI.
        span = self.tracing.tracer.start_span("call", attributes={
            "bedside.call_id": session.call_id, "host.name": self.host, "bedside.worker": self.worker_index or 0,
            "bedside.browser": journal is not None,
        })
        try:
            if self.records is not None:
                self.records.write(CallOpened(
                    session.call_id, utc_now(), self.host, self.worker_index or 0,
                    self.graphs.current.version if self.graphs else None, session.remote_uri,
                ))
            emotion = self._emotion_client(session.call_id)
            agent = CallAgent(
                session=session,
                config=self.call_settings,
                responder=self.responders.for_call(session.call_id),
                stt=self.stt,
                speaker=self._speaker(session),
                segmenter=Segmenter(self.config.segmentation, create_vad(self.config.segmentation, self.vad_model)),
                emotion=emotion,
                metrics=self.metrics,
                webhooks=self.webhooks,
                escalator=Escalator(
                    self.config.escalation, self.config.sip, self.ua, self._speaker, self.metrics, session.call_id,
                ),
                journal=journal or self.records,
                turns_in_flight=self.turns_in_flight,
                turn_model=self.turn_model,
                tracer=self.tracing.tracer,
            )
            with otel_trace.use_span(span, end_on_exit=False):
                record = await agent.run()
            span.set_attribute("bedside.outcome", record.end_reason or "ended")
            span.set_attribute("bedside.turns", record.turns)
        except Exception:  # noqa: BLE001 - one call's bug must not take the server down
            self.log.exception("call_failed", call_id=session.call_id)
            span.set_attribute("bedside.outcome", "internal error")
            await session.hangup("internal error")
        finally:
            span.end()
            self._calls.discard(task)
            if emotion is not None:
                self._emotion_clients.discard(emotion)
            self.metrics.calls_active.dec()
            self.metrics.inc("calls_ended")
