from __future__ import annotations

import numpy as np

from emotion.training.burst_affect import N, fit_mlp, with_temperature


def test_the_fitted_head_works_on_raw_features_and_the_temperature_only_softens() -> None:
    """Standardisation is folded into the first layer: features on wildly different scales and
    offsets are classified from their raw values; 1/T changes confidence, not the argmax."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(N, 12)) * 5.0
    scale, offset = np.geomspace(1e-3, 1e3, 12), rng.normal(size=12) * 50

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, N, n)
        return ((centres[y] + rng.normal(size=(n, 12))) * scale + offset).astype(np.float32), y

    x, y = sample(3000)
    head = fit_mlp(x, y, epochs=30, hidden=64)
    x_test, y_test = sample(600)
    p = head(x_test)
    assert np.mean(p.argmax(1) == y_test) > 0.95
    soft = with_temperature(head, 2.0)(x_test)
    assert np.array_equal(soft.argmax(1), p.argmax(1)) and soft.max(1).mean() < p.max(1).mean()
    again = fit_mlp(x, y, epochs=30, hidden=64)  # seeded: the same weights again
    assert np.allclose(again.w2, head.w2)


def test_learning_curve_fits_on_shares_of_groups_2_to_5_and_never_reads_group_0() -> None:
    """Group 0 (the held-out group) carries NaN features: had the curve fitted on it, the head
    would be NaN and score at chance. The shares are of the training contributors."""
    from emotion.training.burst_affect import learning_curve
    from emotion.training.emogator import Features

    rng = np.random.default_rng(1)
    centres = rng.normal(size=(N, 12)) * 4.0
    contributors = [f"{i:06d}" for i in range(36)]
    rows = [(c, i % 6, cat) for i, c in enumerate(contributors) for cat in range(N)]
    n = len(rows)
    cats = np.array([r[2] for r in rows])
    groups = np.array([r[1] for r in rows])
    speech = (centres[cats] + rng.normal(size=(n, 12))).astype(np.float32)
    speech[groups == 0] = np.nan
    feats = Features(
        np.array([f"{c}-{k}" for c, _, k in rows]), np.array([r[0] for r in rows]), cats, groups,
        np.full(n, "clean"), np.full(n, ""), np.ones(n, bool),
        np.full((n, 3, 521), 0.5, np.float16), np.zeros((n, 3, 1024), np.float16), speech,
    )
    curve = learning_curve(feats, np.arange(4), fractions=(0.5, 1.0), seeds=(0,), progress=False)
    assert [r["contributors"] for r in curve] == [12, 24]  # groups 2-5: 24 contributors
    assert curve[-1]["top1"] > 0.9
