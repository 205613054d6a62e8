"""Tiny video LLMs of every supported family, built from their configs with their real processor classes.

`make_tiny_model(family, path)` writes a randomly initialised model of a few hundred thousand parameters, a BPE
tokenizer trained on the spot (with the family's special tokens), the family's own image and video processor
classes and a chat template that renders the same placeholders as the real checkpoint's, to a folder that
`AutoModelForImageTextToText` / `AutoProcessor` (and vLLM) load like a Hub checkpoint. Attention heads are 32
wide, the narrowest vLLM's CPU attention takes.

| family | model class | processor |
|---|---|---|
| `qwen2.5-vl` | Qwen2_5_VLForConditionalGeneration | Qwen2_5_VLProcessor (Qwen2VL image / video processors) |
| `qwen3-vl` | Qwen3VLForConditionalGeneration | Qwen3VLProcessor (Qwen2VL image, Qwen3VL video processor) |
| `smolvlm2` | SmolVLMForConditionalGeneration | SmolVLMProcessor (SmolVLM image / video processors) |
| `llava-onevision` | LlavaOnevisionForConditionalGeneration | LlavaOnevisionProcessor (its image / video processors) |
| `internvl3` | InternVLForConditionalGeneration | InternVLProcessor (GotOcr2 image, InternVL video processor) |
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..prompting import INSTRUCTIONS

HEAD_DIM = 32  # vLLM's CPU attention backend takes head sizes of 32, 64, 80, 96, ...
_HIDDEN = 2 * HEAD_DIM  # two heads of 32

# Chat templates (ours), each rendering what the family's real template renders for image, video and text parts.
_CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}{IMAGE}"
    "{% elif c['type'] == 'video' %}{VIDEO}{% else %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
QWEN_CHAT_TEMPLATE = _CHATML.replace("{IMAGE}", "<|vision_start|><|image_pad|><|vision_end|>").replace(
    "{VIDEO}", "<|vision_start|><|video_pad|><|vision_end|>"
)
LLAVA_CHAT_TEMPLATE = _CHATML.replace("{IMAGE}", "<image>").replace("{VIDEO}", "<video>")
INTERNVL_CHAT_TEMPLATE = _CHATML.replace("{IMAGE}", "<IMG_CONTEXT>").replace("{VIDEO}", "<video>")
# SmolVLM2's: "User:" / "Assistant:" turns ending with <end_of_utterance>, images as <image>.
SMOLVLM_CHAT_TEMPLATE = (
    "<|im_start|>{% for m in messages %}{{ m['role'] | capitalize }}"
    "{% if m['content'][0]['type'] == 'image' %}{{ ':' }}{% else %}{{ ': ' }}{% endif %}"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>{% elif c['type'] == 'video' %}<video>{% else %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)


@dataclass(frozen=True)
class Family:
    """One supported model family: its special tokens and how to build its config and processor."""

    name: str
    special_tokens: tuple[str, ...]
    eos: str
    pad: str
    build: Callable[[Any, dict[str, int], int], tuple[Any, Any, Any]]  # (tokenizer, ids, max_pixels) -> parts
    extra_tokens: dict[str, str] | None = None  # tokenizer attributes the processor reads (InternVL)
    # Weight-name prefixes rewritten after saving, so the folder has the layout of the family's Hub checkpoints:
    # transformers 5 saves SigLIP towers flat (`vision_tower.embeddings`), which it reads back either way, while
    # vLLM 0.32 reads only the Hub's `vision_tower.vision_model.embeddings`.
    hub_prefixes: dict[str, str] | None = None


def _text_config(model_type: str, vocab: int, ids: dict[str, int], eos: str, pad: str, **extra: Any) -> dict:
    return {
        "model_type": model_type,
        "vocab_size": vocab,
        "hidden_size": _HIDDEN,
        "intermediate_size": 2 * _HIDDEN,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": HEAD_DIM,
        "max_position_embeddings": 8192,
        "bos_token_id": None,
        "eos_token_id": ids[eos],
        "pad_token_id": ids[pad],
        **extra,
    }


def _qwen25(tokenizer: Any, ids: dict[str, int], max_pixels: int) -> tuple[Any, Any, Any]:
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    pixels = {"min_pixels": 28 * 28, "max_pixels": max_pixels}
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(**pixels),
        video_processor=Qwen2VLVideoProcessor(**pixels),
        tokenizer=tokenizer,
        chat_template=QWEN_CHAT_TEMPLATE,
    )
    config = Qwen2_5_VLConfig(
        vision_config={
            "depth": 1,
            "hidden_size": _HIDDEN,
            "intermediate_size": 2 * _HIDDEN,
            "num_heads": 2,
            "out_hidden_size": _HIDDEN,
            "fullatt_block_indexes": [0],
            "window_size": 56,
        },
        text_config=_text_config(
            "qwen2_5_vl_text",
            len(tokenizer),
            ids,
            "<|im_end|>",
            "<|endoftext|>",
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 6, 6]},
        ),
        **_qwen_ids(ids),
    )
    return config, Qwen2_5_VLForConditionalGeneration, processor


def _qwen3(tokenizer: Any, ids: dict[str, int], max_pixels: int) -> tuple[Any, Any, Any]:
    from transformers import (
        Qwen2VLImageProcessor,
        Qwen3VLConfig,
        Qwen3VLForConditionalGeneration,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    size = {"shortest_edge": 32 * 32, "longest_edge": max_pixels}  # Qwen3-VL's pixel bounds, patches of 16
    processor = Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessor(patch_size=16, size=size),
        video_processor=Qwen3VLVideoProcessor(patch_size=16, size=size),
        tokenizer=tokenizer,
        chat_template=QWEN_CHAT_TEMPLATE,
    )
    config = Qwen3VLConfig(
        vision_config={
            "depth": 2,
            "hidden_size": _HIDDEN,
            "intermediate_size": 2 * _HIDDEN,
            "num_heads": 2,
            "out_hidden_size": _HIDDEN,
            "patch_size": 16,
            "num_position_embeddings": 64,
            "deepstack_visual_indexes": [0],
        },
        text_config=_text_config(
            "qwen3_vl_text",
            len(tokenizer),
            ids,
            "<|im_end|>",
            "<|endoftext|>",
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": [6, 5, 5],
                "mrope_interleaved": True,
            },
        ),
        **_qwen_ids(ids),
    )
    return config, Qwen3VLForConditionalGeneration, processor


def _qwen_ids(ids: dict[str, int]) -> dict[str, int]:
    return {
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }


def _smolvlm(tokenizer: Any, ids: dict[str, int], max_pixels: int) -> tuple[Any, Any, Any]:
    from transformers import (
        SmolVLMConfig,
        SmolVLMForConditionalGeneration,
        SmolVLMImageProcessor,
        SmolVLMProcessor,
        SmolVLMVideoProcessor,
    )

    side, patch, scale = 32, 16, 2  # 32-pixel tiles of 2 x 2 patches, pixel-shuffled by 2: 1 token a tile
    processor = SmolVLMProcessor(
        image_processor=SmolVLMImageProcessor(size={"longest_edge": 2 * side}, max_image_size={"longest_edge": side}),
        video_processor=SmolVLMVideoProcessor(
            size={"longest_edge": side},
            max_image_size={"longest_edge": side},
            video_sampling={"fps": 1, "max_frames": 64, "video_size": {"longest_edge": side}},
        ),
        tokenizer=tokenizer,
        image_seq_len=(side // patch) ** 2 // scale**2,
        chat_template=SMOLVLM_CHAT_TEMPLATE,
    )
    config = SmolVLMConfig(
        vision_config={
            "hidden_size": _HIDDEN,
            "intermediate_size": 2 * _HIDDEN,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": side,
            "patch_size": patch,
        },
        text_config=_text_config("llama", len(tokenizer), ids, "<end_of_utterance>", "<|endoftext|>"),
        scale_factor=scale,
        image_token_id=ids["<image>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    return config, SmolVLMForConditionalGeneration, processor


def _llava_onevision(tokenizer: Any, ids: dict[str, int], max_pixels: int) -> tuple[Any, Any, Any]:
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessor,
        LlavaOnevisionProcessor,
        LlavaOnevisionVideoProcessor,
    )

    side, patch = 32, 16
    pinpoints = [[side, side], [side, 2 * side], [2 * side, side], [2 * side, 2 * side]]
    processor = LlavaOnevisionProcessor(
        image_processor=LlavaOnevisionImageProcessor(
            size={"height": side, "width": side}, image_grid_pinpoints=pinpoints
        ),
        video_processor=LlavaOnevisionVideoProcessor(size={"height": side, "width": side}),
        tokenizer=tokenizer,
        num_image_tokens=(side // patch) ** 2,
        vision_feature_select_strategy="full",
        chat_template=LLAVA_CHAT_TEMPLATE,
    )
    config = LlavaOnevisionConfig(
        vision_config={
            "model_type": "siglip_vision_model",
            "hidden_size": _HIDDEN,
            "intermediate_size": 2 * _HIDDEN,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": side,
            "patch_size": patch,
        },
        text_config=_text_config("qwen2", len(tokenizer), ids, "<|im_end|>", "<|endoftext|>"),
        image_token_id=ids["<image>"],
        video_token_id=ids["<video>"],
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        image_grid_pinpoints=pinpoints,
    )
    return config, LlavaOnevisionForConditionalGeneration, processor


def _internvl(tokenizer: Any, ids: dict[str, int], max_pixels: int) -> tuple[Any, Any, Any]:
    from transformers import (
        GotOcr2ImageProcessor,
        InternVLConfig,
        InternVLForConditionalGeneration,
        InternVLProcessor,
        InternVLVideoProcessor,
    )

    side, patch = 32, 16
    processor = InternVLProcessor(
        image_processor=GotOcr2ImageProcessor(size={"height": side, "width": side}, crop_to_patches=False),
        video_processor=InternVLVideoProcessor(size={"height": side, "width": side}),
        tokenizer=tokenizer,
        image_seq_length=(side // patch) ** 2 // 4,  # pixel shuffle by downsample_ratio 0.5
        chat_template=INTERNVL_CHAT_TEMPLATE,
    )
    config = InternVLConfig(
        vision_config={
            "hidden_size": _HIDDEN,
            "intermediate_size": 2 * _HIDDEN,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": [side, side],
            "patch_size": [patch, patch],
        },
        text_config=_text_config("qwen2", len(tokenizer), ids, "<|im_end|>", "<|endoftext|>"),
        image_token_id=ids["<IMG_CONTEXT>"],
        downsample_ratio=0.5,
    )
    return config, InternVLForConditionalGeneration, processor


_QWEN_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>")
FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family(
            "qwen2.5-vl", (*_QWEN_TOKENS, "<|image_pad|>", "<|video_pad|>"), "<|im_end|>", "<|endoftext|>", _qwen25
        ),
        Family("qwen3-vl", (*_QWEN_TOKENS, "<|image_pad|>", "<|video_pad|>"), "<|im_end|>", "<|endoftext|>", _qwen3),
        Family(
            "smolvlm2",
            (
                "<|endoftext|>",
                "<|im_start|>",
                "<end_of_utterance>",
                "<fake_token_around_image>",
                "<image>",
                "<global-img>",
                *(f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)),
            ),
            "<end_of_utterance>",
            "<|endoftext|>",
            _smolvlm,
        ),
        Family(
            "llava-onevision",
            ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"),
            "<|im_end|>",
            "<|endoftext|>",
            _llava_onevision,
            hub_prefixes={"vision_tower.": "vision_tower.vision_model."},
        ),
        Family(
            "internvl3",
            ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<IMG_CONTEXT>", "<video>"),
            "<|im_end|>",
            "<|endoftext|>",
            _internvl,
            extra_tokens={
                "start_image_token": "<img>",
                "end_image_token": "</img>",
                "context_image_token": "<IMG_CONTEXT>",
                "video_token": "<video>",
            },
        ),
    )
}


def _tokenizer(family: Family, corpus: Iterable[str]) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = [*INSTRUCTIONS.values(), "Main cast: Clip frames: User: Assistant: user assistant system", *corpus]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600 + len(family.special_tokens),
        special_tokens=list(family.special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=family.eos,
        pad_token=family.pad,
        extra_special_tokens=dict(family.extra_tokens or {}),
    )


def make_tiny_model(
    family: str, path: str | Path, corpus: Iterable[str] = (), *, max_pixels: int = 64 * 64, seed: int = 0
) -> Path:
    """Write a tiny random model of `family` (one of `FAMILIES`) with its real processor classes to `path`.

    Args:
        family: `qwen2.5-vl`, `qwen3-vl`, `smolvlm2`, `llava-onevision` or `internvl3`.
        path: the folder to write; `AutoModelForImageTextToText` and `AutoProcessor` load it.
        corpus: extra text for the tokenizer (e.g. the narrations it will be trained on).
        max_pixels: the Qwen processors' pixel cap per image and per frame.
        seed: the weights' seed (the caller's RNG is left as it was).

    Example:
        >>> (make_tiny_model("qwen3-vl", tmp / "tiny-qwen3-vl") / "config.json").is_file()
        True
    """
    import torch

    if family not in FAMILIES:
        raise ValueError(f"Unknown model family {family!r}; expected one of {sorted(FAMILIES)}.")
    spec = FAMILIES[family]
    tokenizer = _tokenizer(spec, corpus)
    ids = dict(zip(spec.special_tokens, tokenizer.convert_tokens_to_ids(list(spec.special_tokens))))
    config, model_class, processor = spec.build(tokenizer, ids, max_pixels)
    with torch.random.fork_rng():  # the same weights whatever ran before
        torch.manual_seed(seed)
        model = model_class(config)
    model.generation_config.eos_token_id = ids[spec.eos]
    model.generation_config.pad_token_id = ids[spec.pad]
    path = Path(path)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    if spec.hub_prefixes:
        _rename_weights(path / "model.safetensors", spec.hub_prefixes)
    return path


def _rename_weights(file: Path, prefixes: dict[str, str]) -> None:
    from safetensors.torch import load_file, save_file

    def renamed(name: str) -> str:
        old = next((p for p in prefixes if name.startswith(p) and not name.startswith(prefixes[p])), None)
        return name if old is None else prefixes[old] + name[len(old) :]

    save_file({renamed(k): v for k, v in load_file(file).items()}, str(file), metadata={"format": "pt"})


def make_tiny_video_llm(path: str | Path, corpus: Iterable[str] = (), *, max_pixels: int = 56 * 56) -> Path:
    """A tiny Qwen2.5-VL (`make_tiny_model("qwen2.5-vl", ...)`), the family most tests use.

    Example:
        >>> (make_tiny_video_llm(tmp / "tiny-qwen2.5-vl") / "config.json").is_file()
        True
    """
    return make_tiny_model("qwen2.5-vl", path, corpus, max_pixels=max_pixels)
