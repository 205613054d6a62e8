# Copyright the movie101v2-hf contributors. Licensed under the Apache License, Version 2.0.
"""The GPU check: the family matrix's tiny models (or your real weights) trained and narrated on CUDA, with figures.

On a machine with a GPU and no internet, in well under 8 minutes: a mini-release is generated and prepared; for
each family, a tiny model of its real classes is trained for a few steps by `recipes/sft_lora.py` with the
family's shipped YAML (bf16, as shipped), then narrates the test split with the adapter through the transformers
backend, and through vLLM when it is installed (`make setup-vllm`). It prints, per family and step, ran / failed,
seconds, clips/s and peak GPU memory, and writes them to OUT/gpu_check.json. Exit 1 if any step failed.

    python recipes/gpu_check.py                                   # every family, tiny models
    python recipes/gpu_check.py --model /models/Qwen2.5-VL-7B-Instruct --family qwen2.5-vl   # real weights
    python recipes/gpu_check.py --device cpu --families qwen2.5-vl --steps 1                 # a dry run on a CPU
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

import torch

from movie101v2_hf.data.prepare import prepare_dataset
from movie101v2_hf.data.synthetic import make_mini_release
from movie101v2_hf.narrate import NarrateOptions, narrate_split
from movie101v2_hf.testing import FAMILIES, make_tiny_model
from movie101v2_hf.utils.runs import RunRecord

ROOT = Path(__file__).resolve().parents[1]
YAMLS = {
    "qwen2.5-vl": "qwen2.5-vl-7b-instruct/sft_lora_en.yaml",
    "qwen3-vl": "qwen3-vl-8b-instruct/sft_lora_en.yaml",
    "smolvlm2": "smolvlm2-2.2b-instruct/sft_lora_en.yaml",
    "llava-onevision": "qwen2.5-vl-7b-instruct/sft_lora_en.yaml",  # no recipe of its own: the Qwen settings
    "internvl3": "qwen2.5-vl-7b-instruct/sft_lora_en.yaml",
}
CPU_FLAGS = ["--use_cpu", "true", "--bf16", "false", "--dtype", "float32"]


def _step(results: list[dict], family: str, step: str, run, *arguments) -> None:
    start = time.perf_counter()
    entry = {"family": family, "step": step}
    try:
        entry.update(run(*arguments) or {})
        entry["status"] = "ran"
    except Exception as err:  # noqa: BLE001 (every step is reported, the check goes on)
        entry.update(status="failed", error=f"{type(err).__name__}: {err}"[:2000])
        traceback.print_exc()
    entry["seconds"] = round(time.perf_counter() - start, 1)
    results.append(entry)
    print(json.dumps(entry), flush=True)


def _train(family: str, model: str, dataset: Path, out: Path, args) -> dict:
    command = [
        sys.executable,
        str(ROOT / "recipes" / "sft_lora.py"),
        "--config",
        str(ROOT / "recipes" / YAMLS[family]),
    ]
    command += ["--model_name_or_path", model, "--dataset_name", str(dataset), "--output_dir", str(out)]
    command += ["--max_steps", str(args.steps), "--logging_steps", "1", "--save_strategy", "no"]
    if args.device == "cpu":  # what a CPU needs; the rest is the YAML as shipped
        command += [*CPU_FLAGS, "--dataloader_num_workers", "0", "--dataloader_persistent_workers", "false"]
    subprocess.run(command, check=True, cwd=out.parent)
    state = json.loads((out / "trainer_state.json").read_text())
    losses = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    return {"steps": state["global_step"], "losses": [round(loss, 4) for loss in losses]}


def _narration_figures(record: RunRecord) -> dict:
    if not record.complete:
        raise RuntimeError(record.summary("narrated"))
    return {"clips": record.num_written, "clips_per_s": round(record.num_written / max(record.seconds, 1e-9), 2)}


def _narrate_transformers(model: str, adapter: Path, dataset: Path, out: Path, args) -> dict:
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    options = NarrateOptions(
        dataset=str(dataset),
        out=str(out),
        model=model,
        adapter=str(adapter),
        max_samples=args.clips,
        device=args.device,
        num_workers=2,
        max_new_tokens=32,
        show_progress=False,
        overwrite=True,
    )
    figures = _narration_figures(narrate_split(options))
    if args.device == "cuda":
        figures["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return figures


def _narrate_vllm(model: str, adapter: Path, dataset: Path, out: Path, args) -> dict:
    python = os.environ.get("VLLM_PYTHON") or str(ROOT / ".venv-vllm" / "bin" / "python")
    if not Path(python).exists():
        raise FileNotFoundError(f"no vLLM environment at {python}: run `make setup-vllm` (or set VLLM_PYTHON)")
    command = [python, "-m", "movie101v2_hf.cli", "narrate", "--backend", "vllm", "--dataset", str(dataset)]
    command += ["--model", model, "--adapter", str(adapter), "--out", str(out), "--max-samples", str(args.clips)]
    command += ["--max-new-tokens", "32", "--overwrite", "--max-model-len", "8192"]
    subprocess.run(command, check=True, cwd=out.parent)
    return _narration_figures(RunRecord.load(out))


def _nvdec_vs_cpu(dataset: Path) -> dict:
    """Frames of the test clips decoded by torchcodec's CUDA decoder (NVDEC) against the CPU path."""
    import torch

    from movie101v2_hf.data.frame_cache import psnr
    from movie101v2_hf.data.loading import load_clips
    from movie101v2_hf.data.video import ClipSampler

    clips = load_clips(str(dataset), "en", "test")
    cpu, gpu = ClipSampler(num_frames=16), ClipSampler(num_frames=16, device="cuda")
    worst, same_times = float("inf"), True
    for row in clips:
        a, times_a = cpu.decode(row["video"], row["start"], row["end"])
        b, times_b = gpu.decode(row["video"], row["start"], row["end"])
        worst, same_times = min(worst, psnr(a, b.cpu())), same_times and torch.equal(times_a, times_b)
    return {"clips": len(clips), "min_psnr_db": round(worst, 2), "timestamps_equal": same_times}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--model", help="A folder of real weights (then --family names its family).")
    parser.add_argument("--family", choices=list(FAMILIES), help="The family of --model.")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--steps", type=int, default=5, help="Training steps per family.")
    parser.add_argument("--clips", type=int, default=3, help="Test clips to narrate.")
    parser.add_argument("--no-vllm", action="store_true", help="Skip the vLLM narration.")
    parser.add_argument("--out", default="gpu-check", help="Work folder (created).")
    args = parser.parse_args(argv)
    if args.model and not args.family:
        parser.error("--model needs --family (its model family)")

    work = Path(args.out).resolve()
    work.mkdir(parents=True, exist_ok=True)
    if args.device == "cuda":
        subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv"], check=False)
    dataset = work / "dataset"
    if not (dataset / "README.md").is_file():
        release = make_mini_release(work / "release", duration=30)
        prepare_dataset(release, dataset, videos=release / "videos", show_progress=False)

    results: list[dict] = []
    if args.device == "cuda":
        _step(results, "video", "nvdec-vs-cpu", _nvdec_vs_cpu, dataset)
    for family in [args.family] if args.model else args.families:
        folder = work / family
        folder.mkdir(exist_ok=True)
        model = args.model or str(make_tiny_model(family, folder / "model"))
        adapter = folder / "adapter"
        _step(results, family, "train", _train, family, model, dataset, adapter, args)
        preds = folder / "preds-transformers.jsonl"
        _step(results, family, "narrate-transformers", _narrate_transformers, model, adapter, dataset, preds, args)
        if not args.no_vllm and family in ("qwen2.5-vl", "qwen3-vl"):  # the families the vLLM tests cover
            preds = folder / "preds-vllm.jsonl"
            _step(results, family, "narrate-vllm", _narrate_vllm, model, adapter, dataset, preds, args)
    (work / "gpu_check.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{'family':16} {'step':22} {'status':7} {'seconds':>8}  figures")
    for entry in results:
        figures = {k: v for k, v in entry.items() if k not in ("family", "step", "status", "seconds", "error")}
        print(f"{entry['family']:16} {entry['step']:22} {entry['status']:7} {entry['seconds']:8.1f}  {figures}")
    failed = [entry for entry in results if entry["status"] != "ran"]
    print(f"{len(results) - len(failed)} ran, {len(failed)} failed; details in {work / 'gpu_check.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
