"""EmoGator reader, its contributor split and the features it extracts (the burst model's own)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from emotion.audio import SEGMENT_SAMPLES, load_audio
from emotion.models.burst_labels import AFFECT_CIRCUMPLEX, EMOGATOR_CATEGORIES
from emotion.training import emogator


@pytest.fixture(scope="module")
def clips(shared: Path) -> list[emogator.EmoGatorClip]:
    return emogator.emogator_clips(shared)


def test_reader(clips: list[emogator.EmoGatorClip]) -> None:
    assert len(clips) == 16020
    per = Counter(c.contributor for c in clips)
    assert len(per) == 178 and set(per.values()) == {90}  # 30 categories x 3 takes each
    assert {c.take for c in clips} == {1, 2, 3}
    assert Counter(c.category for c in clips) == dict.fromkeys(EMOGATOR_CATEGORIES, 534)
    first = clips[0]
    assert first.path.name == "000002-01-1.opus" and first.category == "Adoration" and first.key == "000002-01-1"
    # the file name's EE is the position in EmoGator's list, names kept as EmoGator writes them
    c = next(c for c in clips if c.path.name.endswith("-27-2.opus"))
    assert c.category == "Surprise (Negative)" and c.take == 2
    assert "Romantic Love" in EMOGATOR_CATEGORIES and set(AFFECT_CIRCUMPLEX) == set(EMOGATOR_CATEGORIES)


def test_contributor_split_is_disjoint_and_fixed(clips: list[emogator.EmoGatorClip]) -> None:
    groups = emogator.contributor_groups(clips)
    assert Counter(groups.values()) == {0: 30, 1: 30, 2: 30, 3: 30, 4: 29, 5: 29}
    held = {c for c, g in groups.items() if g == emogator.HELD_OUT_GROUP}
    for g in emogator.CV_GROUPS:
        assert held.isdisjoint(c for c, gg in groups.items() if gg == g)
    # independent of the order the files are listed in, and of which of a contributor's clips are seen
    assert emogator.contributor_groups(list(reversed(clips))) == groups
    assert emogator.contributor_groups([c for c in clips if c.take == 1]) == groups
    # every held-out contributor's clips are all held out: a contributor is on one side only
    by_clip = {c.key: groups[c.contributor] for c in clips}
    assert sum(g == emogator.HELD_OUT_GROUP for g in by_clip.values()) == 30 * 90


def test_normalise_and_pad(clips: list[emogator.EmoGatorClip]) -> None:
    x = load_audio(clips[0].path)
    y = emogator.pad_segment(emogator.normalise(x))
    assert y.size == SEGMENT_SAMPLES and y.dtype == np.float32
    rms_db = 20 * np.log10(np.sqrt(np.mean(y[: x.size].astype(np.float64) ** 2)))
    assert abs(rms_db - emogator.LEVEL_DBFS) < 0.5 or np.max(np.abs(y)) == pytest.approx(0.95, abs=1e-3)
    assert np.all(y[x.size :] == 0)
    assert emogator.pad_segment(np.ones(40000, np.float32)).size == SEGMENT_SAMPLES


def test_features_are_what_the_model_computes(clips: list[emogator.EmoGatorClip], shared: Path, tmp_path: Path) -> None:
    """The cached training rows equal BurstModel.features of the same 2-s segment (no train/serve skew)."""
    from emotion.models.burst import BurstModel
    from emotion.training.burst import SCORE_CLASSES

    two = [c for c in clips if c.contributor == clips[0].contributor][:2]
    feats = emogator.extract(two, cache=tmp_path, root=shared, variants=("clean",), progress=False)
    assert list(feats.keys) == [c.key for c in two] and feats.signal.all()
    assert list(feats.categories) == [EMOGATOR_CATEGORIES.index(c.category) for c in two]
    rows = feats.pooled(np.array(SCORE_CLASSES, np.int64))
    model = BurstModel.load()
    n_emb = 2 * 1024
    for clip, row in zip(two, rows):
        expected, _ = model.features(emogator.pad_segment(emogator.normalise(load_audio(clip.path))))
        assert row.shape == expected.shape
        speech = feats.speech.shape[1]
        assert np.allclose(row[-speech:], expected[-speech:], atol=1e-4)  # Whisper states: float32, exact
        assert np.allclose(row[:n_emb], expected[:n_emb], rtol=2e-3, atol=2e-3)  # YAMNet embeddings stored as float16
        # log-odds of scores stored as float16: near 1 a float16 step is 5e-4, a few tenths in log-odds
        assert np.max(np.abs(row[n_emb:-speech] - expected[n_emb:-speech])) < 0.5
    again = emogator.extract(two, cache=tmp_path, root=shared, variants=("clean",), progress=False)  # from the cache
    assert np.array_equal(again.speech, feats.speech)
