"""`llm.options`: one declaration of a text LLM's options, prefixed per job, and a backend that refuses what it lacks."""

from __future__ import annotations

import dataclasses

import pytest
from transformers import HfArgumentParser

from movie101v2_hf.llm import OpenAILLM, TransformersLLM, make_llm
from movie101v2_hf.llm.options import LLMOptions, prefixed_llm_options, to_llm_options


def test_an_option_the_backend_lacks_is_refused_not_dropped():
    with pytest.raises(ValueError, match="vllm text backend has no option base_url"):
        make_llm("vllm", "m", base_url="http://127.0.0.1:1/v1")
    # unset options (None, False) are not "given": the backend's defaults apply
    llm = make_llm("transformers", "m", base_url=None, structured_output=False, max_tokens=8)
    assert isinstance(llm, TransformersLLM) and llm.max_tokens == 8 and llm.batch_size == 8


def test_job_defaults_fill_only_what_the_user_left_unset():
    llm = LLMOptions(backend="openai", model="m", timeout=5.0).build(timeout=300.0, concurrency=8, batch_size=1)
    assert isinstance(llm, OpenAILLM) and (llm.timeout, llm.concurrency) == (5.0, 8)  # batch_size: not openai's
    with pytest.raises(ValueError, match="needs a model"):
        LLMOptions(backend="openai").build()


def test_prefixed_options_parse_with_the_established_flags_and_map_back():
    judging = prefixed_llm_options("judge", backend=None, name="Judging")
    names = [field.name for field in dataclasses.fields(judging)]
    assert names[:3] == ["judge_backend", "judge_model", "judge_url"] and "judge_cache" in names
    parser = HfArgumentParser(judging)
    (options,) = parser.parse_args_into_dataclasses(
        ["--judge-backend", "openai", "--judge-model", "m", "--judge-base-url", "http://x/v1", "--judge-retries", "2"]
    )
    llm = to_llm_options(options, "judge")
    assert (llm.backend, llm.model, llm.base_url, llm.retries, llm.timeout) == ("openai", "m", "http://x/v1", 2, None)
    (flag,) = parser.parse_args_into_dataclasses(["--judge-structured-output"])
    assert flag.judge_structured_output is True and flag.judge_backend is None  # off unless chosen


def test_every_judge_option_reaches_the_judge(tmp_path):
    from movie101v2_hf.evaluation.evaluate import ScoringOptions

    options = ScoringOptions(
        judge_backend="openai",
        judge_url="http://127.0.0.1:1/v1",
        judge_max_tokens=8,
        judge_timeout=5.0,
        judge_cache=str(tmp_path / "answers.sqlite"),
    )
    judge = options.build_judge("en")
    assert (judge.backend.model, judge.backend.max_tokens, judge.backend.timeout) == (
        "meta-llama/Llama-3.1-70B-Instruct",
        8,
        5.0,
    )
    assert judge.cache.path == str(tmp_path / "answers.sqlite")
    assert ScoringOptions().build_judge("en") is None  # no backend: no judge
