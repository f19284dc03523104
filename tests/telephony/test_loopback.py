"""Which listen addresses stay on this machine (the emotion service, the records API and the
console speak without TLS or a token only there)."""

from __future__ import annotations

from telephony.loopback import is_loopback


def test_loopback_detection() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.9.10", "::1", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "", None, "10.0.0.5", "192.168.1.2", "emotion.example.org"))
