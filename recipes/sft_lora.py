# Copyright the movie101v2-hf contributors. Licensed under the Apache License, Version 2.0.
"""LoRA fine-tuning of a video LLM on Movie101v2 with TRL's `SFTTrainer`.

The paper's set-up: frames of each clip from the full-length movie (16 by default), up to 5 main-cast
portraits with their names in the prompt, the narration as the target; vision encoder frozen, visual
projector and LoRA adapters on the language model trained, 3 epochs.

One GPU:

    accelerate launch recipes/sft_lora.py --config recipes/qwen2.5-vl-7b-instruct/sft_lora_en.yaml

8 GPUs on one machine (DDP; or fsdp.yaml, deepspeed_zero2.yaml, deepspeed_zero3.yaml):

    accelerate launch --config_file recipes/accelerate_configs/ddp.yaml --num_processes 8 \\
        recipes/sft_lora.py --config recipes/qwen2.5-vl-7b-instruct/sft_lora_en.yaml

Every field of the YAML can be overridden on the command line (`--learning_rate 5e-5`,
`--dataset_name my-org/movie101v2`, `--dataset_streaming true --max_steps 3000`, `--push_to_hub true`).
"""

import json
import sys
from pathlib import Path

from peft import PeftModel
from transformers import AutoModelForImageTextToText, AutoProcessor
from trl import ModelConfig, ScriptArguments, SFTConfig, SFTTrainer, TrlParser

from movie101v2_hf.data.loading import load_clips, load_portraits
from movie101v2_hf.faces import IDENTIFIED_COLUMN, add_identified_characters
from movie101v2_hf.hub import eval_results_from_file, narration_model_card, push_model
from movie101v2_hf.prompting import NarrationCollator
from movie101v2_hf.training import (
    NarrationArguments,
    check_no_token_in_recipe,
    freeze_vision_tower,
    lora_config,
    stream_sharding,
    stream_steps,
)


def main(script_args, training_args, model_args, narration_args, recipe_text=None):
    check_no_token_in_recipe(training_args)
    if narration_args.eval_results:
        eval_results_from_file(narration_args.eval_results)  # a bad results file fails now, not after training
    if script_args.dataset_config in ("en", "zh", "en-short", "zh-short"):
        narration_args.language = script_args.dataset_config[:2]  # the narration column's language
    if narration_args.faces_file:  # names found on screen by `movie101v2 faces` go into the prompt
        narration_args.identified_characters_column = narration_args.identified_characters_column or IDENTIFIED_COLUMN
    settings = narration_args.prompt_settings()

    # Model and processor
    processor = AutoProcessor.from_pretrained(model_args.model_name_or_path, revision=model_args.model_revision)
    model = AutoModelForImageTextToText.from_pretrained(
        model_args.model_name_or_path,
        revision=model_args.model_revision,
        dtype=model_args.dtype,
        attn_implementation=model_args.attn_implementation,
    )
    if model_args.use_peft:
        peft_config = lora_config(model, model_args, train_projector=narration_args.train_projector)
    else:
        peft_config = None
        freeze_vision_tower(model)  # full fine-tuning still keeps the vision encoder frozen

    # Data: clip rows; frames are decoded by the collator, in the DataLoader workers
    streaming = script_args.dataset_streaming
    train_dataset = load_clips(
        script_args.dataset_name,
        script_args.dataset_config,
        script_args.dataset_train_split,
        streaming=streaming,
        movie_ids=narration_args.movie_ids,
        max_samples=narration_args.max_train_samples,
    )
    eval_dataset = None
    if training_args.eval_strategy != "no":
        eval_dataset = load_clips(
            script_args.dataset_name,
            script_args.dataset_config,
            script_args.dataset_test_split,
            movie_ids=narration_args.movie_ids,
            max_samples=narration_args.max_eval_samples,
        )
    if narration_args.faces_file:
        column = settings.identified_characters_column
        train_dataset = add_identified_characters(train_dataset, narration_args.faces_file, column)
        if eval_dataset is not None:
            eval_dataset = add_identified_characters(eval_dataset, narration_args.faces_file, column)
    if streaming and training_args.max_steps <= 0:
        training_args.max_steps = stream_steps(
            train_dataset,
            training_args,
            max_samples=narration_args.max_train_samples,
            filtered=bool(narration_args.movie_ids),
        )
    collator = NarrationCollator(
        processor,
        settings,
        portraits=load_portraits(script_args.dataset_name, settings.language, max_portraits=settings.max_portraits),
        max_length=training_args.max_length,
        record_clip_ids=str(Path(training_args.output_dir) / "seen_clips") if narration_args.record_clip_ids else None,
    )

    # The collator needs the raw columns (video, start, end, movie_id, narration), not a tokenized dataset.
    training_args.remove_unused_columns = False
    training_args.dataset_kwargs = {**(training_args.dataset_kwargs or {}), "skip_prepare_dataset": True}
    # The Trainer would push checkpoints with TRL's card; we push once at the end, with ours.
    push_to_hub, training_args.push_to_hub = training_args.push_to_hub, False

    trainer = SFTTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=processor,
        data_collator=collator,
        peft_config=peft_config,
    )
    if streaming:
        trainer.accelerator.print(
            f"Streaming: clips sharded {stream_sharding(train_dataset, trainer.accelerator.num_processes)}."
        )
    if isinstance(trainer.model, PeftModel) and trainer.accelerator.is_main_process:
        trainer.model.print_trainable_parameters()

    resume = training_args.resume_from_checkpoint
    trainer.train(resume_from_checkpoint=True if resume in ("true", "True", "last") else resume)
    trainer.save_model(training_args.output_dir)
    trainer.save_state()  # trainer_state.json: the loss curve and step count, beside the adapter

    if trainer.accelerator.is_main_process:
        output_dir = Path(training_args.output_dir)
        settings.save(output_dir)  # `movie101v2 narrate --adapter` rebuilds the same prompts from it
        hyperparameters = {
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
            "video_frames": settings.video_num_frames
            if settings.video_fps is None
            else f"{settings.video_fps} fps, <= {settings.video_maxlen}",
            "video_max_pixels": settings.video_max_pixels,
            "max_portraits": settings.max_portraits,
            "input_mode": settings.input_mode,
            "max_length": training_args.max_length,
            "seed": training_args.seed,
        }
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
            adapter=peft_config is not None,
            hyperparameters=hyperparameters,
            recipe=recipe_text,
            results=narration_args.eval_results,
        )
        card.save(output_dir / "README.md")
        trainer.accelerator.print(f"Saved the model, processor, prompt settings and card to {output_dir}.")
        if push_to_hub:
            url = push_model(
                output_dir, model_id, results=narration_args.eval_results, private=bool(training_args.hub_private_repo)
            )
            trainer.accelerator.print(f"Pushed to the Hub: {url}")
    trainer.accelerator.wait_for_everyone()
    trainer.accelerator.end_training()


def recipe_file(argv):
    """The text of the `--config` YAML, for the model card."""
    if "--config" in argv:
        return Path(argv[argv.index("--config") + 1]).read_text(encoding="utf-8")
    return None


if __name__ == "__main__":
    parser = TrlParser((ScriptArguments, SFTConfig, ModelConfig, NarrationArguments))
    script_args, training_args, model_args, narration_args = parser.parse_args_and_config()
    main(script_args, training_args, model_args, narration_args, recipe_text=recipe_file(sys.argv[1:]))
