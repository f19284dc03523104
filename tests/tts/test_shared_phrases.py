"""The phrase file a node's workers map: what the host appends is what a worker reads, the
file keeps its bound, and a worker sees entries added after it mapped the file."""

from __future__ import annotations

from pathlib import Path

from tts.shared_phrases import PhraseEntry, PhraseFileWriter, SharedPhrases
from tts.synthesizer import VoiceParams

CALM = VoiceParams(length_scale=1.1, sentence_pause_ms=200)


def test_a_worker_reads_what_the_host_appended_by_text_and_params(tmp_path: Path) -> None:
    writer = PhraseFileWriter(tmp_path / "phrases.pcm", max_bytes=10_000)
    reader = SharedPhrases(tmp_path / "phrases.pcm")
    first = writer.append("Hello  there.", VoiceParams(), b"\x01\x02" * 100)
    assert first is not None and first.text == "Hello there."  # normalized like the phrase cache
    reader.add(PhraseEntry.from_fields(first.fields()))  # as it travels in a PHRASE frame
    assert reader.get("Hello there.", VoiceParams()) == b"\x01\x02" * 100
    assert reader.get("Hello there.", CALM) is None  # another expression's rendering is another entry
    assert reader.get("Hello there.", None) is None
    # Added after the worker mapped the file: it maps the longer file.
    second = writer.append("Goodbye.", CALM, b"\x03\x04" * 50)
    assert second is not None
    reader.add(second)
    assert reader.get("Goodbye.", CALM) == b"\x03\x04" * 50
    assert reader.get("Hello there.", VoiceParams()) == b"\x01\x02" * 100
    assert len(reader) == 2
    reader.close()
    writer.close()


def test_the_file_keeps_its_bound_and_skips_duplicates(tmp_path: Path) -> None:
    writer = PhraseFileWriter(tmp_path / "phrases.pcm", max_bytes=300)
    assert writer.append("One.", VoiceParams(), bytes(200)) is not None
    assert writer.append("One.", VoiceParams(), bytes(50)) is None  # already there
    assert writer.append("Two.", VoiceParams(), bytes(200)) is None  # over the bound
    assert writer.append("Three.", VoiceParams(), b"") is None
    assert writer.append("Four.", VoiceParams(), bytes(100)) is not None
    assert writer.bytes == 300 and len(writer.entries) == 2
    assert (tmp_path / "phrases.pcm").stat().st_mode & 0o777 == 0o600
    writer.close()


def test_an_entry_past_the_end_of_the_file_is_a_miss_not_garbage(tmp_path: Path) -> None:
    (tmp_path / "phrases.pcm").write_bytes(bytes(10))
    reader = SharedPhrases(tmp_path / "phrases.pcm")
    reader.add(PhraseEntry("Hi.", VoiceParams(), 4, 100))
    assert reader.get("Hi.", VoiceParams()) is None
