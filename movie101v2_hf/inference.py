"""Narrating a split: `movie101v2 narrate` writes one `{"clip_id", "narration"}` line per clip.

Four backends behind one interface (`Narrator`):

- `transformers`: any machine; batched greedy `generate`, a LoRA adapter of `recipes/sft_lora.py` loaded on top;
- `vllm`: offline `vllm.LLM` with multimodal inputs, LoRA adapters, tensor parallelism (the fast path);
- `openai`: an OpenAI-compatible server (hosted or `vllm serve`); frames and portraits go as images, with a task
  description and narrations of the training split as in-context examples (the paper's GPT-4V-style baseline);
- `retrieval`: the best-matching training narration with its names swapped in (`retrieval.py`); no model.

The prompt is built by the training collator (`NarrationCollator`), with the `PromptSettings` a training run
saved beside its adapter, so a fine-tuned model is evaluated the way it was trained.

A run is resumable and honest about failures: each batch's lines are appended and synced before the next
batch starts; a rerun skips the clips already written (after checking that the settings are the same); a
clip that fails is retried, then recorded in the sidecar `<out>.run.json` with its error, which says
`complete: false` until every clip is written. Frames are decoded in DataLoader workers while the model
generates. `data_parallel_size > 1` runs one process per GPU group on its own shard of clips and merges
their files in dataset order.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from . import __version__
from .collator import PROMPT_SETTINGS_FILE, NarrationCollator, PromptSettings
from .utils.io import write_atomically

logger = logging.getLogger(__name__)

BACKENDS = ("transformers", "vllm", "openai", "retrieval")
SINGLE_LANGUAGE_CONFIGS = ("en", "zh", "en-short", "zh-short")

# The openai backend's task description (ours; the paper describes its GPT-4V prompt but does not publish it).
TASK_DESCRIPTIONS = {
    "en": (
        "You write audio description: narration that tells blind and low-vision viewers what happens on screen in "
        "a movie. You get frames of one clip in order and portraits of the main cast with their names. Write one "
        "paragraph in the style of the examples: the setting, the characters on screen by name, and what they do. "
        "Describe only what is visible; no opinions, no sound, no dialogue."
    ),
    "zh": (
        "你为电影撰写无障碍解说，即为视障观众讲述画面内容的解说词。你将按顺序看到一个片段的若干画面，以及主要角色的照片和名字。"
        "请仿照示例的风格写一段话：场景、画面中的人物（用名字称呼）以及他们的动作。只描述画面中可见的内容，不加评论，不描述声音和对白。"
    ),
}
_EXAMPLES_HEADER = {"en": "Examples of narrations from other movies:", "zh": "其他电影的解说示例："}


def sidecar_path(out: str | Path) -> Path:
    """Where a predictions file's run record lives: `preds.jsonl` -> `preds.run.json`.

    Example:
        >>> sidecar_path("runs/a/predictions.jsonl").name
        'predictions.run.json'
    """
    out = Path(out)
    return out.with_name(f"{out.stem if out.suffix == '.jsonl' else out.name}.run.json")


# -- backends ------------------------------------------------------------------------------------------------------


class RequestBuilder(Protocol):
    """Turns clip rows into what a backend generates from; runs in DataLoader workers, so it must pickle."""

    def prepare(self, row: dict[str, Any]) -> Any: ...  # one clip: decode frames, build its request

    def batch(self, requests: list[Any]) -> Any: ...  # the requests of a batch, ready for `Narrator.generate`


class Narrator(Protocol):
    """A narration backend: a request builder for the workers, `generate` for the main process."""

    name: str

    def builder(self) -> RequestBuilder: ...

    def generate(self, batch: Any) -> list[str | BaseException]: ...  # one narration or error per clip

    def describe(self) -> dict[str, Any]: ...  # what identifies the model, for the sidecar


def load_processor(model: str, adapter: str | None = None) -> Any:
    """The processor saved with the adapter (a training run saves it) or else the model's own."""
    from transformers import AutoProcessor

    if adapter and any(
        (Path(adapter) / name).is_file()
        for name in ("processor_config.json", "preprocessor_config.json", "chat_template.jinja", "chat_template.json")
    ):
        return AutoProcessor.from_pretrained(adapter)
    return AutoProcessor.from_pretrained(model)


@dataclass
class _CollatorRequests:
    """Requests built by the training collator: processed tensors (`tensors`) or vLLM prompt dicts."""

    collator: NarrationCollator
    kind: str  # "tensors" | "vllm"

    def prepare(self, row: dict[str, Any]) -> Any:
        inputs = self.collator.clip_inputs(row)
        if self.kind == "tensors":
            return inputs
        multi_modal: dict[str, Any] = {}
        if inputs["images"]:
            multi_modal["image"] = inputs["images"]
        if inputs["video"] is not None:
            meta = inputs["video_metadata"]
            frames = inputs["video"].permute(0, 2, 3, 1).contiguous().numpy()  # T x H x W x C, as vLLM takes it
            multi_modal["video"] = [
                (frames, {"fps": meta.fps, "duration": meta.duration, "total_num_frames": meta.total_num_frames,
                          "frames_indices": list(meta.frames_indices), "video_backend": "torchcodec",
                          "do_sample_frames": False})
            ]  # fmt: skip
        return {"prompt": self.collator.prompt_text(inputs), "multi_modal_data": multi_modal}

    def batch(self, requests: list[Any]) -> Any:
        return self.collator.prompt_batch(requests) if self.kind == "tensors" else requests


@dataclass
class TransformersNarrator:
    """Batched greedy generation with `transformers`; a LoRA adapter (PEFT) is loaded on top of the model.

    Example:
        >>> narrator = TransformersNarrator("Qwen/Qwen2.5-VL-7B-Instruct", PromptSettings(), adapter="runs/lora")  # doctest: +SKIP
    """

    model: str
    settings: PromptSettings
    portraits: Any = None
    adapter: str | None = None
    max_new_tokens: int = 256
    device: str | None = None
    dtype: str = "auto"
    name: str = field(default="transformers", init=False)

    def __post_init__(self) -> None:
        self.processor = load_processor(self.model, self.adapter)
        self.collator = NarrationCollator(self.processor, self.settings, self.portraits)

    def builder(self) -> RequestBuilder:
        return _CollatorRequests(self.collator, "tensors")

    def _loaded(self) -> Any:
        if not hasattr(self, "_model"):
            import torch
            from transformers import AutoModelForImageTextToText

            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            model = AutoModelForImageTextToText.from_pretrained(self.model, dtype=self.dtype)
            if self.adapter:
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, self.adapter)
            self._model = model.to(device).eval()
        return self._model

    def generate(self, batch: Any) -> list[str | BaseException]:
        import torch

        model = self._loaded()
        batch = batch.to(model.device)
        tokenizer = self.processor.tokenizer
        with torch.inference_mode():
            output = model.generate(
                **batch, max_new_tokens=self.max_new_tokens, do_sample=False,
                pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
            )  # fmt: skip
        new_tokens = output[:, batch["input_ids"].shape[1] :]
        return [text.strip() for text in self.processor.batch_decode(new_tokens, skip_special_tokens=True)]

    def describe(self) -> dict[str, Any]:
        return {"model": self.model, "adapter": self.adapter, "max_new_tokens": self.max_new_tokens}


@dataclass
class VLLMNarrator:
    """Offline vLLM: the prompt rendered with the model's chat template, frames and portraits as multimodal data.

    A LoRA adapter is served with `LoRARequest`. vLLM's LoRA covers the language model's linear layers only, so an
    adapter that also trained the projector (`modules_to_save`, the paper's setting and our recipes' default) is
    merged into the base model first, once, into `merged_dir`. Needs the `vllm` extra and a GPU.

    Example:
        >>> narrator = VLLMNarrator("Qwen/Qwen2.5-VL-7B-Instruct", PromptSettings(), tensor_parallel_size=2)  # doctest: +SKIP
    """

    model: str
    settings: PromptSettings
    portraits: Any = None
    adapter: str | None = None
    max_new_tokens: int = 256
    tensor_parallel_size: int = 1
    max_model_len: int | None = 32768
    merged_dir: str | None = None
    llm_kwargs: dict[str, Any] = field(default_factory=dict)
    name: str = field(default="vllm", init=False)

    def __post_init__(self) -> None:
        self.processor = load_processor(self.model, self.adapter)
        self.collator = NarrationCollator(self.processor, self.settings, self.portraits)

    def builder(self) -> RequestBuilder:
        return _CollatorRequests(self.collator, "vllm")

    def _adapter_config(self) -> dict[str, Any]:
        return json.loads((Path(self.adapter) / "adapter_config.json").read_text("utf-8")) if self.adapter else {}

    def _engine(self) -> Any:
        if not hasattr(self, "_llm"):
            from .errors import require

            require("vllm", extra="vllm", feature="The vllm narration backend")
            from vllm import LLM

            model, lora = self.model, {}
            config = self._adapter_config()
            if config.get("modules_to_save"):
                model = self._merged()
            elif self.adapter:
                lora = {"enable_lora": True, "max_lora_rank": int(config.get("r", 16)), "max_loras": 1}
            images = self.settings.max_portraits + (
                0
                if self.settings.input_mode == "video"
                else -(-self.settings.video_maxlen // self.settings.frames_per_image)
            )
            self._llm = LLM(
                model=model, tensor_parallel_size=self.tensor_parallel_size, max_model_len=self.max_model_len,
                limit_mm_per_prompt={"image": images, "video": 1 if self.settings.input_mode == "video" else 0},
                seed=0, **lora, **self.llm_kwargs,
            )  # fmt: skip
        return self._llm

    def _merged(self) -> str:
        from .hub import _merge_adapter

        target = Path(self.merged_dir or Path(self.adapter) / "merged")
        if not (target / "config.json").is_file():
            logger.info("vLLM cannot load the adapter's projector weights as LoRA: merging it into %s", target)
            tmp = target.with_name(target.name + ".partial")
            _merge_adapter(
                Path(self.adapter), self._adapter_config().get("base_model_name_or_path") or self.model, tmp
            )
            os.replace(tmp, target)
        return str(target)

    def generate(self, batch: Any) -> list[str | BaseException]:
        from vllm import SamplingParams

        llm = self._engine()
        lora_request = None
        if self.adapter and not self._adapter_config().get("modules_to_save"):
            from vllm.lora.request import LoRARequest

            lora_request = LoRARequest("narration", 1, str(self.adapter))
        params = SamplingParams(temperature=0, max_tokens=self.max_new_tokens)
        outputs = llm.generate(batch, params, lora_request=lora_request, use_tqdm=False)
        return [
            output.outputs[0].text.strip() if output.outputs else RuntimeError("vLLM returned no completion")
            for output in outputs
        ]

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.model, "adapter": self.adapter, "max_new_tokens": self.max_new_tokens,
            "tensor_parallel_size": self.tensor_parallel_size,
        }  # fmt: skip


def _data_url(image: Any) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


@dataclass
class _ChatRequests:
    """OpenAI chat bodies: the collator's user turn with every image as a JPEG data URL, after a system turn
    with the task description and retrieved in-context examples."""

    collator: NarrationCollator
    model: str
    max_new_tokens: int
    retrieval: Any = None  # a _RetrievalRequests for the in-context examples, or None
    num_examples: int = 0

    def prepare(self, row: dict[str, Any]) -> Any:
        from .collator import _to_pil

        language = self.collator.settings.language
        inputs = self.collator.clip_inputs(row)
        images = iter(inputs["images"])
        parts: list[dict[str, Any]] = []
        for part in inputs["messages"][0]["content"]:
            if part["type"] == "image":
                parts.append({"type": "image_url", "image_url": {"url": _data_url(next(images))}})
            elif part["type"] == "video":  # frames as images, in order, with their clip time
                for k, frame in enumerate(inputs["video"]):
                    seconds = k / inputs["video_metadata"].fps
                    parts.append({"type": "text", "text": f"[{seconds:.1f}s]"})
                    parts.append({"type": "image_url", "image_url": {"url": _data_url(_to_pil(frame))}})
            else:
                parts.append({"type": "text", "text": part["text"]})
        system = TASK_DESCRIPTIONS[language]
        if self.retrieval is not None and self.num_examples:
            examples = self.retrieval.index.examples(row, self.num_examples, **self.retrieval.context(row))
            system += "\n\n" + _EXAMPLES_HEADER[language] + "\n" + "\n".join(f"- {text}" for text in examples)
        return {
            "model": self.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": parts}],
            "temperature": 0,
            "max_tokens": self.max_new_tokens,
        }

    def batch(self, requests: list[Any]) -> Any:
        return requests


@dataclass
class OpenAINarrator:
    """A multimodal model behind an OpenAI-compatible server; requests run `concurrency` at a time, with retries.

    With `num_examples > 0` and a retrieval index of the training split, each request carries that many training
    narrations (best-matching, one per movie) as in-context examples: the paper's GPT-4V-style baseline.

    Example:
        >>> narrator = OpenAINarrator("gpt-4o", PromptSettings(video_num_frames=8), base_url="https://api.openai.com/v1")  # doctest: +SKIP
    """

    model: str
    settings: PromptSettings
    portraits: Any = None
    base_url: str = "http://localhost:8000/v1"
    processor: Any = None
    retrieval: Any = None
    num_examples: int = 3
    max_new_tokens: int = 256
    concurrency: int = 8
    max_retries: int = 4
    timeout: float = 120.0
    backoff: float = 1.0
    name: str = field(default="openai", init=False)

    def __post_init__(self) -> None:
        from .openai_api import ChatClient

        self.client = ChatClient(
            self.base_url, max_retries=self.max_retries, timeout=self.timeout, backoff=self.backoff
        )
        processor = self.processor or _TemplateFreeProcessor()
        self.collator = NarrationCollator(processor, self.settings, self.portraits)

    def builder(self) -> RequestBuilder:
        return _ChatRequests(self.collator, self.model, self.max_new_tokens, self.retrieval, self.num_examples)

    def generate(self, batch: Any) -> list[str | BaseException]:
        from concurrent.futures import ThreadPoolExecutor

        def one(body: dict[str, Any]) -> str | BaseException:
            try:
                return self.client.complete(body).strip()
            except Exception as err:  # noqa: BLE001 (recorded per clip, retried by the caller)
                return err

        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            return list(pool.map(one, batch))

    def describe(self) -> dict[str, Any]:
        return {"model": self.model, "base_url": self.base_url, "num_examples": self.num_examples,
                "max_new_tokens": self.max_new_tokens}  # fmt: skip


class _TemplateFreeProcessor:
    """What the collator needs from a processor when the server applies the chat template itself."""

    chat_template = "server-side"
    tokenizer = object()


@dataclass
class _RetrievalRequests:
    """The retrieval baseline needs no model: `prepare` returns the narration itself."""

    index: Any
    genres: dict[str, list[str]]
    lengths: dict[str, float]
    identified_column: str | None = None

    def context(self, row: dict[str, Any]) -> dict[str, Any]:
        identified = row.get(self.identified_column) if self.identified_column else None
        return {
            "genres": self.genres.get(row["movie_id"], []),
            "movie_length": self.lengths.get(row["movie_id"]),
            "identified": identified,
        }

    def prepare(self, row: dict[str, Any]) -> Any:
        return self.index.narrate(row, **self.context(row))

    def batch(self, requests: list[Any]) -> Any:
        return requests


@dataclass
class RetrievalNarrator:
    """The retrieval baseline (`retrieval.RetrievalIndex`) as a backend: no GPU, no model, no frames.

    Example:
        >>> narrator = RetrievalNarrator.from_dataset("movie101v2-hf", "en", clips)  # doctest: +SKIP
    """

    requests: _RetrievalRequests
    train_clips: int = 0
    name: str = field(default="retrieval", init=False)

    @classmethod
    def from_dataset(
        cls, dataset: str, config: str, split: str, *, identified_column: str | None = None
    ) -> RetrievalNarrator:
        """Index the `train` split of `dataset`; the clips of `split` (all of them, whatever subset or shard is
        narrated, so that every run sees the same movie lengths) give each movie's length."""
        from datasets import load_dataset

        from .retrieval import RetrievalIndex, movie_lengths

        train = load_dataset(dataset, config, split="train")
        genres = movie_genres(dataset)
        index = RetrievalIndex.from_rows(train, genres)
        rows = train if split == "train" else load_dataset(dataset, config, split=split)
        lengths = movie_lengths(rows.select_columns(["movie_id", "end"]).to_dict())
        return cls(_RetrievalRequests(index, genres, lengths, identified_column), train_clips=len(index))

    def builder(self) -> RequestBuilder:
        return self.requests

    def generate(self, batch: Any) -> list[str | BaseException]:
        return list(batch)

    def describe(self) -> dict[str, Any]:
        return {"model": "retrieval", "train_clips": self.train_clips}


def movie_genres(dataset: str) -> dict[str, list[str]]:
    """`{movie_id: genres}` from the dataset's `movies` config (empty if it has none); portraits are not decoded."""
    from datasets import load_dataset

    try:
        movies = load_dataset(dataset, "movies")
    except ValueError:  # a dataset without the `movies` config
        return {}
    return {
        movie_id: list(genre or [])
        for split in movies.values()
        for movie_id, genre in zip(split["movie_id"], split.select_columns(["genre"])["genre"])
    }


# -- the run -------------------------------------------------------------------------------------------------------


@dataclass
class NarrationRun:
    """What a narrate run did; also written, with its settings, to the sidecar `<out>.run.json`."""

    out: Path
    num_clips: int
    num_written: int
    failures: dict[str, str]
    seconds: float
    settings: dict[str, Any]

    @property
    def complete(self) -> bool:
        """Every clip of the split has its line in `out`."""
        return self.num_written == self.num_clips and not self.failures

    def summary(self) -> str:
        rate = self.num_written / self.seconds if self.seconds else 0.0
        text = f"{self.num_written:,}/{self.num_clips:,} clips narrated into {self.out} ({rate:.2f} clips/s this run)"
        if self.failures:
            first = next(iter(self.failures.items()))
            text += f"; {len(self.failures)} failed (e.g. {first[0]}: {first[1]}), listed in {sidecar_path(self.out)}"
        return text

    def record(self) -> dict[str, Any]:
        return {
            "settings": self.settings, "complete": self.complete, "num_clips": self.num_clips,
            "num_written": self.num_written, "num_failed": len(self.failures),
            "failures": [{"clip_id": c, "error": e} for c, e in self.failures.items()],
            "seconds": round(self.seconds, 3), "package_version": __version__,
        }  # fmt: skip


def read_written(out: Path) -> list[str]:
    """Clip ids already in `out`; a torn last line (the run was killed mid-write) is cut off the file."""
    if not out.is_file():
        return []
    data = out.read_bytes()
    keep = data.rfind(b"\n") + 1  # everything after the last newline is a line that was never finished
    if keep < len(data):
        logger.warning("%s ends with an unfinished line (an interrupted run): dropping it", out)
        with open(out, "r+b") as handle:
            handle.truncate(keep)
    clip_ids = []
    for number, line in enumerate(data[:keep].decode("utf-8").splitlines(), start=1):
        if line.strip():
            try:
                clip_ids.append(json.loads(line)["clip_id"])
            except (json.JSONDecodeError, KeyError, TypeError):
                raise ValueError(
                    f"{out}:{number}: not a predictions line; this file was not written by `movie101v2 narrate`. "
                    "Choose another --out or pass --overwrite."
                ) from None
    return clip_ids


def check_resumable(out: Path, settings: dict[str, Any]) -> None:
    record_path = sidecar_path(out)
    if not record_path.is_file():
        if out.is_file() and out.stat().st_size:
            raise FileExistsError(f"{out} exists without its run record {record_path.name}: pass --overwrite.")
        return
    previous = json.loads(record_path.read_text("utf-8")).get("settings", {})
    changed = sorted(key for key in set(previous) | set(settings) if previous.get(key) != settings.get(key))
    if changed:
        details = "; ".join(f"{k}: {previous.get(k)!r} -> {settings.get(k)!r}" for k in changed[:4])
        raise ValueError(
            f"{out} was written with other settings ({details}). Resuming would mix two runs in one file: pass "
            "--overwrite to start again, or another --out."
        )


def start_resumable(out: Path, settings: dict[str, Any], *, overwrite: bool) -> set[str]:
    """Get `out` (a JSONL of one line per clip, with its run record) ready for a run; returns the clip ids done.

    `overwrite` deletes both files; otherwise the run must have the settings of the one that wrote them.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    if overwrite:
        out.unlink(missing_ok=True)
        sidecar_path(out).unlink(missing_ok=True)
    check_resumable(out, settings)
    return set(read_written(out))


class _BatchMaker:
    """The DataLoader's collate_fn: prepare each clip on its own (one bad clip fails alone), then the batch."""

    def __init__(self, builder: RequestBuilder) -> None:
        self.builder = builder

    def __call__(self, rows: list[dict[str, Any]]) -> tuple[list[str], Any, dict[str, str]]:
        clip_ids, requests, failures = [], [], {}
        for row in rows:
            try:
                requests.append(self.builder.prepare(row))
                clip_ids.append(row["clip_id"])
            except Exception as err:  # noqa: BLE001 (reported per clip)
                failures[row["clip_id"]] = _describe(err)
        payload = None
        if requests:
            try:
                payload = self.builder.batch(requests)
            except Exception as err:  # noqa: BLE001 (the main process retries these clips one by one)
                failures.update({clip_id: _describe(err) for clip_id in clip_ids})
                clip_ids = []
        return clip_ids, payload, failures


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


@dataclass(frozen=True)
class _Failure:
    """Why a clip failed, already described (what comes back from DataLoader workers, whatever the error)."""

    message: str

    @classmethod
    def of(cls, result: str | BaseException) -> str | _Failure:
        """A narration stays as it is; an exception becomes its description."""
        return cls(_describe(result)) if isinstance(result, BaseException) else result


def run_narration(
    narrator: Narrator,
    clips: Any,
    out: str | Path,
    *,
    settings: dict[str, Any],
    batch_size: int = 4,
    num_workers: int = 2,
    retries: int = 1,
    overwrite: bool = False,
    show_progress: bool = True,
    progress_position: int = 0,
) -> NarrationRun:
    """Narrate `clips` (a map-style `datasets.Dataset`, in order) into `out`, resuming what is already there.

    Args:
        narrator: the backend.
        clips: the rows to narrate; their order is the order of the file.
        out: the predictions JSONL; its run record goes to `sidecar_path(out)`.
        settings: what identifies the run (model, prompt, data); a resume with other settings is refused.
        batch_size: clips per `generate` call.
        num_workers: DataLoader workers decoding frames while the model generates (0: in this process).
        retries: extra attempts for a clip that failed, one clip at a time, before it is recorded as failed.
        overwrite: start again instead of resuming.

    Example:
        >>> run = run_narration(narrator, clips, "preds.jsonl", settings={"model": "m"})  # doctest: +SKIP
        >>> run.complete  # doctest: +SKIP
        True
    """
    import torch
    from tqdm.auto import tqdm

    out = Path(out)
    written = start_resumable(out, settings, overwrite=overwrite)
    all_ids = clips["clip_id"]
    pending = [i for i, clip_id in enumerate(all_ids) if clip_id not in written]
    failures: dict[str, str] = {}
    began = time.perf_counter()
    run = NarrationRun(out, len(all_ids), len(written), failures, 0.0, settings)
    write_atomically(sidecar_path(out), json.dumps(run.record(), indent=2, ensure_ascii=False) + "\n")
    if written:
        logger.info("%s: %d of %d clips already narrated, resuming", out, len(written), len(all_ids))

    builder = narrator.builder()
    todo = clips.select(pending)
    loader = torch.utils.data.DataLoader(
        todo, batch_size=batch_size, num_workers=num_workers, collate_fn=_BatchMaker(builder),
        persistent_workers=False, prefetch_factor=4 if num_workers else None,
    )  # fmt: skip
    position = {clip_id: i for i, clip_id in enumerate(todo["clip_id"])}
    bar = tqdm(
        total=len(all_ids), initial=len(written), unit="clip", desc=f"narrate {out.name}",
        disable=not show_progress, position=progress_position, dynamic_ncols=True,
    )  # fmt: skip
    try:
        with open(out, "a", encoding="utf-8") as handle:
            for clip_ids, payload, prepare_failures in loader:
                results: dict[str, str | _Failure] = {}
                if clip_ids:
                    try:
                        narrations = narrator.generate(payload)
                    except Exception as err:  # noqa: BLE001 (retried one clip at a time below)
                        narrations = [err] * len(clip_ids)
                    results.update((c, _Failure.of(n)) for c, n in zip(clip_ids, narrations))
                results.update({c: _Failure(e) for c, e in prepare_failures.items()})
                lines = []
                for clip_id in sorted(results, key=position.__getitem__):
                    result = results[clip_id]
                    for _ in range(retries):
                        if isinstance(result, str):
                            break
                        result = _one_clip(narrator, builder, todo[position[clip_id]])
                    if isinstance(result, str):
                        lines.append(json.dumps({"clip_id": clip_id, "narration": result}, ensure_ascii=False) + "\n")
                    else:
                        failures[clip_id] = result.message
                        logger.warning("clip %s failed: %s", clip_id, failures[clip_id])
                handle.write("".join(lines))
                handle.flush()
                os.fsync(handle.fileno())  # a line on disk is a clip a rerun will not redo
                run.num_written += len(lines)
                bar.update(len(results))
    finally:
        bar.close()
        run.seconds = time.perf_counter() - began
        write_atomically(sidecar_path(out), json.dumps(run.record(), indent=2, ensure_ascii=False) + "\n")
    return run


def _one_clip(narrator: Narrator, builder: RequestBuilder, row: dict[str, Any]) -> str | _Failure:
    try:
        return _Failure.of(narrator.generate(builder.batch([builder.prepare(row)]))[0])
    except Exception as err:  # noqa: BLE001
        return _Failure(_describe(err))


# -- a split, from plain options ----------------------------------------------------------------------------------


def resolve_prompt_settings(
    language: str, adapter: str | None = None, overrides: dict[str, Any] | None = None
) -> PromptSettings:
    """The adapter's saved prompt settings (else the defaults), with `language` and any explicit overrides.

    Example:
        >>> resolve_prompt_settings("en", overrides={"video_num_frames": 8}).video_num_frames
        8
    """
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if adapter and (Path(adapter) / PROMPT_SETTINGS_FILE).is_file():
        values = asdict(PromptSettings.load(adapter))
        if values["language"] != language:
            logger.warning("the adapter was trained on %s narrations; narrating in %s", values["language"], language)
        if overrides:
            logger.warning("overriding the adapter's prompt settings: %s", overrides)
    else:
        values = asdict(PromptSettings(language=language))
    return PromptSettings(**{**values, "language": language, **overrides})


def load_split(
    dataset: str,
    config: str,
    split: str,
    *,
    needs_video: bool,
    movie_ids: Sequence[str] | None,
    max_samples: int | None,
) -> Any:
    """The clips to narrate: `video` undecoded when frames are needed (the builder decodes them)."""
    from datasets import load_dataset

    from .training import load_clips

    if config not in SINGLE_LANGUAGE_CONFIGS:
        raise ValueError(
            f"Narrate a single-language clip config ({', '.join(SINGLE_LANGUAGE_CONFIGS)}), not {config!r}."
        )
    if needs_video:
        return load_clips(dataset, config, split, movie_ids=list(movie_ids or []), max_samples=max_samples)
    rows = load_dataset(dataset, config, split=split)
    if "video" in rows.column_names:
        rows = rows.remove_columns("video")
    if movie_ids:
        wanted = set(movie_ids)
        rows = rows.filter(lambda movie_id: movie_id in wanted, input_columns="movie_id")
    if max_samples is not None:
        rows = rows.select(range(min(max_samples, len(rows))))
    return rows


@dataclass
class NarrateOptions:
    """Every option of `movie101v2 narrate`, as plain values (they also travel to data-parallel workers as JSON).

    Example:
        >>> NarrateOptions(dataset="movie101v2-hf", out="preds.jsonl", backend="retrieval").model
        'retrieval'
    """

    dataset: str
    out: str
    model: str = "retrieval"
    backend: str = "transformers"
    adapter: str | None = None
    config: str = "en"
    split: str = "test"
    movie_ids: list[str] | None = None
    max_samples: int | None = None
    prompt: dict[str, Any] = field(default_factory=dict)  # PromptSettings overrides
    batch_size: int = 4
    num_workers: int = 2
    max_new_tokens: int = 256
    retries: int = 1
    overwrite: bool = False
    allow_failures: bool = False
    # vllm
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    max_model_len: int | None = 32768
    # openai
    base_url: str = "http://localhost:8000/v1"
    concurrency: int = 8
    num_examples: int = 3
    request_retries: int = 4  # per request, on 429 / 5xx / timeouts, before the clip counts as failed once
    request_backoff: float = 1.0
    # transformers
    device: str | None = None
    dtype: str = "auto"
    # data-parallel workers
    num_shards: int = 1
    shard_index: int = 0
    show_progress: bool = True
    faces: str | None = None  # a `movie101v2 faces` output: its names go into the prompt

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"Unknown backend {self.backend!r}; choose one of {list(BACKENDS)}.")
        if self.backend == "retrieval":
            self.model = "retrieval"
        if self.data_parallel_size < 1 or not 0 <= self.shard_index < self.num_shards:
            raise ValueError("data_parallel_size must be >= 1 and 0 <= shard_index < num_shards.")

    def run_settings(self) -> dict[str, Any]:
        """What identifies the predictions (compared when resuming): not batch size, workers or paths."""
        keys = ("dataset", "model", "backend", "adapter", "config", "split", "movie_ids", "max_samples",
                "max_new_tokens", "num_examples", "data_parallel_size", "faces")  # fmt: skip
        return {key: getattr(self, key) for key in keys}


def build_narrator(options: NarrateOptions) -> tuple[Narrator, PromptSettings | None]:
    """The backend `options` name, with its prompt settings and portraits."""
    from .training import load_portraits

    language = options.config[:2]
    if options.backend == "retrieval":
        column = options.prompt.get("identified_characters_column")
        narrator = RetrievalNarrator.from_dataset(
            options.dataset, options.config, options.split, identified_column=column
        )
        return narrator, None
    settings = resolve_prompt_settings(language, options.adapter, options.prompt)
    portraits = load_portraits(options.dataset, language, max_portraits=settings.max_portraits)
    common = {"settings": settings, "portraits": portraits, "max_new_tokens": options.max_new_tokens}
    if options.backend == "transformers":
        narrator: Narrator = TransformersNarrator(
            options.model, adapter=options.adapter, device=options.device, dtype=options.dtype, **common
        )
    elif options.backend == "vllm":
        narrator = VLLMNarrator(
            options.model, adapter=options.adapter, tensor_parallel_size=options.tensor_parallel_size,
            max_model_len=options.max_model_len, **common,
        )  # fmt: skip
    else:
        retrieval = None
        if options.num_examples:
            retrieval = RetrievalNarrator.from_dataset(options.dataset, options.config, options.split).requests
        narrator = OpenAINarrator(
            options.model, base_url=options.base_url, retrieval=retrieval, num_examples=options.num_examples,
            concurrency=options.concurrency, max_retries=options.request_retries, backoff=options.request_backoff,
            **common,
        )  # fmt: skip
    return narrator, settings


def narrate_split(options: NarrateOptions) -> NarrationRun:
    """Narrate a split of a prepared dataset as `options` say; `data_parallel_size > 1` runs one process per shard.

    Example:
        >>> run = narrate_split(NarrateOptions(dataset="movie101v2-hf", out="preds.jsonl", backend="retrieval"))  # doctest: +SKIP
    """
    if options.data_parallel_size > 1 and options.num_shards == 1:
        return _narrate_data_parallel(options)
    needs_video = options.backend != "retrieval"
    clips = load_split(
        options.dataset, options.config, options.split, needs_video=needs_video, movie_ids=options.movie_ids,
        max_samples=options.max_samples,
    )  # fmt: skip
    if options.num_shards > 1:
        clips = clips.select(range(options.shard_index, len(clips), options.num_shards))
    if options.faces:
        from .faces import IDENTIFIED_COLUMN, add_identified_characters

        clips = add_identified_characters(clips, options.faces)
        options = replace(options, prompt={**options.prompt, "identified_characters_column": IDENTIFIED_COLUMN})
    narrator, settings = build_narrator(options)
    if (
        settings
        and settings.identified_characters_column
        and settings.identified_characters_column not in clips.column_names
    ):
        raise ValueError(
            f"The prompt lists names found on screen (column {settings.identified_characters_column!r}, as the adapter "
            "was trained), but the clips have no such column: pass --faces FACES.jsonl (a `movie101v2 faces` output)."
        )
    run_settings = {**options.run_settings(), "prompt": asdict(settings) if settings else None,
                    "narrator": narrator.describe()}  # fmt: skip
    return run_narration(
        narrator, clips, options.out, settings=run_settings, batch_size=options.batch_size,
        num_workers=options.num_workers if needs_video else 0, retries=options.retries, overwrite=options.overwrite,
        show_progress=options.show_progress, progress_position=options.shard_index if options.num_shards > 1 else 0,
    )  # fmt: skip


def shard_path(out: str | Path, index: int, count: int) -> Path:
    """The predictions file of one data-parallel shard: `preds.jsonl` -> `preds.shard-0-of-2.jsonl`."""
    out = Path(out)
    return out.with_name(f"{out.stem}.shard-{index}-of-{count}{out.suffix or '.jsonl'}")


def _visible_devices() -> list[str]:
    if devices := os.environ.get("CUDA_VISIBLE_DEVICES"):
        return [d for d in devices.split(",") if d]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        return []


def _narrate_data_parallel(options: NarrateOptions) -> NarrationRun:
    """One process per shard (each on `tensor_parallel_size` GPUs of its own), then merge in dataset order."""
    count = options.data_parallel_size
    out = Path(options.out)
    if sidecar_path(out).is_file() and not options.overwrite:
        record = json.loads(sidecar_path(out).read_text("utf-8"))
        # The shards know the prompt and narrator settings; here only the options can differ.
        check_resumable(out, {**record.get("settings", {}), **options.run_settings()})
        if record.get("complete"):
            logger.info("%s is complete; nothing to do", out)
            return _run_from_record(out, record)
    devices = _visible_devices()
    per_shard = options.tensor_parallel_size
    if devices and len(devices) < count * per_shard:
        raise ValueError(
            f"data_parallel_size={count} x tensor_parallel_size={per_shard} needs {count * per_shard} GPUs; "
            f"{len(devices)} are visible."
        )
    began = time.perf_counter()
    processes = []
    for index in range(count):
        shard = {**asdict(options), "out": str(shard_path(out, index, count)), "num_shards": count,
                 "shard_index": index}  # fmt: skip
        env = dict(os.environ)
        if devices:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(devices[index * per_shard : (index + 1) * per_shard])
        processes.append(
            subprocess.Popen([sys.executable, "-m", "movie101v2_hf.inference", json.dumps(shard)], env=env)
        )
    codes = [process.wait() for process in processes]
    records = []
    for index in range(count):
        path = sidecar_path(shard_path(out, index, count))
        if not path.is_file():
            raise RuntimeError(f"data-parallel shard {index} exited with {codes[index]} before writing {path}.")
        records.append(json.loads(path.read_text("utf-8")))
    return _merge_shards(options, records, time.perf_counter() - began)


def _merge_shards(options: NarrateOptions, records: list[dict[str, Any]], seconds: float) -> NarrationRun:
    count = options.data_parallel_size
    out = Path(options.out)
    lines: dict[str, str] = {}
    for index in range(count):
        with open(shard_path(out, index, count), encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    lines[json.loads(line)["clip_id"]] = line if line.endswith("\n") else line + "\n"
    clip_ids = load_split(
        options.dataset, options.config, options.split, needs_video=False, movie_ids=options.movie_ids,
        max_samples=options.max_samples,
    )["clip_id"]  # fmt: skip
    failures = {f["clip_id"]: f["error"] for record in records for f in record["failures"]}
    settings = records[0]["settings"]
    write_atomically(out, "".join(lines[c] for c in clip_ids if c in lines))
    run = NarrationRun(out, len(clip_ids), sum(c in lines for c in clip_ids), failures, seconds, settings)
    write_atomically(sidecar_path(out), json.dumps(run.record(), indent=2, ensure_ascii=False) + "\n")
    if run.complete:  # the shards are kept until then: a rerun resumes each of them
        for index in range(count):
            shard_path(out, index, count).unlink()
            sidecar_path(shard_path(out, index, count)).unlink()
    return run


def _run_from_record(out: Path, record: dict[str, Any]) -> NarrationRun:
    failures = {f["clip_id"]: f["error"] for f in record.get("failures", [])}
    return NarrationRun(out, record["num_clips"], record["num_written"], failures, 0.0, record["settings"])


if __name__ == "__main__":  # a data-parallel shard: python -m movie101v2_hf.inference '<NarrateOptions as JSON>'
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    shard_run = narrate_split(NarrateOptions(**json.loads(sys.argv[1])))
    print(shard_run.summary(), file=sys.stderr)
    sys.exit(0 if shard_run.complete else 1)
