"""Scoring ShotBench predictions: the official rule chain, an LLM matcher for what it cannot resolve, no guessing.

For each row, from the model's raw answer (the official order):

1. inside `<answer>...</answer>` (case-insensitive), when there is one;
2. the option letter: the characters `.()[],:;!*#{}` become spaces, the text is split on whitespace, and if
   exactly one of the row's option letters is a token, that is the choice; if none is but `Z` is, the choice
   is `Z` (no answer);
3. the option text: if exactly one option's text (lower-cased) is a substring of the lower-cased answer;
4. else an LLM matcher (any text-LLM backend, temperature 0, its answers in the response cache) maps the answer to a
   letter or `Z`. The official script then picks an option at random, so its numbers are not reproducible; here
   a row no rule and no matcher resolves counts as wrong and is reported as unresolved.

Accuracy per dimension, `Overall` (correct over all rows) and `Avg` (the mean of the eight dimensions, as the
published table's last column), with the counts and how each row was resolved.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..llm import AnswerFormat, ResponseCache, RoundPolicy, Rounds, TextLLM
from .data import CATEGORIES

_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.IGNORECASE | re.DOTALL)
_PUNCTUATION = str.maketrans({c: " " for c in ".()[],:;!*#{}"})
MATCHER_PROMPT_VERSION = "movie101v2-hf-shotbench-matcher-v1"  # recorded in results.json: change with the prompt
_MATCHER_PROMPT = (
    "A model answered a multiple-choice question about a film shot. Which option does its answer choose?\n\n"
    "Question: {question}\nOptions:\n{options}\n\nThe model's answer:\n{answer}\n\n"
    "Reply with the letter of the option the answer chooses, or Z if it chooses none or several. One letter only:"
)
_MATCHER_REPLY = re.compile(r"\b([A-DZ])\b")


def rule_choice(prediction: str, options: Sequence[dict[str, str]]) -> tuple[str | None, str]:
    """The official rules: `(choice, how)` with `how` in `letter`, `option_text`, or `(None, "unresolved")`.

    Example:
        >>> options = [{"letter": "A", "text": "Close Up"}, {"letter": "B", "text": "Wide Shot"}]
        >>> rule_choice("<think>It is wide.</think><answer>B</answer>", options)
        ('B', 'letter')
        >>> rule_choice("The shot is a close up of her face.", options), rule_choice("A or B", options)
        (('A', 'option_text'), (None, 'unresolved'))
    """
    answer = prediction or ""
    if tag := _ANSWER_TAG.search(answer):
        answer = tag.group(1).strip()
    letters = [option["letter"] for option in options]
    tokens = set(answer.translate(_PUNCTUATION).split())
    found = [letter for letter in letters if letter in tokens]
    if len(found) == 1:
        return found[0], "letter"
    if not found and "Z" in tokens:
        return "Z", "letter"
    lowered = answer.lower()
    matching = [option["letter"] for option in options if option["text"].lower() in lowered]
    if len(matching) == 1:
        return matching[0], "option_text"
    return None, "unresolved"


@dataclass
class LLMMatcher:
    """Maps answers the rules cannot resolve to an option with a text LLM, greedy, cached: asked once, an
    unreadable reply kept (the row stays unresolved, counted wrong).

    Example:
        >>> with ScriptedJudgeServer() as server:
        ...     matcher = LLMMatcher(make_llm("openai", "matcher", base_url=server.url), ResponseCache(":memory:"))
        ...     matcher.match([("Shot size?", [{"letter": "A", "text": "Close Up"}], "hmm")])
        ['A']
    """

    backend: TextLLM
    cache: ResponseCache | None = None
    calls: int = field(default=0, init=False)

    def match(self, items: Sequence[tuple[str, Sequence[dict[str, str]], str]]) -> list[str | None]:
        """For each `(question, options, answer)`: a letter, `Z`, or None when the matcher could not say."""

        def parse(index: int, reply: str) -> str:
            choice = self._parse(reply, items[index][1])
            if choice is None:
                raise ValueError("the reply names no option letter")
            return choice

        rounds = Rounds(
            self.backend,
            parse,
            answer_format=AnswerFormat.of_regex("choice", r"[A-DZ]"),
            cache=self.cache,
            policy=RoundPolicy(asks=1, reask_cached_invalid=False),
            purpose="choice",
        )
        prompts = [
            _MATCHER_PROMPT.format(question=question, options=self._options(options), answer=answer)
            for question, options, answer in items
        ]
        asked = rounds.ask(prompts)
        self.calls += asked.calls
        return [outcome.value if outcome.valid else None for outcome in asked.outcomes]

    @staticmethod
    def _options(options: Sequence[dict[str, str]]) -> str:
        return "\n".join(f"{option['letter']}. {option['text']}" for option in options)

    @staticmethod
    def _parse(reply: str, options: Sequence[dict[str, str]]) -> str | None:
        allowed = {option["letter"] for option in options} | {"Z"}
        found = [letter for letter in _MATCHER_REPLY.findall(reply.strip()[:20]) if letter in allowed]
        return found[0] if found else None


def score_predictions(
    rows: Sequence[dict[str, Any]], predictions: dict[int, str], *, matcher: LLMMatcher | None = None
) -> dict[str, Any]:
    """Accuracy per dimension and overall, and one record per row of how its choice was made.

    Args:
        rows: ShotBench rows (`read_test_tsv` or the dataset's rows): `index`, `category`, `options`, `answer`.
        predictions: raw model answers by `index`; every row needs one.
        matcher: resolves what the rules cannot; without one, such rows count as wrong (`unresolved`).

    Raises:
        ValueError: a row has no prediction, or a prediction is for no row.

    Example:
        >>> rows = [{"index": 1, "category": "shot size", "question": "?", "options": [{"letter": "A", "text": "Close Up"},
        ...          {"letter": "B", "text": "Wide Shot"}], "answer": "B"}]
        >>> score_predictions(rows, {1: "B. Wide Shot"})["scores"]
        {'SS': 100.0, 'Overall': 100.0, 'Avg': 100.0}
    """
    indices = [row["index"] for row in rows]
    missing = [i for i in indices if i not in predictions]
    unknown = sorted(set(predictions) - set(indices))
    if missing or unknown:
        raise ValueError(
            f"{len(missing)} question(s) have no prediction (e.g. {missing[:3]}) and {len(unknown)} prediction(s) "
            f"are for no question (e.g. {unknown[:3]}). Predict every question of test.tsv, by its index."
        )
    per_row = []
    for row in rows:
        choice, how = rule_choice(predictions[row["index"]], row["options"])
        per_row.append(
            {
                "index": row["index"],
                "category": row["category"],
                "answer": row["answer"],
                "prediction": predictions[row["index"]],
                "choice": choice,
                "resolved_by": how,
            }
        )
    unresolved = [k for k, record in enumerate(per_row) if record["choice"] is None]
    failed = 0
    if matcher is not None and unresolved:
        items = [(rows[k]["question"], rows[k]["options"], per_row[k]["prediction"]) for k in unresolved]
        for k, choice in zip(unresolved, matcher.match(items)):
            if choice is not None:
                per_row[k].update(choice=choice, resolved_by="llm_matcher")
            else:
                failed += 1
    counts: dict[str, dict[str, int]] = {}
    for record in per_row:
        record["correct"] = record["choice"] == record["answer"]
        abbr = CATEGORIES[record["category"]][0]
        count = counts.setdefault(abbr, {"n": 0, "correct": 0, "unresolved": 0})
        count["n"] += 1
        count["correct"] += record["correct"]
        count["unresolved"] += record["choice"] is None
    order = [abbr for abbr, _ in CATEGORIES.values() if abbr in counts]
    scores = {abbr: round(100 * counts[abbr]["correct"] / counts[abbr]["n"], 2) for abbr in order}
    scores["Overall"] = round(100 * sum(r["correct"] for r in per_row) / len(per_row), 2)  # correct / all rows
    scores["Avg"] = round(sum(scores[abbr] for abbr in order) / len(order), 2)  # the mean of the dimensions
    how = {}
    for record in per_row:
        how[record["resolved_by"]] = how.get(record["resolved_by"], 0) + 1
    return {
        "scores": scores,
        "counts": {abbr: counts[abbr] for abbr in order},
        "num_rows": len(per_row),
        "resolved_by": how,
        "num_unresolved": sum(record["choice"] is None for record in per_row),
        "matcher_failed": failed,
        "per_row": per_row,
    }
