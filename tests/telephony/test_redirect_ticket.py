"""Redirect tickets: a worker takes only callers the front sent, once each."""

from __future__ import annotations

from telephony.redirect_ticket import RedirectTickets, TicketCheck, new_key, ticket_in


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_ticket_is_good_once_for_its_own_worker() -> None:
    clock = Clock()
    front = RedirectTickets(key := new_key(), ttl_s=8, clock=clock)
    worker = RedirectTickets(key, ttl_s=8, clock=clock)
    uri = f"sip:bedside@127.0.0.1:5061{front.uri_param(5061)}"
    ticket = ticket_in(uri)
    assert worker.check(ticket, 5061) is TicketCheck.OK
    assert worker.check(ticket, 5061) is TicketCheck.REUSED
    assert worker.check(front.issue(5061), 5062) is TicketCheck.FORGED  # made for another worker


def test_missing_forged_and_expired_tickets_are_refused() -> None:
    clock = Clock()
    front = RedirectTickets(new_key(), ttl_s=8, clock=clock)
    stranger = RedirectTickets(new_key(), ttl_s=8, clock=clock)
    assert front.check(ticket_in("sip:bedside@127.0.0.1:5061"), 5061) is TicketCheck.MISSING
    assert front.check(stranger.issue(5061), 5061) is TicketCheck.FORGED
    ticket = front.issue(5061)
    expires, nonce, mac = ticket.split(".")
    assert front.check(f"{int(expires, 16) + 60_000:x}.{nonce}.{mac}", 5061) is TicketCheck.FORGED  # extended by hand
    clock.now += 9
    assert front.check(ticket, 5061) is TicketCheck.EXPIRED
