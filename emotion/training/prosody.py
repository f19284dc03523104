"""Train and evaluate the prosody head (``bedside emotion train --only prosody``).

Speaker-independent throughout: five folds of whole actors (1-20) choose the regularisation and
give the cross-validated scores; the committed head is then fitted on actors 1-20 and scored once
on the held-out actors 21-24 (:mod:`emotion.training.ravdess_features`). Training rows are three
crops of every clip, each clean and through the phone channel; scores use the centred crop."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emotion.audio import load_audio
from emotion.caller_baseline import CallerBaseline
from emotion.config import WindowConfig
from emotion.models.base import WEIGHTS_DIR, save_weights, softmax
from emotion.models.prosody import CIRCUMPLEX, ProsodyModel, typicality_distances
from emotion.readings import named_emotion
from emotion.speech_features import FEATURE_VERSION
from emotion.training.calibration import (
    Bin,
    bins_as_dicts,
    ece,
    fit_temperature,
    reliability,
    reliability_plot,
    reliability_table,
)
from emotion.training.channel import PhoneChannel, load_noise_bank
from emotion.training.common import confusion, confusion_table, fit_logistic, head_logits, latency_ms, progress, recalls
from emotion.training.data import RAVDESS_EMOTIONS, ravdess_clips, shared_root
from emotion.training.ravdess_features import CV_FOLDS, HELD_OUT_ACTORS, SEED, RavdessFeatures, load_or_extract, speech_crop

C_GRID = (0.001, 0.003, 0.01)
DIAGRAM = Path(__file__).resolve().parents[2] / "docs" / "images" / "reliability-prosody.png"
TYPICALITY_COMPONENTS = 32  # principal components the typicality distance is measured over
N = len(RAVDESS_EMOTIONS)
DATA_CARD = {
    "data": "RAVDESS speech (Livingstone & Russo 2018), 1,440 clips, 24 actors, CC BY-NC-SA 4.0",
    "noise": "../shared/data/noise (CC BY 4.0) and NOIZEUS noise (noisy - clean; research use)",
    "licence": "CC BY-NC-SA 4.0 (inherits RAVDESS: non-commercial)",
    "split": "train actors 1-20 (CV: 1-4, 5-8, 9-12, 13-16, 17-20); held out actors 21-24",
}


def _fit(x: np.ndarray, y: np.ndarray, c: float) -> dict[str, np.ndarray]:
    """Standardisation + L2-regularised multinomial logistic regression (:func:`fit_logistic`)."""
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-5
    coef, intercept = fit_logistic((x - mean) / scale, y, c, classes=N)
    return {"mean": mean, "scale": scale, "coef": coef, "intercept": intercept}


def _kind(feats: RavdessFeatures) -> np.ndarray:
    """0 clean, 1 phone, 2 augmented: baselines are taken per actor and kind of recording."""
    return np.where(feats.phone, 1, np.where(feats.augmented, 2, 0))


def resting_reference(feats: RavdessFeatures) -> np.ndarray:
    """The actors' average resting voice: the mean features of their neutral and calm crops."""
    return feats.features[_resting(feats)].mean(axis=0)


def _resting(feats: RavdessFeatures) -> np.ndarray:
    return np.isin(feats.emotion, [RAVDESS_EMOTIONS.index("neutral"), RAVDESS_EMOTIONS.index("calm")])


def relative_features(feats: RavdessFeatures, reference: np.ndarray) -> np.ndarray:
    """Each actor's features moved by ``reference - their resting mean`` (per kind of recording):
    what the relative head learns from, as a caller's segments are moved by their baseline."""
    out = feats.features.copy()
    kind, resting = _kind(feats), _resting(feats)
    for actor in np.unique(feats.actor):
        for k in np.unique(kind):
            rows = (feats.actor == actor) & (kind == k)
            out[rows] = feats.features[rows] - feats.features[rows & resting].mean(axis=0) + reference
    return out


def cross_validate(feats: RavdessFeatures, c: float, x: np.ndarray | None = None) -> dict[str, Any]:
    """5-fold CV over whole actors on features ``x`` (default: absolute). Scores the centred crop,
    clean and phone; keeps every crop-0 row's out-of-fold logits for calibration."""
    x = feats.features if x is None else x
    logits = np.zeros((len(feats.emotion), N), np.float32)
    for fold in progress(CV_FOLDS, f"prosody: CV C={c}"):
        test = np.isin(feats.actor, fold)
        head = _fit(x[~test], feats.emotion[~test], c)
        rows = test & (feats.crop == 0)
        logits[rows] = head_logits(head, x[rows])
    out: dict[str, Any] = {}
    for condition, phone in (("clean", False), ("phone", True)):
        rows = (feats.crop == 0) & (feats.phone == phone) & ~feats.augmented
        cm = confusion(feats.emotion[rows], logits[rows].argmax(1), N)
        out[condition] = {"uar": round(float(recalls(cm).mean()), 4), "confusion": cm.tolist()}
    out["_logits"] = logits
    return out


def typicality(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The training features' leading principal components (orthonormal basis and standard
    deviations) and, for both distances (Mahalanobis within, residual outside), the training
    segments' 90th and 99th percentiles: atypicality 0 and 1 (emotion/caller_baseline.py)."""
    z = (x - mean) / scale
    _, sing, vt = np.linalg.svd(z - z.mean(axis=0), full_matrices=False)
    basis = vt[:TYPICALITY_COMPONENTS].astype(np.float32)
    sd = (sing[:TYPICALITY_COMPONENTS] / np.sqrt(len(z))).astype(np.float32)
    mahalanobis, residual = typicality_distances(x, mean, scale, basis, sd)
    return {"typ_basis": basis, "typ_sd": sd}, {
        "components": TYPICALITY_COMPONENTS,
        "mahalanobis": [round(float(np.percentile(mahalanobis, p)), 3) for p in (90, 99)],
        "residual": [round(float(np.percentile(residual, p)), 3) for p in (90, 99)],
    }


def train(root: Path | None = None, out_dir: Path | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    root = root or shared_root()
    feats = load_or_extract(root)
    torch.set_num_threads(2)
    extracted = time.perf_counter()
    dev = feats.select(~np.isin(feats.actor, HELD_OUT_ACTORS))
    cv = {c: cross_validate(dev, c) for c in C_GRID}
    best_c = max(C_GRID, key=lambda c: cv[c]["clean"]["uar"] + cv[c]["phone"]["uar"])
    reference = resting_reference(dev)
    rel_x = relative_features(dev, reference)
    rel_cv = {c: cross_validate(dev, c, rel_x) for c in C_GRID}
    rel_c = max(C_GRID, key=lambda c: rel_cv[c]["clean"]["uar"] + rel_cv[c]["phone"]["uar"])
    crop0 = dev.crop == 0
    temperature = fit_temperature(cv[best_c]["_logits"][crop0], dev.emotion[crop0])
    rel_temperature = fit_temperature(rel_cv[rel_c]["_logits"][crop0], dev.emotion[crop0])
    head = _fit(dev.features, dev.emotion, best_c)
    rel = _fit(rel_x, dev.emotion, rel_c)
    typ_arrays, typ = typicality(dev.features, head["mean"], head["scale"])
    fitted = time.perf_counter()
    arrays = {k: v.astype(np.float32) for k, v in head.items()}
    arrays.update({f"rel_{k}": v.astype(np.float32) for k, v in rel.items()})
    arrays.update({"reference": reference.astype(np.float32), **typ_arrays})
    for scores in (*cv.values(), *rel_cv.values()):
        scores.pop("_logits")
    meta: dict[str, Any] = {
        "model": "prosody",
        "labels": list(RAVDESS_EMOTIONS),
        "features": FEATURE_VERSION,
        "head": f"multinomial logistic regression (L-BFGS), C={best_c} (chosen by CV from {list(C_GRID)})",
        "relative_head": f"the same on features moved by each actor's resting mean, C={rel_c}",
        "temperature": round(temperature, 4),
        "rel_temperature": round(rel_temperature, 4),
        "typicality": typ,
        "class_prior": {e: round(float(n / len(dev.emotion)), 6) for e, n in zip(RAVDESS_EMOTIONS, np.bincount(dev.emotion, minlength=N))},
        "circumplex": CIRCUMPLEX,
        **DATA_CARD,
        "cv": {
            "folds": [list(f) for f in CV_FOLDS],
            "uar_by_c": {str(c): {k: v["uar"] for k, v in cv[c].items()} for c in C_GRID},
            **cv[best_c],
            "relative_uar_by_c": {str(c): {k: v["uar"] for k, v in rel_cv[c].items()} for c in C_GRID},
            "relative": rel_cv[rel_c],
        },
        "seconds": {"features": round(extracted - started, 1), "cv_and_fit": round(fitted - extracted, 1)},
    }
    out = out_dir or WEIGHTS_DIR
    save_weights("prosody", arrays, meta, out)
    evaluation = evaluate(out, root, latency=False)
    meta["held_out"] = evaluation["held_out"]
    meta["calibration"] = evaluation["calibration"]
    meta["adaptation"] = evaluation["adaptation"]
    meta["seconds"]["total"] = round(time.perf_counter() - started, 1)
    save_weights("prosody", arrays, meta, out)
    return meta


def held_out_segments(root: Path) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, np.ndarray]:
    """Centred 2-s crops of actors 21-24: clean, through the phone channel (fixed seed), labels, strong."""
    clips = [c for c in ravdess_clips(root) if c.actor in HELD_OUT_ACTORS]
    channel = PhoneChannel(load_noise_bank(root), rng=np.random.default_rng(SEED + 2))
    clean = [speech_crop(load_audio(c.path)) for c in progress(clips, "prosody: loading held-out actors")]
    phone = [channel.apply(x) for x in clean]
    labels = np.array([RAVDESS_EMOTIONS.index(c.emotion) for c in clips])
    return clean, phone, labels, np.array([c.strong for c in clips])


NEGATIVE = ("sad", "angry", "fearful", "disgust")
SCENARIOS = {  # held-out actors' clips as calls, in this order (each clip's centred 2-s crop is a segment)
    "calm caller": (("neutral", "calm"),),
    "angry from the first word": (("angry",),),
    "calm, then upset": (("neutral", "calm"), ("angry", "sad", "fearful")),
    "mixed call": (tuple(RAVDESS_EMOTIONS),),
}


def _scenarios(model: ProsodyModel, feats: list[np.ndarray], labels: np.ndarray, actors: np.ndarray) -> dict[str, Any]:
    """Each held-out actor's clips played as one call through a fresh CallerBaseline: the share of
    segments read negative (top category, and named: the call's reading, unsure below
    ``emotion.window.named_min_probability``), the mean valence, and the mean trust in the absolute
    reading; for "calm, then upset" the figures are of the upset part; "mixed call" adds UAR."""
    rng = np.random.default_rng(SEED + 4)
    named_min = WindowConfig().named_min_probability
    out: dict[str, Any] = {}
    for name, parts in SCENARIOS.items():
        negative, named, valence, trust, truth, pred = [], [], [], [], [], []
        for actor in np.unique(actors):
            baseline = CallerBaseline()
            for i, part in enumerate(parts):
                idx = [j for j in np.nonzero(actors == actor)[0] if RAVDESS_EMOTIONS[labels[j]] in part]
                for j in rng.permutation(idx):
                    r = model.predict_features(feats[j], baseline)
                    if i == len(parts) - 1:
                        negative.append(r.top in NEGATIVE)
                        named.append(named_emotion(r.emotions, named_min) in NEGATIVE)
                        valence.append(r.valence)
                        trust.append(r.adaptation.trust if r.adaptation else 1.0)
                        truth.append(labels[j])
                        pred.append(RAVDESS_EMOTIONS.index(r.top))
        out[name] = {"segments": len(negative), "negative_share": round(float(np.mean(negative)), 3),
                     "named_negative_share": round(float(np.mean(named)), 3),
                     "valence_mean": round(float(np.mean(valence)), 3), "trust_mean": round(float(np.mean(trust)), 3)}
        if name == "mixed call":
            out[name]["uar"] = round(float(recalls(confusion(np.array(truth), np.array(pred), N)).mean()), 4)
    return out


def evaluate(directory: Path | None = None, root: Path | None = None, latency: bool = True) -> dict[str, Any]:
    """Score the committed heads on the held-out actors through the real inference path: absolute
    readings, their calibration, and held-out actors played as calls through the adaptation."""
    root = root or shared_root()
    torch.set_num_threads(1)
    model = ProsodyModel.load(directory)
    clean, phone, labels, strong = held_out_segments(root)
    actors = np.array([c.actor for c in ravdess_clips(root) if c.actor in HELD_OUT_ACTORS])
    held: dict[str, Any] = {}
    adaptation: dict[str, Any] = {}
    probs, raw = [], []
    for condition, segments in (("clean", clean), ("phone", phone)):
        feats = [model.features.features(x) for x in progress(segments, f"prosody: held-out {condition}")]
        results = [model.predict_features(f) for f in feats]
        pred = np.array([RAVDESS_EMOTIONS.index(r.top) for r in results])
        cm = confusion(labels, pred, N)
        arousal = np.array([r.arousal for r in results])
        valence = np.array([r.valence for r in results])
        target_v = np.array([CIRCUMPLEX[RAVDESS_EMOTIONS[i]][0] for i in labels])
        target_a = np.array([CIRCUMPLEX[RAVDESS_EMOTIONS[i]][1] for i in labels])
        held[condition] = {
            "uar": round(float(recalls(cm).mean()), 4),
            "confusion": cm.tolist(),
            "valence_r": round(float(np.corrcoef(valence, target_v)[0, 1]), 3),
            "arousal_r": round(float(np.corrcoef(arousal, target_a)[0, 1]), 3),
            "arousal_strong_minus_normal": round(float(arousal[strong].mean() - arousal[~strong].mean()), 3),
        }
        calibrated = model.probabilities(np.array(feats))
        probs.append(calibrated)
        raw.append(softmax(model.logits(np.array(feats))))  # the same head before calibration
        adaptation[condition] = _scenarios(model, feats, labels, actors)
    both = np.concatenate([labels, labels])
    p_cal, p_raw = np.concatenate(probs), np.concatenate(raw)
    calibration = {
        "temperature": model.temperature,
        "ece_before": round(ece(p_raw, both), 4),
        "ece_after": round(ece(p_cal, both), 4),
        "bins_before": bins_as_dicts(reliability(p_raw, both)),
        "bins_after": bins_as_dicts(reliability(p_cal, both)),
    }
    report: dict[str, Any] = {"held_out": held, "calibration": calibration, "adaptation": adaptation}
    reliability_plot({"T = 1": reliability(p_raw, both), f"T = {model.temperature:.2f}": reliability(p_cal, both)},
                     "prosody, held-out actors (clean + phone)", DIAGRAM)
    if latency:
        encoder = model.features
        report["latency"] = {
            "features_2s": latency_ms(lambda: encoder.features(clean[0])),
            "prosody_2s": latency_ms(lambda: model.predict(clean[0])),
        }
    return report


def _bins(rows: list[dict[str, float]]) -> list[Bin]:
    return [Bin(r["lo"], r["hi"], int(r["count"]), r["confidence"], r["accuracy"]) for r in rows]


def tables(meta: dict[str, Any], evaluation: dict[str, Any] | None = None) -> str:
    labels = meta["labels"]
    held = (evaluation or meta)["held_out"]
    lines = [
        "| prosody (UAR, 8 classes, chance 0.125) | clean | G.711 phone channel |",
        "|---|---|---|",
        f"| 5-fold CV, actors 1-20 | {meta['cv']['clean']['uar']:.3f} | {meta['cv']['phone']['uar']:.3f} |",
        f"| held-out actors 21-24 | {held['clean']['uar']:.3f} | {held['phone']['uar']:.3f} |",
        "",
        f"Valence/arousal vs the circumplex coordinates of the true category (held out, clean): "
        f"r = {held['clean']['valence_r']:.2f} / {held['clean']['arousal_r']:.2f}; strong minus normal "
        f"intensity arousal: {held['clean']['arousal_strong_minus_normal']:+.3f}.",
        "",
        "CV confusion, clean:",
        "",
        confusion_table(meta["cv"]["clean"]["confusion"], labels),
        "",
        "CV confusion, phone channel:",
        "",
        confusion_table(meta["cv"]["phone"]["confusion"], labels),
    ]
    rel = meta["cv"].get("relative")
    if rel:
        lines[4:4] = [f"| 5-fold CV, relative head (each actor's resting voice as baseline) | {rel['clean']['uar']:.3f} "
                      f"| {rel['phone']['uar']:.3f} |"]
    source = evaluation or meta
    if "calibration" in source:
        cal = source["calibration"]
        n = sum(int(b["count"]) for b in cal["bins_after"])
        lines += ["", f"Calibration (held-out actors, clean + phone, {n} segments): temperature {cal['temperature']:.2f}, ECE {cal['ece_before']:.3f} before, {cal['ece_after']:.3f} after "
                  "(docs/images/reliability-prosody.png).", "",
                  reliability_table({"T = 1": _bins(cal["bins_before"]), "calibrated": _bins(cal["bins_after"])})]
    if "adaptation" in source:
        lines += ["", "Held-out actors played as calls through the per-caller adaptation (emotion/caller_baseline.py):", "",
                  "| call (held-out actors 21-24) | condition | segments | top category negative | read negative (named) "
                  "| mean valence | trust in absolute | UAR |",
                  "|---|---|---|---|---|---|---|---|"]
        for condition, scenarios in source["adaptation"].items():
            for name, r in scenarios.items():
                named = f"{r['named_negative_share']:.0%}" if "named_negative_share" in r else "–"
                lines.append(f"| {name} | {condition} | {r['segments']} | {r['negative_share']:.0%} | {named} | {r['valence_mean']:+.2f} "
                             f"| {r['trust_mean']:.2f} | {r.get('uar', '') and format(r['uar'], '.3f')} |")
    if evaluation and "latency" in evaluation:
        lat = evaluation["latency"]
        lines += ["", f"Latency, one core, 2-s segment: features {lat['features_2s']['mean_ms']} ms "
                  f"(p95 {lat['features_2s']['p95_ms']}), features + head {lat['prosody_2s']['mean_ms']} ms."]
    return "\n".join(lines)

