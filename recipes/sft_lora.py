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

import sys
from pathlib import Path

from peft import PeftModel
from trl import ModelConfig, ScriptArguments, SFTConfig, SFTTrainer, TrlParser

from movie101v2_hf.data.loading import load_portraits
from movie101v2_hf.faces import IDENTIFIED_COLUMN
from movie101v2_hf.hub import eval_results_from_file
from movie101v2_hf.prompting import NarrationCollator
from movie101v2_hf.training import (
    NarrationArguments,
    check_no_token_in_recipe,
    freeze_vision_tower,
    load_model_and_processor,
    lora_config,
    narration_datasets,
    save_narration_run,
    stream_sharding,
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

    # Model and processor; the vision encoder stays frozen (LoRA and full fine-tuning alike)
    model, processor = load_model_and_processor(model_args)
    peft_config = None
    if model_args.use_peft:
        peft_config = lora_config(model, model_args, train_projector=narration_args.train_projector)
    else:
        freeze_vision_tower(model)

    # Data: clip rows; the collator decodes frames and builds prompts in the DataLoader workers
    train_dataset, eval_dataset = narration_datasets(script_args, training_args, narration_args, settings)
    collator = NarrationCollator(
        processor,
        settings,
        portraits=load_portraits(script_args.dataset_name, settings.language, max_portraits=settings.max_portraits),
        max_length=training_args.max_length,
        record_clip_ids=str(Path(training_args.output_dir) / "seen_clips") if narration_args.record_clip_ids else None,
        frame_cache=narration_args.frame_cache,
    )
    # The collator needs the raw columns (video, start, end, movie_id, narration), not a tokenized dataset.
    training_args.remove_unused_columns = False
    training_args.dataset_kwargs = {**(training_args.dataset_kwargs or {}), "skip_prepare_dataset": True}
    # The Trainer would push checkpoints with TRL's card; we push once at the end, with ours.
    push_to_hub, training_args.push_to_hub = training_args.push_to_hub, False

    # Training
    trainer = SFTTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=processor,
        data_collator=collator,
        peft_config=peft_config,
    )
    if script_args.dataset_streaming:
        sharding = stream_sharding(train_dataset, trainer.accelerator.num_processes)
        trainer.accelerator.print(f"Streaming: clips sharded {sharding}.")
    if isinstance(trainer.model, PeftModel) and trainer.accelerator.is_main_process:
        trainer.model.print_trainable_parameters()
    resume = training_args.resume_from_checkpoint
    trainer.train(resume_from_checkpoint=True if resume in ("true", "True", "last") else resume)

    # Save: the weights and trainer state, then the prompt settings and the card beside them (and the push)
    trainer.save_model(training_args.output_dir)
    trainer.save_state()  # trainer_state.json: the loss curve and step count, beside the adapter
    if trainer.accelerator.is_main_process:
        args = (script_args, training_args, model_args, narration_args)
        adapter = peft_config is not None
        save_narration_run(trainer, args, settings, adapter=adapter, push_to_hub=push_to_hub, recipe_text=recipe_text)
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
