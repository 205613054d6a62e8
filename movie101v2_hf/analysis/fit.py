"""`movie101v2 analyze fit` (the paper's Fig 9): how well a narrator fits the reference narrations, zero-shot and
fine-tuned.

The perplexity of the narrator on each clip's reference narration given the clip's inputs, computed on exactly
the tokens training puts the loss on (`NarrationCollator`'s labels: the narration, not the prompt): the
exponentiated mean negative log-likelihood over every such token of a split's sampled clips. With `--adapter`,
the same clips are scored by the base model (the adapter switched off: zero-shot) and with the adapter
(fine-tuned), in the prompt the adapter was trained with (its saved `movie101v2_prompt.json`).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..constants import SINGLE_LANGUAGE_CONFIGS, SPLITS, config_language
from ..errors import check_minimums
from ..prompting import PromptSettings
from ..utils.outputs import OutputFolder
from .text import seeded_sample


@dataclass(kw_only=True)
class FitOptions(PromptSettings):
    """Every option of `movie101v2 analyze fit` (the prompt fields are `PromptSettings`', used without an adapter)."""

    model: str = field(metadata={"help": "The narrator: a local vision-language model folder (or Hub id)."})
    dataset: str = field(metadata={"help": "A prepared Movie101v2 folder with movies (--videos)."})
    out: str = field(metadata={"help": "Folder for fit.json and fit.png."})
    adapter: str | None = field(
        default=None, metadata={"help": "A LoRA adapter of recipes/sft_lora.py: adds fine-tuned."}
    )
    config: str = field(
        default="en", metadata={"help": "A single-language clip config.", "choices": SINGLE_LANGUAGE_CONFIGS}
    )
    splits: list[str] = field(
        default_factory=lambda: ["test"], metadata={"help": "Splits to score, each a dataset of the figure."}
    )
    samples: int = field(default=200, metadata={"help": "Clips per split (a seeded sample; all when fewer)."})
    seed: int = field(default=0, metadata={"help": "Seed of the sample."})
    device: str | None = field(default=None, metadata={"help": "torch device (default cpu)."})

    job = "analyze fit"

    def __post_init__(self) -> None:
        self.language = config_language(self.config)
        super().__post_init__()
        check_minimums(self, samples=1)
        unknown = [s for s in self.splits if s not in SPLITS]
        if unknown:
            raise ValueError(f"--splits {unknown}: choose from {list(SPLITS)}.")

    def prompt(self) -> PromptSettings:
        """The adapter's own prompt when there is one (how it was trained), else these options'."""
        if self.adapter:
            return PromptSettings.load(self.adapter)
        return PromptSettings(**{name: getattr(self, name) for name in PromptSettings.__dataclass_fields__})


def narration_nll(model: Any, collator: Any, rows: Sequence[dict[str, Any]]) -> list[tuple[float, int]]:
    """Per clip the summed negative log-likelihood of its narration tokens and their count (one clip a batch:
    no padding enters the sums)."""
    import torch

    sums = []
    for row in rows:
        batch = collator([row])
        labels = batch.pop("labels").to(model.device)
        inputs = {k: v.to(model.device) if torch.is_tensor(v) else v for k, v in batch.items()}
        with torch.no_grad():
            logits = model(**inputs).logits[:, :-1].float()
        targets = labels[:, 1:]
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, ignore_index=-100, reduction="sum")
        sums.append((float(nll), int((targets != -100).sum())))
    return sums


def perplexity_of(sums: Sequence[tuple[float, int]]) -> dict[str, Any]:
    """The corpus perplexity of per-clip sums: exp(all NLL / all tokens)."""
    nll, tokens = sum(s for s, _ in sums), sum(n for _, n in sums)
    return {"perplexity": round(math.exp(nll / tokens), 4) if tokens else None, "tokens": tokens, "clips": len(sums)}


def analyze_fit(options: FitOptions) -> dict[str, Any]:
    """Score each split zero-shot (and fine-tuned with `adapter`); writes `fit.json` and `fit.png`."""
    from datasets import Video, load_dataset
    from tqdm.auto import tqdm
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from ..data.loading import load_portraits
    from ..prompting import NarrationCollator

    settings = options.prompt()
    processor = AutoProcessor.from_pretrained(options.adapter or options.model)
    model: Any = AutoModelForImageTextToText.from_pretrained(options.model)
    model = model.to(options.device or "cpu").eval()
    if options.adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, options.adapter).eval()
    portraits = load_portraits(options.dataset, settings.language, max_portraits=settings.max_portraits)
    collator = NarrationCollator(processor, settings, portraits=portraits)
    inputs = {"--model": options.model, "--dataset": options.dataset, "--adapter": options.adapter}
    with OutputFolder(options.out, job="analyze fit", inputs=inputs) as folder:
        results: dict[str, Any] = {
            "model": options.model,
            "adapter": options.adapter,
            "config": options.config,
            "splits": {},
        }
        for split in options.splits:
            rows = load_dataset(options.dataset, options.config, split=split).cast_column("video", Video(decode=False))
            picked = [rows[k] for k in seeded_sample(len(rows), options.samples, options.seed)]
            scored: dict[str, Any] = {}
            for label in ["zero-shot", "fine-tuned"] if options.adapter else ["zero-shot"]:
                with _adapter_off(model, off=label == "zero-shot"):
                    sums = narration_nll(model, collator, tqdm(picked, desc=f"{split} {label}", unit="clip"))
                scored[label] = perplexity_of(sums)
            results["splits"][split] = scored
        _figure(results, folder)
        folder.write("fit.json", json.dumps(results, indent=2) + "\n")
    return results


def _adapter_off(model: Any, *, off: bool) -> Any:
    """`model.disable_adapter()` when `off` and the model has an adapter; a context that does nothing otherwise."""
    return model.disable_adapter() if off and hasattr(model, "disable_adapter") else contextlib.nullcontext()


def _figure(results: dict[str, Any], folder: OutputFolder) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    splits = list(results["splits"])
    labels = list(next(iter(results["splits"].values())))
    figure, axes = plt.subplots(figsize=(max(4.0, 1.8 * len(splits) + 2), 3.6))
    width = 0.8 / len(labels)
    for k, label in enumerate(labels):
        values = [results["splits"][s][label]["perplexity"] or 0 for s in splits]
        axes.bar(
            [i + k * width for i in range(len(splits))],
            values,
            width,
            label=label,
            hatch="//" if label == "zero-shot" else None,
        )
    axes.set_xticks(
        [i + width * (len(labels) - 1) / 2 for i in range(len(splits))],
        [f"Movie101v2-{results['config']} {s}" for s in splits],
    )
    axes.set_ylabel("perplexity of the references")
    axes.set_title("Narrator fit (lower is better)", fontsize=10)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(folder.path("fit.png"), dpi=120)
    plt.close(figure)
