"""How a clip is put to a video LLM: frames, cast portraits with names, the instruction, the narration.

The same construction serves training (`NarrationCollator.__call__`: a batch with labels on the narration
only) and inference (`NarrationCollator.prompt_inputs`: the prompt alone, ready for `generate`), so a
fine-tuned model is evaluated the way it was trained. `PromptSettings` holds every choice that shapes the
prompt; a training run saves it next to its adapter (`movie101v2_prompt.json`) for inference to read back.

Two input modes, as in the paper:

- `video`: frames go to the processor as one video (Qwen2.5-VL, Qwen3-VL, LLaVA-OneVision, InternVL3,
  SmolVLM2), with their timestamps so that models which print them (Qwen3-VL, SmolVLM2) see clip time;
- `images`: frames are tiled into a few grid images, for models that take images only.

- `settings`: `PromptSettings` (saved beside an adapter) and `PromptOverrides` (the flags that override them);
- `media`: frames and images as the processors take them;
- `collator`: `NarrationCollator`, the prompt for training and inference.
"""

from .collator import ClipInputs, NarrationCollator
from .media import clip_metadata, fit_pixels, keyframes_to_frames, tile_frames, to_pil
from .settings import IGNORE_INDEX, INSTRUCTIONS, PROMPT_SETTINGS_FILE, PromptOverrides, PromptSettings

__all__ = [
    "IGNORE_INDEX",
    "INSTRUCTIONS",
    "PROMPT_SETTINGS_FILE",
    "ClipInputs",
    "NarrationCollator",
    "PromptOverrides",
    "PromptSettings",
    "clip_metadata",
    "fit_pixels",
    "keyframes_to_frames",
    "tile_frames",
    "to_pil",
]
