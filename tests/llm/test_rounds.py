"""`llm.rounds`: one round loop, its policy (re-ask, keep or re-ask cached invalid answers, cache invalid ones or
not, a follow-up prompt) and `on_settled` once per question, against a real local OpenAI-compatible server."""

from __future__ import annotations

from movie101v2_hf.llm import OpenAILLM, ResponseCache, RoundPolicy, Rounds
from movie101v2_hf.testing import ScriptedJudgeServer


def _digit(_: int, answer: str) -> int:
    if not answer.strip().isdigit():
        raise ValueError(f"not a number: {answer!r}")
    return int(answer)


def _answers(table):
    """A server answer rule: the reply for each prompt, by its first letter; each key's replies in turn."""

    def answer(prompt: str) -> str:
        replies = table[prompt[0]]
        return replies.pop(0) if len(replies) > 1 else replies[0]

    return answer


def test_an_invalid_answer_is_asked_again_with_the_follow_up_and_settled_once():
    settled = []
    with ScriptedJudgeServer(answer=_answers({"a": ["7"], "b": ["nope", "5"], "c": ["x", "y"]})) as server:
        rounds = Rounds(
            OpenAILLM(model="m", base_url=server.url, concurrency=2),
            _digit,
            policy=RoundPolicy(asks=2, follow_up=lambda prompt, error: f"{prompt} (again: {error})"),
            on_settled=lambda index, outcome: settled.append((index, outcome.value, outcome.error)),
        )
        asked = rounds.ask(["a?", "b?", "c?"])
        prompts = [request["messages"][0]["content"] for request in server.requests]
    assert [o.value for o in asked.outcomes] == [7, 5, None] and asked.calls == 5
    assert asked.outcomes[2].error == "not a number: 'y'" and not asked.outcomes[2].failed
    assert "b? (again: not a number: 'nope')" in prompts and "c? (again: not a number: 'x')" in prompts
    assert sorted(index for index, _, _ in settled) == [0, 1, 2]  # each question once, when final


def test_the_policy_decides_what_the_cache_keeps_and_what_is_asked_again(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    with ScriptedJudgeServer(answer=_answers({"a": ["1"], "b": ["nope"]})) as server:
        llm = OpenAILLM(model="m", base_url=server.url)
        Rounds(llm, _digit, cache=cache, policy=RoundPolicy(asks=1, cache_invalid=False)).ask(["a?", "b?"])
        assert len(cache) == 1  # the invalid answer was not stored
        Rounds(llm, _digit, cache=cache, policy=RoundPolicy(asks=1)).ask(["a?", "b?"])
        assert len(server.requests) == 3 and len(cache) == 2  # only b was asked; now stored, marked invalid
        keep = Rounds(llm, _digit, cache=cache, policy=RoundPolicy(asks=1, reask_cached_invalid=False))
        kept = keep.ask(["a?", "b?"])
        assert kept.calls == 0 and kept.outcomes[1].cached and kept.outcomes[1].error == "not a number: 'nope'"
        again = Rounds(llm, _digit, cache=cache, policy=RoundPolicy(asks=1)).ask(["a?", "b?"])
        assert again.calls == 1 and len(server.requests) == 4  # the default re-asks a cached invalid answer


def test_a_failed_request_is_settled_as_failed_and_never_cached(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    with ScriptedJudgeServer(faults=["400"]) as server:
        asked = Rounds(OpenAILLM(model="m", base_url=server.url, concurrency=1), _digit, cache=cache).ask(["a?", "b?"])
    assert [o.failed for o in asked.outcomes] == [True, False] and asked.outcomes[1].value == 3
    assert asked.calls == 2 and len(cache) == 1  # a failed request is asked once per run, not re-asked
