"""The burst model's affect head: EmoGator's 30 categories from the burst feature vector.

``python -m emotion.training.burst_affect`` fits it alone (into a copy of the committed burst
weights); ``bedside emotion train --only burst`` fits it together with the type head.

* Data: :mod:`emotion.training.emogator` (16,020 clips, 178 contributors; the fixed held-out
  contributor group 0 is never used to fit or choose anything).
* Features: the burst model's own 4,494-d vector (YAMNet pooled + Whisper pooled), clean and
  through one random recording-condition chain per clip (``aug``).
* Head: standardise -> PCA to ``PCA_DIM`` (fitted on the training contributors; it makes the
  L-BFGS fits ~8x cheaper and lost nothing in CV) -> multinomial logistic regression (torch
  L-BFGS, scikit-learn's objective). C is chosen by contributor-grouped 5-fold CV on groups 1-5
  (top-1 over clean + aug). The temperature ``T`` is fitted on the CV out-of-fold logits.
  Standardisation, PCA and ``1/T`` are all linear, so they are folded into one (30, 4494) matrix
  and bias: the runtime is one matrix-vector product (``BurstModel.affect``).
* Valence/arousal: fixed circumplex positions (emotion/models/burst_labels.py), weighted by the
  probabilities; EmoGator has no dimensional ratings, so there is nothing to fit them to."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from emotion.models.base import softmax
from emotion.models.burst_labels import AFFECT_CIRCUMPLEX, EMOGATOR_CATEGORIES
from emotion.training import emogator
from emotion.training.calibration import bins_as_dicts, ece, fit_temperature, reliability, reliability_plot, reliability_table
from emotion.training.common import fit_logistic

N = len(EMOGATOR_CATEGORIES)
PCA_DIM = 512
C_GRID = (0.003, 0.01)  # scikit-learn's C (per-sample loss x C + |W|^2/2)
FIT_VARIANTS = ("clean", "aug")
EVAL_VARIANTS = ("clean", "aug", "phone")
PLOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "reliability-burst-affect.png"


def _torch():
    import torch

    return torch


def pca_basis(z: np.ndarray, k: int = PCA_DIM) -> np.ndarray:
    """(dim, k) orthonormal basis of the top-k principal directions of standardised rows
    (randomised SVD, seeded: seconds where a full eigendecomposition of 4494 x 4494 takes a minute)."""
    torch = _torch()
    torch.manual_seed(0)
    t = torch.from_numpy(np.ascontiguousarray(z, np.float32))
    _, _, v = torch.svd_lowrank(t, q=k, niter=3, M=t.mean(0, keepdim=True))
    return v.numpy()


def fit_lbfgs(x: np.ndarray, y: np.ndarray, c: float, max_iter: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """The affect head on (already projected) rows: :func:`fit_logistic` over the 30 categories."""
    return fit_logistic(x, y, c, classes=N, max_iter=max_iter)


class Projection:
    """x -> (x - mean) / scale -> @ basis: fitted on the training rows only."""

    def __init__(self, x: np.ndarray, k: int = PCA_DIM) -> None:
        self.mean = x.mean(0)
        self.scale = x.std(0) + 1e-5
        self.basis = pca_basis((x - self.mean) / self.scale, k)
        p = ((x - self.mean) / self.scale) @ self.basis
        self.pmean, self.pscale = p.mean(0), p.std(0) + 1e-5  # whitened: one C suits every component

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((((x - self.mean) / self.scale) @ self.basis) - self.pmean) / self.pscale

    def fold(self, w: np.ndarray, b: np.ndarray, temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """The head ``W proj(x) + b`` (divided by T) as one matrix and bias on raw features."""
        w_p = w / self.pscale  # (n, k)
        full = (w_p @ self.basis.T) / self.scale  # (n, dim)
        bias = b - w_p @ self.pmean - full @ self.mean
        return (full / temperature).astype(np.float32), (bias / temperature).astype(np.float32)


def _logits(w: np.ndarray, b: np.ndarray, z: np.ndarray) -> np.ndarray:
    return z @ w.T + b


def scores(probs: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """top-1, top-3, UAR and per-category recall (EmoGator's names)."""
    top = probs.argmax(1)
    top3 = np.argsort(-probs, 1)[:, :3]
    recall = {c: float(np.mean(top[y == i] == i)) if np.any(y == i) else None for i, c in enumerate(EMOGATOR_CATEGORIES)}
    va = probs @ np.array([AFFECT_CIRCUMPLEX[c] for c in EMOGATOR_CATEGORIES])
    true_va = np.array([AFFECT_CIRCUMPLEX[EMOGATOR_CATEGORIES[i]] for i in y])
    return {
        "n": int(len(y)),
        "top1": float(np.mean(top == y)),
        "top3": float(np.mean(np.any(top3 == y[:, None], 1))),
        "uar": float(np.mean([r for r in recall.values() if r is not None])),
        "per_category_recall": recall,
        # how well the probability-weighted valence/arousal track the true category's position
        "valence_corr": float(np.corrcoef(va[:, 0], true_va[:, 0])[0, 1]),
        "arousal_corr": float(np.corrcoef(va[:, 1], true_va[:, 1])[0, 1]),
        "confusion": np.bincount(y * N + top, minlength=N * N).reshape(N, N).tolist(),
    }


def train_affect(feats: emogator.Features, score_idx: np.ndarray, plot: Path | None = PLOT, progress: bool = True) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Fit, choose C, calibrate, evaluate on held-out contributors -> (arrays, report)."""
    t0 = time.time()
    X = feats.pooled(score_idx).astype(np.float32)
    y = feats.categories
    cv_rows = feats.signal & (feats.groups != emogator.HELD_OUT_GROUP) & np.isin(feats.variants, FIT_VARIANTS)
    held = feats.signal & (feats.groups == emogator.HELD_OUT_GROUP)
    # C and T by contributor-grouped CV over groups 1-5
    selection: dict[float, float] = {}
    oof = {c: np.zeros((len(y), N), np.float32) for c in C_GRID}
    for g in emogator.CV_GROUPS:
        fit = cv_rows & (feats.groups != g)
        test = cv_rows & (feats.groups == g)
        proj = Projection(X[fit])
        z_fit, z_test = proj(X[fit]), proj(X[test])
        for c in C_GRID:
            w, b = fit_lbfgs(z_fit, y[fit], c)
            oof[c][test] = _logits(w, b, z_test)
        if progress:
            print(f"burst affect: CV group {g} done ({time.time() - t0:.0f} s)", flush=True)
    for c in C_GRID:
        selection[c] = float(np.mean(oof[c][cv_rows].argmax(1) == y[cv_rows]))
        if progress:
            print(f"burst affect: C={c} CV top-1 {selection[c]:.3f}", flush=True)
    best_c = max(C_GRID, key=lambda c: selection[c])
    temperature = fit_temperature(oof[best_c][cv_rows], y[cv_rows])
    proj = Projection(X[cv_rows])
    w, b = fit_lbfgs(proj(X[cv_rows]), y[cv_rows], best_c)
    coef, intercept = proj.fold(w, b, temperature)
    raw_coef, raw_intercept = proj.fold(w, b, 1.0)

    report: dict[str, Any] = {
        "C": best_c, "c_selection_cv_top1": {str(c): round(v, 4) for c, v in selection.items()},
        "temperature": round(temperature, 4), "pca_dim": PCA_DIM,
        "cv": {}, "heldout": {}, "ece": {},
    }
    cv_probs_raw = softmax(oof[best_c][cv_rows])
    cv_probs_cal = softmax(oof[best_c][cv_rows] / temperature)
    report["ece"]["cv_clean+aug"] = {"before": ece(cv_probs_raw, y[cv_rows]), "after": ece(cv_probs_cal, y[cv_rows])}
    for v in FIT_VARIANTS:
        rows = feats.variants[cv_rows] == v
        if not rows.any():
            continue
        report["cv"][v] = _slim_scores(scores(cv_probs_cal[rows], y[cv_rows][rows]))
    curves = {}
    for v in EVAL_VARIANTS:
        rows = held & (feats.variants == v)
        if not rows.any():
            continue
        p_raw = softmax(X[rows] @ raw_coef.T + raw_intercept)
        p_cal = softmax(X[rows] @ coef.T + intercept)
        report["heldout"][v] = scores(p_cal, y[rows])
        report["ece"][f"heldout_{v}"] = {"before": ece(p_raw, y[rows]), "after": ece(p_cal, y[rows])}
        if v == "clean":
            curves["held-out, uncalibrated"] = reliability(p_raw, y[rows])
            curves["held-out, T-scaled"] = reliability(p_cal, y[rows])
    report["reliability"] = {k: bins_as_dicts(b) for k, b in curves.items()}
    report["reliability_table"] = reliability_table(curves) if curves else ""
    if plot is not None and curves:
        reliability_plot(curves, "Burst affect (EmoGator 30), held-out contributors", plot)
        report["reliability_plot"] = str(plot.relative_to(plot.parents[2])) if plot.is_relative_to(PLOT.parents[2]) else str(plot)
    report["counts"] = {
        "fit_rows": int(cv_rows.sum()), "fit_contributors": int(len(set(feats.contributors[cv_rows]))),
        "heldout_contributors": int(len(set(feats.contributors[held]))),
        "heldout_rows": {v: int(np.sum(held & (feats.variants == v))) for v in EVAL_VARIANTS},
        "no_signal_rows": int(np.sum(~feats.signal)),
    }
    report["train_wall_s"] = round(time.time() - t0, 1)
    return {"affect_coef": coef, "affect_intercept": intercept}, report


def evaluate_affect(coef: np.ndarray, intercept: np.ndarray, feats: emogator.Features, score_idx: np.ndarray) -> dict[str, Any]:
    """The committed head on the held-out contributors (features as the model computes them)."""
    held = feats.signal & (feats.groups == emogator.HELD_OUT_GROUP)
    out: dict[str, Any] = {"heldout": {}, "ece": {}}
    for v in EVAL_VARIANTS:
        rows = held & (feats.variants == v)
        if not rows.any():
            continue
        p = softmax(feats.select(rows).pooled(score_idx) @ coef.T.astype(np.float64) + intercept)
        out["heldout"][v] = scores(p, feats.categories[rows])
        out["ece"][f"heldout_{v}"] = {"after": ece(p, feats.categories[rows])}
    return out


def heldout_features(root: Path | None = None) -> emogator.Features:
    clips = emogator.emogator_clips(root)
    groups = emogator.contributor_groups(clips)
    return emogator.extract([c for c in clips if groups[c.contributor] == emogator.HELD_OUT_GROUP], root=root)


def _slim_scores(s: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in s.items() if k != "confusion"}


def affect_meta(report: dict[str, Any]) -> dict[str, Any]:
    """What burst.json says about the affect head (labels in EmoGator's spelling, the fixed table)."""
    return {
        "labels": list(EMOGATOR_CATEGORIES),
        "valence_arousal": {c: list(AFFECT_CIRCUMPLEX[c]) for c in EMOGATOR_CATEGORIES},
        "head": f"standardise -> PCA {PCA_DIM} -> multinomial logistic regression (C {report['C']}), / T {report['temperature']}; "
                "folded into affect_coef/affect_intercept",
        "C": report["C"], "temperature": report["temperature"],
        "data": "EmoGator (Buhl 2023, arXiv 2301.00508), Apache-2.0: 178 contributors, 30 categories x 3 takes",
        "split": f"contributors ordered by sha256('emogator/'+id), dealt into {emogator.N_GROUPS} groups; group "
                 f"{emogator.HELD_OUT_GROUP} held out, groups 1-5 grouped CV",
        "valence_arousal_note": "fixed circumplex positions (EmoGator has no dimensional labels), probability-weighted",
    }


def tables(report: dict[str, Any]) -> str:
    """Markdown for the model card: held-out scores per condition, per-category recall, ECE."""
    lines = ["### Affect head (EmoGator 30 categories, held-out contributors)", ""]
    if "C" in report:
        lines += [f"C {report['C']} (CV top-1 {report.get('c_selection_cv_top1')}), temperature {report['temperature']}", ""]
    held = report.get("heldout", {})
    if held:
        lines += ["| condition | n | top-1 | top-3 | UAR | valence r | arousal r | ECE before T | ECE after T |", "|---|---|---|---|---|---|---|---|---|"]
        for v, s in held.items():
            e = report.get("ece", {}).get(f"heldout_{v}", {})
            before = f"{e['before']:.3f}" if "before" in e else "–"
            lines.append(f"| {v} | {s['n']} | {s['top1']:.3f} | {s['top3']:.3f} | {s['uar']:.3f} | {s['valence_corr']:.2f} | "
                         f"{s['arousal_corr']:.2f} | {before} | {e.get('after', float('nan')):.3f} |")
        lines += ["", "Per-category recall (held-out):", "", "| category | " + " | ".join(held) + " |", "|---" * (len(held) + 1) + "|"]
        for c in EMOGATOR_CATEGORIES:
            lines.append(f"| {c} | " + " | ".join(f"{held[v]['per_category_recall'][c]:.2f}" for v in held) + " |")
        lines.append("")
    if report.get("cv"):
        lines += ["CV (groups 1-5, out-of-fold, calibrated): " + ", ".join(
            f"{v} top-1 {s['top1']:.3f} top-3 {s['top3']:.3f} UAR {s['uar']:.3f}" for v, s in report["cv"].items()), ""]
    if report.get("reliability_table"):
        lines += ["Reliability (held-out, clean):", "", report["reliability_table"], ""]
    if report.get("reliability_plot"):
        lines += [f"![burst affect reliability]({report['reliability_plot']})", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "2")
    torch = _torch()
    torch.set_num_threads(2)
    parser = argparse.ArgumentParser(prog="python -m emotion.training.burst_affect", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for the report (affect.json, affect_arrays.npz)")
    args = parser.parse_args(argv)
    from emotion.training.burst import SCORE_CLASSES

    feats = emogator.extract()
    arrays, report = train_affect(feats, np.array(SCORE_CLASSES, np.int64))
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez(args.out / "affect_arrays.npz", **arrays)
    (args.out / "affect.json").write_text(json.dumps(report, indent=1))
    print(tables(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
