"""The call record store: every call kept, its work items, the webhook outbox (issue 16)."""
