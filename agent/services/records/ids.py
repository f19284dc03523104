"""Deterministic row ids: the same call and action always give the same id, so an entry written
twice (a spool replayed after an outage, a migration run again) creates nothing new."""

from __future__ import annotations

import uuid

_NAMESPACE = uuid.UUID("6c1f3a52-8d0e-4f0b-9d55-2f6a1c7e4b10")  # Bedside records (fixed forever)


def work_item_id(call_id: str, action_seq: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"work-item:{call_id}:{action_seq}"))


def delivery_id(call_id: str, action_seq: int) -> str:
    """A webhook's idempotency key (the ``Idempotency-Key`` header the receiver sees)."""
    return str(uuid.uuid5(_NAMESPACE, f"webhook:{call_id}:{action_seq}"))


def gave_up_item_id(delivery: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"webhook-failed:{delivery}"))
