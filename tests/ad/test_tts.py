"""The TTS engines: espeak-ng for real in both languages, and the errors a user meets without an engine or voice."""

from __future__ import annotations

import shutil

import pytest

from movie101v2_hf.ad.tts import TTS_ENGINES, TTSError, build_tts, wav_seconds

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


@needs_espeak
@pytest.mark.parametrize(
    "language,short,long",
    [
        ("en", "He sits.", "He sits down slowly at the long table by the window and waits."),
        ("zh", "他坐下。", "他慢慢地在窗边的长桌旁坐下，静静地等待着。"),
    ],
)
def test_espeak_speaks_both_languages(tmp_path, language, short, long):
    engine = TTS_ENGINES.build("espeak-ng")
    a = engine.synthesize(short, tmp_path / "a.wav", language=language)
    b = engine.synthesize(long, tmp_path / "b.wav", language=language)
    assert 0.3 < a < b and wav_seconds(tmp_path / "b.wav") == b


@needs_espeak
def test_a_faster_rate_speaks_faster(tmp_path):
    text = "Old He walks toward Bai Lu and hands her a letter."
    slow = build_tts("espeak-ng", rate=120).synthesize(text, tmp_path / "s.wav", language="en")
    fast = build_tts("espeak-ng", rate=260).synthesize(text, tmp_path / "f.wav", language="en")
    assert fast < 0.7 * slow


@needs_espeak
def test_a_text_starting_with_a_dash_is_spoken_not_read_as_a_flag(tmp_path):
    assert TTS_ENGINES.build("espeak-ng").synthesize("-v is not a flag", tmp_path / "d.wav", language="en") > 0.3


def test_a_missing_espeak_says_how_to_install_it(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(TTSError, match="apt-get install -y espeak-ng"):
        build_tts("espeak-ng")


def test_piper_needs_a_local_voice(tmp_path):
    with pytest.raises(TTSError, match="--voice path/to/voice.onnx"):
        build_tts("piper")
    with pytest.raises(TTSError, match="not found with its config"):
        build_tts("piper", voice=str(tmp_path / "missing.onnx"))
