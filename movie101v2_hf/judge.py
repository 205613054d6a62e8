"""LLM-judged scores of Movie101v2: L1 (visual facts: Environment and Characters) and L2 (plot).

The judge reads a reference narration and a candidate and answers with integers 0-5: `E,C` for L1,
one integer for L2. Scores are reported rescaled to 0-100 (`score / 5 * 100`).

- Prompts: the official ones ship with the release (`Movie101v2/evaluation/prompt/{L1,L2}_{en,zh}.txt`)
  and are read from the user's copy (`PromptSet.from_release`); results made with them are marked
  official. Without them the package's own templates for the same rubric and answer format are used.
- Backends behind one interface (`JudgeBackend.generate`): `OpenAIJudge` (any OpenAI-compatible server),
  `TransformersJudge` (a local model) and `VLLMJudge` (offline vLLM, with structured output).
- Answers are parsed leniently (`parse_l1`, `parse_l2`); an unparseable or out-of-range answer is asked
  again once, then counted invalid and excluded, never scored 0.
- Judgments are cached in SQLite (`JudgmentCache`) by judge model, prompt version, metric, reference and
  candidate: a re-run makes no judge call and an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from . import __version__
from .openai_api import ChatClient, ChatRequestError

logger = logging.getLogger(__name__)

METRICS = ("l1", "l2")
# The paper's judges: DeepSeek-V2.5 for Chinese, Llama-3.1-70B-Instruct for English.
DEFAULT_JUDGE_MODELS = {"en": "meta-llama/Llama-3.1-70B-Instruct", "zh": "deepseek-ai/DeepSeek-V2.5"}
PACKAGE_PROMPT_VERSION = "movie101v2-hf-prompts-v1"
# What structured output allows the judge to write: the official answer formats.
ANSWER_REGEX = {"l1": r"[0-5],[0-5]", "l2": r"[0-5]"}

# The package's own templates: the same rubric and answer format as the paper's, in our words.
_PACKAGE_TEMPLATES = {
    ("l1", "en"): (
        "You are judging audio descriptions, the narration that tells blind and low-vision viewers what "
        "happens on screen in a movie.\n\n"
        "Compare the candidate narration of a clip with the reference narration of the same clip. Judge only "
        "whether the visual facts of the candidate are correct, on two aspects:\n"
        "1. Environment: are the scenes, objects and events of the reference described correctly and completely?\n"
        "2. Characters: are the same characters named as in the reference, with their actions and emotions "
        "described correctly and completely?\n\n"
        "Give each aspect an integer from 0 (wrong or missing) to 5 (correct and complete). Answer with the "
        "two integers separated by a comma, Environment first, for example: 2,4\n\n"
        "Reference narration:\n<gt>\nCandidate narration:\n<pred>\n\n"
        "Answer with the two scores only:"
    ),
    ("l2", "en"): (
        "You are judging audio descriptions, the narration that tells blind and low-vision viewers what "
        "happens on screen in a movie.\n\n"
        "Compare the candidate narration of a clip with the reference narration of the same clip. Judge only "
        "how well the candidate conveys the plot of the reference: what happens and why it matters to the "
        "story, regardless of wording and of visual detail.\n\n"
        "Give an integer from 0 (the plot is missing or wrong) to 5 (the plot is fully conveyed).\n\n"
        "Reference narration:\n<gt>\nCandidate narration:\n<pred>\n\n"
        "Answer with the score only:"
    ),
    ("l1", "zh"): (
        "你在评价电影的无障碍解说，即为视障观众讲述画面内容的解说词。\n\n"
        "请将待评价解说与同一片段的参考解说进行比较，只判断待评价解说中的视觉事实是否正确，分两个方面：\n"
        "1. 环境：参考解说中的场景、物体和事件是否被正确、完整地描述？\n"
        "2. 人物：提到的人物是否与参考解说一致，其动作和情绪是否被正确、完整地描述？\n\n"
        "每个方面给出0（错误或缺失）到5（正确且完整）的整数分，先环境后人物，用逗号隔开，例如：2,4\n\n"
        "参考解说：\n<gt>\n待评价解说：\n<pred>\n\n只输出两个分数："
    ),
    ("l2", "zh"): (
        "你在评价电影的无障碍解说，即为视障观众讲述画面内容的解说词。\n\n"
        "请将待评价解说与同一片段的参考解说进行比较，只判断待评价解说对参考解说中剧情的传达程度："
        "发生了什么、对故事意味着什么，不考虑措辞和视觉细节。\n\n"
        "给出0（剧情缺失或错误）到5（剧情完整传达）的整数分。\n\n"
        "参考解说：\n<gt>\n待评价解说：\n<pred>\n\n只输出分数："
    ),
}


# -- prompts ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromptSet:
    """The judge prompt templates of one language, with the version recorded in every result.

    Example:
        >>> prompts = PromptSet.packaged("en")
        >>> prompts.version, prompts.official
        ('movie101v2-hf-prompts-v1-en', False)
        >>> prompts.render("l2", reference="He runs.", candidate="He walks.").endswith("Answer with the score only:")
        True
    """

    language: str
    templates: dict[str, str]
    version: str
    official: bool

    @classmethod
    def packaged(cls, language: str) -> PromptSet:
        """The package's own templates (not the official prompts: results are not paper-comparable)."""
        _check_language(language)
        templates = {m: _PACKAGE_TEMPLATES[(m, language)] for m in METRICS}
        return cls(language, templates, f"{PACKAGE_PROMPT_VERSION}-{language}", False)

    @classmethod
    def from_release(cls, path: str | Path, language: str) -> PromptSet:
        """The official prompts from a copy of the release: its root, `Movie101v2/evaluation/prompt`, or a folder
        holding `L1_<lang>.txt` and `L2_<lang>.txt`. The version names the files' content hash."""
        _check_language(language)
        path = Path(path)
        for folder in (path, path / "Movie101v2" / "evaluation" / "prompt", path / "evaluation" / "prompt"):
            files = {m: folder / f"{m.upper()}_{language}.txt" for m in METRICS}
            if all(f.is_file() for f in files.values()):
                break
        else:
            raise FileNotFoundError(
                f"No official judge prompts under {path}: expected Movie101v2/evaluation/prompt/L1_{language}.txt and "
                f"L2_{language}.txt (the release's root, or the prompt folder itself)."
            )
        templates = {m: f.read_text("utf-8") for m, f in files.items()}
        for metric, template in templates.items():
            if "<gt>" not in template or "<pred>" not in template:
                raise ValueError(f"{files[metric]}: the template has no <gt> or <pred> placeholder.")
        digest = hashlib.sha256("\0".join(templates[m] for m in METRICS).encode()).hexdigest()[:12]
        return cls(language, templates, f"official-{language}-{digest}", True)

    def render(self, metric: str, *, reference: str, candidate: str) -> str:
        """The prompt for one pair: `<gt>` and `<pred>` replaced in that order, as the official script does."""
        return self.templates[metric].replace("<gt>", reference).replace("<pred>", candidate)


def _check_language(language: str) -> None:
    if language not in ("en", "zh"):
        raise ValueError(f"Invalid language {language!r}; expected 'en' or 'zh'.")


# -- parsing ------------------------------------------------------------------------------------------------------

_SEP = r"\s*[,，、/;；]\s*|\s+"
_L1_PLAIN = re.compile(rf"^\W*?(\d+)(?:{_SEP})(\d+)(?!\d)")
_L1_ENV = re.compile(r"(?:environment|env|环境)\W{0,3}?(\d+)", re.IGNORECASE)
_L1_CHAR = re.compile(r"(?:characters?|char|人物|角色)\W{0,3}?(\d+)", re.IGNORECASE)
_L2_PLAIN = re.compile(r"^\W*?(\d+)(?![\d.,，]\d)")
_L2_LABEL = re.compile(r"(?:score|分数|评分|得分)\W{0,3}?(\d+)", re.IGNORECASE)


def parse_l1(answer: str) -> tuple[int, int] | None:
    """(Environment, Characters) from a judge's answer, or None when it is unparseable or out of 0-5.

    Example:
        >>> parse_l1("3，5"), parse_l1("Environment: 3, Characters: 5"), parse_l1("4,2. The candidate misses ...")
        ((3, 5), (3, 5), (4, 2))
        >>> parse_l1("7,2") is None, parse_l1("good") is None
        (True, True)
    """
    text = answer.strip()
    env, char = _L1_ENV.search(text), _L1_CHAR.search(text)
    if env and char:
        scores = (int(env.group(1)), int(char.group(1)))
    elif match := _L1_PLAIN.match(text):
        scores = (int(match.group(1)), int(match.group(2)))
    else:
        return None
    return scores if all(0 <= s <= 5 for s in scores) else None


def parse_l2(answer: str) -> int | None:
    """The plot score from a judge's answer, or None when it is unparseable or out of 0-5.

    Example:
        >>> parse_l2("4"), parse_l2("Score: 3 - the main event is there"), parse_l2("2. Misses the point")
        (4, 3, 2)
        >>> parse_l2("8") is None, parse_l2("3,4") is None
        (True, True)
    """
    text = answer.strip()
    match = _L2_LABEL.search(text) or _L2_PLAIN.match(text)
    if match is None:
        return None
    score = int(match.group(1))
    return score if 0 <= score <= 5 else None


def parse_answer(metric: str, answer: str | None) -> dict[str, int] | None:
    """Parsed scores as a dict (`{"env", "char"}` or `{"plot"}`), None for a missing or bad answer."""
    if answer is None:
        return None
    if metric == "l1":
        l1 = parse_l1(answer)
        return None if l1 is None else {"env": l1[0], "char": l1[1]}
    l2 = parse_l2(answer)
    return None if l2 is None else {"plot": l2}


# -- the cache ----------------------------------------------------------------------------------------------------


class JudgmentCache:
    """Judgments on disk (SQLite, WAL), keyed by judge model, prompt version, metric, reference and candidate.

    Each judgment is committed as it arrives, so a killed run loses nothing and a re-run asks the judge
    only what is missing. Failed requests are not stored (the next run asks again); unparseable answers
    are, with `scores` null (the judge's answer is what it is).

    Example:
        >>> cache = JudgmentCache(":memory:")
        >>> cache.put("m", "v1", "l2", "ref", "cand", "4", {"plot": 4})
        >>> cache.get("m", "v1", "l2", "ref", "cand")
        ('4', {'plot': 4})
    """

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS judgments (key TEXT PRIMARY KEY, judge_model TEXT, prompt_version TEXT, "
            "metric TEXT, answer TEXT, scores TEXT, created REAL)"
        )
        self._db.commit()

    @staticmethod
    def key(judge_model: str, prompt_version: str, metric: str, reference: str, candidate: str) -> str:
        parts = json.dumps([judge_model, prompt_version, metric, reference, candidate], ensure_ascii=False)
        return hashlib.sha256(parts.encode()).hexdigest()

    def get(self, judge_model: str, prompt_version: str, metric: str, reference: str, candidate: str):
        """`(answer, scores)` of a stored judgment, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT answer, scores FROM judgments WHERE key = ?",
                (self.key(judge_model, prompt_version, metric, reference, candidate),),
            ).fetchone()
        return None if row is None else (row[0], json.loads(row[1]) if row[1] else None)

    def put(self, judge_model: str, prompt_version: str, metric: str, reference: str, candidate: str,
            answer: str, scores: dict[str, int] | None) -> None:  # fmt: skip
        """Store one judgment and commit it."""
        key = self.key(judge_model, prompt_version, metric, reference, candidate)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO judgments VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    judge_model,
                    prompt_version,
                    metric,
                    answer,
                    json.dumps(scores) if scores else None,
                    time.time(),
                ),
            )
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM judgments").fetchone()[0]

    def close(self) -> None:
        self._db.close()


# -- backends -----------------------------------------------------------------------------------------------------


class JudgeBackend(Protocol):
    """What a judge backend does: answer a batch of prompts (None for a request that finally failed)."""

    name: str
    model: str

    def generate(self, prompts: Sequence[str], *, metric: str) -> list[str | None]: ...


@dataclass
class OpenAIJudge:
    """Any OpenAI-compatible chat endpoint: vLLM's server, SGLang, TGI, `transformers serve`, hosted APIs.

    Requests run concurrently (at most `concurrency` at a time); 429, 5xx, timeouts and connection errors
    are retried with exponential backoff (honouring `Retry-After`), and a sample that still fails gets None:
    the run goes on. The API key is read from the environment variable `api_key_env` and never printed.

    Example:
        >>> judge = OpenAIJudge(model="meta-llama/Llama-3.1-70B-Instruct", base_url="http://localhost:8000/v1")
        >>> judge.generate(["...prompt..."], metric="l2")  # doctest: +SKIP
        ['4']
    """

    model: str
    base_url: str = "http://localhost:8000/v1"
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 16
    max_retries: int = 4
    timeout: float = 120.0
    backoff: float = 1.0
    max_tokens: int = 16
    structured_output: bool = False
    name: str = field(default="openai", init=False)

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIJudge(model={self.model!r}, base_url={self.base_url!r}, concurrency={self.concurrency})"

    def generate(self, prompts: Sequence[str], *, metric: str) -> list[str | None]:
        client = ChatClient(self.base_url, self.api_key_env, self.max_retries, self.timeout, self.backoff)

        def one(prompt: str) -> str | None:
            body: dict[str, Any] = {
                "model": self.model,
                "messages": [{"role": "user", "content": prompt}],
                "temperature": 0,
                "max_tokens": self.max_tokens,
            }
            if self.structured_output:  # vLLM / SGLang servers: the judge can only write the expected format
                body["structured_outputs"] = {"regex": ANSWER_REGEX[metric]}
            try:
                return client.complete(body)
            except ChatRequestError as err:  # the sample gets None and the run goes on
                logger.warning("judge request failed: %s", err)
                return None

        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            return list(pool.map(one, prompts))


@dataclass
class TransformersJudge:
    """A local `transformers` causal LM as judge, batched greedy generation with the model's chat template.

    Example:
        >>> judge = TransformersJudge(model="path/to/Llama-3.1-8B-Instruct", batch_size=8)  # doctest: +SKIP
    """

    model: str
    batch_size: int = 8
    max_new_tokens: int = 16
    device: str | None = None
    dtype: str = "auto"
    name: str = field(default="transformers", init=False)

    def _load(self) -> tuple[Any, Any]:
        if not hasattr(self, "_loaded"):
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(self.model, padding_side="left")
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            model = AutoModelForCausalLM.from_pretrained(self.model, dtype=self.dtype).to(device).eval()
            self._loaded = (tokenizer, model)
        return self._loaded

    def generate(self, prompts: Sequence[str], *, metric: str) -> list[str | None]:
        import torch

        tokenizer, model = self._load()
        answers: list[str | None] = []
        for begin in range(0, len(prompts), self.batch_size):
            batch = list(prompts[begin : begin + self.batch_size])
            if tokenizer.chat_template:
                batch = [
                    tokenizer.apply_chat_template(
                        [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
                    )
                    for p in batch
                ]
            inputs = tokenizer(
                batch, return_tensors="pt", padding=True, add_special_tokens=not tokenizer.chat_template
            )
            inputs = inputs.to(model.device)
            with torch.inference_mode():
                output = model.generate(
                    **inputs, max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
                )
            new_tokens = output[:, inputs["input_ids"].shape[1] :]
            answers += tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        return answers


@dataclass
class VLLMJudge:
    """Offline vLLM (`vllm.LLM`) as judge: batched, greedy, with structured output so that the judge can
    only write `E,C` (L1) or one digit (L2). Needs the `vllm` extra and a GPU.

    Example:
        >>> judge = VLLMJudge(model="meta-llama/Llama-3.1-70B-Instruct", tensor_parallel_size=4)  # doctest: +SKIP
    """

    model: str
    tensor_parallel_size: int = 1
    max_model_len: int | None = 8192
    llm_kwargs: dict[str, Any] = field(default_factory=dict)
    name: str = field(default="vllm", init=False)

    def _llm(self) -> Any:
        if not hasattr(self, "_engine"):
            from .errors import require

            require("vllm", extra="vllm", feature="The vllm judge backend")
            from vllm import LLM

            self._engine = LLM(
                model=self.model, tensor_parallel_size=self.tensor_parallel_size, max_model_len=self.max_model_len,
                **self.llm_kwargs,
            )  # fmt: skip
        return self._engine

    def generate(self, prompts: Sequence[str], *, metric: str) -> list[str | None]:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        params = SamplingParams(
            temperature=0, max_tokens=8, structured_outputs=StructuredOutputsParams(regex=ANSWER_REGEX[metric])
        )
        conversations = [[{"role": "user", "content": prompt}] for prompt in prompts]
        outputs = self._llm().chat(conversations, params, use_tqdm=False)
        return [output.outputs[0].text if output.outputs else None for output in outputs]


def make_backend(backend: str, model: str, **options: Any) -> JudgeBackend:
    """A judge backend by name: `openai`, `transformers` or `vllm`.

    Example:
        >>> make_backend("openai", "my-judge", base_url="http://127.0.0.1:8000/v1").name
        'openai'
    """
    backends = {"openai": OpenAIJudge, "transformers": TransformersJudge, "vllm": VLLMJudge}
    if backend not in backends:
        raise ValueError(f"Unknown judge backend {backend!r}; choose one of {sorted(backends)}.")
    return backends[backend](model=model, **options)


# -- scoring ------------------------------------------------------------------------------------------------------


@dataclass
class JudgeResult:
    """Scores of one metric over a set of pairs, with what produced them.

    `per_sample[i]` is `{"env", "char"}` (L1) or `{"plot"}` (L2), or None when the judgment was invalid
    (unparseable after one retry) or failed (the request never succeeded); those are excluded from the
    aggregate, never scored 0.
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

    def provenance(self) -> dict[str, Any]:
        """What every result file records about how the scores were made."""
        return {
            "judge_model": self.judge_model,
            "judge_backend": self.backend,
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
        backend: a `JudgeBackend` (`make_backend("openai", model, base_url=...)`, ...).
        prompts: a `PromptSet` (`PromptSet.from_release(release, "en")` for the official prompts).
        cache: a `JudgmentCache`, or None to judge everything every time.
        chunk_size: pairs sent to the backend at once; the cache is written after each chunk.

    Example:
        >>> judge = Judge(make_backend("openai", "judge", base_url=url), PromptSet.packaged("en"))  # doctest: +SKIP
        >>> judge.score("l1", ["He runs home."], ["Li Lei runs home."]).scores  # doctest: +SKIP
        {'L1-Env': 80.0, 'L1-Char': 60.0, 'L1': 70.0}
    """

    backend: JudgeBackend
    prompts: PromptSet
    cache: JudgmentCache | None = None
    chunk_size: int = 256
    show_progress: bool = True

    def score(self, metric: str, predictions: Sequence[str], references: Sequence[str]) -> JudgeResult:
        """Judge each (prediction, reference) pair on `metric` (`"l1"` or `"l2"`)."""
        from tqdm.auto import tqdm

        if metric not in METRICS:
            raise ValueError(f"Invalid metric {metric!r}; expected one of {METRICS}.")
        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions but {len(references)} references; they must pair up.")
        model, version = self.backend.model, self.prompts.version
        answers: list[str | None] = [None] * len(predictions)
        scores: list[dict[str, int] | None] = [None] * len(predictions)
        todo = []
        for i, (candidate, reference) in enumerate(zip(predictions, references)):
            cached = self.cache.get(model, version, metric, reference, candidate) if self.cache else None
            if cached is None:
                todo.append(i)
            else:
                answers[i], scores[i] = cached
        calls = failed = 0
        with tqdm(total=len(predictions), initial=len(predictions) - len(todo), desc=f"judging {metric.upper()}",
                  unit="pair", disable=not self.show_progress) as progress:  # fmt: skip
            for begin in range(0, len(todo), self.chunk_size):
                chunk = todo[begin : begin + self.chunk_size]
                pending = chunk
                for _ in range(2):  # the first answer, and one retry for the unparseable ones
                    prompts = [
                        self.prompts.render(metric, reference=references[i], candidate=predictions[i]) for i in pending
                    ]
                    replies = self.backend.generate(prompts, metric=metric)
                    calls += len(pending)
                    for i, reply in zip(pending, replies):
                        answers[i], scores[i] = reply, parse_answer(metric, reply)
                    pending = [i for i in pending if scores[i] is None and answers[i] is not None]
                    if not pending:
                        break
                for i in chunk:
                    if answers[i] is None:
                        failed += 1  # not cached: the next run asks again
                    elif self.cache is not None:
                        self.cache.put(model, version, metric, references[i], predictions[i], answers[i], scores[i])
                progress.update(len(chunk))
        invalid = sum(1 for a, s in zip(answers, scores) if a is not None and s is None)
        return JudgeResult(
            metric=metric, per_sample=scores, answers=answers, num_invalid=invalid, num_failed=failed,
            judge_model=model, backend=self.backend.name, prompt_version=version,
            official_prompts=self.prompts.official, judge_calls=calls,
        )  # fmt: skip
