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


def output_labels() -> tuple[str, ...]:
    """The head's 16 classes, their families' sub-types, the YAMNet-only types, then ``none``."""
    labels: list[str] = []
    for head in HEAD_LABELS[:-1]:
        labels.extend(m for m, _ in FAMILIES.get(head, [(head, [])]))
    labels.extend(YAMNET_ONLY)
    labels.append(NONE)
    return tuple(labels)


__all__ = ["FAMILIES", "HEAD_LABELS", "NONE", "NONVERBAL_LABELS", "YAMNET_ONLY", "output_labels"]
