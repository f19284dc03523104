"""The threat rule set (emotion/models/language/threats.py)."""

from __future__ import annotations

import pytest

from emotion.models.language import THREAT_RULES, threat_score


def test_threat_rules() -> None:
    assert threat_score("I'm going to hurt you") >= 0.9
    assert threat_score("I would never hurt you") == 0.0
    assert threat_score("I'll kill the pain with ibuprofen") == 0.0
    assert threat_score("I'm going to sue the clinic") == pytest.approx(0.5)


def test_every_rule_is_documented_and_scored() -> None:
    for rx, score, what in THREAT_RULES:
        assert rx and what and 0.0 < score <= 1.0
    assert threat_score("Could you tell me when the clinic opens?") == 0.0
    assert threat_score("I know where you live") == pytest.approx(0.9)
    assert threat_score("I’ll hurt you") >= 0.9  # typographic apostrophe
