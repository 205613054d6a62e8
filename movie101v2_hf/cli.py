"""The `movie101v2` command line: one subcommand per job, each with `register` and `run`.

movie101v2 prepare --release DIR --out DIR [--videos DIR | --video-base URL]
movie101v2 push-dataset DIR --repo-id ORG/NAME   (private; the data's terms forbid public sharing)
movie101v2 push-model DIR --repo-id ORG/NAME [--merge] [--results results.json]
movie101v2 narrate --model ID --dataset DIR --config en --split test --out preds.jsonl [--backend ...]
movie101v2 evaluate --predictions preds.jsonl --dataset DIR --out DIR [--judge-backend ...]
movie101v2 bench --model ID --dataset DIR --out runs/NAME [--judge-backend ...]
movie101v2 faces --dataset DIR --model-dir buffalo_l --out faces.jsonl [--evaluate]
movie101v2 mini-release OUT
movie101v2 demo [--release DIR --videos DIR]
movie101v2 env
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from . import __version__
from .errors import Movie101v2Error
from .judge import DEFAULT_MAX_INVALID

CONFIG_NAMES = ("en", "zh", "bilingual", "en-short", "zh-short", "movies")  # kept in step with builder.CONFIG_LAYOUT


def _add_push_arguments(parser: argparse.ArgumentParser) -> None:
    """Options every Hub upload takes; the token is never one of them (`hf auth login` or HF_TOKEN)."""
    parser.add_argument("--private", action="store_true", help="Create the repo as private.")
    parser.add_argument("--revision", help="Branch to push to.")
    parser.add_argument("--commit-message", help="Commit message.")


def _add_scoring_arguments(parser: argparse.ArgumentParser) -> None:
    """Metrics and the LLM judge, shared by `evaluate` and `bench`."""
    parser.add_argument("--metrics", nargs="+", default=None, help="Default: bleu meteor rouge cider rolef1, "
                        "plus l1 l2 when a judge is configured; also bertscore (with --bertscore-model).")  # fmt: skip
    judge = parser.add_argument_group("LLM judge (L1/L2)")
    judge.add_argument("--judge-backend", choices=["openai", "vllm", "transformers"], help="Enables L1 and L2.")
    judge.add_argument("--judge-model", help="Default: the paper's judge for the language.")
    judge.add_argument("--judge-url", help="Base URL of an OpenAI-compatible server (openai backend).")
    judge.add_argument("--judge-concurrency", type=int, default=16, help="Concurrent requests (openai backend).")
    judge.add_argument("--judge-timeout", type=float, default=120.0, help="Seconds per request attempt (openai).")
    judge.add_argument("--judge-retries", type=int, default=4, help="Retries of a request on 429/5xx/timeouts/"
                       "connection errors; after 3 requests in a row fail for good, the run stops (openai).")  # fmt: skip
    judge.add_argument("--max-invalid", type=float, default=DEFAULT_MAX_INVALID, help="Fraction of invalid "
                       "judgments a metric may have and still be complete (default 0.05); above it the run is "
                       "incomplete and exits 1.")  # fmt: skip
    judge.add_argument("--rejudge-invalid", action=argparse.BooleanOptionalAction, default=True,
                       help="Ask the judge again for pairs whose cached answer was invalid (default: yes).")  # fmt: skip
    judge.add_argument("--release", help="A copy of the release: use its official judge prompts.")
    judge.add_argument("--judge-cache", help="SQLite file of cached judgments (default: the user's cache, "
                       "$MOVIE101V2_HF_CACHE/judgments.sqlite, shared by every run).")  # fmt: skip
    parser.add_argument("--bertscore-model", help="Local model folder for BERTScore.")
    parser.add_argument("--baselines", help="JSON file of reference results to put beside this run (default: the "
                        "paper's Table 4 rows of the config, judged by gpt-3.5-turbo-1106).")  # fmt: skip


def _judge_and_metrics(args: argparse.Namespace) -> tuple[object | None, list[str]]:
    from .evaluation import CLASSIC, build_judge

    judge = None
    if args.judge_backend:
        judge = build_judge(
            language=args.config[:2], backend=args.judge_backend, model=args.judge_model, url=args.judge_url,
            release=args.release, cache=args.judge_cache, concurrency=args.judge_concurrency,
            timeout=args.judge_timeout, retries=args.judge_retries, rejudge_invalid=args.rejudge_invalid,
        )  # fmt: skip
    return judge, list(args.metrics or [*CLASSIC, "rolef1", *(["l1", "l2"] if judge else [])])


def _print_scores(results: dict) -> None:
    print(f"\n{'metric':<14} {'score':>8}")
    for name, value in results["scores"].items():
        shown = f"{value:>8.2f}" if isinstance(value, float) else f"{'n/a' if value is None else value!s:>8}"
        print(f"{name:<14} {shown:>8}")
    if not results.get("complete", True):
        print("\nINCOMPLETE: these scores are not final.", file=sys.stderr)
        for problem in results.get("problems", []):
            print(f"- {problem}", file=sys.stderr)


_PROMPT_OPTIONS = {  # PromptSettings field -> (type, help); unset options keep the adapter's saved settings
    "video_num_frames": (int, "Frames per clip, uniform over the clip (default 16)."),
    "video_fps": (float, "Sample at this rate instead, at most --video-maxlen frames."),
    "video_maxlen": (int, "Frame cap with --video-fps (default 16)."),
    "video_max_pixels": (int, "Pixel budget per frame (default 65536)."),
    "image_max_pixels": (int, "Pixel budget per portrait (default 50176)."),
    "max_portraits": (int, "Cast portraits with names in the prompt (default 5; 0 for none)."),
    "input_mode": (str, "video (frames as one video) or images (frames tiled into images)."),
    "frames_per_image": (int, "images mode: frames per tiled image (a square number)."),
    "instruction": (str, "The request after the frames (default: the package's instruction)."),
    "identified_characters_column": (str, "A column of names recognised on screen to list in the prompt (--faces "
                                     "sets it); off by default."),
}  # fmt: skip


def _add_narrate_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `narrate`, shared with `bench`."""
    parser.add_argument(
        "--backend",
        default="transformers",
        choices=["transformers", "vllm", "openai", "retrieval"],
        help="transformers (any machine), vllm (GPU, fast), openai (a server), retrieval (no model).",
    )
    parser.add_argument("--model", help="Model id or folder (the served model name for openai); not for retrieval.")
    parser.add_argument("--adapter", help="A LoRA adapter folder of recipes/sft_lora.py; its prompt settings apply.")
    parser.add_argument("--dataset", required=True, help="A prepared folder or Hub id (prepared with --videos).")
    parser.add_argument("--config", default="en", choices=["en", "zh", "en-short", "zh-short"])
    parser.add_argument("--split", default="test", choices=["train", "validation", "test"])
    parser.add_argument("--movie-ids", nargs="+", help="Only these movies (a quick check; evaluate needs the split).")
    parser.add_argument("--max-samples", type=int, help="Only the first N clips (a quick check).")
    parser.add_argument("--batch-size", type=int, default=4, help="Clips per generate call (default 4).")
    parser.add_argument("--num-workers", type=int, default=2, help="DataLoader workers decoding frames (default 2).")
    parser.add_argument("--max-new-tokens", type=int, default=256, help="Narration length cap (default 256).")
    parser.add_argument("--retries", type=int, default=1, help="Extra attempts for a failed clip (default 1).")
    parser.add_argument("--overwrite", action="store_true", help="Start again instead of resuming.")
    parser.add_argument("--allow-failures", action="store_true", help="Exit 0 even if clips failed (they are listed "
                        "in the run record; bench scores them as empty narrations).")  # fmt: skip
    engine = parser.add_argument_group("vllm / transformers")
    engine.add_argument("--tensor-parallel-size", type=int, default=1, help="GPUs per model copy (vllm).")
    engine.add_argument(
        "--data-parallel-size",
        type=int,
        default=1,
        help="Model copies, one process each on its own GPUs and shard of clips (any backend).",
    )
    engine.add_argument("--max-model-len", type=int, default=32768, help="Context length (vllm).")
    engine.add_argument("--device", help="transformers: cuda, cpu, ... (default: cuda when available).")
    engine.add_argument("--dtype", default="auto", help="transformers: model dtype (default auto).")
    server = parser.add_argument_group("openai")
    server.add_argument("--base-url", default="http://localhost:8000/v1", help="The server's /v1 URL; key from "
                        "OPENAI_API_KEY.")  # fmt: skip
    server.add_argument("--concurrency", type=int, default=8, help="Concurrent requests (default 8).")
    server.add_argument("--num-examples", type=int, default=3, help="Training narrations as in-context examples.")
    server.add_argument("--request-retries", type=int, default=4, help="Retries of a request on 429/5xx/timeouts.")
    parser.add_argument("--faces", help="A `movie101v2 faces` output: list the names it found on screen in each "
                        "clip's prompt (off by default).")  # fmt: skip
    prompt = parser.add_argument_group("prompt (default: the adapter's saved settings, else the package's)")
    for name, (kind, text) in _PROMPT_OPTIONS.items():
        prompt.add_argument("--" + name.replace("_", "-"), type=kind, help=text)


def _narrate_options(args: argparse.Namespace, out: str) -> object:
    from .inference import NarrateOptions

    if args.backend != "retrieval" and not args.model:
        raise ValueError(f"--backend {args.backend} needs --model (a model id or folder).")
    return NarrateOptions(
        dataset=args.dataset, out=out, model=args.model or "retrieval", backend=args.backend, adapter=args.adapter,
        config=args.config, split=args.split, movie_ids=args.movie_ids, max_samples=args.max_samples,
        prompt={name: getattr(args, name) for name in _PROMPT_OPTIONS}, batch_size=args.batch_size,
        num_workers=args.num_workers, max_new_tokens=args.max_new_tokens, retries=args.retries,
        overwrite=args.overwrite, allow_failures=args.allow_failures,
        tensor_parallel_size=args.tensor_parallel_size, data_parallel_size=args.data_parallel_size,
        max_model_len=args.max_model_len, base_url=args.base_url, concurrency=args.concurrency,
        num_examples=args.num_examples, request_retries=args.request_retries, device=args.device, dtype=args.dtype,
        faces=args.faces,
    )  # fmt: skip


class Narrate:
    help = "Narrate every clip of a split with a model (or the retrieval baseline) into a predictions JSONL."

    @staticmethod
    def register(parser: argparse.ArgumentParser) -> None:
        _add_narrate_arguments(parser)
        parser.add_argument("--out", required=True, help="Predictions JSONL; settings and failures go to "
                            "OUT.run.json. A rerun resumes.")  # fmt: skip

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from .inference import narrate_split

        run = narrate_split(_narrate_options(args, args.out))
        print(run.summary())
        return 0 if run.complete or args.allow_failures else 1


class Bench:
    help = "Narrate, evaluate and report in one run folder; each step is skipped when its output is complete."

    @staticmethod
    def register(parser: argparse.ArgumentParser) -> None:
        _add_narrate_arguments(parser)
        parser.add_argument("--out", required=True, help="Run folder, e.g. runs/NAME.")
        _add_scoring_arguments(parser)

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from .bench import run_bench

        judge, metrics = _judge_and_metrics(args)
        summary = run_bench(
            _narrate_options(args, ""), args.out, metrics=metrics, judge=judge, bertscore_model=args.bertscore_model,
            baselines=args.baselines, max_invalid=args.max_invalid,
        )  # fmt: skip
        if summary["results"] is not None:
            _print_scores(summary["results"])
        return 0 if summary["complete"] or (args.allow_failures and summary["results"] is not None) else 1


class Prepare:
    help = "Turn a copy of the Movie101v2 release into a script-free Hugging Face dataset folder."

    @staticmethod
    def register(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--release", required=True, help="Root of a copy of the Movie101 repository "
                            "(the folder holding Movie101v2/), or its Movie101v2/data folder.")  # fmt: skip
        parser.add_argument("--out", required=True, help="Folder to write (Parquet shards and a README).")
        videos = parser.add_mutually_exclusive_group()
        videos.add_argument("--videos", help="Folder of <movie_id>.mp4; clip rows then carry a `video` column.")
        videos.add_argument("--video-base", help="URL or hf:// prefix holding <movie_id>.mp4 (clips stream from it).")
        parser.add_argument("--configs", nargs="+", choices=CONFIG_NAMES, help="Configs to build (default: all).")
        parser.add_argument("--split-file", help="A public_split.json to use instead of the release's own.")
        parser.add_argument("--overwrite", action="store_true", help="Replace --out if it exists.")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from .dataset import prepare_dataset

        prepared = prepare_dataset(
            args.release, args.out, videos=args.videos, video_base=args.video_base, configs=args.configs,
            split_file=args.split_file, overwrite=args.overwrite,
        )  # fmt: skip
        print(prepared.summary())
        print(f'Wrote {prepared.path}. Load it with: datasets.load_dataset("{prepared.path}", "en")')
        return 0


class PushDataset:
    help = (
        "Upload a prepared folder to a private Hub dataset repo (token from `hf auth login` or HF_TOKEN). Movie101v2's "
        "terms forbid public distribution of the dataset and its derivatives: a public repo needs the licensor's "
        "permission."
    )

    @staticmethod
    def register(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("folder", help="A folder written by `movie101v2 prepare`.")
        parser.add_argument(
            "--repo-id", required=True, help="ORG/NAME of the dataset repo (created private if missing)."
        )
        visibility = parser.add_mutually_exclusive_group()
        visibility.add_argument("--private", action="store_true", help="Create the repo as private (the default).")
        visibility.add_argument("--public", action="store_true", help="Create the repo as public; refused without "
                                "--i-have-the-licensors-permission.")  # fmt: skip
        parser.add_argument("--i-have-the-licensors-permission", dest="licensor_permission", action="store_true",
                            help="You have the Movie101 authors' permission to publish this derivative publicly "
                            "(needed for --public, or to push into an existing public repo).")  # fmt: skip
        parser.add_argument("--revision", help="Branch to push to.")
        parser.add_argument("--commit-message", help="Commit message.")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from .hub import push_dataset

        url = push_dataset(
            args.folder, args.repo_id, private=not args.public, licensor_permission=args.licensor_permission,
            revision=args.revision, commit_message=args.commit_message,
        )  # fmt: skip
        print(f'Pushed: {url}\nLoad it with: datasets.load_dataset("{args.repo_id}", "en")')
        return 0


class PushModel:
    help = "Upload a trained adapter (recipes/sft_lora.py output), or the model merged with it, with its card."

    @staticmethod
    def register(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("folder", help="The output_dir of recipes/sft_lora.py.")
        parser.add_argument("--repo-id", required=True, help="ORG/NAME of the model repo (created if missing).")
        parser.add_argument(
            "--merge", action="store_true", help="Merge the adapter into the base model and push that."
        )
        parser.add_argument("--base-model", help="Base model to merge into (default: the adapter's own).")
        parser.add_argument("--results", help="A results.json of `movie101v2 evaluate`: scores for the model-index.")
        _add_push_arguments(parser)

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from .hub import push_model

        url = push_model(
            args.folder, args.repo_id, merge=args.merge, base_model=args.base_model, results=args.results,
            private=args.private, revision=args.revision, commit_message=args.commit_message,
        )  # fmt: skip
        print(f"Pushed: {url}")
        return 0


class MiniRelease:
    help = "Generate the synthetic mini-release (FFmpeg-made movies, narration, meta, portraits)."

    @staticmethod
    def register(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("out", help="Folder to write; use it as --release. Movies go to OUT/videos.")
        parser.add_argument("--duration", type=int, default=60, help="Seconds per movie (default: 60).")
        parser.add_argument("--seed", type=int, default=0, help="Seed of the narration text (default: 0).")

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from .synthetic import make_mini_release

        out = make_mini_release(args.out, duration=args.duration, seed=args.seed)
        print(f"Wrote {out}. Next: movie101v2 prepare --release {out} --videos {out / 'videos'} --out DIR")
        return 0


class Demo:
    help = (
        "Prepare, load, sample clip frames, then narrate (retrieval baseline), evaluate and report "
        "(the mini-release unless --release)."
    )

    @staticmethod
    def register(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--release", help="A copy of the real release (default: generate the mini-release).")
        parser.add_argument("--videos", help="Folder of <movie_id>.mp4 for --release.")
        parser.add_argument("--out", default="demo-output", help="Output folder (default: demo-output).")
        parser.add_argument("--split", default="test", choices=["train", "validation", "test"])
        parser.add_argument("--num-clips", type=int, default=4, help="Clips on the contact sheet (default: 4).")
        parser.add_argument("--num-frames", type=int, default=8, help="Frames per clip (default: 8).")
        parser.add_argument("--num-workers", type=int, default=2, help="DataLoader workers (default: 2).")
        judge = parser.add_argument_group(
            "LLM judge: adds L1/L2 to the benchmark loop (official prompts with --release)"
        )
        judge.add_argument("--judge-backend", choices=["openai", "vllm", "transformers"])
        judge.add_argument("--judge-model", help="Default: the paper's judge for English.")
        judge.add_argument("--judge-url", help="Base URL of an OpenAI-compatible server (openai backend).")

    @staticmethod
    def run(args: argparse.Namespace) -> int:

        from .demo import run_demo
        from .evaluation import build_judge

        if args.videos and not args.release:
            raise SystemExit("--videos needs --release (the mini-release brings its own movies).")
        judge = None
        if args.judge_backend:
            judge = build_judge(
                language="en", backend=args.judge_backend, model=args.judge_model, url=args.judge_url,
                release=args.release,
            )  # fmt: skip
        run_demo(
            args.out, release=args.release, videos=args.videos, split=args.split, num_clips=args.num_clips,
            num_frames=args.num_frames, num_workers=args.num_workers, judge=judge,
        )  # fmt: skip
        return 0


class Evaluate:
    help = "Score a predictions JSONL against a prepared dataset: classic metrics, RoleF1, L1/L2 with a judge."

    @staticmethod
    def register(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--predictions", required=True, help='JSONL lines {"clip_id": ..., "narration": ...}.')
        parser.add_argument("--dataset", required=True, help="A prepared folder or Hub id.")
        parser.add_argument("--config", default="en", choices=["en", "zh", "en-short", "zh-short"])
        parser.add_argument("--split", default="test", choices=["train", "validation", "test"])
        parser.add_argument("--out", required=True, help="Folder for results.json, per_sample.jsonl, report.html.")
        _add_scoring_arguments(parser)

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from .evaluation import evaluate_predictions

        judge, metrics = _judge_and_metrics(args)
        results = evaluate_predictions(
            args.predictions, args.dataset, out=args.out, config=args.config, split=args.split, metrics=metrics,
            judge=judge, bertscore_model=args.bertscore_model, baselines=args.baselines, max_invalid=args.max_invalid,
        )  # fmt: skip
        _print_scores(results)
        print(f"\nWrote {args.out}/results.json, per_sample.jsonl and report.html")
        return 0 if results["complete"] else 1


class Faces:
    help = (
        "Identify cast members in clips by face (insightface: detection + ArcFace, cosine similarity to the cast "
        "portraits). insightface's model packs are for non-commercial research use only."
    )

    @staticmethod
    def register(parser: argparse.ArgumentParser) -> None:
        from .faces import DEFAULT_DET_SIZE, DEFAULT_DET_THRESH, DEFAULT_THRESHOLD

        parser.add_argument("--dataset", required=True, help="A prepared folder or Hub id (prepared with --videos).")
        parser.add_argument("--config", default="en", choices=["en", "zh", "en-short", "zh-short"],
                            help="Names in this config's language.")  # fmt: skip
        parser.add_argument("--split", default="test", choices=["train", "validation", "test"])
        parser.add_argument(
            "--model-dir",
            required=True,
            help="A local insightface model pack, e.g. "
            "~/.insightface/models/buffalo_l (non-commercial research use only); nothing is downloaded.",
        )
        parser.add_argument("--out", required=True, help="JSONL, one line per clip; a rerun resumes.")
        parser.add_argument(
            "--threshold",
            type=float,
            default=DEFAULT_THRESHOLD,
            help=f"Cosine similarity a face needs to its closest portrait (default {DEFAULT_THRESHOLD}).",
        )
        parser.add_argument("--max-cast", type=int, help="Match against the first K billed cast members only.")
        parser.add_argument("--min-frames", type=int, default=1, help="Frames a character must be found in.")
        parser.add_argument(
            "--fps", type=float, default=1.0, help="Frames per second of clip (default 1, as the paper)."
        )
        parser.add_argument("--max-frames", type=int, default=32, help="At most this many frames per clip.")
        parser.add_argument(
            "--det-size", type=int, default=DEFAULT_DET_SIZE, help="Detector input side (default 640)."
        )
        parser.add_argument("--det-thresh", type=float, default=DEFAULT_DET_THRESH, help="Detection score threshold.")
        parser.add_argument("--movie-ids", nargs="+", help="Only these movies.")
        parser.add_argument("--max-samples", type=int, help="Only the first N clips.")
        parser.add_argument("--cache-dir", help="Portrait embedding cache (default: "
                            "$MOVIE101V2_HF_CACHE/faces, else ~/.cache/huggingface/movie101v2_hf/faces).")  # fmt: skip
        parser.add_argument("--num-workers", type=int, default=2, help="DataLoader workers decoding frames.")
        parser.add_argument("--overwrite", action="store_true", help="Start again instead of resuming.")
        parser.add_argument("--evaluate", action="store_true", help="Then report precision, recall and F1 against "
                            "the characters marked in the reference narrations (the paper's test).")  # fmt: skip

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        import json
        from pathlib import Path

        from .faces import FaceSettings, FacesOptions, evaluate_identification, identification_table, identify_split
        from .inference import sidecar_path
        from .utils.io import write_atomically

        settings = FaceSettings(
            threshold=args.threshold, max_cast=args.max_cast, min_frames=args.min_frames, fps=args.fps,
            max_frames=args.max_frames,
        )  # fmt: skip
        record = identify_split(FacesOptions(
            dataset=args.dataset, model_dir=args.model_dir, out=args.out, config=args.config, split=args.split,
            settings=settings, det_size=args.det_size, det_thresh=args.det_thresh, movie_ids=args.movie_ids,
            max_samples=args.max_samples, cache_dir=args.cache_dir, num_workers=args.num_workers,
            overwrite=args.overwrite,
        ))  # fmt: skip
        print(f"{record['num_written']:,}/{record['num_clips']:,} clips in {args.out}; portraits embedded "
              f"{record['portraits']['embedded']}, from cache {record['portraits']['from_cache']}")  # fmt: skip
        for failure in record["failures"][:3]:
            print(f"failed: {failure['clip_id']}: {failure['error']}")
        if args.evaluate:
            scores = evaluate_identification(args.out, args.dataset, config=args.config, split=args.split)
            print(identification_table(scores))
            path = Path(args.out).with_name(Path(args.out).stem + ".eval.json")
            write_atomically(path, json.dumps(scores, indent=2) + "\n")
            print(f"Wrote {path}")
        print(f"Run record: {sidecar_path(args.out)}")
        return 0 if record["complete"] else 1


class Env:
    help = "Print versions of the package and its dependencies, for bug reports."

    @staticmethod
    def register(parser: argparse.ArgumentParser) -> None:
        pass

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        import platform
        import shutil
        from importlib.metadata import PackageNotFoundError, version

        print(f"movie101v2-hf: {__version__}\nPython: {platform.python_version()} ({platform.platform()})")
        for package in ("datasets", "huggingface_hub", "pyarrow", "torch", "torchvision", "torchcodec", "transformers",
                        "trl", "peft", "accelerate", "evaluate", "vllm", "insightface", "onnxruntime"):  # fmt: skip
            try:
                print(f"{package}: {version(package)}")
            except PackageNotFoundError:
                print(f"{package}: not installed")
        print(f"ffmpeg: {shutil.which('ffmpeg') or 'not found'}")
        return 0


COMMANDS = {
    "prepare": Prepare,
    "push-dataset": PushDataset,
    "push-model": PushModel,
    "narrate": Narrate,
    "evaluate": Evaluate,
    "bench": Bench,
    "faces": Faces,
    "mini-release": MiniRelease,
    "demo": Demo,
    "env": Env,
}


def make_parser() -> argparse.ArgumentParser:
    """The `movie101v2` argument parser with all subcommands."""
    parser = argparse.ArgumentParser(
        prog="movie101v2",
        description="Movie101v2 movie narration (audio description) benchmark on the Hugging Face stack.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="Log debug messages.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        sub = subparsers.add_parser(name, help=command.help, description=command.help)
        command.register(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `movie101v2` console script; returns the exit status."""
    args = make_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.run(args)
    except (Movie101v2Error, FileNotFoundError, FileExistsError, ValueError) as err:
        # Our errors name the file, line or id and the fix: a traceback would only bury that.
        print(f"movie101v2 {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
