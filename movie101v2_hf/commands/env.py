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
            try:
                print(f"{package}: {version(package)}")
            except PackageNotFoundError:
                print(f"{package}: not installed")
        print(f"ffmpeg: {shutil.which('ffmpeg') or 'not found'}")
        return 0
