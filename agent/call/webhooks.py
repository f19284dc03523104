"""Delivers the graph's ``webhook`` actions to the clinic's systems (booking, refill queue).

Each delivery is one JSON POST, in the background: the call never waits for it and a failure
never reaches the caller. The outcome (status or error, never the payload) is logged and put in
the call record next to the request, so staff can see what reached their systems and what did
not. Payload::

    {"event": "appointment_booked", "call_id": "in-3f2a...", "node": "booked",
     "slots": {"full_name": "Maria Lopez", "appointment": "2026-12-02T09:00"}}

The slots are PHI: a clinic should use an https URL (http is allowed for a local system)."""

from __future__ import annotations

import time
from typing import Any

import structlog

from agent.call.record import WebhookDelivery
from agent.services.metrics import Metrics

USER_AGENT = "Bedside-webhook/1"


class WebhookSender:
    """One HTTP client for the whole server (connection reuse); ``send`` never raises."""

    def __init__(self, metrics: Metrics) -> None:
        import httpx2  # the HTTP client the openai package already brings

        self._httpx = httpx2
        self._client = httpx2.AsyncClient(headers={"User-Agent": USER_AGENT}, follow_redirects=False)
        self.metrics = metrics

    async def send(self, url: str, payload: dict[str, Any], timeout_s: float, call_id: str) -> WebhookDelivery:
        """POST ``payload``; returns the delivery outcome for the call record."""
        log = structlog.get_logger(component="webhook", call_id=call_id)
        started = time.perf_counter()
        try:
            response = await self._client.post(url, json=payload, timeout=timeout_s)
        except self._httpx.HTTPError as exc:
            elapsed = round((time.perf_counter() - started) * 1000)
            self.metrics.inc("webhook_failures")
            log.warning("webhook_failed", hook=payload.get("event"), error=type(exc).__name__, ms=elapsed)
            return WebhookDelivery(False, elapsed, error=type(exc).__name__)
        elapsed = round((time.perf_counter() - started) * 1000)
        delivered = 200 <= response.status_code < 300
        self.metrics.inc("webhooks_delivered" if delivered else "webhook_failures")
        emit = log.info if delivered else log.warning
        emit("webhook_sent" if delivered else "webhook_failed", hook=payload.get("event"), status=response.status_code,
             ms=elapsed)
        return WebhookDelivery(delivered, elapsed, status=response.status_code)

    async def aclose(self) -> None:
        await self._client.aclose()
