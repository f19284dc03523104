"""G.711 mu-law: the codec the phone channel and the STT evaluation rely on."""

from __future__ import annotations

import numpy as np

from telephony.g711 import mulaw_decode, mulaw_encode, mulaw_round_trip


def test_known_code_points() -> None:
    # ITU-T G.711 table: 0 -> 0xFF, full-scale positive -> 0x80, full-scale negative -> 0x00.
    assert mulaw_encode(np.array([0.0]))[0] == 0xFF
    assert mulaw_encode(np.array([1.0]))[0] == 0x80
    assert mulaw_encode(np.array([-1.0]))[0] == 0x00


def test_every_code_decodes_and_re_encodes_to_itself() -> None:
    codes = np.arange(256, dtype=np.uint8)
    again = mulaw_encode(mulaw_decode(codes))
    # 0x7F and 0xFF are both zero; every other code is a fixed point of decode -> encode.
    assert np.array_equal(again[codes != 0x7F], codes[codes != 0x7F])


def test_round_trip_keeps_speech_level_signal_within_companding_error() -> None:
    t = np.arange(8000) / 8000
    x = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    y = mulaw_round_trip(x)
    snr = 10 * np.log10(np.mean(x**2) / np.mean((x - y) ** 2))
    assert 30 < snr < 45  # 8-bit log companding: ~38 dB SNR, never lossless
