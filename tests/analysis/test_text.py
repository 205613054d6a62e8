"""`analyze text`: n-gram diversity by hand, perplexity against the model called text by text, the seeded sample."""

from __future__ import annotations

import json
import math
import random

import pytest

from movie101v2_hf import cli
from movie101v2_hf.analysis.text import TextSource, distinct_n, perplexities, seeded_sample, text_tokens


def test_tokens_and_distinct_n_by_hand():
    assert text_tokens("Old He's SHOP, old he!", "en") == ["old", "he", "s", "shop", "old", "he"]
    assert text_tokens("老 何，走", "zh") == ["老", "何", "，", "走"]
    texts = ["a b a b", "b a"]  # bigrams: ab ba ab | ba -> 2 unique of 4; none across the two texts
    assert distinct_n(texts, "en", 1) == pytest.approx(2 / 6, abs=1e-4)
    assert distinct_n(texts, "en", 2) == 0.5
    assert distinct_n(texts, "en", 4) == 1.0 and distinct_n(["a"], "en", 2) == 0.0


def test_the_sample_is_pythons_seeded_sample_in_dataset_order():
    assert seeded_sample(5, 10, 0) == [0, 1, 2, 3, 4]
    assert seeded_sample(100, 7, 3) == random.Random(3).sample(range(100), 7)


def test_sources_parse():
    assert TextSource.parse("a=x.jsonl") == TextSource("a", "x.jsonl", "text")
    assert TextSource.parse("b=hf://datasets/o/n") == TextSource("b", "hf://datasets/o/n", "text")
    with pytest.raises(ValueError, match="NAME=PATH"):
        TextSource.parse("nothing")


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory):
    from movie101v2_hf.testing.text import make_tiny_gpt2

    return make_tiny_gpt2(tmp_path_factory.mktemp("gpt2") / "m", ["Old He walks toward Bai Lu.", "他走了"])


def test_perplexity_equals_the_model_called_on_each_text(tiny_gpt2):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    texts = ["A man walks in.", "He sits down slowly at the long table by the window.", "他走了"]
    ours = perplexities(texts, tiny_gpt2, batch_size=2)  # padded batches
    model, tokenizer = AutoModelForCausalLM.from_pretrained(tiny_gpt2), AutoTokenizer.from_pretrained(tiny_gpt2)
    direct, nll, count = [], 0.0, 0
    for text in texts:
        ids = torch.tensor([[tokenizer.bos_token_id, *tokenizer(text)["input_ids"]]])
        loss = model(ids, labels=ids).loss.item()  # transformers' own mean over the predicted tokens
        direct.append(math.exp(loss))
        nll, count = nll + loss * (ids.shape[1] - 1), count + ids.shape[1] - 1
    assert ours["per_text"] == pytest.approx(direct, rel=1e-4)
    assert ours["corpus"] == pytest.approx(math.exp(nll / count), rel=1e-4)


def test_analyze_text_beside_another_dataset(tiny_gpt2, mini_prepared, tmp_path):
    from datasets import load_dataset
    from PIL import Image

    other = tmp_path / "other.jsonl"
    other.write_text("".join(json.dumps({"caption": f"a red car number {k}"}) + "\n" for k in range(30)))
    out = tmp_path / "text"
    command = ["analyze", "text", "--dataset", str(mini_prepared), "--evaluator", str(tiny_gpt2), "--out", str(out),
               "--texts", f"captions={other}:caption", "--samples", "5", "--seed", "1"]  # fmt: skip
    assert cli.main(command) == 0
    results = json.loads((out / "text.json").read_text())
    captions = results["datasets"]["captions"]
    picked = [f"a red car number {k}" for k in random.Random(1).sample(range(30), 5)]
    assert captions["sampled"] == 5 and captions["distinct"]["1"] == distinct_n(picked, "en", 1)
    train = load_dataset(str(mini_prepared), "en", split="train")["narration"]
    movie = results["datasets"]["Movie101v2-en"]
    assert movie["rows"] == len(train) and movie["sampled"] == min(5, len(train))
    assert movie["perplexity"]["mean"] == pytest.approx(
        perplexities([train[k] for k in seeded_sample(len(train), 5, 1)], tiny_gpt2)["mean"], rel=1e-4
    )
    assert Image.open(out / "text.png").width > 600
