"""``bedside emotion score``: per-file lines, JSON shape, errors that do not stop the others."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from agent.app.cli import main
from emotion.training.data import ravdess_clips


def test_json_lines_for_good_and_bad_files(shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clip = ravdess_clips(shared)[100].path
    mp3 = tmp_path / "clip.mp3"
    subprocess.run(["sox", str(clip), "-r", "44100", str(mp3)], check=True, capture_output=True)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all" * 50)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(8000 * 3, np.int16), 8000)

    rc = main(["emotion", "score", "--json", str(clip), str(junk), str(mp3), str(silent)])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rc == 1  # one file failed; the others were still scored
    assert [d["file"] for d in lines] == [str(clip), str(junk), str(mp3), str(silent)]
    good, bad, from_mp3, quiet = lines
    assert "cannot decode" in bad["error"] and set(bad) == {"file", "error"}
    for d in (good, from_mp3):
        assert set(d["prosody"]) >= {"emotions", "valence", "arousal"}
        assert len(d["prosody"]["emotions"]) == 8 and len(d["burst"]["emotions"]) >= 26
        assert len(d["embedding"]) == 64
        assert abs(sum(d["prosody"]["emotions"].values()) - 1) < 1e-4
        affect = d["burst"]["affect"]  # {EmoGator category: score}
        assert len(affect) == 30 and {"Pain", "Relief", "Romantic Love"} <= set(affect)
        assert abs(sum(affect.values()) - 1) < 1e-4 and -1 <= d["burst"]["affect_valence"] <= 1
    top = max(good["prosody"]["emotions"], key=good["prosody"]["emotions"].get)
    assert top == max(from_mp3["prosody"]["emotions"], key=from_mp3["prosody"]["emotions"].get)
    assert quiet["prosody"].get("no_signal") is True
    assert quiet["burst"]["affect"]["Neutral"] == 1.0 and quiet["burst"]["affect_valence"] == 0.0


def test_text_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["emotion", "score", "--json", "--text", "Thank you so much, that really helps!"])
    d = json.loads(capsys.readouterr().out)
    assert rc == 0
    lang = d["language"]
    assert d["text"].startswith("Thank you")
    assert len(lang["emotions"]) == 28 and lang["emotions"]["gratitude"] > 0.5
    assert list(lang["sentiment"]) == [str(i) for i in range(1, 10)]
    assert abs(sum(lang["sentiment"].values()) - 1) < 1e-4
    assert {"toxic", "insult", "obscene", "identity_hate"} <= set(lang["toxicity"])
    assert -1 <= lang["valence"] <= 1 and 0 <= lang["arousal"] <= 1


def test_human_readable_and_usage(shared: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clip = ravdess_clips(shared)[0].path
    assert main(["emotion", "score", "--segments", str(clip)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(str(clip)) and "prosody:" in out[0] and "burst:" in out[0]
    assert len(out) == 3  # the file, then its two segments
    assert main(["emotion", "score"]) == 2
    assert main(["emotion", "score", "--json", "--text", "x" * 100_000]) == 1
    error = json.loads(capsys.readouterr().out)
    assert set(error) == {"text", "error"} and len(error["text"]) <= 200
