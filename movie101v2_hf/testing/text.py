"""A tiny GPT-2 built from its config with its real tokenizer class, for the text analyses on a CPU."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def make_tiny_gpt2(path: str | Path, corpus: Iterable[str] = (), *, seed: int = 0) -> Path:
    """Write a random 2-layer GPT-2 (`GPT2LMHeadModel`) and a byte-level BPE `GPT2TokenizerFast` trained on
    `corpus` to `path`; `AutoModelForCausalLM` and `AutoTokenizer` load it.

    Example:
        >>> (make_tiny_gpt2(tmp / "tiny-gpt2", ["A man walks in."]) / "config.json").is_file()
        True
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(["A man walks in. He sits down.", *corpus], trainer)
    bpe.model.save(str(path))  # vocab.json and merges.txt, the files GPT-2's tokenizer reads
    tokenizer = GPT2TokenizerFast(vocab=str(path / "vocab.json"), merges=str(path / "merges.txt"))
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=128, n_embd=32, n_layer=2, n_head=2,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
