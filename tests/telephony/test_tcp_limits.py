"""The TCP ledgers the SIP guard acts on: per-source cap, first-message timeout, handle budget."""

from __future__ import annotations

from telephony.tcp_limits import HandleBudget, TcpLedger


def test_handle_budget_pauses_before_the_ioqueue_runs_out_and_counts_closing_handles() -> None:
    budget = HandleBudget(high=4, low=3, reuse_delay_s=1.0)
    for key in range(3):
        budget.opened(key)
    assert not budget.gate(now=0.0)
    budget.opened(3)
    assert budget.gate(now=0.0)  # 4 live
    budget.destroyed(0, now=0.1)
    budget.destroyed(1, now=0.1)
    assert budget.gate(now=0.5)  # 2 live + 2 not reusable yet
    assert budget.gate(now=1.2) is False  # 2 live: under low, open again
    budget.destroyed(99, now=1.3)  # never seen: no handle of ours
    assert budget.in_use(now=1.3) == 2


def test_tcp_ledger_caps_each_source_and_times_out_silent_connections() -> None:
    ledger = TcpLedger(max_per_source=2, first_message_timeout_s=5.0)
    assert ledger.opened(1, "127.0.0.2", now=0.0) is None and ledger.opened(2, "127.0.0.2", now=0.0) is None
    assert ledger.opened(3, "127.0.0.2", now=0.0) == "over_cap"  # third from the same source
    assert ledger.opened(4, "127.0.0.3", now=0.0) is None
    assert ledger.opened(6, "127.0.0.5", now=0.0, allowed=False) == "source"
    assert sorted(ledger.due(now=0.1)) == [(3, "over_cap"), (6, "source")]
    assert ledger.due(now=0.2) == []  # reported once
    ledger.delivered(1)
    assert sorted(ledger.due(now=5.0)) == [(2, "first_message_timeout"), (4, "first_message_timeout")]
    for key in (2, 3, 4):
        ledger.closed(key)
    ledger.closed(6)
    assert ledger.opened(5, "127.0.0.2", now=6.0) is None  # 1 (delivered) + 5: within the cap again
    assert ledger.due(now=6.5) == []
