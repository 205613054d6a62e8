#!/usr/bin/env bash
# GPU smoke test of the training recipe with a real model: a few steps of LoRA on the generated
# mini-release, then the adapter reloaded for generation. For whoever has a GPU and the model weights;
# not run in CI (no GPU there) and not run by the project so far.
#
#   bash recipes/smoke_gpu.sh                                  # SmolVLM2-2.2B, 1 GPU
#   MODEL=qwen2.5-vl-7b-instruct NUM_GPUS=2 bash recipes/smoke_gpu.sh
set -euo pipefail
MODEL=${MODEL:-smolvlm2-2.2b-instruct}       # a folder of recipes/
NUM_GPUS=${NUM_GPUS:-1}
WORK=${WORK:-smoke-gpu}
PYTHON=${PYTHON:-python}

nvidia-smi --query-gpu=name,memory.total --format=csv
mkdir -p "$WORK"
[ -d "$WORK/release" ] || movie101v2 mini-release "$WORK/release"
[ -d "$WORK/dataset" ] || movie101v2 prepare --release "$WORK/release" --videos "$WORK/release/videos" --out "$WORK/dataset"

accelerate launch --config_file recipes/accelerate_configs/ddp.yaml --num_processes "$NUM_GPUS" \
  recipes/sft_lora.py --config "recipes/$MODEL/sft_lora_en.yaml" \
  --dataset_name "$WORK/dataset" --output_dir "$WORK/out-$MODEL" \
  --max_steps 10 --logging_steps 1 --save_strategy no --dataloader_num_workers 2 --attn_implementation sdpa

"$PYTHON" - "$WORK" "$MODEL" <<'PY'
import json, sys, torch
from peft import PeftModel
from transformers import AutoModelForImageTextToText, AutoProcessor
from movie101v2_hf.collator import NarrationCollator, PromptSettings
from movie101v2_hf.training import load_clips, load_portraits

work, model_name = sys.argv[1], sys.argv[2]
out = f"{work}/out-{model_name}"
settings = json.load(open(f"{out}/training_settings.json"))
losses = [e["loss"] for e in json.load(open(f"{out}/trainer_state.json"))["log_history"] if "loss" in e]
print("losses:", [round(x, 3) for x in losses])
base = AutoModelForImageTextToText.from_pretrained(settings["base_model"], dtype=torch.bfloat16, device_map="cuda")
model = PeftModel.from_pretrained(base, out).eval()
processor = AutoProcessor.from_pretrained(out)
prompt = PromptSettings.load(out)
collator = NarrationCollator(processor, prompt, portraits=load_portraits(f"{work}/dataset", "en", max_portraits=prompt.max_portraits))
rows = load_clips(f"{work}/dataset", "en", "test", max_samples=2)
inputs = collator.prompt_inputs([rows[0], rows[1]]).to("cuda")
output = model.generate(**inputs, max_new_tokens=64, do_sample=False)
for text in processor.batch_decode(output[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True):
    print("narration:", text)
print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB (generation only)")
PY
