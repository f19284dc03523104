"""The emotion path's false alarms on ordinary callers, as docs/emotion-models.md reports them.

Builds the three dev/test sets and plays each through ``bedside emotion replay`` (the production
path and thresholds, every call looped to 11 minutes so the 10-minute urgency flag can fire):

* ``calm``: scripts/calm_calls.py -- the QA caller's piper voice and six espeak-ng voices saying
  ordinary clinic lines calmly through a G.711 line (14 calls);
* ``getgoing-dev`` / ``getgoing-test``: the GetGoing calls (real members of the public on a phone
  line, ../shared/data/getgoing), split by call (emotion/training/data.py); dev tunes, test is
  reported.

    .venv/bin/python scripts/false_alarms.py [OUT_DIR] [--sets calm,getgoing-dev,getgoing-test]

Prints one markdown row per set; the per-call JSON lines stay in OUT_DIR/<set>.jsonl."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SETS = ("calm", "getgoing-dev", "getgoing-test")


def _prepare(out: Path, name: str) -> Path:
    folder = out / name
    if folder.is_dir() and any(folder.iterdir()):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    if name == "calm":
        subprocess.run([sys.executable, str(REPO / "scripts" / "calm_calls.py"), str(folder)], check=True,
                       capture_output=True)
    else:
        sys.path.insert(0, str(REPO))
        from emotion.training.data import getgoing_calls

        for call in getgoing_calls(split=name.split("-")[1]):
            (folder / call.audio.name).symlink_to(call.audio)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=Path("/tmp/bedside-false-alarms"))
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--loop-to", default="660")
    args = parser.parse_args()
    bedside = Path(sys.executable).with_name("bedside")
    print("| set | calls | urgency | hurry | segments read negative (top category negative; unsure) | windows below -0.15 "
          "| fused valence p10 (all windows) | worst call p10 |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.sets.split(","):
        folder = _prepare(args.out, name)
        lines = subprocess.run([str(bedside), "emotion", "replay", "--json", "--loop-to", args.loop_to, str(folder)],
                               check=True, capture_output=True, text=True).stdout.splitlines()
        (args.out / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
        s = json.loads(lines[-1])["summary"]
        print(f"| {name} | {s['calls']} | {s['urgency_calls']} | {s['hurry_calls']} | {s['negative_segment_share']:.1%} "
              f"({s['top_negative_segment_share']:.1%}; {s['unsure_segment_share']:.1%}) "
              f"| {s['negative_window_share']:.1%} | {s['valence_p10']:+.3f} | {s['worst_call_p10']:+.3f} |", flush=True)
        if name == "calm":  # the QA caller's voice is its own target
            calls = [json.loads(line) for line in lines[:-1]]
            for voice in ("piper", "espeak"):
                _voice_row(f"calm, {voice} voices", [c for c in calls if f"-{voice}-" in c["file"]])


def _voice_row(label: str, lines: list[dict]) -> None:
    """A subset's row from its per-call lines, pooled by the replay's own summary (the lines carry no
    per-window valences: the calls' p10 range stands in for the pooled p10)."""
    sys.path.insert(0, str(REPO))
    from agent.app.emotion_replay import CallReplay, summarise

    fields = CallReplay.__dataclass_fields__
    calls = [CallReplay(**{k: v for k, v in line.items() if k in fields}) for line in lines]
    s = summarise(calls, threshold=-0.15)
    p10 = [c.valence_p10 for c in calls]
    print(f"| {label} | {s.calls} | {s.urgency_calls} | {s.hurry_calls} | {s.negative_segment_share:.1%} "
          f"({s.top_negative_segment_share:.1%}; {s.unsure_segment_share:.1%}) | {s.negative_window_share:.1%} "
          f"| calls {min(p10):+.3f}..{max(p10):+.3f} | {s.worst_call_p10:+.3f} |", flush=True)

if __name__ == "__main__":
    main()
