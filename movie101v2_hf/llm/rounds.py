"""One policy for asking a text LLM many questions: look each up in the cache, ask the rest, parse and store each
answer the moment it arrives, ask an invalid one again. The L1/L2 judge, ShotBench's matcher and the synthetic
planner differ only in their `RoundPolicy`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .backends import TextLLM
from .cache import Request, ResponseCache
from .formats import AnswerFormat

# (index of the question, the answer) -> its value; raises ValueError saying why the answer is invalid
Parse = Callable[[int, str], Any]
REQUEST_FAILED = "request failed"


@dataclass(frozen=True)
class RoundPolicy:
    """How a set of questions is asked.

    Args:
        asks: how many times a question is asked when its answers are invalid (2: once more after an invalid one).
        reask_cached_invalid: ask again a question whose cached answer is invalid (False keeps that answer).
        cache_invalid: store invalid answers too (marked invalid), so that `reask_cached_invalid=False` can keep them.
        follow_up: the prompt of a re-ask from `(prompt, why the answer was invalid)`; None asks the same prompt.
    """

    asks: int = 2
    reask_cached_invalid: bool = True
    cache_invalid: bool = True
    follow_up: Callable[[str, str], str] | None = None


@dataclass
class Outcome:
    """What one question got: its last answer (None when every request failed), the parsed value, why the answer
    is invalid (`error`; `REQUEST_FAILED` when no answer came), who answered and whether it came from the cache."""

    answer: str | None = None
    value: Any = None
    error: str | None = REQUEST_FAILED
    answered_by: str | None = None
    cached: bool = False

    @property
    def valid(self) -> bool:
        return self.error is None

    @property
    def failed(self) -> bool:
        return self.answer is None


@dataclass
class Asked:
    """The outcomes of `Rounds.ask`, in question order, and how many requests were sent."""

    outcomes: list[Outcome]
    calls: int = 0

    @property
    def answered_by(self) -> list[str]:
        return sorted({o.answered_by for o in self.outcomes if o.answered_by is not None})


@dataclass
class Rounds:
    """Asks `llm` a list of prompts under `policy` (see the module).

    `on_settled(index, outcome)` is called once per question, the moment its outcome is final (valid, invalid on
    its last ask, or failed), under a lock: a job writes its result there, durable before the next answer.

    Example:
        >>> from movie101v2_hf.testing import ScriptedJudgeServer
        >>> with ScriptedJudgeServer() as server:
        ...     rounds = Rounds(make_llm("openai", "judge", base_url=server.url), parse=lambda i, a: int(a),
        ...                     cache=ResponseCache(":memory:"), purpose="l2")
        ...     first, again = rounds.ask(["Score: L2"]), rounds.ask(["Score: L2"])
        >>> first.outcomes[0].value, first.calls, again.calls
        (3, 1, 0)
    """

    llm: TextLLM
    parse: Parse
    answer_format: AnswerFormat | None = None
    cache: ResponseCache | None = None
    policy: RoundPolicy = field(default_factory=RoundPolicy)
    purpose: str = ""
    on_settled: Callable[[int, Outcome], None] | None = None
    progress: str | None = None  # a progress bar's description; None shows none
    unit: str = "question"

    def request(self, prompt: str) -> Request:
        return Request(self.llm.model, prompt, self.answer_format, self.llm.settings(), self.purpose)

    def ask(self, prompts: Sequence[str]) -> Asked:
        """Every prompt's outcome: cached where the cache has a usable answer, else asked (see `RoundPolicy`)."""
        from tqdm.auto import tqdm

        asked = Asked([Outcome() for _ in prompts])
        pending = self._from_cache(prompts, asked)
        lock = threading.Lock()
        with tqdm(
            total=len(prompts),
            initial=len(prompts) - len(pending),
            desc=self.progress,
            unit=self.unit,
            disable=self.progress is None,
        ) as bar:
            asking = {i: prompts[i] for i in pending}
            for attempt in range(1, self.policy.asks + 1):
                if not asking:
                    break
                asking = self._round(prompts, asking, asked, last=attempt == self.policy.asks, lock=lock, bar=bar)
        return asked

    def _from_cache(self, prompts: Sequence[str], asked: Asked) -> list[int]:
        """Fill the outcomes the cache answers; returns the questions to ask."""
        pending = []
        for i, prompt in enumerate(prompts):
            hit = self.cache.get(request=self.request(prompt)) if self.cache is not None else None
            if hit is None or (not hit.valid and self.policy.reask_cached_invalid):
                pending.append(i)
                continue
            outcome = self._parsed(i, hit.answer)
            outcome.answered_by, outcome.cached = hit.answered_by or self.llm.model, True
            asked.outcomes[i] = outcome
            self._settle(i, outcome)
        return pending

    def _round(
        self, prompts: Sequence[str], asking: dict[int, str], asked: Asked, *, last: bool, lock: Any, bar: Any
    ) -> dict[int, str]:
        """Ask `asking` (question -> prompt) once; returns the questions to ask again (question -> prompt)."""
        order = list(asking)
        again: dict[int, str] = {}
        reported: set[int] = set()

        def arrived(k: int, answer: str | None, by: str | None) -> None:  # from the backend's threads
            i = order[k]
            outcome = Outcome() if answer is None else self._parsed(i, answer, by)
            if answer is not None and self.cache is not None and (outcome.valid or self.policy.cache_invalid):
                # stored under the question's first request, so that a re-run finds the answer it ended with
                self.cache.put(
                    request=self.request(prompts[i]),
                    answer=answer,
                    value=outcome.value,
                    valid=outcome.valid,
                    backend=self.llm.name,
                    endpoint=self.llm.endpoint,
                    answered_by=by,
                )
            with lock:
                reported.add(k)
                asked.outcomes[i] = outcome
                if outcome.valid or outcome.failed or last:
                    self._settle(i, outcome)
                    bar.update(1)
                else:
                    follow_up = self.policy.follow_up
                    again[i] = follow_up(prompts[i], outcome.error or "") if follow_up else prompts[i]

        asked.calls += len(order)
        replies = self.llm.generate([asking[i] for i in order], answer_format=self.answer_format, on_answer=arrived)
        for k, reply in enumerate(replies):  # a backend that did not report as it went
            if k not in reported:
                arrived(k, reply, None)
        return dict(sorted(again.items()))

    def _parsed(self, index: int, answer: str, by: str | None = None) -> Outcome:
        try:
            return Outcome(answer, self.parse(index, answer), None, by or self.llm.model)
        except ValueError as err:
            return Outcome(answer, None, str(err) or "invalid answer", by or self.llm.model)

    def _settle(self, index: int, outcome: Outcome) -> None:
        if self.on_settled is not None:
            self.on_settled(index, outcome)
