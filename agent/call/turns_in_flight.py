"""Callers waiting for a reply right now, across the server's calls.

A turn is in flight from the end of the caller's input to its reply's first audio: that window
is what the caller hears as the agent's delay, and background work (sentences prepared ahead for
a later reply, agent/call/speaker.py) waits while any call is in it, so it never takes the CPU or
the TTS worker from a caller who is waiting. One per server (no globals); each call agent counts
its own turns in and out."""

from __future__ import annotations

from collections.abc import Callable


class TurnsInFlight:
    def __init__(self) -> None:
        self._count = 0

    @property
    def any(self) -> bool:
        return self._count > 0

    def begin(self) -> Callable[[], None]:
        """A turn enters the window; call the returned function when its reply's first audio is
        sent (or the reply never is). Calling it again does nothing."""
        self._count += 1
        open_ = True

        def end() -> None:
            nonlocal open_
            if open_:
                open_ = False
                self._count -= 1

        return end


__all__ = ["TurnsInFlight"]
