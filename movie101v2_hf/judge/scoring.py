"""Scoring pairs with a judge: `Judge.score` asks, through the text-LLM layer's `Rounds`, for what the cache lacks;
`JudgeResult` holds the scores, the counts and the provenance, and says whether they are final."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import __version__
from ..llm import AnswerFormat, ResponseCache, RoundPolicy, Rounds, TextLLM
from .parsing import ANSWER_REGEX, parse_answer
from .prompts import METRICS, PromptSet

DEFAULT_MAX_INVALID = 0.05  # the fraction of invalid judgments a metric may have and still be reported as complete


@dataclass
class JudgeResult:
    """Scores of one metric over a set of pairs, with what produced them.

    `per_sample[i]` is `{"env", "char"}` (L1) or `{"plot"}` (L2), or None when the judgment was invalid
    (unparseable after one retry) or failed (the request never succeeded); those are excluded from the
    aggregate, never scored 0. `problems(max_invalid)` says whether the aggregate may be reported as final.
    """

    metric: str
    per_sample: list[dict[str, int] | None]
    answers: list[str | None]
    num_invalid: int
    num_failed: int
    judge_model: str
    backend: str
    prompt_version: str
    official_prompts: bool
    judge_calls: int
    endpoint: str | None = None
    answered_by: list[str] = field(default_factory=list)
    package_version: str = __version__

    @property
    def scores(self) -> dict[str, float | None]:
        """Aggregates rescaled to 0-100: `L1-Env`, `L1-Char`, `L1` or `L2`; None when nothing was valid."""
        valid = [s for s in self.per_sample if s is not None]

        def mean(values: list[float]) -> float | None:
            return round(sum(values) / len(values) / 5 * 100, 2) if values else None

        if self.metric == "l1":
            return {
                "L1-Env": mean([s["env"] for s in valid]),
                "L1-Char": mean([s["char"] for s in valid]),
                "L1": mean([(s["env"] + s["char"]) / 2 for s in valid]),
            }
        return {"L2": mean([s["plot"] for s in valid])}

    def problems(self, max_invalid: float = DEFAULT_MAX_INVALID) -> list[str]:
        """Why these scores are not final, one sentence each; empty when they are.

        Example:
            >>> result = JudgeResult("l2", [None, {"plot": 4}], ["??", "4"], 1, 0, "judge", "openai", "v1", False, 3)
            >>> result.problems(0.05)
            ['L2: 1 of 2 judgments invalid (50.0%, over --max-invalid 5.0%)']
        """
        name, total = self.metric.upper(), len(self.per_sample)
        problems = []
        if total and not any(s is not None for s in self.per_sample):
            problems.append(f"{name}: no valid judgment among {total} pairs: no score")
        if self.num_failed:
            problems.append(f"{name}: {self.num_failed} of {total} judge requests failed (re-run to ask them again)")
        if total and self.num_invalid / total > max_invalid:
            problems.append(
                f"{name}: {self.num_invalid} of {total} judgments invalid ({self.num_invalid / total:.1%}, over "
                f"--max-invalid {max_invalid:.1%})"
            )
        return problems

    def provenance(self) -> dict[str, Any]:
        """What every result file records about how the scores were made."""
        return {
            "judge_model": self.judge_model,
            "judge_backend": self.backend,
            "judge_endpoint": self.endpoint,
            "answered_by": self.answered_by,
            "prompt_version": self.prompt_version,
            "official_prompts": self.official_prompts,
            "package_version": self.package_version,
        }

    def __repr__(self) -> str:
        return (
            f"JudgeResult(metric={self.metric!r}, scores={self.scores}, samples={len(self.per_sample)}, "
            f"invalid={self.num_invalid}, failed={self.num_failed}, judge={self.judge_model!r})"
        )


@dataclass
class Judge:
    """Scores candidate narrations against references with an LLM judge.

    Args:
        backend: a text LLM (`make_llm("openai", model, base_url=...)`, ...).
        prompts: a `PromptSet` (`PromptSet.from_release(release, "en")` for the official prompts).
        cache: a `ResponseCache` (`ResponseCache(default_cache_path())` is the user's), or None to judge
            everything every time. Each answer is stored the moment it arrives.
        rejudge_invalid: ask again the pairs whose cached answer was invalid (default); False keeps them.
        show_progress: a progress bar per metric.

    Example:
        >>> with ScriptedJudgeServer() as server:
        ...     judge = Judge(make_llm("openai", "judge", base_url=server.url), PromptSet.packaged("en"))
        ...     judge.score("l1", ["He runs home."], ["Li Lei runs home."]).scores
        {'L1-Env': 60.0, 'L1-Char': 80.0, 'L1': 70.0}
    """

    backend: TextLLM
    prompts: PromptSet
    cache: ResponseCache | None = None
    rejudge_invalid: bool = True
    show_progress: bool = True

    def score(self, metric: str, predictions: Sequence[str], references: Sequence[str]) -> JudgeResult:
        """Judge each (prediction, reference) pair on `metric` (`"l1"` or `"l2"`).

        Raises:
            JudgeUnavailableError: the judge server is down or hanging (the answers received are cached).
        """
        if metric not in METRICS:
            raise ValueError(f"Invalid metric {metric!r}; expected one of {METRICS}.")
        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions but {len(references)} references; they must pair up.")
        prompts = [
            self.prompts.render(metric, reference=reference, candidate=candidate)
            for candidate, reference in zip(predictions, references)
        ]
        asked = self.rounds(metric).ask(prompts)
        outcomes = asked.outcomes
        return JudgeResult(
            metric=metric,
            per_sample=[o.value if o.valid else None for o in outcomes],
            answers=[o.answer for o in outcomes],
            num_invalid=sum(1 for o in outcomes if not o.valid and not o.failed),
            num_failed=sum(1 for o in outcomes if o.failed),
            judge_model=self.backend.model,
            backend=self.backend.name,
            prompt_version=self.prompts.version,
            official_prompts=self.prompts.official,
            judge_calls=asked.calls,
            endpoint=self.backend.endpoint,
            answered_by=asked.answered_by,
        )

    def rounds(self, metric: str) -> Rounds:
        """How a metric is asked: its answer format, parsed as it arrives, an unreadable answer asked once more."""

        def parse(_: int, answer: str) -> dict[str, int]:
            scores = parse_answer(metric, answer)
            if scores is None:
                raise ValueError("no score can be read safely from the answer")
            return scores

        return Rounds(
            self.backend,
            parse,
            answer_format=AnswerFormat.of_regex(metric, ANSWER_REGEX[metric]),
            cache=self.cache,
            policy=RoundPolicy(asks=2, reask_cached_invalid=self.rejudge_invalid),
            purpose=metric,
            progress=f"judging {metric.upper()}" if self.show_progress else None,
            unit="pair",
        )
