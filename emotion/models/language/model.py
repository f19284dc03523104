"""The language model itself: :class:`LanguageModel`, loaded from ``weights/language.{npz,json}``.

``LanguageModel.load().predict(text)`` scores one transcript text (what the outputs mean: the
package docstring, :mod:`emotion.models.language`). The transformer runs on ONNX Runtime when it
can, else in torch; the lexical heads (:mod:`.tfidf`, :mod:`.profanity`), the threat rules
(:mod:`.threats`) and the chunking (:mod:`.chunks`) are their own modules."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from emotion.models.base import TextInputError, load_weights, sigmoid, softmax
from emotion.models.language.chunks import CHUNK_TOKENS, aggregate, chunk_text
from emotion.models.language.profanity import Profanity
from emotion.models.language.result import SENTIMENT_KEYS, TOXICITY_KEYS, LanguageResult, evidence, no_signal_result
from emotion.models.language.tfidf import TfidfLinear, clean_social
from emotion.models.language.threats import threat_score

NAME = "language"
MAX_TEXT_CHARS = 10_000
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")  # "don't" is one word, "9 a.m." three


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


def check_text(text: Any) -> str:
    if not isinstance(text, str):
        raise TextInputError(f"language model scores text (str), got {type(text).__name__}")
    if len(text) > MAX_TEXT_CHARS:
        raise TextInputError(
            f"text is {len(text):,} characters, over the language model's limit of {MAX_TEXT_CHARS:,}; "
            "split the transcript (e.g. by speaker turn) and score the pieces"
        )
    return text


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
        # Calibration (emotion/training/language.py): the emotion probabilities are sigmoid(logit / T),
        # one T fitted on GoEmotions dev; the thresholds were tuned on those calibrated probabilities.
        calibration = meta.get("calibration", {})
        self.temperature = float(calibration.get("emotion_temperature", 1.0))
        self.sentiment_temperature = float(meta.get("affect", {}).get("sentiment_temperature", 1.0))
        # The evidence rule (result.evidence); weights without it keep the raw valence.
        self.words_half: float | None = meta.get("evidence", {}).get("words_half")
        self._neutral = self.labels.index("neutral")
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
        return chunk_text(text, self.encoder.count_tokens)

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
        sent = softmax((z @ self._sent_w.T + self._sent_b) / self.sentiment_temperature, axis=1)
        clean = [clean_social(t) for t in texts]
        tox = sigmoid(self.toxic.decision(clean))
        return {
            "emotions": sigmoid(logits / self.temperature),
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
        valence = float(aggregate(s["valence"], w, "mean"))
        confidence = 1.0
        if self.words_half is not None:
            felt = np.delete(emotions / self._thr, self._neutral)
            confidence = evidence(count_words(text), float(felt.max()), self.words_half)
        return LanguageResult(
            emotions={k: float(v) for k, v in zip(self.labels, emotions)},
            sentiment={k: float(v) for k, v in zip(SENTIMENT_KEYS, sentiment)},
            toxicity={k: toxicity[k] for k in TOXICITY_KEYS},
            valence=valence * confidence,  # weak evidence reads as neutral, not as a lean either way
            arousal=float(aggregate(s["arousal"], w, "mean")),
            detected=tuple(k for k, v, t in zip(self.labels, emotions, self._thr) if v >= t),
            confidence=confidence,
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
