"""LLM-judged scores of Movie101v2: L1 (visual facts: Environment and Characters) and L2 (plot).

The judge reads a reference narration and a candidate and answers with integers 0-5: `E,C` for L1, one integer
for L2; scores are reported rescaled to 0-100 (`score / 5 * 100`).

- `prompts`: the official prompts from the user's copy of the release, or the package's own;
- `parsing`: answers read safely (an answer that cannot be read safely is invalid, never another number);
- `scoring`: `Judge.score` and `JudgeResult` (scores, counts, provenance, and whether they are final).

The judge asks through the text-LLM layer (`movie101v2_hf.llm`: backends, the response cache, the round loop).
"""

from .parsing import ANSWER_REGEX, parse_answer, parse_l1, parse_l2
from .prompts import DEFAULT_JUDGE_MODELS, METRICS, PACKAGE_PROMPT_VERSION, PromptSet
from .scoring import DEFAULT_MAX_INVALID, Judge, JudgeResult

__all__ = [
    "ANSWER_REGEX",
    "DEFAULT_JUDGE_MODELS",
    "DEFAULT_MAX_INVALID",
    "METRICS",
    "PACKAGE_PROMPT_VERSION",
    "Judge",
    "JudgeResult",
    "PromptSet",
    "parse_answer",
    "parse_l1",
    "parse_l2",
]
