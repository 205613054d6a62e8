# Copyright the movie101v2-hf contributors. Licensed under the Apache License, Version 2.0.
"""SFT of a vision-language model on ShotBench-format data (ShotQA) with TRL's SFTTrainer: the narration recipe's
parts (`lora_config`, `freeze_vision_tower`, the collator machinery) with ShotBench's prompts and targets.

The target is `LETTER. option text` (or `<answer>LETTER</answer>` with `--reasoning true`), the prompt the
official one (`movie101v2_hf.shotbench.prompting`), clips at 12 fps within 360*640 pixels.

    accelerate launch recipes/sft_shotbench.py --config recipes/qwen2.5-vl-7b-instruct/sft_shotbench.yaml
"""

from dataclasses import dataclass, field

from trl import ModelConfig, SFTConfig, SFTTrainer, TrlParser

from movie101v2_hf.shotbench import load_shotbench
from movie101v2_hf.shotbench.prompting import MAX_PIXELS, VIDEO_FPS, ShotBenchCollator
from movie101v2_hf.training import (
    check_no_token_in_recipe,
    freeze_vision_tower,
    load_model_and_processor,
    lora_config,
    train_and_save,
)


@dataclass
class ShotBenchSFTArguments:
    """Recipe fields of ours, next to TRL's `SFTConfig` and `ModelConfig`."""

    data_dir: str = field(metadata={"help": "A folder in ShotBench's layout (test.tsv, image/, video/)."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Use the first N questions."})
    reasoning: bool = field(default=False, metadata={"help": "Train the <answer> format of reasoning prompts."})
    video_fps: float = field(default=VIDEO_FPS, metadata={"help": "Clip frames per second."})
    max_pixels: int = field(default=MAX_PIXELS, metadata={"help": "Pixel budget per frame or still."})


def main(training_args, model_args, shot_args):
    check_no_token_in_recipe(training_args)
    model, processor = load_model_and_processor(model_args)
    if model_args.use_peft:
        peft_config = lora_config(model, model_args)
    else:
        peft_config = None
        freeze_vision_tower(model)
    rows = load_shotbench(shot_args.data_dir)
    if shot_args.max_train_samples is not None:
        rows = rows.select(range(min(shot_args.max_train_samples, len(rows))))
    collator = ShotBenchCollator(
        processor,
        reasoning=shot_args.reasoning,
        video_fps=shot_args.video_fps,
        max_pixels=shot_args.max_pixels,
        max_length=training_args.max_length,
    )
    training_args.remove_unused_columns = False  # the collator reads the raw columns (image, video, options)
    training_args.dataset_kwargs = {**(training_args.dataset_kwargs or {}), "skip_prepare_dataset": True}
    trainer = SFTTrainer(
        model=model,
        args=training_args,
        train_dataset=rows,
        processing_class=processor,
        data_collator=collator,
        peft_config=peft_config,
    )
    return train_and_save(trainer, training_args, processor)


def make_parser(subparsers=None):
    dataclass_types = (SFTConfig, ModelConfig, ShotBenchSFTArguments)
    if subparsers is not None:
        return subparsers.add_parser(
            "sft-shotbench", help="SFT on ShotBench-format data", dataclass_types=dataclass_types
        )
    return TrlParser(dataclass_types)


if __name__ == "__main__":
    training_args, model_args, shot_args = make_parser().parse_args_and_config()
    main(training_args, model_args, shot_args)
