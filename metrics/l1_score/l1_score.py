# Copyright 2026 The movie101v2-hf contributors. Licensed under the Apache License, Version 2.0.
"""L1-Score of Movie101v2: LLM-judged visual facts of movie narrations."""

import datasets
import evaluate

from movie101v2_hf.data.builder import CITATION  # From: movie101v2-hf[metrics]
from movie101v2_hf.evaluation import build_judge, judge_metric  # From: movie101v2-hf[metrics]
from movie101v2_hf.judge import DEFAULT_MAX_INVALID  # From: movie101v2-hf[metrics]

_CITATION = CITATION  # the Movie101v2 paper, as the dataset card cites it

_DESCRIPTION = """\
L1-Score (Movie101v2) scores a candidate narration against the reference narration of the same clip on
visual facts: Environment (scenes, objects, events) and Characters (names, actions, emotions), two integers 0-5 from an LLM judge; L1 is their mean. Scores are reported rescaled to 0-100 (score / 5 * 100). Answers the judge gets wrong twice are
counted invalid and excluded, never scored 0.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): candidate narrations.
    references (`list` of `str`): reference narrations, one per candidate.
    judge (`movie101v2_hf.judge.Judge`, *optional*): a ready judge; overrides the options below.
    judge_backend (`str`, defaults to `"openai"`): `"openai"` (any OpenAI-compatible server), `"vllm"` or
        `"transformers"`.
    judge_model (`str`, *optional*): defaults to the paper's judge for `language`.
    judge_url (`str`, *optional*): base URL of the OpenAI-compatible server.
    language (`str`, defaults to `"en"`): `"en"` or `"zh"`.
    release (`str`, *optional*): a copy of the Movie101v2 release; its official prompts are used (paper-comparable).
    cache (`str`, *optional*): SQLite file caching judgments (default: the user's cache, shared by every run,
        so that re-runs cost no judge call).
    concurrency (`int`, defaults to 16): concurrent requests of the `openai` backend.
    timeout (`float`, defaults to 120): seconds per request attempt (`openai`).
    retries (`int`, defaults to 4): retries of a request on 429/5xx/timeouts (`openai`); after 3 requests in a
        row fail for good, the judge is taken to be down and the call raises `JudgeUnavailableError`.
    max_invalid (`float`, defaults to 0.05): the fraction of invalid judgments allowed before `complete` is False.
Returns:
    "L1-Env", "L1-Char", "L1" (`float`, 0-100), `per_sample` (scores per pair, None when invalid or failed),
    `num_invalid`, `num_failed`, `complete` (False when requests failed, invalid judgments exceed `max_invalid` or
    none is valid) with its `problems`, `judge_model`, `judge_endpoint`, `answered_by`, `judge_backend`, `prompt_version`, `official_prompts`,
    `package_version`.
Examples:
    >>> metric = evaluate.load("metrics/l1_score")
    >>> with ScriptedJudgeServer() as server:  # any OpenAI-compatible server; this one answers by rule
    ...     result = metric.compute(predictions=["He runs."], references=["Li Lei runs home."], judge_url=server.url,
    ...                             cache=str(tmp / "judgments.sqlite"))
    >>> result["L1"], result["complete"]
    (70.0, True)
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class L1Score(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            reference_urls=["https://arxiv.org/abs/2404.13370", "https://github.com/yuezih/Movie101"],
        )

    def _compute(
        self,
        predictions,
        references,
        judge=None,
        judge_backend="openai",
        judge_model=None,
        judge_url=None,
        language="en",
        release=None,
        cache=None,
        concurrency=16,
        timeout=120.0,
        retries=4,
        max_invalid=DEFAULT_MAX_INVALID,
    ):
        if judge is None:
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
        return judge_metric("l1", predictions, references, judge, max_invalid=max_invalid)
