# Copyright 2026 The movie101v2-hf contributors. Licensed under the Apache License, Version 2.0.
"""Movie narration suite: BLEU-1..4, METEOR, ROUGE-L, CIDEr, BERTScore, RoleF1, L1, L2 and L3 in one module."""

import datasets
import evaluate

from movie101v2_hf.data.builder import CITATION  # From: movie101v2-hf[metrics]
from movie101v2_hf.data.pacing import release_pace  # From: movie101v2-hf[metrics]
from movie101v2_hf.evaluation import build_judge, default_metrics, narration_metrics  # From: movie101v2-hf[metrics]
from movie101v2_hf.judge import DEFAULT_MAX_INVALID  # From: movie101v2-hf[metrics]

_CITATION = CITATION  # the Movie101v2 paper, as the dataset card cites it

_DESCRIPTION = """\
The metrics movie narration papers report, in one call: BLEU-1..4, METEOR, ROUGE-L and CIDEr computed with
pycocoevalcap (English PTB-tokenized, Chinese per character), BERTScore with a local model, RoleF1 (F1 between
the characters marked in the reference and the cast names the candidate mentions, as in Movie101), and the
LLM-judged L1 (visual facts) and L2 (plot) of Movie101v2. All scores are x100.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): candidate narrations.
    references (`list` of `str`): reference narrations (markers removed: the dataset's `narration`).
    language (`str`, defaults to `"en"`): `"en"` or `"zh"`.
    metrics (`list` of `str`, *optional*): any of bleu, meteor, rouge, cider, bertscore, rolef1, l1, l2, l3
        (default: bleu, meteor, rouge, cider, plus rolef1 when characters and casts are given, plus l3 when
        durations are given).
    reference_characters (`list` of `list` of `str`, *optional*): the dataset's `characters`, for RoleF1.
    casts (`list` of `list` of `str`, *optional*): the dataset's `cast`, for RoleF1.
    bertscore_model (`str`, *optional*): a local model folder for BERTScore.
    durations (`list` of `float`, *optional*): each clip's end - start in seconds, for L3-Fit and L3-Overrun.
    pace (`float`, *optional*): the describers' pace, tokens per second, L3 speaks narrations at (default: the
        full release's 95th percentile, 4.67 English words/s or 6.25 Chinese characters/s).
    judge_backend, judge_model, judge_url, release, cache, concurrency, timeout, retries, max_invalid (*optional*):
        the judge for l1 and l2, as in l1_score.
Returns:
    a flat dict: `BLEU-1`..`BLEU-4`, `METEOR`, `ROUGE-L`, `CIDEr`, `BERTScore-P/R/F1`, `RoleP`, `RoleR`, `RoleF1`,
    and `l1` / `l2` dicts with the judged scores and their provenance.
Examples:
    >>> suite = evaluate.load("metrics/movie_narration")
    >>> scores = suite.compute(predictions=["他走进了房间"], references=["他走进了房间"], language="zh", metrics=["rouge"])
    >>> scores["ROUGE-L"]
    100.0
    >>> suite.compute(predictions=["A man walks in."], references=["He walks in."], durations=[0.5], metrics=["l3"])
    {'L3-Fit': 0.0, 'L3-Overrun': 0.3565}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MovieNarration(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            reference_urls=["https://github.com/salaniz/pycocoevalcap", "https://arxiv.org/abs/2404.13370"],
        )

    def _compute(
        self,
        predictions,
        references,
        language="en",
        metrics=None,
        reference_characters=None,
        casts=None,
        bertscore_model=None,
        judge_backend="openai",
        judge_model=None,
        judge_url=None,
        release=None,
        cache=None,
        concurrency=16,
        timeout=120.0,
        retries=4,
        max_invalid=DEFAULT_MAX_INVALID,
        durations=None,
        pace=None,
    ):
        if metrics is None:
            with_casts, timed = bool(reference_characters and casts), durations is not None
            metrics = [
                m for m in default_metrics(judge=False) if (m != "rolef1" or with_casts) and (m != "l3" or timed)
            ]
        if durations is not None and pace is None:
            pace = release_pace()[language]
        judge = None
        if "l1" in metrics or "l2" in metrics:
            judge = build_judge(
                language=language,
                backend=judge_backend,
                model=judge_model,
                url=judge_url,
                release=release,
                cache=cache,
                concurrency=concurrency,
                timeout=timeout,
                retries=retries,
            )
        return narration_metrics(
            predictions,
            references,
            language=language,
            metrics=metrics,
            reference_characters=reference_characters,
            casts=casts,
            bertscore_model=bertscore_model,
            judge=judge,
            max_invalid=max_invalid,
            durations=durations,
            pace=pace,
        )
