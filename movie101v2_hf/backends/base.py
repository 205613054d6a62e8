"""What every vision-language model backend is: a request builder for DataLoader workers, `generate` for the main
process, registered by name in `BACKENDS` (the CLI's `--backend` choices come from it).

A job (narrate, and the analyses built on the same parts) hands rows to `builder().prepare` in workers (decode
frames, build one request), batches them with `builder().batch`, and calls `generate` on each batch: one output
text, or the exception that stopped it, per row. `describe()` says what identifies the model in run records.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, Protocol

from ..prompting import NarrationCollator, PromptSettings
from ..utils.registry import Registry

logger = logging.getLogger(__name__)


class RequestBuilder(Protocol):
    """Turns rows into what a backend generates from; runs in DataLoader workers, so it must pickle."""

    def prepare(self, row: dict[str, Any]) -> Any: ...  # one row: decode frames, build its request

    def batch(self, requests: list[Any]) -> Any: ...  # the requests of a batch, ready for `Backend.generate`


class Backend(Protocol):
    """A model backend. Class attributes: `needs_frames` (False for a backend that reads no video) and
    `takes_examples` (it can put retrieved training narrations in its prompt)."""

    @property
    def name(self) -> str: ...

    @property
    def needs_frames(self) -> bool: ...

    @property
    def takes_examples(self) -> bool: ...

    @classmethod
    def from_options(cls, *args: Any, **kwargs: Any) -> Backend: ...  # from a job's options (`EngineOptions`)

    def builder(self) -> RequestBuilder: ...

    def generate(self, batch: Any) -> list[str | BaseException]: ...  # one output or error per row

    def describe(self) -> dict[str, Any]: ...  # what identifies the model, for run records


BACKENDS: Registry[Backend] = Registry("backend")


def load_processor(model: str, adapter: str | None = None) -> Any:
    """The processor saved with the adapter (a training run saves it) or else the model's own."""
    from transformers import AutoProcessor

    if adapter and any(
        (Path(adapter) / name).is_file()
        for name in ("processor_config.json", "preprocessor_config.json", "chat_template.jinja", "chat_template.json")
    ):
        return AutoProcessor.from_pretrained(adapter)
    return AutoProcessor.from_pretrained(model)


def adapter_config(adapter: str | None) -> dict[str, Any]:
    """The adapter's `adapter_config.json`, or `{}` without an adapter."""
    return json.loads((Path(adapter) / "adapter_config.json").read_text("utf-8")) if adapter else {}


def merge_adapter(folder: str | Path, base_model: str, out: str | Path) -> None:
    """Save `base_model` with the LoRA adapter of `folder` merged in, plus the processor, to `out`.

    Example (needs the base model from the Hub, so it is not run here; tests/test_inference.py merges a tiny one):
        >>> merge_adapter("runs/qwen-lora", "Qwen/Qwen2.5-VL-7B-Instruct", "runs/qwen-merged")  # doctest: +SKIP
    """
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoProcessor

    folder, out = Path(folder), Path(out)
    base = AutoModelForImageTextToText.from_pretrained(base_model, dtype="auto")
    merged = PeftModel.from_pretrained(base, str(folder)).merge_and_unload()
    merged.save_pretrained(out)
    AutoProcessor.from_pretrained(str(folder)).save_pretrained(out)
    for name in ("movie101v2_prompt.json", "training_settings.json"):
        if (folder / name).is_file():
            (out / name).write_bytes((folder / name).read_bytes())


def merged_model(adapter: str, base_model: str, merged_dir: str | None = None) -> str:
    """The folder of `base_model` merged with `adapter`, merged once (into `ADAPTER/merged` by default).

    Processes asking at once (the ranks of a data-parallel run) take turns on a lock file beside the target: the
    first merges into a private folder and renames it into place, the others find it done.
    """
    target = Path(merged_dir or Path(adapter) / "merged")
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_name(target.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this process dies
        if not (target / "config.json").is_file():
            if target.exists() and any(target.iterdir()):
                raise FileExistsError(
                    f"{target} exists and holds no merged model (no config.json): it is not ours to replace. Move it "
                    "away and run again."
                )
            logger.info("merging the adapter %s into %s", adapter, target)
            tmp = target.with_name(f"{target.name}.partial-{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            merge_adapter(adapter, adapter_config(adapter).get("base_model_name_or_path") or base_model, tmp)
            if target.exists():
                target.rmdir()  # empty (checked above)
            os.replace(tmp, target)
    return str(target)


@dataclass
class CollatorRequests:
    """Requests built by the training collator: processed tensors (`kind="tensors"`) or vLLM prompt dicts."""

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
            metadata = {
                "fps": meta.fps,
                "duration": meta.duration,
                "total_num_frames": meta.total_num_frames,
                "frames_indices": list(meta.frames_indices),
                "video_backend": "torchcodec",
                "do_sample_frames": False,
            }
            multi_modal["video"] = [(frames, metadata)]
        return {"prompt": self.collator.prompt_text(inputs), "multi_modal_data": multi_modal}

    def batch(self, requests: list[Any]) -> Any:
        return self.collator.prompt_batch(requests) if self.kind == "tensors" else requests


@dataclass
class CollatorBackend:
    """What the model backends share: a model (and LoRA adapter) whose prompts the training collator builds.

    Subclasses add their engine's fields; `from_options` fills each field by name from a job's options
    (`NarrateOptions`, `ShotBenchRunOptions`), and refuses options that lack one (a field of the Python API only
    says `metadata={"option": False}`): an engine option never keeps its default silently.
    """

    model: str
    settings: PromptSettings
    portraits: Any = None
    adapter: str | None = None
    max_new_tokens: int = 256
    prompter: Any = None  # builds another task's prompts from the processor (ShotBench); default: narration
    frame_cache: str | None = None  # a frame-cache folder (the prompter takes it from the job's options itself)
    name: ClassVar[str]  # set by BACKENDS.register
    request_kind: ClassVar[str] = "tensors"  # what CollatorRequests builds: "tensors" or "vllm"
    needs_frames: ClassVar[bool] = True
    takes_examples: ClassVar[bool] = False

    @classmethod
    def from_options(
        cls, options: Any, *, settings: PromptSettings, portraits: Any, examples: Any = None, **fixed: Any
    ) -> Any:
        """The backend for a job's options, its prompt settings, portraits and in-context examples; `fixed` sets
        fields the job decides itself (ShotBench: `num_examples=0`).

        Raises:
            TypeError: the options have no field for one of the backend's (declare it in the job's options).
        """
        given = {
            "model": options.model,
            "settings": settings,
            "portraits": portraits,
            "examples": examples,
            "prompter": getattr(options, "prompter", None),
            **fixed,
        }
        values, missing = {}, []
        for item in fields(cls):
            if not item.init or item.metadata.get("option") is False:
                continue
            if item.name in given:
                values[item.name] = given[item.name]
            elif hasattr(options, item.name):
                values[item.name] = getattr(options, item.name)
            else:
                missing.append(item.name)
        if missing:
            raise TypeError(
                f"{type(options).__name__} has no field for the {cls.name} backend's {missing}: declare them in the "
                "job's options (one field each, with a help text), or pass them as fixed values."
            )
        return cls(**values)

    def __post_init__(self) -> None:
        self.processor = self.load_processor()
        if self.prompter is not None:
            self.collator = self.prompter(self.processor)
        else:
            self.collator = NarrationCollator(
                self.processor, self.settings, self.portraits, frame_cache=self.frame_cache
            )

    def load_processor(self) -> Any:
        return load_processor(self.model, self.adapter)

    def builder(self) -> RequestBuilder:
        return CollatorRequests(self.collator, self.request_kind)
