import numpy as np
import pytest
import soundfile as sf

from agent.app.audio_files import AudioFileError, load_pcm16k, speech_bounds, write_wav


def test_any_rate_and_channel_count_becomes_16k_mono(tmp_path):
    stereo = np.stack([np.sin(np.arange(44100) / 10), np.zeros(44100)], axis=1) * 0.5
    path = tmp_path / "x.flac"
    sf.write(path, stereo, 44100)
    pcm = load_pcm16k(path)
    assert abs(len(pcm) / 2 / 16000 - 1.0) < 0.01


def test_noizeus_sentence_has_plausible_speech_bounds(shared):
    pcm = load_pcm16k(shared / "data" / "noizeus" / "clean" / "sp01.flac")
    start, end = speech_bounds(pcm)
    assert 0 <= start < 0.5 and 1.5 < end <= len(pcm) / 32000


@pytest.mark.parametrize("content", [b"", b"not audio at all", b"RIFF\x00\x00\x00\x00WAVE"])
def test_undecodable_files_get_a_clear_error(tmp_path, content):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioFileError, match="bad.wav"):
        load_pcm16k(path)


def test_missing_file(tmp_path):
    with pytest.raises(AudioFileError, match="no such audio file"):
        load_pcm16k(tmp_path / "nope.wav")


def test_write_wav_round_trips(tmp_path):
    pcm = (np.arange(1600, dtype="<i2") * 7).tobytes()
    write_wav(tmp_path / "o.wav", pcm)
    assert load_pcm16k(tmp_path / "o.wav") == pcm
