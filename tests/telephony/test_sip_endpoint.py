"""SipEndpoint's listening transports (telephony/sip_endpoint.py).

The race this guards against: with ``sip.port: 0`` UDP gets a free port and TCP must take the
same number, which another process's outgoing connection may hold (it happened to a QA caller
in CI while a parallel test had connections open). It cannot be provoked on purpose, so a
stand-in endpoint plays pjsua2's transport calls here; the real endpoint is exercised by every
call test."""

from __future__ import annotations

import pjsua2 as pj
import pytest

from telephony.config import SipConfig, Transport
from telephony.sip_endpoint import _PJ_EADDRINUSE, SipEndpoint, SipStartError, _PortTaken


class Info:
    def __init__(self, port: int) -> None:
        self.localName = f"127.0.0.1:{port}"


class Endpoint:
    """pjsua2's transport calls; TCP is 'taken' on the first ``taken`` ports UDP hands out."""

    def __init__(self, taken: int) -> None:
        self.taken = taken
        self.next_port = 40000
        self.open: dict[int, tuple[int, int]] = {}  # tid -> (type, port)
        self.closed: list[int] = []

    def transportCreate(self, kind: int, tcfg: pj.TransportConfig) -> int:
        port = tcfg.port or self.next_port
        if kind == pj.PJSIP_TRANSPORT_TCP and self.taken > 0:
            self.taken -= 1
            self.next_port += 1
            error = pj.Error()
            error.status, error.reason = _PJ_EADDRINUSE, "Address already in use"
            raise error
        tid = len(self.open) + len(self.closed) + 1
        self.open[tid] = (kind, port)
        return tid

    def transportGetInfo(self, tid: int) -> Info:
        return Info(self.open[tid][1])

    def transportClose(self, tid: int) -> None:
        self.closed.append(tid)
        del self.open[tid]


def endpoint(**sip) -> SipEndpoint:
    return SipEndpoint(SipConfig(transports=[Transport.UDP, Transport.TCP], **sip), name="test")


def test_an_automatic_port_taken_for_tcp_is_given_back_and_another_tried() -> None:
    ep, sip = Endpoint(taken=1), endpoint(port=0)
    with pytest.raises(_PortTaken):
        sip._listen(ep, sip.config)
    assert ep.closed == [1] and not ep.open  # the UDP transport on the taken number is closed
    sip._listen(ep, sip.config)
    assert sorted(port for _, port in ep.open.values()) == [40001, 40001] and sip.bound_port == 40001


def test_a_configured_port_that_is_taken_is_a_clear_error_not_a_retry() -> None:
    ep, sip = Endpoint(taken=1), endpoint(port=5071)
    with pytest.raises(SipStartError, match="cannot listen for SIP/TCP on 127.0.0.1:5071: Address already in use") as err:
        sip._listen(ep, sip.config)
    assert not isinstance(err.value, _PortTaken)
