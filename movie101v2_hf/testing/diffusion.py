"""A tiny text-to-image pipeline built from configs, for `synth draw` on a CPU."""

from __future__ import annotations

import json
from pathlib import Path


def make_tiny_text_to_image(path: str | Path) -> Path:
    """Write a Stable-Diffusion-shaped text-to-image pipeline of random weights (a 32-wide UNet, VAE and CLIP text
    encoder, a character-level CLIP tokenizer made on the spot) that `diffusers.AutoPipelineForText2Image` loads
    like a Hub checkpoint: it draws 32x32 noise in milliseconds on a CPU, enough to run `synth draw` end to end.

    Example:
        >>> (make_tiny_text_to_image(tmp / "tiny-sd") / "model_index.json").is_file()
        True
    """
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    path = Path(path)
    tokenizer_files = path.parent / f".{path.name}-tokenizer"
    tokenizer_files.mkdir(parents=True, exist_ok=True)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in "abcdefghijklmnopqrstuvwxyz0123456789,.-'":
        vocab.setdefault(char, len(vocab))
        vocab.setdefault(char + "</w>", len(vocab))
    (tokenizer_files / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (tokenizer_files / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    tokenizer = CLIPTokenizer(
        str(tokenizer_files / "vocab.json"), str(tokenizer_files / "merges.txt"), model_max_length=77
    )
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=8,
    )
    vae = AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=4,
        norm_num_groups=8,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=len(vocab),
            projection_dim=32,
        )
    )
    pipeline = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=DDIMScheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(path)
    return path
