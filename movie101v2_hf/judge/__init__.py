"""LLM-judged scores of Movie101v2: L1 (visual facts: Environment and Characters) and L2 (plot).

The judge reads a reference narration and a candidate and answers with integers 0-5: `E,C` for L1, one integer
for L2; scores are reported rescaled to 0-100 (`score / 5 * 100`).

- `prompts`: the official prompts from the user's copy of the release, or the package's own;
- `parsing`: answers read safely (an answer that cannot be read safely is invalid, never another number);
- `cache`: every judgment stored as it arrives, in one SQLite cache for the user;
- `backends`: `openai`, `transformers`, `vllm`, registered by name;
- `scoring`: `Judge.score` and `JudgeResult` (scores, counts, provenance, and whether they are final).
"""

from .backends import JUDGE_BACKENDS, JudgeBackend, OpenAIJudge, TransformersJudge, VLLMJudge, make_backend
from .cache import CachedJudgment, JudgmentCache, default_cache_path
from .parsing import ANSWER_REGEX, parse_answer, parse_l1, parse_l2
from .prompts import DEFAULT_JUDGE_MODELS, METRICS, PACKAGE_PROMPT_VERSION, PromptSet
from .scoring import DEFAULT_MAX_INVALID, Judge, JudgeResult

__all__ = [
    "ANSWER_REGEX",
    "DEFAULT_JUDGE_MODELS",
    "DEFAULT_MAX_INVALID",
    "JUDGE_BACKENDS",
    "METRICS",
    "PACKAGE_PROMPT_VERSION",
    "CachedJudgment",
    "Judge",
    "JudgeBackend",
    "JudgeResult",
    "JudgmentCache",
    "OpenAIJudge",
    "PromptSet",
    "TransformersJudge",
    "VLLMJudge",
    "default_cache_path",
    "make_backend",
    "parse_answer",
    "parse_l1",
    "parse_l2",
]
