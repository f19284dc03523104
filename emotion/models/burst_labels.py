"""The vocal-burst model's vocabulary: its head classes, their families and the YAMNet-only types.

Torch-free on purpose: the graph validator checks burst names in a conversation graph against
:func:`output_labels` on every save, and the burst table's loader checks its coverage."""

from __future__ import annotations

# Deeply Nonverbal folder name -> head label (the 16 classes with training clips).
NONVERBAL_LABELS: dict[str, str] = {
    "coughing": "cough",
    "crying": "cry",
    "laughing": "laugh",
    "lip-popping": "lip_pop",
    "lip-smacking": "lip_smack",
    "moaning": "moan",
    "nose-blowing": "nose_blow",
    "panting": "pant",
    "screaming": "scream",
    "sighing": "sigh",
    "sneezing": "sneeze",
    "teeth-chattering": "teeth_chatter",
    "teeth-grinding": "teeth_grind",
    "throat-clearing": "throat_clear",
    "tongue-clicking": "tongue_click",
    "yawning": "yawn",
}
NONE = "none"
HEAD_LABELS: tuple[str, ...] = tuple(sorted(NONVERBAL_LABELS.values())) + (NONE,)

# Head class -> its family: (label, YAMNet AudioSet classes whose max score is the label's evidence).
# The first member is the head class itself.
FAMILIES: dict[str, list[tuple[str, list[str]]]] = {
    "laugh": [
        ("laugh", ["Laughter", "Belly laugh", "Baby laughter"]),
        ("giggle", ["Giggle", "Snicker"]),
        ("chuckle", ["Chuckle, chortle"]),
    ],
    "cry": [("cry", ["Crying, sobbing", "Baby cry, infant cry"]), ("whimper", ["Whimper"])],
    "moan": [("moan", ["Wail, moan"]), ("groan", ["Groan"])],
    "pant": [("pant", ["Pant"]), ("breath", ["Breathing"]), ("gasp", ["Gasp"]), ("wheeze", ["Wheeze"])],
    "scream": [("scream", ["Screaming"]), ("shout", ["Shout", "Yell", "Children shouting"])],
    "nose_blow": [("nose_blow", []), ("sniff", ["Sniff"]), ("snort", ["Snort"])],
}
# Types only YAMNet knows (no training clips): they take their mass from `none`.
YAMNET_ONLY: dict[str, list[str]] = {
    "grunt": ["Grunt"],
    "hiccup": ["Hiccup"],
    "hum": ["Humming"],
    "whistle": ["Whistling"],
    "burp": ["Burping, eructation"],
    "snore": ["Snoring"],
}


# EmoGator's 30 categories, in its order (file names' EE = position + 1) and spelling: the affect
# head answers with these names exactly (Buhl 2023, arXiv 2301.00508).
EMOGATOR_CATEGORIES: tuple[str, ...] = (
    "Adoration", "Amusement", "Anger", "Awe", "Confusion", "Contempt", "Contentment", "Desire", "Disappointment",
    "Disgust", "Distress", "Ecstasy", "Elation", "Embarrassment", "Fear", "Guilt", "Interest", "Neutral", "Pain",
    "Pride", "Realization", "Relief", "Romantic Love", "Sadness", "Serenity", "Shame", "Surprise (Negative)",
    "Surprise (Positive)", "Sympathy", "Triumph",
)
NEUTRAL_AFFECT = "Neutral"

# Valence (-1..1) and arousal (0..1) per EmoGator category, hand-placed on Russell's circumplex
# (as prosody's CIRCUMPLEX; Neutral matches prosody's neutral). EmoGator has no dimensional
# ratings: these are fixed positions, not fitted, so a burst's valence/arousal (the
# probability-weighted mean) means the same in every release. The placements follow the usual
# circumplex readings of the words: pain, distress and fear unpleasant and aroused; sadness,
# disappointment and shame unpleasant and low; relief, contentment and serenity pleasant and calm.
AFFECT_CIRCUMPLEX: dict[str, tuple[float, float]] = {
    "Adoration": (0.8, 0.45),
    "Amusement": (0.75, 0.65),
    "Anger": (-0.7, 0.85),
    "Awe": (0.5, 0.6),
    "Confusion": (-0.25, 0.45),
    "Contempt": (-0.6, 0.4),
    "Contentment": (0.7, 0.25),
    "Desire": (0.55, 0.6),
    "Disappointment": (-0.55, 0.3),
    "Disgust": (-0.7, 0.55),
    "Distress": (-0.75, 0.75),
    "Ecstasy": (0.9, 0.9),
    "Elation": (0.85, 0.8),
    "Embarrassment": (-0.4, 0.55),
    "Fear": (-0.75, 0.85),
    "Guilt": (-0.5, 0.4),
    "Interest": (0.4, 0.5),
    "Neutral": (0.0, 0.35),
    "Pain": (-0.8, 0.7),
    "Pride": (0.65, 0.55),
    "Realization": (0.2, 0.5),
    "Relief": (0.55, 0.3),
    "Romantic Love": (0.8, 0.5),
    "Sadness": (-0.7, 0.25),
    "Serenity": (0.6, 0.15),
    "Shame": (-0.6, 0.35),
    "Surprise (Negative)": (-0.45, 0.8),
    "Surprise (Positive)": (0.55, 0.8),
    "Sympathy": (0.15, 0.35),
    "Triumph": (0.85, 0.85),
}


def output_labels() -> tuple[str, ...]:
    """The head's 16 classes, their families' sub-types, the YAMNet-only types, then ``none``."""
    labels: list[str] = []
    for head in HEAD_LABELS[:-1]:
        labels.extend(m for m, _ in FAMILIES.get(head, [(head, [])]))
    labels.extend(YAMNET_ONLY)
    labels.append(NONE)
    return tuple(labels)


__all__ = ["AFFECT_CIRCUMPLEX", "EMOGATOR_CATEGORIES", "NEUTRAL_AFFECT", "FAMILIES", "HEAD_LABELS", "NONE", "NONVERBAL_LABELS", "YAMNET_ONLY", "output_labels"]
