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
