"""The per-deployment calibration: fitted scales move toward QA's word as corrections accumulate
(and barely with a few), exemplars pull the moments that sound like a corrected one and leave the
others, a burst is named only by a close exemplar, the file round-trips and refuses what is not
one, and the service's view of the file reloads on change, keeps the last good one and lets go
when the file is removed."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from emotion.deployment_calibration import CalibrationFile, DeploymentCalibration, Example, agreement, fit


def unit(*values: float) -> np.ndarray:
    v = np.array(values, np.float32)
    return v / np.linalg.norm(v)


def test_no_corrections_is_the_identity() -> None:
    calibration = fit([])
    reading = calibration.apply(-0.4, 0.6, unit(1, 0, 0))
    assert (reading.valence, reading.arousal, reading.burst, reading.pull) == pytest.approx((-0.4, 0.6, None, 0.0))


def test_the_scales_follow_qa_more_the_more_corrections_there_are() -> None:
    # The models read ordinary callers 0.3 too negative; QA keeps saying "neutral".
    few = [Example(-0.3, 0.5, 0.0, None) for _ in range(2)]
    many = [Example(-0.3 + d, 0.5, d, None) for d in np.linspace(-0.2, 0.2, 40)]
    shift_few = fit(few).apply(-0.3, 0.5).valence - (-0.3)
    shift_many = fit(many).apply(-0.3, 0.5).valence - (-0.3)
    assert 0 < shift_few < 0.15  # two corrections barely move it (the ridge)
    assert shift_many == pytest.approx(0.3, abs=0.03)  # forty move it nearly all the way
    assert fit(many).arousal_scale == 1.0 and fit(many).arousal_offset == 0.0  # nothing said about arousal


def test_an_exemplar_pulls_what_sounds_like_it_and_leaves_the_rest() -> None:
    calibration = fit([Example(-0.6, 0.7, 0.0, None, "sigh", unit(1, 0, 0), "call-a")], threshold=0.9, ridge=1e6)
    same = calibration.apply(-0.6, 0.7, unit(1, 0, 0))
    assert same.pull == pytest.approx(1.0) and same.valence == pytest.approx(0.0) and same.burst == "sigh"
    near = calibration.apply(-0.6, 0.7, unit(1, 0.25, 0))  # cosine ~0.97: pulled most of the way
    assert 0.5 < near.pull < 1 and -0.6 < near.valence < 0 and near.burst == "sigh"
    halfway = calibration.apply(-0.6, 0.7, unit(1, 0.4, 0))  # cosine ~0.93: pulled, but not named a sigh
    assert 0 < halfway.pull < 0.5 and halfway.burst is None
    other = calibration.apply(-0.6, 0.7, unit(0, 1, 0))
    assert other.pull == 0 and other.valence == pytest.approx(-0.6, abs=1e-6)
    assert calibration.apply(-0.6, 0.7, None).pull == 0  # no embedding: the scales only
    assert calibration.apply(-0.6, 0.7, np.zeros(3, np.float32)).pull == 0  # silence


def test_a_distressed_exemplar_sets_arousal_and_others_keep_the_reading() -> None:
    calibration = fit([Example(-0.2, 0.3, -0.7, 0.85, None, unit(0, 0, 1)), Example(0.1, 0.4, 0.0, None, None, unit(0, 1, 0))],
                      ridge=1e6)
    assert calibration.apply(-0.2, 0.3, unit(0, 0, 1)).arousal == pytest.approx(0.85)
    assert calibration.apply(0.1, 0.4, unit(0, 1, 0)).arousal == pytest.approx(0.4, abs=1e-3)


def test_the_file_round_trips_and_what_is_not_one_is_refused(tmp_path: Path) -> None:
    calibration = fit([Example(-0.6, 0.7, 0.0, None, "sigh", unit(1, 2, 3)), Example(0.5, 0.2, 0.5, 0.9, None, unit(3, 2, 1))],
                      threshold=0.85, fitted_at="2026-12-05T10:00:00+00:00")
    path = tmp_path / "calibration.json"
    calibration.save(path)
    loaded = DeploymentCalibration.load(path)
    for v, a, e in [(-0.6, 0.7, unit(1, 2, 3)), (0.1, 0.3, unit(3, 2, 1.2)), (0.0, 0.5, unit(-1, 0, 0))]:
        got, want = loaded.apply(v, a, e), calibration.apply(v, a, e)
        assert (got.valence, got.arousal, got.pull) == pytest.approx((want.valence, want.arousal, want.pull), abs=1e-4)
        assert got.burst == want.burst
    assert (loaded.corrections, loaded.threshold, loaded.bursts) == (2, 0.85, ("sigh", None))
    assert not list(tmp_path.glob("*.part"))
    for bad in [{"format": 2}, {"format": 1}, {**calibration.to_json(), "exemplars": [{"embedding": [1, 0]}, {"embedding": [1]}]}]:
        path.write_text(json.dumps(bad))
        with pytest.raises((ValueError, KeyError)):
            DeploymentCalibration.load(path)


def test_agreement_before_and_after() -> None:
    examples = [Example(-0.5, 0.5, 0.0, None, None, unit(1, 0)), Example(-0.2, 0.5, 0.0, None, "sigh", unit(0, 1))]
    before = agreement(examples, None, ["none", "none"])
    assert before.moments == 2 and before.valence_error == pytest.approx(0.35) and before.affect_agreement == 0.5
    assert before.burst_agreement == 0.0
    after = agreement(examples, fit(examples, ridge=1e6), ["none", "none"])
    assert after.valence_error == pytest.approx(0.0, abs=1e-6) and after.affect_agreement == 1.0 and after.burst_agreement == 1.0


def test_the_services_view_reloads_on_change_keeps_the_last_good_one_and_lets_go(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    events: list[str] = []
    view = CalibrationFile(path, check_every_s=0.0, on_event=lambda event, **fields: events.append(event))
    assert view.current() is None
    fit([Example(-0.3, 0.5, 0.0, None)] * 8).save(path)
    first = view.current()
    assert first is not None and first.corrections == 8
    path.write_text("{not json")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    assert view.current() is first and events[-1] == "calibration_unreadable"
    fit([Example(-0.3, 0.5, 0.0, None)] * 3).save(path)
    assert view.current().corrections == 3
    path.unlink()
    assert view.current() is None and events == ["calibration_loaded", "calibration_unreadable", "calibration_loaded",
                                                 "calibration_removed"]
    assert CalibrationFile(None).current() is None


def test_the_file_is_looked_at_no_more_often_than_asked(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    view = CalibrationFile(path, check_every_s=60.0)
    assert view.current() is None
    fit([Example(-0.3, 0.5, 0.0, None)]).save(path)
    assert view.current() is None  # not looked at again yet


def test_the_words_valence_has_its_own_map_and_an_older_file_without_it_reads_as_the_identity(tmp_path: Path) -> None:
    words = [Example(-0.4, 0.5, 0.0, None) for _ in range(30)]
    calibration = fit([], words=words)
    assert calibration.apply_language(-0.4) == pytest.approx(0.0, abs=0.05) and calibration.corrections == 30
    assert calibration.apply(-0.4, 0.5).valence == pytest.approx(-0.4)  # the voice's map is untouched
    path = tmp_path / "calibration.json"
    calibration.save(path)
    assert DeploymentCalibration.load(path).apply_language(-0.4) == pytest.approx(calibration.apply_language(-0.4))
    data = json.loads(path.read_text())
    del data["language"]
    path.write_text(json.dumps(data))
    assert DeploymentCalibration.load(path).apply_language(-0.4) == pytest.approx(-0.4)
    assert agreement(words, calibration, words=True).valence_error < agreement(words, None).valence_error
