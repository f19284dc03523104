"""Write calm synthetic "calls" for the emotion false-alarm check (``bedside emotion replay``).

Each call is one voice saying ordinary clinic-caller lines, calmly, with pauses between them,
through the G.711 mu-law line the agent hears a softphone on (8 kHz and back to 16 kHz). Voices:
the QA caller's piper voice (what every end-to-end call test speaks with) and espeak-ng's English
voices at a few pitches and speeds (voices unlike any training actor). Nothing here is upset, so
any negative reading of these calls is a false alarm.

    .venv/bin/python scripts/calm_calls.py OUT_DIR [--calls-per-voice 2]
    .venv/bin/bedside emotion replay OUT_DIR --loop-to 660
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from telephony.audio import SAMPLE_RATE, pcm16_to_float
from telephony.g711 import mulaw_round_trip

LINES = (
    "Hello, I'd like to book an appointment, please.",
    "Yes, that's fine.",
    "My name is Maria Lopez.",
    "It's for a check-up, nothing urgent.",
    "Tuesday morning would suit me best.",
    "Could you tell me when the clinic opens?",
    "I need to reschedule my appointment for next week.",
    "Can someone call me back this afternoon?",
    "My date of birth is the third of March, nineteen eighty-five.",
    "Yes, that number is right.",
    "Okay, thank you.",
    "I was also wondering about my prescription refill.",
    "Sure, I can hold.",
    "No, that's all, thank you.",
    "That sounds good.",
    "Do I need to bring anything with me?",
    "Alright, see you then.",
    "Is parking available near the clinic?",
)
# espeak-ng voice, pitch (0-99), words per minute
ESPEAK = (("en-us", 45, 160), ("en-gb", 35, 150), ("en-gb-scotland", 50, 165), ("en-us+f3", 60, 155),
          ("en-gb-x-rp", 40, 145), ("en-us+m3", 30, 170))


def _piper(text: str, synth: object) -> np.ndarray:
    return pcm16_to_float(synth.synthesize(text))  # type: ignore[attr-defined]


def _espeak(text: str, voice: str, pitch: int, speed: int) -> np.ndarray:
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", f.name, text], check=True,
                       capture_output=True)
        x, rate = sf.read(f.name, dtype="float32")
    return soxr.resample(x, rate, SAMPLE_RATE).astype(np.float32) * 0.5


def _phone_line(x: np.ndarray) -> np.ndarray:
    """What the agent hears from a softphone on PCMU: 8 kHz mu-law and back."""
    narrow = soxr.resample(x, SAMPLE_RATE, 8000)
    return soxr.resample(mulaw_round_trip(np.clip(narrow, -1, 1)), 8000, SAMPLE_RATE).astype(np.float32)


def _call(speak, rng: np.random.Generator) -> np.ndarray:
    parts = [np.zeros(int(0.5 * SAMPLE_RATE), np.float32)]
    for line in rng.permutation(LINES)[:12]:
        parts += [speak(str(line)), np.zeros(int(rng.uniform(1.0, 2.5) * SAMPLE_RATE), np.float32)]
    return _phone_line(np.concatenate(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--calls-per-voice", type=int, default=2)
    parser.add_argument("--voices", choices=("all", "piper", "espeak"), default="all", help="which voices (default all)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(17)
    from tts.synthesizer import PiperSynthesizer

    synth = PiperSynthesizer()
    voices = [("piper-joe", lambda t: _piper(t, synth))] if args.voices != "espeak" else []
    voices += [] if args.voices == "piper" else [(f"espeak-{v.replace('+', '-')}-p{p}", lambda t, v=v, p=p, s=s: _espeak(t, v, p, s)) for v, p, s in ESPEAK]
    for name, speak in voices:
        for n in range(args.calls_per_voice):
            path = args.out / f"calm-{name}-{n + 1}.wav"
            sf.write(str(path), _call(speak, rng), SAMPLE_RATE, subtype="PCM_16")
            print(path)


if __name__ == "__main__":
    main()
