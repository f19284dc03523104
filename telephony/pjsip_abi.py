"""ctypes view of the pjsip 2.15 C API that the pjsua2 wheel exports (for telephony.sip_guard).

pjsua2's SWIG layer hides pjsip modules and transports, but ``_pjsua2*.so`` exports the
whole C API as dynamic symbols, so this module declares the few functions and the struct
prefixes the guard reads. Struct layouts are mirrored from pjproject 2.15's headers for
LP64 Linux with the wheel's compile-time constants (PJSIP_MAX_PKT_LEN=4000, select
ioqueue). Nothing here is trusted blindly: ``rdata_facts``/``transport_facts`` cross-check
every read against values pjsip computes itself and return None when they disagree.
"""

from __future__ import annotations

import ctypes
import glob
import ipaddress
import os
import socket
from dataclasses import dataclass
from functools import cache

import pjsua2

PJ_TRUE = 1
PJ_FALSE = 0
PJ_SUCCESS = 0
PJ_MAX_OBJ_NAME = 32
PJ_INET6_ADDRSTRLEN = 46
PJSIP_MAX_PKT_LEN = 4000  # compiled into the wheel; verified per packet via msg_buf bounds

PJSIP_REQUEST_MSG = 0
PJSIP_RESPONSE_MSG = 1

# pjsip_transport_type_e
PJSIP_TRANSPORT_UDP = 1
PJSIP_TRANSPORT_TCP = 2
PJSIP_TRANSPORT_TLS = 3
PJSIP_TRANSPORT_IPV6 = 128
# pjsip_transport_flags_e
PJSIP_TRANSPORT_RELIABLE = 1
PJSIP_TRANSPORT_DATAGRAM = 4
# pjsip_transport_dir
PJSIP_TP_DIR_NONE = 0
PJSIP_TP_DIR_OUTGOING = 1
PJSIP_TP_DIR_INCOMING = 2
# pjsip_transport_state
PJSIP_TP_STATE_CONNECTED = 0
PJSIP_TP_STATE_DISCONNECTED = 1
PJSIP_TP_STATE_SHUTDOWN = 2
PJSIP_TP_STATE_DESTROY = 3

# The select ioqueue's handle limit (PJ_IOQUEUE_MAX_HANDLES): UDP + TCP listener + 62
# connections, measured. A handle released by a closed connection only becomes reusable
# PJ_IOQUEUE_KEY_FREE_DELAY (500 ms) later; an accept in between while every other handle
# is taken trips pj_assert(!pj_list_empty(&ioqueue->free_list)) and aborts the process.
PJ_IOQUEUE_MAX_HANDLES = 64
PJ_IOQUEUE_KEY_FREE_DELAY_S = 0.5

PJSIP_MOD_PRIORITY_TSX_LAYER = 16
PJSIP_MOD_PRIORITY_UA_PROXY_LAYER = 32

c_void_p = ctypes.c_void_p
c_int = ctypes.c_int


class PjStr(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_void_p), ("slen", ctypes.c_ssize_t)]

    def text(self) -> str | None:
        if not self.ptr or self.slen < 0 or self.slen > 256:
            return None
        return ctypes.string_at(self.ptr, self.slen).decode("latin-1")


class PjSockaddr(ctypes.Structure):
    """pj_sockaddr: a union of sockaddr_in / sockaddr_in6 (28 bytes, 4-byte aligned)."""

    _fields_ = [("family", ctypes.c_uint16), ("port_be", ctypes.c_uint16), ("rest", ctypes.c_uint8 * 24)]

    def address(self) -> tuple[str, int] | None:
        raw = bytes(self)
        if self.family == socket.AF_INET:
            return socket.inet_ntop(socket.AF_INET, raw[4:8]), socket.ntohs(self.port_be)
        if self.family == socket.AF_INET6:
            return socket.inet_ntop(socket.AF_INET6, raw[8:24]), socket.ntohs(self.port_be)
        return None


class PjTimeVal(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("msec", ctypes.c_long)]


class PjIoqueueOpKey(ctypes.Structure):
    _fields_ = [("internal", ctypes.c_void_p * 32), ("activesock_data", c_void_p), ("user_data", c_void_p)]


class RxTpInfo(ctypes.Structure):
    _fields_ = [
        ("pool", c_void_p),
        ("transport", c_void_p),
        ("tp_data", c_void_p),
        ("op_key", PjIoqueueOpKey),
        ("op_key_rdata", c_void_p),  # pjsip_rx_data_op_key.rdata: points back at the rdata
    ]


class RxPktInfo(ctypes.Structure):
    _fields_ = [
        ("timestamp", PjTimeVal),
        ("packet", ctypes.c_char * PJSIP_MAX_PKT_LEN),
        ("zero", ctypes.c_uint32),
        ("len", ctypes.c_ssize_t),
        ("src_addr", PjSockaddr),
        ("src_addr_len", c_int),
        ("src_name", ctypes.c_char * PJ_INET6_ADDRSTRLEN),
        ("src_port", c_int),
    ]


class RxMsgInfo(ctypes.Structure):
    """Prefix of msg_info: the guard reads nothing past ``to``."""

    _fields_ = [
        ("msg_buf", c_void_p),
        ("len", c_int),
        ("msg", c_void_p),
        ("info", c_void_p),
        ("cid", c_void_p),
        ("from_", c_void_p),
        ("to", c_void_p),
    ]


class RxData(ctypes.Structure):
    _fields_ = [("tp_info", RxTpInfo), ("pkt_info", RxPktInfo), ("msg_info", RxMsgInfo)]


class SipMsgHead(ctypes.Structure):
    """pjsip_msg: type, then the 8-byte aligned union line: req.method {id, name}."""

    _fields_ = [("type", c_int), ("_pad", c_int), ("method_id", c_int), ("method_name", PjStr)]


# PJSIP_DECL_HDR_MEMBER: what every pjsip header struct starts with (list links, type, names, vptr).
_HDR_MEMBER = [("prev", c_void_p), ("next", c_void_p), ("type", c_int), ("name", PjStr), ("sname", PjStr),
               ("vptr", c_void_p)]


class FromToHdr(ctypes.Structure):
    """pjsip_fromto_hdr: the header members, uri, tag."""

    _fields_ = [*_HDR_MEMBER, ("uri", c_void_p), ("tag", PjStr)]


class HostPort(ctypes.Structure):
    _fields_ = [("host", PjStr), ("port", c_int)]


class TransportHead(ctypes.Structure):
    """Prefix of struct pjsip_transport up to ``dir``."""

    _fields_ = [
        ("obj_name", ctypes.c_char * PJ_MAX_OBJ_NAME),
        ("pool", c_void_p),
        ("ref_cnt", c_void_p),
        ("lock", c_void_p),
        ("grp_lock", c_void_p),
        ("tracing", c_int),
        ("is_shutdown", c_int),
        ("is_destroying", c_int),
        ("key_type", ctypes.c_long),
        ("rem_addr", PjSockaddr),
        ("type_name", ctypes.c_char_p),
        ("flag", ctypes.c_uint),
        ("info", c_void_p),
        ("addr_len", c_int),
        ("local_addr", PjSockaddr),
        # (has_addr_name comes here only in pjsip > 2.15)
        ("local_name", HostPort),
        ("remote_name", HostPort),
        ("dir", c_int),
    ]


RxCallback = ctypes.CFUNCTYPE(c_int, c_void_p)  # pj_bool_t (*)(pjsip_rx_data*)
TxCallback = ctypes.CFUNCTYPE(c_int, c_void_p)  # pj_status_t (*)(pjsip_tx_data*)
VoidCallback = ctypes.CFUNCTYPE(c_int)  # load/start/stop/unload (load takes endpt: unused, NULL)
TsxCallback = ctypes.CFUNCTYPE(None, c_void_p, c_void_p)
# void (*)(pjsip_transport*, pjsip_transport_state, const pjsip_transport_state_info*)
TpStateCallback = ctypes.CFUNCTYPE(None, c_void_p, c_int, c_void_p)


class PjsipModule(ctypes.Structure):
    _fields_ = [
        ("prev", c_void_p),
        ("next", c_void_p),
        ("name", PjStr),
        ("id", c_int),
        ("priority", c_int),
        ("load", c_void_p),
        ("start", c_void_p),
        ("stop", c_void_p),
        ("unload", c_void_p),
        ("on_rx_request", RxCallback),
        ("on_rx_response", RxCallback),
        ("on_tx_request", c_void_p),
        ("on_tx_response", c_void_p),
        ("on_tsx_state", c_void_p),
    ]


class GenericStringHdr(ctypes.Structure):
    """pjsip_generic_string_hdr: the header members, then the value. Also used as the head of
    a header list (only its links matter there)."""

    _fields_ = [*_HDR_MEMBER, ("hvalue", PjStr)]


@cache
def lib() -> ctypes.CDLL:
    """The already loaded pjsua2 extension (dlopen returns the same instance, same globals)."""
    (path,) = glob.glob(os.path.join(os.path.dirname(pjsua2.__file__), "_pjsua2*.so"))
    so = ctypes.CDLL(path)
    sigs: dict[str, tuple[object, list[object]]] = {
        "pjsua_get_pjsip_endpt": (c_void_p, []),
        "pjsip_endpt_register_module": (c_int, [c_void_p, ctypes.POINTER(PjsipModule)]),
        "pjsip_endpt_unregister_module": (c_int, [c_void_p, ctypes.POINTER(PjsipModule)]),
        "pjsip_endpt_respond_stateless": (c_int, [c_void_p, c_void_p, c_int, c_void_p, c_void_p, c_void_p]),
        "pjsip_rx_data_get_info": (ctypes.c_char_p, [c_void_p]),
        "pjsip_generic_string_hdr_init2": (c_void_p, [c_void_p, c_void_p, c_void_p]),
        "acquire_call": (c_int, [ctypes.c_char_p, c_int, ctypes.POINTER(c_void_p), ctypes.POINTER(c_void_p)]),
        "pjsip_dlg_get_inv_session": (c_void_p, [c_void_p]),
        "pjsip_inv_terminate": (c_int, [c_void_p, c_int, c_int]),
        "pjsip_dlg_dec_lock": (None, [c_void_p]),
        "pjsua_call_get_count": (ctypes.c_uint, []),
        "pjsip_endpt_get_tpmgr": (c_void_p, [c_void_p]),
        "pjsip_tpmgr_get_state_cb": (c_void_p, [c_void_p]),
        "pjsip_tpmgr_set_state_cb": (c_int, [c_void_p, c_void_p]),
        "pjsip_transport_shutdown": (c_int, [c_void_p]),
        "pjsip_transport_add_ref": (c_int, [c_void_p]),
        "pjsip_transport_dec_ref": (c_int, [c_void_p]),
        "pjsip_transport_get_type_name": (ctypes.c_char_p, [c_int]),
        "pjsip_transport_get_flag_from_type": (ctypes.c_uint, [c_int]),
        "pj_thread_is_registered": (c_int, []),
        "pj_get_version": (ctypes.c_char_p, []),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(so, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return so


def version() -> str:
    return (lib().pj_get_version() or b"").decode()


# ---- verified reads -----------------------------------------------------------------------
@dataclass(frozen=True)
class RxFacts:
    """What the guard needs from one pjsip_rx_data, read and cross-checked."""

    is_request: bool
    method: str
    source_ip: str
    source_port: int
    transport: int  # key.type: PJSIP_TRANSPORT_UDP / _TCP (| PJSIP_TRANSPORT_IPV6)
    transport_ptr: int
    packet_len: int  # bytes the transport read into pkt_info.packet
    in_dialog: bool  # To tag present


@dataclass(frozen=True)
class TransportFacts:
    ptr: int
    type: int
    reliable: bool
    incoming: bool
    remote_ip: str
    remote_port: int


class LayoutError(RuntimeError):
    """A cross-check failed: the struct layout is not the one this module mirrors."""


def _normalize_ip(text: str) -> str:
    addr = ipaddress.ip_address(text)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def transport_facts(ptr: int) -> TransportFacts:
    """Read a pjsip_transport; raise LayoutError unless pjsip's own tables agree with it."""
    head = TransportHead.from_address(ptr)
    tp_type = int(head.key_type)
    expected_name = lib().pjsip_transport_get_type_name(tp_type)
    if head.type_name is None or expected_name is None or head.type_name != expected_name:
        raise LayoutError("pjsip_transport.type_name does not match key.type")
    if head.flag != lib().pjsip_transport_get_flag_from_type(tp_type):
        raise LayoutError("pjsip_transport.flag does not match key.type")
    reliable = bool(head.flag & PJSIP_TRANSPORT_RELIABLE)
    remote_ip, remote_port = "", 0
    if reliable:
        rem = head.rem_addr.address()
        if rem is None:
            raise LayoutError("pjsip_transport.key.rem_addr has no address family")
        # remote_name is printed by pjsip from rem_addr: checks every offset up to ``dir``
        local = head.local_addr.address()
        if local is None or head.local_name.port != local[1]:
            raise LayoutError("pjsip_transport.local_name does not match local_addr")
        if head.remote_name.port != rem[1] or head.dir not in (PJSIP_TP_DIR_OUTGOING, PJSIP_TP_DIR_INCOMING):
            raise LayoutError("pjsip_transport.remote_name/dir do not match key.rem_addr")
        remote_ip, remote_port = _normalize_ip(rem[0]), rem[1]
    return TransportFacts(
        ptr=ptr,
        type=tp_type,
        reliable=reliable,
        incoming=reliable and head.dir == PJSIP_TP_DIR_INCOMING,
        remote_ip=remote_ip,
        remote_port=remote_port,
    )


def rdata_facts(rdata: int) -> RxFacts:
    """Read a pjsip_rx_data; raise LayoutError unless the read is self-consistent."""
    rx = RxData.from_address(rdata)
    pkt = rx.pkt_info
    packet_at = rdata + RxData.pkt_info.offset + RxPktInfo.packet.offset
    length = int(pkt.len)
    msg_buf = rx.msg_info.msg_buf or 0
    # msg_buf is set by the tpmgr to a pointer into pkt_info.packet: proves every offset
    # before msg_info (the op_key size, PJSIP_MAX_PKT_LEN, pj_sockaddr) is as mirrored.
    if not (0 < length <= PJSIP_MAX_PKT_LEN) or not (packet_at <= msg_buf < packet_at + length):
        raise LayoutError("msg_info.msg_buf does not point into pkt_info.packet")
    if not (0 < rx.msg_info.len <= length):
        raise LayoutError("msg_info.len out of range")
    src = pkt.src_addr.address()
    if src is None or src[1] != pkt.src_port or src[0].encode() != pkt.src_name:
        raise LayoutError("pkt_info.src_addr does not match src_name/src_port")
    if not rx.msg_info.msg:
        raise LayoutError("msg_info.msg is NULL")
    head = SipMsgHead.from_address(rx.msg_info.msg)
    if head.type not in (PJSIP_REQUEST_MSG, PJSIP_RESPONSE_MSG):
        raise LayoutError("pjsip_msg.type out of range")
    tp = transport_facts(rx.tp_info.transport) if rx.tp_info.transport else None
    if tp is None:
        raise LayoutError("tp_info.transport is NULL")
    is_request = head.type == PJSIP_REQUEST_MSG
    method = ""
    in_dialog = False
    if is_request:
        method = head.method_name.text() or ""
        info = (lib().pjsip_rx_data_get_info(rdata) or b"").decode("latin-1")
        # pjsip prints "Request msg METHOD/cseq=..": its own reading of the same struct
        if not method or not info.startswith(f"Request msg {method}/"):
            raise LayoutError("pjsip_msg method does not match pjsip_rx_data_get_info")
        if not rx.msg_info.to:
            raise LayoutError("msg_info.to is NULL")  # the endpoint drops such requests first
        to = FromToHdr.from_address(rx.msg_info.to)
        if to.name.text() not in ("To", "t"):
            raise LayoutError("msg_info.to is not a To header")
        in_dialog = bool(to.tag.ptr) and to.tag.slen > 0
    return RxFacts(
        is_request=is_request,
        method=method,
        source_ip=_normalize_ip(src[0]),
        source_port=src[1],
        transport=tp.type,
        transport_ptr=tp.ptr,
        packet_len=length,
        in_dialog=in_dialog,
    )


def rdata_message(rdata: int) -> bytes:
    """The whole received message (after rdata_facts() has checked the layout)."""
    info = RxData.from_address(rdata).msg_info
    return ctypes.string_at(info.msg_buf, info.len) if info.msg_buf and info.len > 0 else b""


def _pj_str(buf: ctypes.Array[ctypes.c_char]) -> PjStr:
    out = PjStr()
    out.ptr = ctypes.addressof(buf)
    out.slen = len(buf.value)
    return out


def respond_stateless(endpt: int, rdata: int, status: int, headers: tuple[tuple[str, str], ...] = ()) -> int:
    """pjsip_endpt_respond_stateless with extra headers: each is a pjsip_generic_string_hdr
    initialised in our memory and linked into a list; pjsip clones them into the response, so
    they only live for this call. Header text is ASCII-only here (it is ours, not a caller's)."""
    if not headers:
        return int(lib().pjsip_endpt_respond_stateless(endpt, rdata, status, None, None, None))
    head = GenericStringHdr()
    head_at = ctypes.addressof(head)
    keep: list[object] = [head]
    nodes: list[GenericStringHdr] = []
    for name, value in headers:
        name_buf = ctypes.create_string_buffer(name.encode("ascii"))
        value_buf = ctypes.create_string_buffer(value.encode("ascii"))
        hname, hvalue = _pj_str(name_buf), _pj_str(value_buf)
        node = GenericStringHdr()
        keep += [name_buf, value_buf, hname, hvalue, node]
        lib().pjsip_generic_string_hdr_init2(ctypes.addressof(node), ctypes.addressof(hname), ctypes.addressof(hvalue))
        if node.name.ptr != hname.ptr or node.hvalue.ptr != hvalue.ptr or not node.vptr:
            raise LayoutError("pjsip_generic_string_hdr does not match its mirror")
        nodes.append(node)
    addresses = [head_at, *(ctypes.addressof(n) for n in nodes)]
    for i, node in enumerate([head, *nodes]):
        node.prev = addresses[i - 1]
        node.next = addresses[(i + 1) % len(addresses)]
    status_code = int(lib().pjsip_endpt_respond_stateless(endpt, rdata, status, None, head_at, None))
    del keep
    return status_code


def terminate_call(call_index: int, status: int) -> bool:
    """End a pjsua call's INVITE session at once (``pjsip_inv_terminate``), without the BYE
    handshake. For a call we answered and the caller never ACKed: pjsua's own hang-up sends a
    BYE nobody answers, and the call keeps its pjsua slot for 64 s (200 retransmissions, then
    the BYE's timeout). Returns False when pjsua no longer has the call."""
    call, dlg = c_void_p(), c_void_p()
    if lib().acquire_call(b"terminate_call", call_index, ctypes.byref(call), ctypes.byref(dlg)) != PJ_SUCCESS:
        return False
    try:
        inv = lib().pjsip_dlg_get_inv_session(dlg) if dlg.value else None
        return bool(inv) and lib().pjsip_inv_terminate(inv, status, 1) == PJ_SUCCESS
    finally:
        if dlg.value:
            lib().pjsip_dlg_dec_lock(dlg)
