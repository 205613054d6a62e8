"""LoRA fine-tuning of video LLMs on Movie101v2: the pieces `recipes/sft_lora.py` puts together.

As in the paper: the vision encoder stays frozen, the visual projector is trained in full, and LoRA
adapters are trained on the language model's linear layers. Data come from a prepared dataset (a folder
written by `movie101v2 prepare --videos` or its Hub copy), map-style or streamed; frames are decoded in the
collator, so in DataLoader workers, and only for the clips of this process.

Multi-process streaming: `transformers.Trainer` hands the stream to `accelerate`, which gives each process its
own clips: whole Parquet files per process when there are at least as many files as processes (what
`datasets.distributed.split_dataset_by_node` does), otherwise every process reads the rows and keeps its own
batches. Calling `split_dataset_by_node` before the Trainer would shard twice and drop clips, so `load_clips`
leaves the stream whole; `stream_sharding` says which of the two ways a run will take.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .prompting import PromptSettings

logger = logging.getLogger(__name__)

# Module names of the three parts of a vision-language model, across the families we support.
_VISION_TOWERS = ("visual", "vision_tower", "vision_model")
_PROJECTORS = ("merger", "deepstack_merger_list", "multi_modal_projector", "connector", "mm_projector", "mlp1")
_LANGUAGE_MODELS = ("language_model", "text_model")
_LORA_LAYERS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class NarrationArguments(PromptSettings):
    """Recipe fields of ours, next to TRL's `ScriptArguments`, `SFTConfig` and `ModelConfig`.

    The prompt fields (`video_num_frames`, `video_fps`, `video_maxlen`, `video_max_pixels`, `image_max_pixels`,
    `max_portraits`, `input_mode`, `frames_per_image`, `instruction`) are those of `PromptSettings`; `language`
    follows `dataset_config` for the single-language configs and must be given for `bilingual`.
    """

    movie_ids: list[str] | None = field(
        default=None, metadata={"help": "Train (and evaluate) on these movies only, e.g. for a quick check."}
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Use the first N training clips."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Use the first N evaluation clips."})
    train_projector: bool = field(
        default=True,
        metadata={"help": "Train the visual projector in full, as the paper does (saved with the adapter)."},
    )
    record_clip_ids: bool = field(
        default=False,
        metadata={"help": "Write the clips each process trained on to OUTPUT_DIR/seen_clips/rank-K.txt."},
    )
    faces_file: str | None = field(
        default=None,
        metadata={
            "help": "A `movie101v2 faces` output covering the training (and evaluation) clips: the names it "
            "found on screen go into the prompt (saved with the adapter, so narrate asks for --faces)."
        },
    )
    frame_cache: str | None = field(
        default=None,
        metadata={"help": "A frame-cache folder: each clip decoded in the first epoch, read back after."},
    )
    eval_results: str | None = field(
        default=None,
        metadata={"help": "A results.json of `movie101v2 evaluate`: its scores go into the model card's model-index."},
    )

    def prompt_settings(self) -> PromptSettings:
        """The `PromptSettings` part, to save with the adapter."""
        return PromptSettings(**{name: getattr(self, name) for name in PromptSettings.__dataclass_fields__})


def stream_sharding(rows: Any, num_processes: int) -> str:
    """How `accelerate` will give each of `num_processes` processes its own clips of a stream.

    Example:
        >>> from movie101v2_hf.data.loading import load_clips
        >>> stream_sharding(load_clips(mini_dataset, "en", "train", streaming=True), 1)  # doctest: +ELLIPSIS
        'single process'
    """
    shards = getattr(rows, "num_shards", None) or getattr(rows, "n_shards", 1)
    if num_processes <= 1:
        return "single process"
    if shards >= num_processes:
        return f"by file: {shards} Parquet files over {num_processes} processes"
    return (
        f"by batch: {shards} file(s) < {num_processes} processes, so each process reads all rows and keeps its batches"
    )


def find_modules(model: Any) -> dict[str, list[str]]:
    """Names of the vision tower, visual projector and language model modules of a vision-language model.

    Returns:
        `{"vision": [...], "projector": [...], "language": [...]}`, outermost names only.

    Example:
        >>> find_modules(model)["projector"]
        ['model.visual.merger']
    """
    found: dict[str, list[str]] = {"vision": [], "projector": [], "language": []}
    for name, _ in model.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        for part, leaves in (("projector", _PROJECTORS), ("vision", _VISION_TOWERS), ("language", _LANGUAGE_MODELS)):
            if leaf in leaves and not any(name.startswith(outer + ".") for outer in found[part]):
                found[part].append(name)
                break
    if not found["language"] or not found["vision"]:
        raise ValueError(
            f"{type(model).__name__} does not look like a vision-language model with a vision tower "
            f"({', '.join(_VISION_TOWERS)}) and a language model ({', '.join(_LANGUAGE_MODELS)}). "
            "Set lora_target_modules and lora_modules_to_save explicitly for this architecture."
        )
    return found


def lora_config(model: Any, model_args: Any, *, train_projector: bool = True) -> Any:
    """The paper's adapter set-up: LoRA on the language model's linear layers, the projector trained in full.

    `model_args` is TRL's `ModelConfig`; its `lora_target_modules` and `lora_modules_to_save` win when given.

    Example:
        >>> from trl import ModelConfig
        >>> lora_config(model, ModelConfig(lora_r=16)).modules_to_save
        ['model.visual.merger']
    """
    from peft import LoraConfig

    parts = find_modules(model)
    target_modules: Any = model_args.lora_target_modules
    if not target_modules:
        # A regex over the language model only: the vision tower has q/k/v-like layers of its own.
        language = "|".join(re.escape(name) for name in parts["language"])
        target_modules = rf"({language})\..*\.({'|'.join(_LORA_LAYERS)})"
    modules_to_save = model_args.lora_modules_to_save
    if modules_to_save is None and train_projector:
        if not parts["projector"]:
            raise ValueError(
                f"No visual projector found in {type(model).__name__} (looked for {', '.join(_PROJECTORS)}). "
                "Set lora_modules_to_save to its module name, or train_projector: false."
            )
        modules_to_save = _savable(model, parts["projector"])
    return LoraConfig(
        task_type=model_args.lora_task_type,
        r=model_args.lora_r,
        lora_alpha=model_args.lora_alpha,
        lora_dropout=model_args.lora_dropout,
        target_modules=target_modules,
        modules_to_save=modules_to_save,
        use_rslora=model_args.use_rslora,
        use_dora=model_args.use_dora,
        bias="none",
    )


def _savable(model: Any, names: list[str]) -> list[str]:
    """`names` with each container (a `ModuleList` such as Qwen3-VL's `deepstack_merger_list`) replaced by its
    children: PEFT's `modules_to_save` wraps modules that run a forward, and refuses containers."""
    import torch

    modules = dict(model.named_modules())
    savable = []
    for name in names:
        module = modules[name]
        if isinstance(module, (torch.nn.ModuleList, torch.nn.ModuleDict)):
            savable += _savable(model, [f"{name}.{child}" for child, _ in module.named_children()])
        else:
            savable.append(name)
    return savable


def freeze_vision_tower(model: Any) -> list[str]:
    """Freeze the vision encoder (not the projector) for full fine-tuning; returns the frozen modules' names.

    Example:
        >>> freeze_vision_tower(model)
        ['model.visual']
    """
    parts = find_modules(model)
    modules = dict(model.named_modules())
    for name in parts["vision"]:
        for param_name, param in modules[name].named_parameters():
            if not any(f"{name}.{param_name}".startswith(p + ".") for p in parts["projector"]):
                param.requires_grad_(False)
    return parts["vision"]


def stream_steps(rows: Any, training_args: Any, *, max_samples: int | None = None, filtered: bool = False) -> int:
    """`max_steps` for `num_train_epochs` over a stream, from the split size in the dataset card.

    A stream has no length, so the Trainer needs `max_steps`; the prepared card records each split's size.

    Raises:
        ValueError: the size is unknown (the stream is `filtered` by movie, or the card has no sizes); set
            `max_steps` yourself.

    Example:
        >>> from trl import SFTConfig
        >>> from movie101v2_hf.data.loading import load_clips
        >>> stream = load_clips(mini_dataset, "en", "train", streaming=True)
        >>> stream_steps(stream, SFTConfig(output_dir=str(tmp), num_train_epochs=3, gradient_accumulation_steps=2,
        ...                                per_device_train_batch_size=1, use_cpu=True, bf16=False))
        9
    """
    from accelerate import PartialState

    count = max_samples
    splits = getattr(getattr(rows, "info", None), "splits", None) or {}
    split = str(getattr(rows, "split", "") or "")
    if count is None and split in splits and not filtered:
        count = splits[split].num_examples
    if not count:
        raise ValueError(
            "A streamed dataset has no length and its split size is unknown here: set max_steps (e.g. "
            "--max_steps 5000) for a streaming run."
        )
    per_step = (
        training_args.per_device_train_batch_size
        * training_args.gradient_accumulation_steps
        * PartialState().num_processes
    )
    return max(1, math.ceil(training_args.num_train_epochs * count / per_step))


def check_no_token_in_recipe(training_args: Any) -> None:
    """Refuse a Hub token given as a recipe field: it would end up in files, logs and shell history.

    Raises:
        ValueError: `hub_token` is set.
    """
    if getattr(training_args, "hub_token", None):
        raise ValueError(
            "hub_token is set in the recipe or on the command line. Remove it and log in with `hf auth login` "
            "(or set the HF_TOKEN environment variable); the token is then read from there and never written out."
        )


def load_model_and_processor(model_args: Any) -> tuple[Any, Any]:
    """The vision-language model and processor a TRL `ModelConfig` names (every recipe's start).

    Example:
        >>> from trl import ModelConfig
        >>> model, processor = load_model_and_processor(ModelConfig(model_name_or_path=tiny_model, dtype="float32"))
        >>> type(model).__name__, type(processor).__name__
        ('Qwen2_5_VLForConditionalGeneration', 'Qwen2_5_VLProcessor')
    """
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(model_args.model_name_or_path, revision=model_args.model_revision)
    model = AutoModelForImageTextToText.from_pretrained(
        model_args.model_name_or_path,
        revision=model_args.model_revision,
        dtype=model_args.dtype,
        attn_implementation=getattr(model_args, "attn_implementation", None),
    )
    return model, processor


def train_and_save(trainer: Any, training_args: Any, processor: Any) -> Any:
    """Train (resuming when asked), then save the adapter or model, the trainer state and the processor."""
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)
    trainer.save_state()  # trainer_state.json: the loss and reward curves, beside the weights
    if trainer.accelerator.is_main_process:
        processor.save_pretrained(training_args.output_dir)
    return trainer


# -- the narration recipe's steps (recipes/sft_lora.py) ------------------------------------------------------------


def narration_datasets(script_args: Any, training_args: Any, narration_args: Any, settings: PromptSettings) -> Any:
    """The train and eval clip rows of a TRL `ScriptArguments` (eval only when `eval_strategy` is not `no`),
    with the names `movie101v2 faces` found on screen when the recipe lists them; frames are decoded later, by
    the collator in the DataLoader workers. A streamed train split without `max_steps` gets the steps of its
    epochs (`stream_steps`)."""
    from .data.loading import load_clips
    from .faces import add_identified_characters

    def clips(split: str, max_samples: int | None, streaming: bool = False) -> Any:
        rows = load_clips(
            script_args.dataset_name,
            script_args.dataset_config,
            split,
            streaming=streaming,
            movie_ids=narration_args.movie_ids,
            max_samples=max_samples,
        )
        if narration_args.faces_file:
            rows = add_identified_characters(rows, narration_args.faces_file, settings.identified_characters_column)
        return rows

    streaming = script_args.dataset_streaming
    train = clips(script_args.dataset_train_split, narration_args.max_train_samples, streaming)
    evaluation = None
    if training_args.eval_strategy != "no":
        evaluation = clips(script_args.dataset_test_split, narration_args.max_eval_samples)
    if streaming and training_args.max_steps <= 0:
        training_args.max_steps = stream_steps(
            train, training_args, max_samples=narration_args.max_train_samples, filtered=bool(narration_args.movie_ids)
        )
    return train, evaluation


def narration_hyperparameters(trainer: Any, training_args: Any, model_args: Any, settings: PromptSettings) -> dict:
    """The settings a narration run's card and `training_settings.json` list."""
    sampling = settings.frame_sampling()
    return {
        "epochs": training_args.num_train_epochs,
        "max_steps": trainer.state.max_steps,
        "per_device_train_batch_size": training_args.per_device_train_batch_size,
        "gradient_accumulation_steps": training_args.gradient_accumulation_steps,
        "processes": trainer.accelerator.num_processes,
        "learning_rate": training_args.learning_rate,
        "lr_scheduler_type": str(training_args.lr_scheduler_type),
        "lora_r": model_args.lora_r,
        "lora_alpha": model_args.lora_alpha,
        "lora_dropout": model_args.lora_dropout,
        "video_frames": sampling.num_frames
        if sampling.num_frames is not None
        else f"{sampling.fps} fps, <= {sampling.max_frames}",
        "video_max_pixels": settings.video_max_pixels,
        "max_portraits": settings.max_portraits,
        "input_mode": settings.input_mode,
        "max_length": training_args.max_length,
        "seed": training_args.seed,
    }


def save_narration_run(
    trainer: Any,
    args: tuple[Any, Any, Any, Any],
    settings: PromptSettings,
    *,
    adapter: bool,
    push_to_hub: bool,
    recipe_text: str | None = None,
) -> None:
    """On the main process: the prompt settings, `training_settings.json` and the model card beside the weights,
    then the push to the Hub when asked (`args`: the recipe's script, training, model and narration arguments)."""
    from .hub import narration_model_card, push_model

    script_args, training_args, model_args, narration_args = args
    output_dir = Path(training_args.output_dir)
    settings.save(output_dir)  # `movie101v2 narrate --adapter` rebuilds the same prompts from it
    hyperparameters = narration_hyperparameters(trainer, training_args, model_args, settings)
    run = {
        "base_model": model_args.model_name_or_path,
        "dataset": script_args.dataset_name,
        "config": script_args.dataset_config,
        "split": script_args.dataset_train_split,
        "hyperparameters": hyperparameters,
        "recipe": recipe_text,
    }
    (output_dir / "training_settings.json").write_text(json.dumps(run, indent=2, ensure_ascii=False) + "\n")
    model_id = training_args.hub_model_id or output_dir.name
    card = narration_model_card(
        model_name=model_id,
        base_model=model_args.model_name_or_path,
        dataset=script_args.dataset_name,
        config=script_args.dataset_config,
        adapter=adapter,
        hyperparameters=hyperparameters,
        recipe=recipe_text,
        results=narration_args.eval_results,
    )
    card.save(output_dir / "README.md")
    trainer.accelerator.print(f"Saved the model, processor, prompt settings and card to {output_dir}.")
    if push_to_hub:
        private = bool(training_args.hub_private_repo)
        url = push_model(output_dir, model_id, results=narration_args.eval_results, private=private)
        trainer.accelerator.print(f"Pushed to the Hub: {url}")
