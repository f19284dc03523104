"""Configuration of the SIP gateway and of call-audio segmentation (all defaults documented)."""

from __future__ import annotations

from enum import StrEnum
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, SecretStr, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Transport(StrEnum):
    UDP = "udp"
    TCP = "tcp"


class Codec(StrEnum):
    PCMU = "PCMU/8000"
    PCMA = "PCMA/8000"
    G722 = "G722/16000"


class RegistrationConfig(_Strict):
    """Optional REGISTER to a registrar or SIP trunk (digest auth)."""

    registrar: str | None = Field(None, description="e.g. sip:pbx.example.org; None = do not register")
    aor: str | None = Field(None, description="address of record, e.g. sip:bedside@pbx.example.org")
    username: str | None = Field(None, description="digest user name: for the registrar, and for any challenge to a call Bedside places")
    password: SecretStr | None = Field(None, description="prefer BEDSIDE_SIP__REGISTRATION__PASSWORD")
    realm: str = Field("*", description="digest realm (* = any the registrar names)")
    expires_s: int = Field(300, ge=60, description="registration lifetime requested")


# Loopback and the private ranges (RFC 1918, RFC 4193 unique-local IPv6): a clinic's PBX or
# trunk gateway sits on its LAN; the public internet must be let in explicitly.
DEFAULT_ALLOWED_SOURCES = ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")


class InboundAuthConfig(_Strict):
    """Digest authentication (RFC 3261 §22, MD5 with qop=auth) that callers must pass before an
    INVITE is answered; off unless a user name is set."""

    username: str | None = Field(None, description="user name callers authenticate as; None = no inbound auth")
    password: SecretStr | None = Field(None, description="prefer BEDSIDE_SIP__INBOUND_AUTH__PASSWORD")
    realm: str = Field("bedside", description="digest realm offered in the challenge")
    nonce_ttl_s: float = Field(30.0, gt=0, le=600, description="a challenge's nonce is good for this long")
    max_failures: int = Field(5, ge=1, description="failed attempts from one source address before it is locked out")
    lockout_s: float = Field(60.0, gt=0, description="how long a source that failed max_failures times gets 403")

    @model_validator(mode="after")
    def _password_with_user(self) -> InboundAuthConfig:
        if self.username and not self.password:
            raise ValueError("inbound_auth.username is set but inbound_auth.password is not")
        return self


class SipConfig(_Strict):
    host: str = Field("127.0.0.1", description="address the SIP transports bind to")
    port: int = Field(5060, ge=0, le=65535, description="SIP port (0 = any free port)")
    transports: list[Transport] = Field(
        default_factory=lambda: [Transport.UDP, Transport.TCP], description="SIP transports to listen on (udp, tcp)"
    )
    public_address: str | None = Field(None, description="address to advertise in Contact/SDP if behind NAT")
    codecs: list[Codec] = Field(
        default_factory=lambda: [Codec.PCMU, Codec.PCMA, Codec.G722],
        description="offered/accepted codecs in priority order; anything else is refused (488)",
    )
    rtp_port: int = Field(40000, ge=0, le=65535, description="first RTP port (0 = any)")
    rtp_port_range: int = Field(2000, ge=0, description="RTP ports available from rtp_port (split across workers)")
    max_calls: int = Field(8, ge=1, le=256, description="concurrent calls across all SIP worker processes")
    calls_per_process: int = Field(
        4,
        ge=1,
        le=4,
        description="calls one pjsua2 process can hold (the pjsua2-python wheel is built with PJSUA_MAX_CALLS=4); "
        "beyond it calls are redirected (302) to sibling worker processes",
    )
    rtp_timeout_s: float = Field(15.0, gt=0, description="hang up a call whose RTP stops for this long")
    drain_timeout_s: float = Field(300.0, ge=0, description="on SIGTERM, wait this long for calls to end")
    transfer_targets: dict[str, str] = Field(
        default_factory=dict,
        description="graph transfer names -> SIP URIs for blind transfer (REFER), e.g. operator: sip:desk@pbx.local; "
        "a name without a URI: the request is recorded and the call ends after the announcement",
    )
    transfer_timeout_s: float = Field(15.0, gt=0, le=120, description="wait this long for the transferred call to connect")
    user_agent: str = Field(
        "Bedside", description="User-Agent/Server header; no version, so a scan cannot match it to known flaws"
    )
    allowed_sources: list[IPvAnyNetwork] = Field(
        default_factory=lambda: [ip_network(n) for n in DEFAULT_ALLOWED_SOURCES],
        description="networks (CIDR) whose SIP requests are served; anything else gets 403 (loopback and private "
        "ranges by default: list your trunk's or PBX's addresses to take calls from the internet)",
    )
    accepted_users: list[str] = Field(
        default_factory=lambda: ["bedside"],
        description="user parts of the request URI that reach the agent (e.g. bedside, a DID like +15551234567; "
        "the user of sip.registration.aor is added); others get 404; ['*'] = any",
    )
    inbound_auth: InboundAuthConfig = Field(default_factory=InboundAuthConfig)
    ack_timeout_s: float = Field(
        8.0, gt=0, le=64, description="an answered call whose ACK has not come in this long is hung up (frees its slot)"
    )
    retry_after_s: int = Field(30, ge=1, le=3600, description="Retry-After sent with 503 when full or draining")
    redirect_ttl_s: float = Field(
        8.0, gt=0, le=60, description="a slot held for a caller redirected (302) to a worker is given back if the "
        "caller has not arrived within this long; the redirect itself is valid for as long"
    )
    tcp_max_connections_per_source: int = Field(
        8, ge=1, le=60, description="SIP/TCP connections one address may hold open at once"
    )
    tcp_first_message_timeout_s: float = Field(
        5.0, gt=0, le=120, description="a SIP/TCP connection that has not sent one whole message by then is closed"
    )
    jitter_buffer_init_ms: int = Field(
        -1, ge=-1, le=1000, description="initial jitter-buffer prefetch in ms (-1 = pjmedia's adaptive default)"
    )
    jitter_buffer_min_ms: int = Field(
        -1, ge=-1, le=1000, description="minimum jitter-buffer prefetch in ms (-1 = pjmedia default)"
    )
    registration: RegistrationConfig = Field(default_factory=RegistrationConfig)
    pjsip_log_level: int = Field(1, ge=0, le=6, description="pjsip's own log verbosity (to stderr)")


class WebRtcConfig(_Strict):
    """Browser calls (WebRTC, aiortc) placed from the QA console's softphone page."""

    max_calls: int = Field(2, ge=0, le=16, description="concurrent browser calls (0 = the softphone is off); beside sip.max_calls")
    ice_addresses: list[str] = Field(
        default_factory=list,
        description="addresses offered as ICE host candidates ([] = the console's own address when it is a specific "
        "one, e.g. 127.0.0.1; every interface when it listens on all)",
    )
    connect_timeout_s: float = Field(15.0, gt=0, le=120, description="a browser that has not connected media by then is dropped")
    max_offer_bytes: int = Field(65536, ge=1024, le=1 << 20, description="an SDP offer longer than this is refused (413)")

    @field_validator("ice_addresses")
    @classmethod
    def _addresses(cls, addresses: list[str]) -> list[str]:
        return [str(ice_host_address(a)) for a in addresses]


def ice_host_address(text: str) -> IPv4Address | IPv6Address:
    """An address a browser can reach as an ICE host candidate. ValueError for one that is not an
    IP address (the message names it) or that is every interface (0.0.0.0, ::)."""
    address = ip_address(text)
    if address.is_unspecified:
        raise ValueError(f"{address} is every interface, not an address a browser can reach ([] = every interface)")
    return address


class VadEngine(StrEnum):
    SILERO = "silero"
    WEBRTC = "webrtc"


class SegmentationConfig(_Strict):
    """How caller audio is cut into utterances (for STT) and segments (for emotion)."""

    vad_engine: VadEngine = Field(VadEngine.SILERO, description="silero (ONNX, default) or webrtc")
    speech_threshold: float = Field(0.5, gt=0, lt=1, description="VAD speech probability threshold")
    webrtc_aggressiveness: int = Field(2, ge=0, le=3, description="webrtc VAD only: 0 permissive .. 3 strict")
    end_of_speech_silence_ms: int = Field(
        300, ge=100, le=3000, description="silence that ends an utterance (docs/benchmarks.md: latency vs. split sentences)"
    )
    min_utterance_ms: int = Field(200, ge=0, description="shorter speech bursts are not utterances")
    max_utterance_s: float = Field(20.0, gt=1, description="force-cut an utterance this long")
    pre_roll_ms: int = Field(200, ge=0, description="audio kept before speech onset (and before the first sound of a segment)")
    speech_start_ms: int = Field(60, ge=20, description="speech needed to open an utterance")
    segment_s: float = Field(2.0, gt=0, description="length of emotion segments")
    segment_min_speech_ratio: float = Field(0.1, ge=0, le=1, description="ratio above which a segment has speech")
    segment_onset_dbfs: float | None = Field(
        -50.0,
        le=0,
        description="after nothing but frames quieter than this, a segment restarts at the first louder one, pre_roll_ms "
        "before it (the quiet is not scored anyway), so a sigh or laugh after a pause lands in one segment, not cut in two; null = a fixed grid",
    )
    silence_threshold: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="inside an utterance, frames below this are silence; null = speech_threshold - 0.15 (hysteresis)",
    )
    tail_ms: int = Field(100, ge=0, le=1000, description="audio kept after the end of speech in an utterance")
    pause_ms: int = Field(
        100,
        ge=0,
        le=3000,
        description="silence after which the utterance so far is handed to STT before the turn has ended, so its "
        "transcript is ready (or nearly) when the end-of-speech silence does end it (docs/stt.md); at least tail_ms "
        "and under end_of_speech_silence_ms; 0 = transcribe only when the turn has ended",
    )
    partial_every_ms: int = Field(
        0, ge=0, le=10000,
        description="while the caller talks, the utterance so far is offered for a partial transcript this often "
        "(transcribed only when STT is idle), e.g. 600; 0 = none (the default: nothing in the call acts on them yet, and "
        "each costs a core while the caller speaks, docs/stt.md)",
    )

    @model_validator(mode="after")
    def _pause_inside_the_silence(self) -> SegmentationConfig:
        if self.pause_ms and not self.tail_ms <= self.pause_ms < self.end_of_speech_silence_ms:
            raise ValueError(
                f"pause_ms ({self.pause_ms}) must be 0, or at least tail_ms ({self.tail_ms}) and under "
                f"end_of_speech_silence_ms ({self.end_of_speech_silence_ms}): the paused speech must be the utterance's audio"
            )
        return self


class BargeInConfig(_Strict):
    """Defaults measured on real audio; see ``telephony.barge_in`` for the numbers."""

    enabled: bool = Field(True, description="caller speech over agent playback stops it")
    min_speech_ms: int = Field(
        180, ge=20, le=2000, description="caller speech needed over playback to stop it (most coughs are shorter)"
    )
    speech_threshold: float = Field(0.6, gt=0, lt=1, description="VAD threshold for caller speech over playback")
    max_gap_ms: int = Field(
        20, ge=0, le=200, description="sub-threshold dips tolerated inside that speech (longer ones restart it)"
    )
