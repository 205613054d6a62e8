"""Offline speech for descriptions: text-to-speech engines registered by name, each writing one WAV per cue.

- `espeak-ng` (default): the Debian package `espeak-ng` (`make demo` / `make test` install it), with its English
  (`en`) and Mandarin (`cmn`) voices; robotic but instant and everywhere.
- `piper`: Piper (`pip install piper-tts`) with a local voice file (`--voice path/to/voice.onnx`, its `.onnx.json`
  beside it); nothing is downloaded.

Example:
    >>> engine = TTS_ENGINES.build("espeak-ng")
    >>> seconds = engine.synthesize("Cheng Yong walks in.", tmp / "cue.wav", language="en")
    >>> 0.5 < seconds < 5
    True
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

from ..errors import MissingDependencyError, Movie101v2Error
from ..utils.registry import Registry


class TTSError(Movie101v2Error, RuntimeError):
    """A TTS engine is missing, has no voice for the language, or failed on a text (the message says which)."""


class TTSEngine:
    """Speaks a text into a WAV file: subclass, implement `synthesize`, register with `@TTS_ENGINES.register`."""

    name: str

    def synthesize(self, text: str, path: Path, *, language: str) -> float:
        """Write `text` spoken in `language` (`en` or `zh`) to the WAV `path`; returns its duration in seconds."""
        raise NotImplementedError

    def describe(self) -> dict[str, str | float | None]:
        """What produced the speech (goes into the output's record)."""
        return {"engine": self.name}


TTS_ENGINES: Registry[TTSEngine] = Registry("TTS engine")


def wav_seconds(path: str | Path) -> float:
    """The duration of a WAV file."""
    with wave.open(str(path), "rb") as handle:
        return handle.getnframes() / handle.getframerate()


@TTS_ENGINES.register("espeak-ng")
class EspeakNG(TTSEngine):
    """espeak-ng through its command line; `rate` in words per minute (its default 175), `voices` per language."""

    VOICES = {"en": "en", "zh": "cmn"}

    def __init__(self, *, rate: int = 175, voice: str | None = None) -> None:
        executable = shutil.which("espeak-ng")
        if executable is None:
            raise TTSError(
                "espeak-ng is not on PATH. Install it (Debian/Ubuntu: `apt-get install -y espeak-ng`, macOS: `brew "
                "install espeak-ng`); `make demo` and `make test` do this for you. Or choose --tts piper --voice FILE."
            )
        self.executable: str = executable
        self.rate = rate
        self.voice = voice

    def synthesize(self, text: str, path: Path, *, language: str) -> float:
        voice = self.voice or self.VOICES.get(language)
        if voice is None:
            raise TTSError(f"espeak-ng has no voice configured for language {language!r}; pass --voice NAME.")
        path.parent.mkdir(parents=True, exist_ok=True)
        # the text goes in on stdin: a narration starting with "-" must not be read as a flag
        command = [self.executable, "-v", voice, "-s", str(self.rate), "-w", str(path), "--stdin"]
        result = subprocess.run(command, input=text.encode("utf-8"), capture_output=True)
        if result.returncode != 0 or not path.is_file():
            stderr = result.stderr.decode("utf-8", "replace").strip()
            raise TTSError(f"espeak-ng failed (voice {voice!r}): {stderr or 'no output'}")
        return wav_seconds(path)

    def describe(self) -> dict[str, str | float | None]:
        version = subprocess.run([str(self.executable), "--version"], capture_output=True, text=True).stdout.strip()
        return {"engine": self.name, "version": version, "rate": self.rate, "voice": self.voice}


@TTS_ENGINES.register("piper")
class Piper(TTSEngine):
    """Piper with a local voice (`voice`: the `.onnx` file; its `.onnx.json` config beside it)."""

    def __init__(self, *, voice: str | None = None, rate: int | None = None) -> None:
        if not voice:
            raise TTSError("--tts piper needs --voice path/to/voice.onnx (a Piper voice file; nothing is downloaded).")
        model = Path(voice).expanduser()
        if not model.is_file() or not Path(f"{model}.json").is_file():
            raise TTSError(
                f"Piper voice {model} not found with its config {model.name}.json beside it. Download a voice where "
                "you have internet (https://huggingface.co/rhasspy/piper-voices) and pass its .onnx path."
            )
        try:
            from piper import PiperVoice, SynthesisConfig
        except ImportError:
            raise MissingDependencyError("--tts piper needs piper-tts: pip install 'movie101v2-hf[tts]'.") from None
        self.model = model
        # Piper's speed is a length scale (2 = half as fast); `rate` is words per minute as espeak-ng's, 175 = 1.0
        self.config = SynthesisConfig(length_scale=175 / rate if rate else None)
        self.voice = PiperVoice.load(model)

    def synthesize(self, text: str, path: Path, *, language: str) -> float:
        path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(path), "wb") as handle:
            self.voice.synthesize_wav(text, handle, syn_config=self.config)
        return wav_seconds(path)

    def describe(self) -> dict[str, str | float | None]:
        return {"engine": self.name, "voice": self.model.name}


def build_tts(name: str, *, voice: str | None = None, rate: int | None = None) -> TTSEngine:
    """The engine registered as `name`, with a voice and a speaking rate (words per minute) when given."""
    engine = TTS_ENGINES.get(name)
    options = {"voice": voice, **({"rate": rate} if rate else {})}
    return engine(**options)
