"""Which features should the prosody head read? A reproducible comparison on RAVDESS.

``python -m emotion.training.prosody_compare`` (about 6 minutes on 2 cores) scores four feature
sets with the same head (``emotion.training.prosody._fit``) and the same speaker-independent
5-fold CV over actors 1-20 (actors 21-24 stay unseen), each clean and through the phone channel:

* ``whisper_l0-2``: pooled states of Whisper tiny.en encoder layers 0-2 (what Bedside ships);
* ``whisper_l3``: the last encoder layer only (the one tuned for words);
* ``yamnet``: YAMNet's 1024-d embeddings, mean and max over its windows;
* ``handmade``: pitch, energy, voicing, MFCC, spectral shape and their deltas, as statistics over
  the segment (an eGeMAPS-like set written here in numpy/scipy: there is no openSMILE wheel).

To keep it short, each clip contributes its centred 2-s crop only (train and test), clean and once
through the phone channel; the shipped head also trains on jittered crops. The table it prints is
the one in docs/emotion-models.md."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from scipy.fft import dct

from emotion.audio import load_audio
from emotion.speech_features import SpeechFeatures, _mel_filters
from emotion.training.channel import PhoneChannel, load_noise_bank
from emotion.training.common import confusion, head_logits, progress, recalls
from emotion.training.data import RAVDESS_EMOTIONS, ravdess_clips, shared_root
from emotion.training.prosody import C_GRID, _fit
from emotion.training.ravdess_features import CV_FOLDS, HELD_OUT_ACTORS, SEED, speech_crop
from telephony.audio import SAMPLE_RATE

FRAME, HOP = 400, 160  # 25 ms frames, 10 ms hop
F0_RANGE = (60.0, 400.0)


def handmade_features(x: np.ndarray) -> np.ndarray:
    """Low-level descriptors per 10 ms frame, summarised by mean, std and 10/50/90th percentiles.

    Descriptors: log energy, F0 (semitones, voiced frames only, by normalised autocorrelation),
    voicing strength, 13 MFCCs and their deltas, spectral centroid, alpha ratio (energy below /
    above 1 kHz), zero-crossing rate; plus voiced fraction, F0 and energy slope variability."""
    x = x.astype(np.float64)
    n_frames = 1 + max(0, (x.size - FRAME) // HOP)
    idx = np.arange(FRAME)[None] + HOP * np.arange(n_frames)[:, None]
    frames = np.pad(x, (0, max(0, FRAME - x.size)))[idx] * np.hanning(FRAME)
    energy = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-10)
    spec = np.abs(np.fft.rfft(frames, n=FRAME, axis=1)) ** 2  # 201 bins, as Whisper's mel filters expect
    freqs = np.fft.rfftfreq(FRAME, 1 / SAMPLE_RATE)
    mel = np.log(spec @ _mel_filters().T + 1e-10)
    mfcc = dct(mel, type=2, norm="ortho", axis=1)[:, :13]
    d_mfcc = np.gradient(mfcc, axis=0) if n_frames > 1 else np.zeros_like(mfcc)
    centroid = (spec @ freqs) / (spec.sum(1) + 1e-10)
    alpha = 10 * np.log10((spec[:, freqs < 1000].sum(1) + 1e-10) / (spec[:, freqs >= 1000].sum(1) + 1e-10))
    zcr = np.mean(np.abs(np.diff(np.sign(frames), axis=1)) > 0, axis=1)
    f0, voicing = _pitch(frames)
    voiced = (voicing > 0.45) & (energy > energy.max() - 35)
    semitones = np.where(voiced, 12 * np.log2(np.maximum(f0, 1) / 27.5), np.nan)
    lld = np.column_stack([energy, voicing, mfcc, d_mfcc, centroid / 1000, alpha, zcr])
    stats = [np.nanmean, np.nanstd] + [lambda a, axis, q=q: np.nanpercentile(a, q, axis=axis) for q in (10, 50, 90)]
    summary = [f(lld, axis=0) for f in stats]
    pitch = semitones[voiced] if voiced.any() else np.zeros(1)
    extra = [
        [f(pitch, axis=0) for f in stats],
        [voiced.mean(), np.std(np.diff(pitch)) if pitch.size > 2 else 0.0, np.std(np.diff(energy))],
    ]
    return np.nan_to_num(np.concatenate([np.concatenate(summary), np.ravel(extra[0]), extra[1]])).astype(np.float32)


def _pitch(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F0 (Hz) and voicing (peak of the normalised autocorrelation in the F0 lag range) per frame."""
    spectrum = np.fft.rfft(frames, n=2 * FRAME, axis=1)
    ac = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :FRAME]
    ac = ac / (ac[:, :1] + 1e-10)
    lo, hi = int(SAMPLE_RATE / F0_RANGE[1]), int(SAMPLE_RATE / F0_RANGE[0])
    lag = lo + np.argmax(ac[:, lo:hi], axis=1)
    return SAMPLE_RATE / lag, ac[np.arange(len(ac)), lag]


def extract(root: Path) -> dict[str, np.ndarray]:
    torch.set_num_threads(2)
    whisper = SpeechFeatures(layers=4)
    from emotion import yamnet

    net = yamnet.YAMNet(num_threads=2)
    channel = PhoneChannel(load_noise_bank(root), rng=np.random.default_rng(SEED + 1))
    clips = ravdess_clips(root)
    rows: dict[str, list] = {k: [] for k in ("whisper", "yamnet", "handmade", "emotion", "actor", "phone")}
    for clip in progress(clips, "prosody features: comparing"):
        crop = speech_crop(load_audio(clip.path))
        for phone in (False, True):
            x = channel.apply(crop) if phone else crop
            rows["whisper"].append(whisper.features(x))
            _, emb = net.frames(x)
            rows["yamnet"].append(np.concatenate([emb.mean(0), emb.max(0)]))
            rows["handmade"].append(handmade_features(x))
            rows["emotion"].append(RAVDESS_EMOTIONS.index(clip.emotion))
            rows["actor"].append(clip.actor)
            rows["phone"].append(phone)
    out = {k: np.asarray(v) for k, v in rows.items()}
    width = whisper.width * 2
    out["whisper_l0-2"] = out["whisper"][:, : 3 * width]
    out["whisper_l3"] = out.pop("whisper")[:, 3 * width :]
    return out


def cv_uar(x: np.ndarray, data: dict[str, np.ndarray], c: float) -> dict[str, float]:
    dev = ~np.isin(data["actor"], HELD_OUT_ACTORS)
    pred = np.zeros(len(x), int)
    for fold in CV_FOLDS:
        test = np.isin(data["actor"], fold)
        head = _fit(x[dev & ~test], data["emotion"][dev & ~test], c)
        pred[test] = head_logits(head, x[test]).argmax(axis=1)
    n = len(RAVDESS_EMOTIONS)
    return {
        cond: round(float(recalls(confusion(data["emotion"][m], pred[m], n)).mean()), 4)
        for cond, m in (("clean", dev & ~data["phone"]), ("phone", dev & data["phone"]))
    }


def compare(root: Path | None = None) -> dict[str, dict[str, float]]:
    data = extract(root or shared_root())
    results = {}
    for name in ("whisper_l0-2", "whisper_l3", "yamnet", "handmade"):
        by_c = {c: cv_uar(data[name], data, c) for c in progress(C_GRID, f"prosody features: CV {name}")}
        best = max(C_GRID, key=lambda c: by_c[c]["clean"] + by_c[c]["phone"])
        results[name] = {**by_c[best], "C": best, "dim": int(data[name].shape[1])}
    return results


def table(results: dict[str, dict[str, float]]) -> str:
    lines = ["| features (centred crops only) | dim | CV UAR clean | CV UAR phone |", "|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['dim']} | {r['clean']:.3f} | {r['phone']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    print(table(compare()))


if __name__ == "__main__":
    main()
