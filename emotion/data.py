"""Moved: the data set readers are training-only and live in :mod:`emotion.training.data`.

This alias remains only for the tests outside emotion/ that still import ``emotion.data``
(tests/telephony/test_segmenter.py, tests/e2e/test_call_*.py); nothing in the runtime imports it,
and it goes once they import ``emotion.training.data``."""

from __future__ import annotations

from emotion.training.data import *  # noqa: F401,F403
from emotion.training.data import __all__  # noqa: F401
