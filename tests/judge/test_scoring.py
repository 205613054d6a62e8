"""L1/L2 judging (`judge/`): prompts, parsing, and `Judge.score` over each text backend: the OpenAI backend against a
real local server with faults, the cache and resume, the transformers backend with a tiny model, the vLLM backend's
call (the real vLLM runs in tests/test_vllm.py)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from movie101v2_hf.judge import ANSWER_REGEX, Judge, JudgeResult, PromptSet, parse_l1, parse_l2
from movie101v2_hf.llm import VLLMLLM, AnswerFormat, OpenAILLM, ResponseCache, TransformersLLM, make_llm
from movie101v2_hf.testing import ScriptedJudgeServer


def _pairs(n):
    return [f"candidate {i}" for i in range(n)], [f"reference {i}" for i in range(n)]


# -- prompts and parsing ------------------------------------------------------------------------------------------


def test_official_prompts_from_the_release(sample_release):
    prompts = PromptSet.from_release(sample_release, "en")
    assert prompts.official and prompts.version.startswith("official-en-")
    template = (sample_release / "Movie101v2/evaluation/prompt/L1_en.txt").read_text("utf-8")
    rendered = prompts.render("l1", reference="REF", candidate="CAND")
    assert rendered == template.replace("<gt>", "REF").replace("<pred>", "CAND")
    assert PromptSet.from_release(sample_release / "Movie101v2/evaluation/prompt", "zh").version.startswith(
        "official-zh-"
    )
    assert PromptSet.from_release(sample_release, "zh").version != prompts.version


def test_missing_official_prompts(tmp_path):
    with pytest.raises(FileNotFoundError, match="L1_en.txt"):
        PromptSet.from_release(tmp_path, "en")


@pytest.mark.parametrize("language", ["en", "zh"])
def test_packaged_prompts(language):
    prompts = PromptSet.packaged(language)
    assert not prompts.official and prompts.version == f"movie101v2-hf-prompts-v1-{language}"
    for metric in ("l1", "l2"):
        text = prompts.render(metric, reference="<<R>>", candidate="<<C>>")
        assert "<<R>>" in text and "<<C>>" in text and "<gt>" not in text and "<pred>" not in text
        assert text.index("<<R>>") < text.index("<<C>>")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("3,5", (3, 5)),
        ("3, 5", (3, 5)),
        ("3，5", (3, 5)),
        (" 0,0\n", (0, 0)),
        ("Environment: 3, Characters: 5", (3, 5)),
        ("Characters: 1, Environment: 4", (4, 1)),
        ("环境：2，人物：3", (2, 3)),
        ("4,2. The candidate misses the car.", (4, 2)),
        ("**3,4**", (3, 4)),
        ("6,2", None),
        ("3", None),
        ("I cannot judge this.", None),
        ("", None),
        # forms judges write when they stray from "E,C": read right, or invalid, never another number
        ("2/5, 4/5", (2, 4)),
        ("Environment: 2/5, Characters: 4/5", (2, 4)),
        ("2 out of 5, 4 out of 5", (2, 4)),
        ("E=2 C=4", (2, 4)),
        ("E: 2, C: 4", (2, 4)),
        ("Env 2 Char 3", (2, 3)),
        ("3 4", (3, 4)),
        ("-1", None),
        ("-1,-1", None),
        ("3.5", None),
        ("3.5, 4", None),
        ("4,2 and 3.5", None),
        ("3,4,5", None),
        ("3/4", None),
        ("7/10, 8/10", None),
        ("Environment: 6, Characters: 2", None),
    ],
)
def test_parse_l1(answer, expected):
    assert parse_l1(answer) == expected


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("4", 4),
        (" 0 ", 0),
        ("Score: 3", 3),
        ("评分：5", 5),
        ("2. It misses the plot twist.", 2),
        ("3 - close", 3),
        ("9", None),
        ("3,4", None),
        ("3.5", None),
        ("none", None),
        ("2 out of 5", 2),
        ("4/5", 4),
        ("Score: 4/5", 4),
        ("Score is 4", 4),
        ("**4**", 4),
        ("4.", 4),
        ("-1", None),
        ("0.5", None),
        ("7/10", None),
        ("3, 4", None),
        ("2 out of 10", None),
    ],
)
def test_parse_l2(answer, expected):
    assert parse_l2(answer) == expected


# -- the OpenAI-compatible backend ----------------------------------------------------------------------------------


def test_openai_backend_survives_faults(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    faults = ["429", "500", "slow", "garbage"]
    with ScriptedJudgeServer(faults=faults, slow_seconds=2.0) as server:
        backend = OpenAILLM(model="judge", base_url=server.url, concurrency=1, timeout=0.5)
        result = Judge(backend, PromptSet.packaged("en"), show_progress=False).score("l1", *_pairs(3))
        assert result.num_failed == 0 and result.num_invalid == 0
        assert result.per_sample == [{"env": 3, "char": 4}] * 3
        assert result.scores == {"L1-Env": 60.0, "L1-Char": 80.0, "L1": 70.0}
        # 429, 500 and the timed-out reply are retried; the garbage answer is asked once more
        assert len(server.requests) == 3 + 3 + 1
        assert result.judge_calls == 4
        assert server.requests[0]["temperature"] == 0 and server.requests[0]["model"] == "judge"
        headers = {name.lower(): value for name, value in server.headers[0].items()}
        assert headers["authorization"] == "Bearer sk-test-secret"
    assert "sk-test-secret" not in repr(backend)


def test_openai_backend_gives_up_on_a_sample_not_the_run():
    def answer(prompt):
        return "3" if "candidate 1" not in prompt else "nonsense"

    with ScriptedJudgeServer(answer=answer, faults=["500"] * 3) as server:
        backend = OpenAILLM(model="judge", base_url=server.url, concurrency=1, retries=2)
        cache = ResponseCache(":memory:")
        result = Judge(backend, PromptSet.packaged("en"), cache=cache, show_progress=False).score("l2", *_pairs(3))
    # sample 0 failed three times (all retries spent); sample 1 answered nonsense twice: invalid, not 0
    assert result.per_sample == [None, None, {"plot": 3}]
    assert (result.num_failed, result.num_invalid) == (1, 1)
    assert result.scores == {"L2": 60.0}
    assert len(cache) == 2  # the failed sample is not cached: the next run asks again


def test_concurrency_is_bounded_and_used():
    def first_eight_wait_for_each_other(number: int) -> float:
        # the first eight requests are held until eight are in flight (a loaded CI machine may open the
        # connections slower than a fixed latency), the rest take a little time each
        deadline = time.monotonic() + 30
        while number < 8 and server.in_flight < 8 and time.monotonic() < deadline:
            time.sleep(0.01)
        return 0.0 if number < 8 else 0.05

    server = ScriptedJudgeServer(latency=first_eight_wait_for_each_other)
    with server:
        answers = OpenAILLM(model="judge", base_url=server.url, concurrency=8).generate(["p"] * 24)
    assert answers == ["3"] * 24
    assert server.max_in_flight == 8  # eight at a time: never more, and the bound is reached


def test_structured_output_request():
    with ScriptedJudgeServer() as server:
        OpenAILLM(model="judge", base_url=server.url, structured_output=True).generate(
            ["Environment?"], answer_format=AnswerFormat.of_regex("l1", ANSWER_REGEX["l1"])
        )
    assert server.requests[0]["structured_outputs"] == {"regex": ANSWER_REGEX["l1"]}


# -- cache and resume -------------------------------------------------------------------------------------------


def test_rerun_is_served_from_the_cache(tmp_path):
    predictions, references = _pairs(20)
    with ScriptedJudgeServer() as server:
        judge = Judge(
            OpenAILLM(model="judge", base_url=server.url),
            PromptSet.packaged("zh"),
            cache=ResponseCache(tmp_path / "cache.sqlite"),
            show_progress=False,
        )
        first = judge.score("l2", predictions, references)
        asked = len(server.requests)
        second = judge.score("l2", predictions, references)
        assert len(server.requests) == asked == 20
        assert second.per_sample == first.per_sample and second.judge_calls == 0
        # another judge model or prompt version is another judgment
        judge.prompts = PromptSet.packaged("en")
        judge.score("l2", predictions[:2], references[:2])
        assert len(server.requests) == 22


_KILLED_JUDGE_SCRIPT = """
import sys
from movie101v2_hf.judge import Judge, PromptSet
from movie101v2_hf.llm import OpenAILLM, ResponseCache
url, cache_path = sys.argv[1], sys.argv[2]
predictions = [f"candidate {i}" for i in range(40)]
references = [f"reference {i}" for i in range(40)]
judge = Judge(OpenAILLM(model="judge", base_url=url, concurrency=2), PromptSet.packaged("en"),
              cache=ResponseCache(cache_path), show_progress=False)
judge.score("l1", predictions, references)
"""


@pytest.mark.parametrize("kill_after", [3, 17, 31])
def test_sigkill_keeps_every_answer_received(tmp_path, kill_after):
    cache_path = tmp_path / "cache.sqlite"
    predictions, references = _pairs(40)
    with ScriptedJudgeServer(latency=0.05) as server:
        run = subprocess.Popen([sys.executable, "-c", _KILLED_JUDGE_SCRIPT, server.url, str(cache_path)])
        deadline = time.monotonic() + 60
        while server.replies_sent < kill_after and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.005)
        run.kill()  # SIGKILL: no handler, no flush, no finally
        run.wait()
        sent = server.replies_sent
        kept = len(ResponseCache(cache_path))
        assert kill_after <= sent < 40, "the run should have been killed midway"
        # every reply the judge wrote back is in the cache, but for those still on the wire when the kill came
        # (at most one per concurrent request); the old loop kept nothing until a chunk of 256 finished
        assert sent - 2 <= kept <= sent
        server.requests.clear()
        result = Judge(
            OpenAILLM(model="judge", base_url=server.url),
            PromptSet.packaged("en"),
            cache=ResponseCache(cache_path),
            show_progress=False,
        ).score("l1", predictions, references)
        asked = {request["messages"][0]["content"] for request in server.requests}
    assert result.judge_calls == len(server.requests) == 40 - kept  # only the rest is asked
    assert len(asked) == 40 - kept
    assert result.per_sample == [{"env": 3, "char": 4}] * 40 and not result.problems()


def test_two_runs_share_one_cache_at_once(tmp_path):
    cache_path = tmp_path / "cache.sqlite"
    with ScriptedJudgeServer(latency=0.01) as server:
        runs = [
            subprocess.Popen([sys.executable, "-c", _KILLED_JUDGE_SCRIPT, server.url, str(cache_path)])
            for _ in range(2)
        ]
        assert [run.wait(timeout=120) for run in runs] == [0, 0]
        assert len(ResponseCache(cache_path)) == 40
        asked = len(server.requests)
        result = Judge(
            OpenAILLM(model="judge", base_url=server.url),
            PromptSet.packaged("en"),
            cache=ResponseCache(cache_path),
            show_progress=False,
        ).score("l1", *_pairs(40))
        assert len(server.requests) == asked and result.judge_calls == 0  # a third run is all cache
    assert 40 <= asked <= 80 and result.per_sample == [{"env": 3, "char": 4}] * 40


def test_invalid_answers_are_asked_again_by_the_next_run(tmp_path):
    predictions, references = _pairs(3)
    replies = {"first": "I cannot judge this."}

    def answer(prompt):
        return replies["first"] if "candidate 1" in prompt else "4"

    cache = ResponseCache(tmp_path / "cache.sqlite")
    with ScriptedJudgeServer(answer=answer) as server:
        judge = Judge(
            OpenAILLM(model="judge", base_url=server.url), PromptSet.packaged("en"), cache=cache, show_progress=False
        )
        first = judge.score("l2", predictions, references)
        assert first.num_invalid == 1 and len(server.requests) == 4  # three, and the invalid one asked once more
        replies["first"] = "2"  # the judge is fixed (or a better prompt)
        keep = Judge(judge.backend, judge.prompts, cache=cache, rejudge_invalid=False, show_progress=False)
        assert keep.score("l2", predictions, references).num_invalid == 1 and len(server.requests) == 4
        second = judge.score("l2", predictions, references)
        assert len(server.requests) == 5  # only the invalid pair is asked again
    assert second.num_invalid == 0 and second.per_sample[1] == {"plot": 2}


def test_the_cache_records_which_judge_answered(tmp_path):
    cache = ResponseCache(tmp_path / "cache.sqlite")
    with ScriptedJudgeServer(served_model="judge-2025-06-01") as server:
        result = Judge(
            OpenAILLM(model="judge", base_url=server.url), PromptSet.packaged("en"), cache=cache, show_progress=False
        ).score("l2", *_pairs(2))
    judge = Judge(OpenAILLM(model="judge"), PromptSet.packaged("en"))
    prompt = judge.prompts.render("l2", reference="reference 0", candidate="candidate 0")
    stored = cache.get(request=judge.rounds("l2").request(prompt))
    assert stored.answer == "3" and stored.value == {"plot": 3} and stored.valid
    assert (stored.backend, stored.endpoint, stored.answered_by) == ("openai", server.url, "judge-2025-06-01")
    assert result.provenance()["answered_by"] == ["judge-2025-06-01"]
    assert result.provenance()["judge_endpoint"] == server.url


def test_nothing_listening_fails_fast_and_names_the_url():
    import socket

    from movie101v2_hf.errors import JudgeUnavailableError

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    backend = OpenAILLM(model="judge", base_url=url, concurrency=4, retries=1, timeout=1)
    begin = time.monotonic()
    with pytest.raises(JudgeUnavailableError, match=rf"judge at {url} failed \d+ requests in a row"):
        Judge(backend, PromptSet.packaged("en"), show_progress=False).score("l2", *_pairs(200))
    assert time.monotonic() - begin < 10  # not 200 pairs x 2 attempts


def test_a_hanging_judge_fails_in_bounded_time(tmp_path):
    from movie101v2_hf.errors import JudgeUnavailableError

    cache = ResponseCache(tmp_path / "cache.sqlite")
    with ScriptedJudgeServer(faults=["ok", "ok"] + ["slow"] * 50, slow_seconds=3) as server:
        backend = OpenAILLM(model="judge", base_url=server.url, concurrency=1, retries=1, timeout=0.3)
        begin = time.monotonic()
        with pytest.raises(JudgeUnavailableError, match="0.3 s timeout"):
            Judge(backend, PromptSet.packaged("en"), cache=cache, show_progress=False).score("l2", *_pairs(50))
        elapsed = time.monotonic() - begin
    assert elapsed < 5  # 3 requests x 2 attempts x 0.3 s, not 48 pairs
    assert len(cache) == 2  # what it answered before it hung is kept


def test_an_error_body_that_echoes_the_key_is_redacted(monkeypatch, caplog, tmp_path):
    secret = "sk-test-0123456789abcdefSECRET"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    with ScriptedJudgeServer(faults=["401-echo"]) as server:
        backend = OpenAILLM(model="judge", base_url=server.url, concurrency=1)
        with caplog.at_level("WARNING"):
            result = Judge(backend, PromptSet.packaged("en"), show_progress=False).score("l2", *_pairs(1))
    assert result.num_failed == 1
    assert "Incorrect API key provided: ***" in caplog.text
    assert secret not in caplog.text and "SECRET" not in caplog.text


def test_problems_say_when_scores_are_not_final():
    def result(per_sample, invalid=0, failed=0):
        return JudgeResult("l1", per_sample, ["x"] * len(per_sample), invalid, failed, "j", "openai", "v", False, 0)

    valid = {"env": 3, "char": 4}
    assert result([valid] * 20).problems() == []
    assert result([valid] * 19 + [None], invalid=1).problems(0.05) == []  # 5% is allowed
    assert result([valid] * 18 + [None] * 2, invalid=2).problems(0.05) == [
        "L1: 2 of 20 judgments invalid (10.0%, over --max-invalid 5.0%)"
    ]
    assert result([valid] * 18 + [None] * 2, invalid=2).problems(0.2) == []
    none = result([None] * 3, invalid=3)
    assert none.scores == {"L1-Env": None, "L1-Char": None, "L1": None}
    assert none.problems(1.0) == ["L1: no valid judgment among 3 pairs: no score"]
    assert result([valid, None], failed=1).problems(1.0) == [
        "L1: 1 of 2 judge requests failed (re-run to ask them again)"
    ]


# -- transformers and vLLM backends -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_causal_lm(tmp_path_factory):
    """A tiny Llama with random weights and a tokenizer trained on the spot, saved to disk."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    corpus = [
        PromptSet.packaged(lang).render(m, reference="a b c", candidate="0 1 2 3 4 5 ,")
        for lang in ("en", "zh")
        for m in ("l1", "l2")
    ]
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.train_from_iterator(
        corpus, trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<pad>", "<s>", "</s>"])
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="</s>"
    )
    fast.chat_template = (
        "{% for m in messages %}<s>{{ m['content'] }}</s>{% endfor %}{% if add_generation_prompt %}<s>{% endif %}"
    )
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        pad_token_id=fast.pad_token_id,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
    )
    path = tmp_path_factory.mktemp("tiny-judge")
    LlamaForCausalLM(config).save_pretrained(path)
    fast.save_pretrained(path)
    return path


def test_transformers_backend_batches_like_single_prompts(tiny_causal_lm):
    backend = TransformersLLM(model=str(tiny_causal_lm), batch_size=3, max_tokens=4, device="cpu")
    prompts = [PromptSet.packaged("en").render("l2", reference="r" * k, candidate="c") for k in (1, 8, 30)]
    batched = backend.generate(prompts)
    assert len(batched) == 3 and all(isinstance(a, str) for a in batched)
    assert [backend.generate([p])[0] for p in prompts] == batched  # left padding does not change answers


def test_transformers_backend_in_the_judge(tiny_causal_lm):
    backend = make_llm("transformers", str(tiny_causal_lm), batch_size=4, max_tokens=3, device="cpu")
    result = Judge(backend, PromptSet.packaged("en"), show_progress=False).score("l1", *_pairs(5))
    assert result.backend == "transformers" and result.judge_model == str(tiny_causal_lm)
    # a random model answers nonsense: each pair is asked twice, then counted invalid, never scored 0
    valid = [s for s in result.per_sample if s is not None]
    assert result.num_invalid == 5 - len(valid) and result.judge_calls == 5 + result.num_invalid
    assert result.num_failed == 0


def test_vllm_backend_requests_greedy_structured_output(monkeypatch):
    # vLLM needs a GPU: its module is replaced by a recorder; everything around the call is real
    import types

    calls = {}

    class LLM:
        def __init__(self, **kwargs):
            calls["init"] = kwargs

        def chat(self, conversations, params, use_tqdm):
            calls["chat"] = (conversations, params)
            return [types.SimpleNamespace(outputs=[types.SimpleNamespace(text="2,5")]) for _ in conversations]

    class SamplingParams:
        def __init__(self, **kwargs):
            self.__dict__.update(kwargs)

    class StructuredOutputsParams:
        def __init__(self, **kwargs):
            self.__dict__.update(kwargs)

    vllm = types.ModuleType("vllm")
    vllm.LLM, vllm.SamplingParams = LLM, SamplingParams
    sampling = types.ModuleType("vllm.sampling_params")
    sampling.StructuredOutputsParams = StructuredOutputsParams
    vllm.__spec__ = sampling.__spec__ = types.SimpleNamespace(name="vllm")  # so that find_spec sees it
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling)

    backend = VLLMLLM(model="meta-llama/Llama-3.1-70B-Instruct", tensor_parallel_size=4)
    result = Judge(backend, PromptSet.packaged("en"), show_progress=False).score("l1", *_pairs(2))
    assert result.per_sample == [{"env": 2, "char": 5}] * 2
    assert calls["init"]["tensor_parallel_size"] == 4
    conversations, params = calls["chat"]
    assert conversations[0][0]["role"] == "user" and "candidate 0" in conversations[0][0]["content"]
    assert params.temperature == 0 and params.structured_outputs.regex == "[0-5],[0-5]"
