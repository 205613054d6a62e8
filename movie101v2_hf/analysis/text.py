"""`movie101v2 analyze text` (the paper's Fig 8): how complex narration text is, beside other text datasets.

For Movie101v2 and each other dataset given, on a seeded sample (`random.Random(seed).sample` over the rows in
dataset order; all rows when there are fewer):

- **perplexity** under an evaluator causal LM (GPT-2 in the paper; any local model folder): per text, the
  exponentiated mean negative log-likelihood of its tokens (the tokenizer's BOS token is put first, so that the
  first token is predicted too, as `evaluate`'s perplexity metric does); reported as the mean over texts
  (`mean`, what that metric reports) and over all tokens at once (`corpus`);
- **n-gram diversity**: |unique n-grams| / |n-grams| for n = 1..4, n-grams not crossing texts (English tokens:
  lower-cased `\\w+` tokens; Chinese: non-whitespace characters).

Example:
    >>> distinct_n(["the man and the dog"], "en", 1), distinct_n(["他走了，他走了"], "zh", 2)
    (0.8, 0.6667)
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..constants import SINGLE_LANGUAGE_CONFIGS, SPLITS, config_language
from ..errors import FileFormatError, check_minimums
from ..utils.io import read_jsonl
from ..utils.outputs import OutputFolder

_WORD = re.compile(r"\w+")
ORDERS = (1, 2, 3, 4)


def text_tokens(text: str, language: str) -> list[str]:
    """The units n-grams are made of: English lower-cased `\\w+` tokens, Chinese non-whitespace characters."""
    return _WORD.findall(text.lower()) if language == "en" else [ch for ch in text if not ch.isspace()]


def distinct_n(texts: Sequence[str], language: str, n: int) -> float:
    """|unique n-grams| / |n-grams| over `texts`, no n-gram crossing two texts (0 when there is none)."""
    grams = [
        tuple(tokens[i : i + n])
        for tokens in (text_tokens(t, language) for t in texts)
        for i in range(len(tokens) - n + 1)
    ]
    return round(len(set(grams)) / len(grams), 4) if grams else 0.0


def seeded_sample(count: int, samples: int, seed: int) -> list[int]:
    """Row positions: `random.Random(seed).sample` over the rows in dataset order, or all of them when fewer."""
    if count <= samples:
        return list(range(count))
    return random.Random(seed).sample(range(count), samples)


def perplexities(
    texts: Sequence[str], model_path: str | Path, *, batch_size: int = 8, device: str | None = None
) -> dict[str, Any]:
    """Per-text perplexities of `texts` under the causal LM at `model_path`, their mean, and the corpus perplexity
    (one exponentiated mean over every token). Texts too long for the model are cut at its context size."""
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model: Any = AutoModelForCausalLM.from_pretrained(model_path)
    model = model.to(device or "cpu").eval()
    limit = getattr(model.config, "n_positions", None) or getattr(model.config, "max_position_embeddings", 1024)
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    per_text, total_nll, total_tokens = [], 0.0, 0
    for begin in tqdm(range(0, len(texts), batch_size), desc="perplexity", unit="batch"):
        encoded = [
            ([bos] if bos is not None else []) + tokenizer(t, add_special_tokens=False)["input_ids"]
            for t in texts[begin : begin + batch_size]
        ]
        encoded = [ids[:limit] for ids in encoded]
        width = max(len(ids) for ids in encoded)
        ids = torch.tensor([x + [0] * (width - len(x)) for x in encoded], device=model.device)
        mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in encoded], device=model.device)
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none") * mask[:, 1:]
        for row, count in zip(nll.sum(dim=1).tolist(), mask[:, 1:].sum(dim=1).tolist()):
            if count:  # a text of no token has no perplexity
                per_text.append(math.exp(row / count))
                total_nll, total_tokens = total_nll + row, total_tokens + count
    return {
        "mean": round(sum(per_text) / len(per_text), 4) if per_text else None,
        "corpus": round(math.exp(total_nll / total_tokens), 4) if total_tokens else None,
        "per_text": per_text,
        "tokens": total_tokens,
    }


@dataclass(frozen=True)
class TextSource:
    """A text dataset to compare: `NAME=PATH[:COLUMN]`, a JSONL file or a `datasets` dataset (folder or Hub id;
    its `train` split), the column holding the text (default `text`).

    Example:
        >>> TextSource.parse("llava=data/llava.jsonl:caption")
        TextSource(name='llava', path='data/llava.jsonl', column='caption')
    """

    name: str
    path: str
    column: str = "text"

    @classmethod
    def parse(cls, spec: str) -> TextSource:
        name, sep, rest = spec.partition("=")
        if not sep or not name or not rest:
            raise ValueError(f"--texts {spec!r}: expected NAME=PATH or NAME=PATH:COLUMN.")
        path, colon, column = rest.rpartition(":")
        if not colon or not path or "/" in column:  # no column given (a URL's "://" is not one)
            path, column = rest, "text"
        return cls(name, path, column)

    def texts(self) -> list[str]:
        """Every text, in file (dataset) order."""
        if self.path.endswith(".jsonl"):
            rows = read_jsonl(self.path, what=f"--texts {self.name}")
            texts = []
            for number, row in rows:
                if not isinstance(row.get(self.column), str):
                    raise FileFormatError(
                        f'no string "{self.column}" field; pass NAME=PATH:COLUMN.', path=self.path, line=number
                    )
                texts.append(row[self.column])
            return texts
        from datasets import load_dataset

        rows = load_dataset(self.path, split="train")
        if self.column not in rows.column_names:
            raise ValueError(f"--texts {self.name}: {self.path} has no column {self.column!r} ({rows.column_names}).")
        return list(rows[self.column])


@dataclass(kw_only=True)
class TextOptions:
    """Every option of `movie101v2 analyze text`."""

    dataset: str = field(metadata={"help": "A prepared Movie101v2 folder or Hub id."})
    evaluator: str = field(metadata={"help": "Local causal LM folder for perplexity (GPT-2 in the paper)."})
    out: str = field(metadata={"help": "Folder for text.json and text.png."})
    config: str = field(
        default="en", metadata={"help": "A single-language clip config.", "choices": SINGLE_LANGUAGE_CONFIGS}
    )
    split: str = field(default="train", metadata={"help": "The Movie101v2 split sampled.", "choices": SPLITS})
    texts: list[str] = field(
        default_factory=list, metadata={"help": "Other datasets: NAME=PATH[:COLUMN] (JSONL or datasets)."}
    )
    samples: int = field(default=1000, metadata={"help": "Texts per dataset (the paper: 1,000)."})
    seed: int = field(default=0, metadata={"help": "Seed of the sample."})
    batch_size: int = field(default=8, metadata={"help": "Texts per forward pass."})
    device: str | None = field(default=None, metadata={"help": "torch device (default cpu)."})

    job = "analyze text"

    def __post_init__(self) -> None:
        check_minimums(self, samples=1, batch_size=1)
        self.sources = [TextSource.parse(spec) for spec in self.texts]


def analyze_text(options: TextOptions) -> dict[str, Any]:
    """Perplexity and n-gram diversity of Movie101v2's narrations and of each `--texts` dataset, written as
    `text.json` and `text.png`; returns the results."""
    from datasets import load_dataset

    language = config_language(options.config)
    movie = list(load_dataset(options.dataset, options.config, split=options.split)["narration"])
    corpora = {f"Movie101v2-{options.config}": movie, **{s.name: s.texts() for s in options.sources}}
    inputs = {
        "--dataset": options.dataset,
        "--evaluator": options.evaluator,
        **{f"--texts {s.name}": s.path for s in options.sources},
    }
    with OutputFolder(options.out, job="analyze text", inputs=inputs) as folder:
        results: dict[str, Any] = {
            "evaluator": options.evaluator,
            "samples": options.samples,
            "seed": options.seed,
            "datasets": {},
        }
        for name, texts in corpora.items():
            picked = [texts[k] for k in seeded_sample(len(texts), options.samples, options.seed)]
            ppl = perplexities(picked, options.evaluator, batch_size=options.batch_size, device=options.device)
            results["datasets"][name] = {
                "rows": len(texts),
                "sampled": len(picked),
                "perplexity": {k: ppl[k] for k in ("mean", "corpus", "tokens")},
                "distinct": {str(n): distinct_n(picked, language, n) for n in ORDERS},
            }
        _figure(results, folder)
        folder.write("text.json", json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return results


def _figure(results: dict[str, Any], folder: OutputFolder) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results["datasets"])
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    left.bar(
        names,
        [results["datasets"][n]["perplexity"]["mean"] or 0 for n in names],
        color=[f"C{k}" for k in range(len(names))],
    )
    left.set_title("perplexity (mean over texts)", fontsize=9)
    left.tick_params(axis="x", rotation=20)
    for k, name in enumerate(names):
        right.plot(
            ORDERS,
            [results["datasets"][name]["distinct"][str(n)] for n in ORDERS],
            marker="o",
            label=name,
            color=f"C{k}",
        )
    right.set_xticks(ORDERS, [f"{n}-gram" for n in ORDERS])
    right.set_title("n-gram diversity (unique / all)", fontsize=9)
    right.legend(fontsize=7)
    figure.suptitle(f"Text analysis, {results['samples']} samples per dataset (seed {results['seed']})", fontsize=10)
    figure.tight_layout()
    figure.savefig(folder.path("text.png"), dpi=120)
    plt.close(figure)
