"""The typed call record (agent/call/record.py): graph actions become record variants."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from agent.call.record import (
    ActionKind,
    Callback,
    CallRecord,
    EndOfCall,
    Priority,
    Transfer,
    Urgency,
    Webhook,
    WebhookDelivery,
    from_graph,
)
from graph.navigator import ActionTaken
from graph.schema import CallbackAction, EndCallAction, TransferAction, WebhookAction


def taken(action, slots=None) -> ActionTaken:
    return ActionTaken(action, "node-a", MappingProxyType(slots or {}))


def test_every_graph_action_has_its_variant() -> None:
    callback = from_graph(taken(CallbackAction(type="callback", team="billing", priority="urgent", include=["name"]),
                                {"name": "Maria Lopez"}))
    assert callback == Callback("billing", "", Priority.URGENT, "node-a", {"name": "Maria Lopez"})
    hook = from_graph(taken(WebhookAction(type="webhook", event="refill_requested", url="https://x.example/h")))
    assert hook == Webhook("refill_requested", "https://x.example/h", 3.0, "node-a")
    assert from_graph(taken(TransferAction(type="transfer", to="nurse", reason="asked"))) == Transfer("nurse", "asked", "node-a")
    assert from_graph(taken(EndCallAction(type="end_call"))) == EndOfCall("node-a")


def test_the_log_gets_kind_and_target_never_slot_values() -> None:
    callback = Callback("clinician", "results", Priority.ROUTINE, "n", {"date_of_birth": "1985-03-03"})
    hook = Webhook("appointment_booked", None, 3.0, "n", {"appointment": "2026-12-07T09:00"})
    for action in (callback, hook, Transfer("operator"), Urgency(60.0, -0.5), EndOfCall("bye")):
        fields = action.log_fields()
        assert "1985-03-03" not in str(fields) and "2026-12-07" not in str(fields)
    assert callback.kind is ActionKind.CALLBACK and hook.log_fields() == {"hook": "appointment_booked"}


def test_a_webhook_delivery_is_filled_in_where_the_request_is() -> None:
    record = CallRecord("c1")
    record.add(Urgency(61.0, -0.6))
    index = record.add(Webhook("appointment_booked", "https://x.example/h"))
    record.delivered(index, WebhookDelivery(True, 42, status=204))
    assert record.actions[index].delivery == WebhookDelivery(True, 42, status=204)
    assert record.urgent and [a.kind for a in record.actions] == [ActionKind.URGENCY, ActionKind.WEBHOOK]
    with pytest.raises(TypeError):
        record.delivered(0, WebhookDelivery(False, 1))
