"""Narration throughput: does frame decoding hide behind generation?

    python benchmarks/narrate_throughput.py                      # transformers backend, a tiny model, CPU
    python benchmarks/narrate_throughput.py --duration 60        # a quick look
    python benchmarks/narrate_throughput.py --vllm-model Qwen/Qwen2.5-VL-7B-Instruct   # also vLLM (GPU)

Builds (once, cached in benchmarks/output/) a mini-release whose movies are 854x480 H.264 with a keyframe every
10 s, prepares it with `--videos`, writes a tiny random Qwen2.5-VL, and narrates the train split with
`run_backend` (16 frames per clip and 2 portraits, the paper's frame count) with 0 and 2 DataLoader workers:

- `workers-0`: decoding, portraits and the processor run in the main process, between `generate` calls;
- `workers-2`: they run in two worker processes while the main process generates.

On a GPU machine `generate` runs on the accelerator and the CPU is free for decoding. On a CPU-only machine both
compete for the same cores, so the model is held to `--generate-threads` threads (default 1: one core stands in
for the accelerator, the others decode); `--max-new-tokens` sets how long generation takes next to decoding.

Target (issue #5): workers-2 >= 1.5x workers-0. With `--vllm-model` and a GPU the same clips are narrated with
the vllm backend and its clips/s printed; without a GPU that line says it was not run.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import torch

from movie101v2_hf.backends import TransformersBackend, VLLMBackend
from movie101v2_hf.backends.loop import run_backend
from movie101v2_hf.data.loading import load_portraits, load_split
from movie101v2_hf.data.prepare import prepare_dataset
from movie101v2_hf.data.synthetic import make_mini_release, make_movie
from movie101v2_hf.prompting import PromptSettings
from movie101v2_hf.testing import make_tiny_video_llm

OUTPUT = Path(__file__).resolve().parent / "output" / "narrate"


def build(duration: int) -> tuple[Path, Path]:
    """The prepared dataset (480p movies) and the tiny model, made once per duration."""
    root = OUTPUT / f"mini-{duration}s"
    release, movies, prepared, model = root / "release", root / "movies-480p", root / "prepared", root / "model"
    if not (prepared / "README.md").is_file():
        began = time.perf_counter()
        make_mini_release(release, duration=duration)
        for text_movie in sorted((release / "videos").glob("*.mp4")):
            make_movie(
                movies / text_movie.name, duration=duration, fps=25, width=854, height=480, keyframe_interval=10
            )
        prepare_dataset(release, prepared, videos=movies, overwrite=True, show_progress=False)
        print(f"built the mini-release with 480p movies in {time.perf_counter() - began:.0f}s (cached in {root})")
    if not (model / "config.json").is_file():
        make_tiny_video_llm(model, [])
    return prepared, model


def measure(narrator, clips, out: Path, workers: int, batch_size: int) -> float:
    began = time.perf_counter()
    run = run_backend(
        narrator,
        clips,
        out,
        settings={"bench": workers},
        job="narrate",
        batch_size=batch_size,
        num_workers=workers,
        overwrite=True,
        show_progress=False,
    )
    elapsed = time.perf_counter() - began
    if not run.complete:
        raise SystemExit(f"the run failed: {run.summary()}")
    return len(clips) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=180, help="Seconds per movie (default 180).")
    parser.add_argument("--clips", type=int, default=32, help="Clips to narrate (default 32).")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=96, help="Tokens per narration (default 96).")
    parser.add_argument("--generate-threads", type=int, default=1, help="Torch threads of the model on CPU.")
    parser.add_argument("--vllm-model", help="Also measure the vllm backend with this model (needs a GPU).")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    prepared, model = build(args.duration)
    torch.set_num_threads(args.generate_threads)
    clips = load_split(str(prepared), "en", "train", needs_video=True, movie_ids=None, max_samples=args.clips)
    settings = PromptSettings(video_num_frames=16, max_portraits=2)
    portraits = load_portraits(str(prepared), "en", max_portraits=2)
    narrator = TransformersBackend(
        str(model), settings, portraits, max_new_tokens=args.max_new_tokens, device="cpu", dtype="float32"
    )
    narrator._loaded()  # load the model before timing
    measure(narrator, clips.select(range(min(4, len(clips)))), OUTPUT / "warmup.jsonl", 0, args.batch_size)

    print(
        f"\n{len(clips)} clips, 16 frames each from 480p movies, batch {args.batch_size}, tiny Qwen2.5-VL on CPU "
        f"({args.generate_threads} thread(s), {args.max_new_tokens} new tokens)"
    )
    rates = {}
    for workers in (0, 2):
        rates[workers] = measure(narrator, clips, OUTPUT / f"workers-{workers}.jsonl", workers, args.batch_size)
        print(f"  transformers, workers-{workers}: {rates[workers]:6.2f} clips/s")
    print(f"  workers-2 / workers-0: {rates[2] / rates[0]:.2f}x (target >= 1.5x)")

    try:
        import vllm  # noqa: F401

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = False
    if not args.vllm_model or not has_gpu:
        print("  vllm: not run (needs --vllm-model, the vllm extra and a GPU)")
        return
    vllm_narrator = VLLMBackend(args.vllm_model, settings, portraits, max_new_tokens=args.max_new_tokens)
    vllm_narrator._engine()
    rate = measure(vllm_narrator, clips, OUTPUT / "vllm.jsonl", 2, 64)
    print(f"  vllm ({args.vllm_model}), workers-2: {rate:6.2f} clips/s")


if __name__ == "__main__":
    main()
