# Copyright 2026 The movie101v2-hf contributors. Licensed under the Apache License, Version 2.0.
"""ShotBench accuracy: cinematography QA scored with the official rule chain, without its random fallback."""

import datasets
import evaluate

from movie101v2_hf.shotbench import score_predictions  # From: movie101v2-hf[metrics]

_CITATION = """\
@article{liu2025shotbench,
  title   = {ShotBench: Expert-Level Cinematic Understanding in Vision-Language Models},
  journal = {arXiv preprint arXiv:2506.21356},
  year    = {2025}
}"""

_DESCRIPTION = """\
ShotBench accuracy scores a model's raw answers to four-option cinematography questions (shot size, framing,
camera angle, lens size, lighting type, lighting, composition, camera movement). Each answer is resolved as the
official scorer does (the inside of <answer></answer>, then an option letter, then an option's text); an answer no
rule resolves counts as wrong and is reported as unresolved, never replaced by a random option.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): the model's raw answers.
    references (`list` of `str`): the correct option letters.
    options (`list` of `dict`): each question's options, `{"A": "Close Up", "B": ...}` (empty ones are ignored).
    categories (`list` of `str`, *optional*): each question's dimension (`"shot size"`, ...; default `"shot size"`).
Returns:
    "Overall" (`float`, % correct of all questions), "Avg" (mean of the dimensions), one accuracy per dimension
    present (`SS`, `SF`, `CA`, `LS`, `LT`, `LC`, `SC`, `CM`), "num_unresolved" and "resolved_by".
Examples:
    >>> metric = evaluate.load("metrics/shotbench_accuracy")
    >>> metric.compute(predictions=["B"], references=["B"], options=[{"A": "Close Up", "B": "Wide Shot"}])["Overall"]
    100.0
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class ShotBenchAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            reference_urls=["https://arxiv.org/abs/2506.21356", "https://github.com/Vchitect/ShotBench"],
        )

    def _compute(self, predictions, references, options, categories=None):
        rows = [
            {
                "index": i,
                "category": categories[i] if categories else "shot size",
                "question": "",
                "options": [{"letter": k, "text": str(v)} for k, v in choices.items() if v and str(v).strip()],
                "answer": answer,
            }
            for i, (answer, choices) in enumerate(zip(references, options))
        ]
        result = score_predictions(rows, dict(enumerate(predictions)))
        return {**result["scores"], "num_unresolved": result["num_unresolved"], "resolved_by": result["resolved_by"]}
