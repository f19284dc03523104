"""G.711 mu-law, bit-exact with the ITU reference (and so with pjsip's PCMU codec).

Used wherever audio must sound like it went through a phone call: the STT evaluation and the
emotion models' telephone-channel augmentation."""

from __future__ import annotations

import numpy as np


def mulaw_encode(x: np.ndarray) -> np.ndarray:
    """float [-1, 1] -> G.711 mu-law bytes (the ITU segment algorithm, as in audioop/pjsip)."""
    s = np.clip(np.round(np.asarray(x, dtype=np.float64) * 32768.0), -32768, 32767).astype(np.int32)
    v = s >> 2  # 14-bit, floor shift: bit-exact with the ITU reference (checked against audioop)
    sign = np.where(v < 0, 0x80, 0)
    mag = (np.minimum(np.abs(v), 8158) << 2) + 0x84
    exponent = np.clip(np.floor(np.log2(mag >> 7)).astype(np.int32), 0, 7)
    mantissa = (mag >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)


def mulaw_decode(u: np.ndarray) -> np.ndarray:
    """G.711 mu-law bytes -> float32 in [-1, 1]."""
    u = ~np.asarray(u).astype(np.int32) & 0xFF
    exponent, mantissa = (u >> 4) & 0x07, u & 0x0F
    mag = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return (np.where(u & 0x80, -mag, mag) / 32768.0).astype(np.float32)


def mulaw_round_trip(x: np.ndarray) -> np.ndarray:
    """What the far end hears after one PCMU hop (8 kHz audio in, 8 kHz out)."""
    return mulaw_decode(mulaw_encode(x))
