#!/usr/bin/env python
"""Measure Bedside's STT configurations: WER, digit accuracy, non-speech rejection, latency.

Usage:  .venv/bin/python scripts/eval_stt.py [--quick] [--write-docs] [--configs tiny-fw30,tiny-w10,...]

Audio takes a telephone-like path: the NOIZEUS / FSDD files are 8 kHz already, optionally
through a G.711 mu-law round trip (what a PCMU SIP call does), then soxr up to 16 kHz.
Every utterance runs through every configuration back to back, so background load on the
machine hits all configurations alike. ``--write-docs`` replaces the results block in docs/stt.md.
WER is on ``agent.services.stt.normalize_for_wer`` text (lowercase, numbers spelled out, no punctuation)."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jiwer
import numpy as np
import soundfile as sf
import soxr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agent.services.stt import Transcript, WhisperTranscriber, normalize_for_wer  # noqa: E402
from agent.services.stt_config import SttConfig, SttModel  # noqa: E402
from telephony.audio import SAMPLE_RATE, float_to_pcm16  # noqa: E402
from telephony.g711 import mulaw_round_trip  # noqa: E402

DATA = Path(os.environ.get("BEDSIDE_SHARED", REPO.parent / "shared")) / "data"
NOISES = ("babble", "car", "street")
SNRS = (15, 5)
DIGITS = "zero one two three four five six seven eight nine".split()
DOCS = REPO / "docs" / "stt.md"
BEGIN, END = "<!-- eval_stt:begin -->", "<!-- eval_stt:end -->"


# --- telephone path -------------------------------------------------------------------------

def phone_path(x8k: np.ndarray, g711: bool) -> bytes:
    if g711:
        x8k = mulaw_round_trip(x8k)
    return float_to_pcm16(soxr.resample(x8k.astype(np.float32), 8000, SAMPLE_RATE))


def load8k(path: Path) -> np.ndarray:
    x, sr = sf.read(path, dtype="float32")
    return x if sr == 8000 else soxr.resample(x, sr, 8000)


# --- data sets -------------------------------------------------------------------------------

@dataclass
class Item:
    group: str  # column of the results table
    key: str  # file name, e.g. sp01
    ref: str | None  # None: non-speech, any text is a false transcript
    pcm: bytes


def noizeus_items(quick: bool) -> list[Item]:
    refs = dict(row.split("\t", 1) for row in (DATA / "noizeus" / "transcripts.tsv").read_text().splitlines() if row)
    ids = sorted(refs)[:: 2 if quick else 1]
    items: list[Item] = []
    clean = {i: load8k(DATA / "noizeus" / "clean" / f"{i}.flac") for i in ids}
    for i in ids:
        items.append(Item("clean", i, refs[i], phone_path(clean[i], g711=False)))
        items.append(Item("clean+g711", i, refs[i], phone_path(clean[i], g711=True)))
    for noise in NOISES:
        for snr in SNRS:
            for i in ids:
                noisy = load8k(DATA / "noizeus" / "noisy" / f"{noise}_{snr}dB" / f"{i}_{noise}_sn{snr}.flac")
                items.append(Item(f"{noise}{snr}", i, refs[i], phone_path(noisy, g711=True)))
                if snr == 5:  # NOIZEUS mixes are sample-aligned: noisy - clean is the noise alone
                    items.append(Item("noise-only", i, None, phone_path(noisy - clean[i], g711=True)))
    return items


def synthetic_nonspeech() -> list[Item]:
    rng = np.random.default_rng(7)
    t = np.arange(8000) / 8000
    signals = [
        np.zeros(8000),
        rng.normal(0, 0.1, 8000),
        np.clip(rng.normal(0, 0.5, 16000), -1, 1),
        np.sign(np.sin(2 * np.pi * 200 * t)),  # clipped square
        0.3 * np.sin(2 * np.pi * 1000 * t),
        0.3 * np.sin(2 * np.pi * 440 * t) * (t % 0.5 < 0.25),  # ring-back-like beeps
        np.full(8000, 0.5) + rng.normal(0, 0.001, 8000),  # DC offset
        np.concatenate([np.zeros(4000), np.full(40, 0.9), np.zeros(4000)]),  # click in silence
        np.full(400, 0.9),  # 50 ms click
    ]
    return [
        Item("synthetic", f"s{k}", None, phone_path(s.astype(np.float32), g711=True)) for k, s in enumerate(signals)
    ]


def fsdd_items(takes: tuple[int, ...]) -> list[Item]:
    """FSDD's official test split is takes 0-4 of every speaker; we use ``takes`` of them."""
    files = sorted(p for p in (DATA / "fsdd").glob("*.flac") if int(p.stem.rsplit("_", 1)[1]) in takes)
    return [Item("digits", p.stem, DIGITS[int(p.name[0])], phone_path(load8k(p), g711=True)) for p in files]


# --- configurations --------------------------------------------------------------------------

Run = Callable[[bytes], Transcript]


class PlainFasterWhisper:
    """The baseline: faster-whisper's own transcribe() (30 s window, temperature fallback)."""

    def __init__(self, config: SttConfig) -> None:
        self.inner = WhisperTranscriber(config)

    def transcribe(self, pcm: bytes) -> Transcript:
        audio = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0
        started = time.perf_counter()
        segments, _ = self.inner.model.transcribe(
            audio,
            language="en",
            beam_size=1,
            initial_prompt=self.inner.config.prompt,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
        )
        segments = list(segments)
        text = " ".join(s.text.strip() for s in segments)
        nsp = max((s.no_speech_prob for s in segments), default=1.0)
        avg = min((s.avg_logprob for s in segments), default=0.0)
        return Transcript(text, len(audio) / SAMPLE_RATE, time.perf_counter() - started, 0.0, nsp, avg, "fw", 30.0)


def build(name: str) -> Run:
    model, _, window = name.partition("-")
    base = SttConfig(model=SttModel.TINY_EN if model == "tiny" else SttModel.BASE)
    if window == "fw30":
        return PlainFasterWhisper(base).transcribe
    return WhisperTranscriber(base.model_copy(update={"encoder_window_s": float(window[1:])})).transcribe


ALL_CONFIGS = ("tiny-fw30", "tiny-w30", "tiny-w5", "tiny-w10", "base-w10")
DEFAULT_CONFIGS = ("tiny-fw30", "tiny-w5", "tiny-w10", "base-w10")


@dataclass
class Scores:
    refs: dict[str, list[str]] = field(default_factory=dict)
    hyps: dict[str, list[str]] = field(default_factory=dict)
    times: dict[str, list[float]] = field(default_factory=dict)  # speech items only, by group
    fallbacks: int = 0  # short window looped, decoded again with a longer window
    short_runs: int = 0
    speech_blanked: int = 0  # real speech the gates emptied
    nonspeech_text: dict[str, int] = field(default_factory=dict)
    nonspeech_n: dict[str, int] = field(default_factory=dict)
    speech_stats: list[tuple[float, float]] = field(default_factory=list)  # (no_speech_prob, avg_logprob)
    nonspeech_stats: list[tuple[float, float]] = field(default_factory=list)

    def add(self, item: Item, result: Transcript, window: float | None) -> None:
        hyp = normalize_for_wer(result.text)
        if item.ref is None:
            self.nonspeech_n[item.group] = self.nonspeech_n.get(item.group, 0) + 1
            self.nonspeech_text[item.group] = self.nonspeech_text.get(item.group, 0) + bool(hyp)
            if result.window_s:
                self.nonspeech_stats.append((result.no_speech_prob, result.avg_logprob))
            return
        self.refs.setdefault(item.group, []).append(normalize_for_wer(item.ref))
        self.hyps.setdefault(item.group, []).append(hyp)
        self.times.setdefault(item.group, []).append(result.elapsed_s)
        self.speech_blanked += not hyp
        self.speech_stats.append((result.no_speech_prob, result.avg_logprob))
        if window is not None and window < 30:
            self.short_runs += 1
            self.fallbacks += result.window_s > window  # looped, decoded again with a longer window

    def wer(self, *groups: str) -> float:
        refs = [r for g in groups for r in self.refs.get(g, [])]
        hyps = [h for g in groups for h in self.hyps.get(g, [])]
        return jiwer.wer(refs, hyps) if refs else float("nan")

    def worst_sentence(self, group: str) -> float:
        pairs = zip(self.refs.get(group, []), self.hyps.get(group, []), strict=True)
        return max((jiwer.wer(r, h) for r, h in pairs), default=float("nan"))

    def ms(self, digits: bool) -> np.ndarray:
        return np.array([t for g, ts in self.times.items() if (g == "digits") == digits for t in ts]) * 1000

    def digit_acc(self) -> float:
        pairs = list(zip(self.refs.get("digits", []), self.hyps.get("digits", []), strict=True))
        # "oh" is how callers say zero in numbers
        ok = sum(h == r or (r == "zero" and h in ("oh", "o")) for r, h in pairs)
        return ok / len(pairs) if pairs else float("nan")


def _mean_p95(ms: np.ndarray) -> str:
    return f"{ms.mean():.0f} / {np.percentile(ms, 95):.0f}" if ms.size else "-"


def table(scores: dict[str, Scores], groups: list[str]) -> str:
    noisy15 = [g for g in groups if g.endswith("15") and g != "clean"]
    noisy5 = [g for g in groups if re.fullmatch(r"[a-z]+5", g)]
    head = (
        "| config | clean | clean+G.711 (worst sentence) | noisy 15 dB | noisy 5 dB | digits acc "
        "| non-speech -> text | speech blanked | sentences mean / p95 ms | digits mean / p95 ms | re-decodes |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, s in scores.items():
        ns_n, ns_t = sum(s.nonspeech_n.values()), sum(s.nonspeech_text.values())
        sent, dig = s.ms(digits=False), s.ms(digits=True)
        n_speech = sum(len(v) for v in s.times.values())
        lines.append(
            f"| {name} | {s.wer('clean'):.3f} | {s.wer('clean+g711'):.3f} ({s.worst_sentence('clean+g711'):.2f}) "
            f"| {s.wer(*noisy15):.3f} | {s.wer(*noisy5):.3f} | {s.digit_acc():.3f} | {ns_t}/{ns_n} "
            f"| {s.speech_blanked}/{n_speech} | {sent.mean():.0f} / {np.percentile(sent, 95):.0f} "
            f"| {_mean_p95(dig)} | {f'{s.fallbacks}/{s.short_runs}' if s.short_runs else '-'} |"
        )
    return "\n".join(lines)


def per_noise_table(scores: dict[str, Scores], groups: list[str]) -> str:
    cols = [g for g in groups if g not in ("digits",)]
    lines = ["| config | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for name, s in scores.items():
        lines.append(f"| {name} | " + " | ".join(f"{s.wer(g):.3f}" for g in cols) + " |")
    return "\n".join(lines)


def sentence_table(scores: dict[str, Scores], keys: list[str], group: str = "clean+g711") -> str:
    """Per-sentence WER: the e2e call test bounds each sentence, not the corpus."""
    lines = ["| config | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for name, s in scores.items():
        pairs = zip(s.refs[group], s.hyps[group], strict=True)
        lines.append(f"| {name} | " + " | ".join(f"{jiwer.wer(r, h):.2f}" for r, h in pairs) + " |")
    return "\n".join(lines)


def gate_stats(scores: dict[str, Scores]) -> str:
    lines = [
        "| config | speech no_speech_prob p95 / max | speech avg_logprob p5 / min "
        "| non-speech (model ran) no_speech_prob min | non-speech avg_logprob max |",
        "|---|---|---|---|---|",
    ]
    for name, s in scores.items():
        sp = np.array(s.speech_stats)
        ns = np.array(s.nonspeech_stats) if s.nonspeech_stats else np.array([[np.nan, np.nan]])
        lines.append(
            f"| {name} | {np.percentile(sp[:, 0], 95):.2f} / {sp[:, 0].max():.2f} "
            f"| {np.percentile(sp[:, 1], 5):.2f} / {sp[:, 1].min():.2f} "
            f"| {np.nanmin(ns[:, 0]):.2f} | {np.nanmax(ns[:, 1]):.2f} |"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default=",".join(DEFAULT_CONFIGS), help=f"from {', '.join(ALL_CONFIGS)}")
    ap.add_argument("--quick", action="store_true", help="half the sentences, FSDD take 0 only")
    ap.add_argument("--fsdd-takes", default="0,1", help="FSDD test-split takes to use (official: 0,1,2,3,4)")
    ap.add_argument("--verbose", action="store_true", help="print every item (PHI-free: public corpora only)")
    ap.add_argument("--write-docs", action="store_true", help=f"replace the results block in {DOCS.relative_to(REPO)}")
    args = ap.parse_args()
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    takes = (0,) if args.quick else tuple(int(t) for t in args.fsdd_takes.split(","))

    load_start = os.getloadavg()[0]
    items = noizeus_items(args.quick) + fsdd_items(takes) + synthetic_nonspeech()
    runs = {n: build(n) for n in names}
    windows = {n: (None if n.endswith("fw30") else float(n.rsplit("-w", 1)[1])) for n in names}
    scores = {n: Scores() for n in names}
    started = time.perf_counter()
    for k, item in enumerate(items):
        for n in names:
            result = runs[n](item.pcm)
            scores[n].add(item, result, windows[n])
            if args.verbose:
                print(
                    f"{n:10s} {item.group:11s} nsp={result.no_speech_prob:.2f} avg={result.avg_logprob:5.2f} "
                    f"w={result.window_s:2.0f} {result.filtered or '-':12s} {item.ref!r} -> {result.text!r}",
                    file=sys.stderr,
                )
        if k % 50 == 49:
            print(f"  {k + 1}/{len(items)} items, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    groups = list(dict.fromkeys(i.group for i in items if i.ref is not None))
    cmd = "python scripts/eval_stt.py " + " ".join(sys.argv[1:])
    n_sent = len(scores[names[0]].refs["clean"])
    report = "\n\n".join(
        [
            f"Command: `{cmd.strip()}`; {n_sent} NOIZEUS sentences per condition, FSDD takes {list(takes)} "
            f"({len(scores[names[0]].refs.get('digits', []))} digits), {os.cpu_count()} CPUs, load average "
            f"{load_start:.1f} -> {os.getloadavg()[0]:.1f}, {time.perf_counter() - started:.0f} s.",
            "WER (noisy columns: babble, car, street pooled, after G.711) and latency (pure inference, speech items):",
            table(scores, groups),
            "WER per condition:",
            per_noise_table(scores, groups),
            "Per-sentence WER, clean+G.711 (the e2e call test bounds single sentences):",
            sentence_table(scores, [i.key for i in items if i.group == "clean+g711"]),
            "Gate statistics (no-speech probability / average log-probability):",
            gate_stats(scores),
        ]
    )
    print(report)
    if args.write_docs:
        text = DOCS.read_text() if DOCS.exists() else f"{BEGIN}\n{END}\n"
        if BEGIN not in text:
            text += f"\n{BEGIN}\n{END}\n"
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        DOCS.write_text(f"{head}{BEGIN}\n{report}\n{END}{tail}")
        print(f"wrote {DOCS.relative_to(REPO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
