import pytest

from telephony.sdp import SdpError, common_codecs, parse_audio_offer, sip_body

SUPPORTED = ["PCMU/8000", "PCMA/8000", "G722/16000"]

OFFER = """v=0\r
o=- 1 1 IN IP4 127.0.0.1\r
s=-\r
c=IN IP4 127.0.0.1\r
t=0 0\r
m=audio 4000 RTP/AVP 18 9 0 101\r
a=rtpmap:18 G729/8000\r
a=rtpmap:101 telephone-event/8000\r
"""


def test_static_payloads_are_named_without_rtpmap():
    offer = parse_audio_offer(OFFER)
    assert offer is not None
    assert offer.payload_types == (18, 9, 0, 101)
    assert offer.codecs == ("G729/8000", "G722/8000", "PCMU/8000", "TELEPHONE-EVENT/8000")


def test_common_codecs_keeps_offer_order_and_maps_g722_clock():
    assert common_codecs(parse_audio_offer(OFFER), SUPPORTED) == ["G722/8000", "PCMU/8000"]


def test_offer_with_only_unsupported_codecs_has_nothing_in_common():
    sdp = OFFER.replace("RTP/AVP 18 9 0 101", "RTP/AVP 18 3")
    assert common_codecs(parse_audio_offer(sdp), SUPPORTED) == []


def test_dynamic_payload_pcmu_by_rtpmap_is_accepted():
    sdp = OFFER.replace("RTP/AVP 18 9 0 101", "RTP/AVP 96") + "a=rtpmap:96 pcmu/8000\r\n"
    assert common_codecs(parse_audio_offer(sdp), SUPPORTED) == ["PCMU/8000"]


def test_no_audio_stream_returns_none():
    assert parse_audio_offer("v=0\r\nm=video 5000 RTP/AVP 96\r\n") is None


@pytest.mark.parametrize(
    "bad",
    ["o=- 1 1 IN IP4 x\r\n", "v=0\r\nm=audio 4000 RTP/AVP\r\n", "v=0\r\nm=audio 4000 RTP/AVP x y\r\n",
     "v=0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:zz PCMU/8000\r\n"],
)
def test_malformed_sdp_raises_a_clear_error(bad):
    with pytest.raises(SdpError):
        parse_audio_offer(bad)


def test_sip_body_splits_headers_from_body():
    msg = "INVITE sip:x SIP/2.0\r\nCall-ID: a\r\n\r\n" + OFFER
    assert sip_body(msg) == OFFER
    assert sip_body("OPTIONS sip:x SIP/2.0\r\nCall-ID: a") == ""
