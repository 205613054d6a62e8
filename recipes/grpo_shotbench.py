# Copyright the movie101v2-hf contributors. Licensed under the Apache License, Version 2.0.
"""GRPO of a vision-language model on ShotBench-format data (ShotQA, or a ShotBench folder) with TRL's GRPOTrainer.

The rewards (the published ShotVL reward is unknown; ours): 1 for the correct option, resolved by the scorer's own
rule chain, and 1 for the `<think>...</think><answer>...</answer>` format the reasoning prompt asks for
(`movie101v2_hf.shotbench.training`). LoRA on the language model, vision encoder frozen.

One GPU:

    accelerate launch recipes/grpo_shotbench.py --config recipes/qwen2.5-vl-7b-instruct/grpo_shotbench.yaml

8 GPUs (DDP; or the other configs in recipes/accelerate_configs):

    accelerate launch --config_file recipes/accelerate_configs/ddp.yaml --num_processes 8 \\
        recipes/grpo_shotbench.py --config recipes/qwen2.5-vl-7b-instruct/grpo_shotbench.yaml

Every field of the YAML can be overridden on the command line (`--learning_rate 5e-6`, `--data_dir ShotQA`).
"""

from dataclasses import dataclass, field

from trl import GRPOConfig, GRPOTrainer, ModelConfig, TrlParser

from movie101v2_hf.shotbench import load_shotbench
from movie101v2_hf.shotbench.training import choice_reward, format_reward, grpo_rows
from movie101v2_hf.training import check_no_token_in_recipe, load_model_and_processor, lora_config, train_and_save


@dataclass
class ShotBenchArguments:
    """Recipe fields of ours, next to TRL's `GRPOConfig` and `ModelConfig`."""

    data_dir: str = field(metadata={"help": "A folder in ShotBench's layout (test.tsv, image/, video/)."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Use the first N questions."})
    frames_per_clip: int = field(default=4, metadata={"help": "Frames of a clip, given as images."})
    max_pixels: int = field(default=360 * 640, metadata={"help": "Pixel budget per image."})
    reasoning: bool = field(default=True, metadata={"help": "The <think>/<answer> system prompt."})


def main(training_args, model_args, shot_args):
    check_no_token_in_recipe(training_args)
    model, processor = load_model_and_processor(model_args)
    peft_config = lora_config(model, model_args, train_projector=False) if model_args.use_peft else None
    rows = load_shotbench(shot_args.data_dir)
    if shot_args.max_train_samples is not None:
        rows = rows.select(range(min(shot_args.max_train_samples, len(rows))))
    train = grpo_rows(
        rows, reasoning=shot_args.reasoning, frames_per_clip=shot_args.frames_per_clip, max_pixels=shot_args.max_pixels
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[choice_reward, format_reward],
        args=training_args,
        train_dataset=train,
        processing_class=processor,
        peft_config=peft_config,
    )
    return train_and_save(trainer, training_args, processor)


def make_parser(subparsers=None):
    dataclass_types = (GRPOConfig, ModelConfig, ShotBenchArguments)
    if subparsers is not None:
        return subparsers.add_parser(
            "grpo-shotbench", help="GRPO on ShotBench-format data", dataclass_types=dataclass_types
        )
    return TrlParser(dataclass_types)


if __name__ == "__main__":
    training_args, model_args, shot_args = make_parser().parse_args_and_config()
    main(training_args, model_args, shot_args)
