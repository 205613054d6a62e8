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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from . import __version__
from .errors import JudgeUnavailableError, require
from .openai_api import ChatClient, ChatRequestError
from .utils.io import cache_home, read_text

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
        templates = {m: read_text(f, what="judge prompt") for m, f in files.items()}
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
# A judge answers "E,C" or "S" when it follows the prompt, and a dozen other forms when it does not. The rules:
# a score written over 5 ("2/5", "2 out of 5") is its numerator; labelled scores ("Environment: 2", "E=2",
# "环境：2") are read by label; otherwise the answer must open with the score(s). A negative number, a decimal,
# a score over another denominator, a third number in the opening list or a value outside 0-5 makes the answer
# invalid: it is re-asked, then counted invalid, never read as another number.

_OVER_FIVE = re.compile(r"(?<![\d.])(\d+)\s*(?:/|out\s+of|of)\s*5(?![\d.])", re.IGNORECASE)
_OTHER_DENOMINATOR = re.compile(r"\d\s*(?:/|out\s+of)\s*\d")
_NEGATIVE = re.compile(r"(?<![\w.])[-−]\s*\d")
_DECIMAL = re.compile(r"\d\.\d")
_NUMBER = r"\s*(?:[:=：]|is|为|是)?\s*\**\s*(\d+)"
_L1_ENV = re.compile(rf"(?<![A-Za-z])(?:environment|env|e)(?![A-Za-z]){_NUMBER}|环境{_NUMBER}", re.IGNORECASE)
_L1_CHAR = re.compile(
    rf"(?<![A-Za-z])(?:characters?|chars?|c)(?![A-Za-z]){_NUMBER}|(?:人物|角色){_NUMBER}", re.IGNORECASE
)
_L2_LABEL = re.compile(
    rf"(?<![A-Za-z])(?:score|plot|l2)(?![A-Za-z]){_NUMBER}|(?:分数|评分|得分|剧情){_NUMBER}", re.IGNORECASE
)
_SEP = r"\s*[,，、;；]\s*|\s+"
_OPENING_NUMBERS = re.compile(rf"^[^\w-]*?(\d+(?:(?:{_SEP})\d+)*)(?!\w)")


def _normalise(answer: str) -> str | None:
    """The answer with scores over 5 reduced to their numerator; None when it holds a form that cannot be read
    safely (negative, decimal, another denominator)."""
    text = _OVER_FIVE.sub(r"\1", answer.strip())
    if _NEGATIVE.search(text) or _OTHER_DENOMINATOR.search(text):
        return None
    if _DECIMAL.search(text):  # "3.5" is not an integer score ("4,2" is two scores: a comma never counts)
        return None
    return text


def _labelled(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    return None if match is None else int(next(g for g in match.groups() if g is not None))


def _opening_numbers(text: str) -> list[int]:
    match = _OPENING_NUMBERS.match(text)
    return [] if match is None else [int(n) for n in re.split(_SEP, match.group(1))]


def parse_l1(answer: str) -> tuple[int, int] | None:
    """(Environment, Characters) from a judge's answer, or None when it cannot be read safely or is out of 0-5.

    Example:
        >>> parse_l1("3，5"), parse_l1("Environment: 3, Characters: 5"), parse_l1("4,2. The candidate misses ...")
        ((3, 5), (3, 5), (4, 2))
        >>> parse_l1("2/5, 4/5"), parse_l1("E=2 C=4")
        ((2, 4), (2, 4))
        >>> parse_l1("7,2"), parse_l1("good"), parse_l1("-1"), parse_l1("3.5, 4"), parse_l1("3,4,5")
        (None, None, None, None, None)
    """
    text = _normalise(answer)
    if text is None:
        return None
    env, char = _labelled(_L1_ENV, text), _labelled(_L1_CHAR, text)
    if env is not None and char is not None:
        scores = (env, char)
    else:
        numbers = _opening_numbers(text)
        if len(numbers) != 2:
            return None
        scores = (numbers[0], numbers[1])
    return scores if all(0 <= s <= 5 for s in scores) else None


def parse_l2(answer: str) -> int | None:
    """The plot score from a judge's answer, or None when it cannot be read safely or is out of 0-5.

    Example:
        >>> parse_l2("4"), parse_l2("Score: 3 - the main event is there"), parse_l2("2. Misses the point")
        (4, 3, 2)
        >>> parse_l2("2 out of 5"), parse_l2("4/5")
        (2, 4)
        >>> parse_l2("8"), parse_l2("3,4"), parse_l2("-1"), parse_l2("3.5"), parse_l2("7/10")
        (None, None, None, None, None)
    """
    text = _normalise(answer)
    if text is None:
        return None
    score = _labelled(_L2_LABEL, text)
    if score is None:
        numbers = _opening_numbers(text)
        if len(numbers) != 1:
            return None
        score = numbers[0]
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


def default_cache_path() -> Path:
    """The user's judgment cache: `<cache_home()>/judgments.sqlite` (`$MOVIE101V2_HF_CACHE` moves it).

    One cache for every run: re-evaluating the same predictions into a new folder, or a second model that
    writes the same narration, costs no judge call.
    """
    return cache_home() / "judgments.sqlite"


# column -> SQL type; columns after the first seven were added later and are added to older caches on open
_CACHE_COLUMNS = {
    "key": "TEXT PRIMARY KEY", "judge_model": "TEXT", "prompt_version": "TEXT", "metric": "TEXT", "answer": "TEXT",
    "scores": "TEXT", "created": "REAL", "backend": "TEXT", "endpoint": "TEXT", "answered_by": "TEXT",
    "package_version": "TEXT",
}  # fmt: skip


@dataclass(frozen=True)
class CachedJudgment:
    """A stored judgment: the judge's answer, its parsed scores (None when invalid) and who answered."""

    answer: str
    scores: dict[str, int] | None
    backend: str | None = None
    endpoint: str | None = None
    answered_by: str | None = None


class JudgmentCache:
    """Judgments on disk (SQLite, WAL), keyed by judge model, prompt version, metric, reference and candidate.

    Each judgment is committed the moment it arrives, so a killed run loses nothing and a re-run asks the
    judge only what is missing. Failed requests are not stored (the next run asks again); unparseable answers
    are, with `scores` null, and are asked again by the next run unless it keeps them. Every row records which
    judge answered: the backend, its endpoint and the model the server named in its reply. Several processes
    may share one cache.

    Example:
        >>> cache = JudgmentCache(":memory:")
        >>> cache.put("m", "v1", "l2", "ref", "cand", "4", {"plot": 4}, backend="openai", answered_by="m-0905")
        >>> cache.get("m", "v1", "l2", "ref", "cand")
        CachedJudgment(answer='4', scores={'plot': 4}, backend='openai', endpoint=None, answered_by='m-0905')
    """

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        self._lock = threading.Lock()
        # a writer of another process holds the lock for a few ms per judgment: wait for it, do not fail
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        columns = ", ".join(f"{name} {kind}" for name, kind in _CACHE_COLUMNS.items())
        self._db.execute(f"CREATE TABLE IF NOT EXISTS judgments ({columns})")
        present = {row[1] for row in self._db.execute("PRAGMA table_info(judgments)")}
        for name, kind in _CACHE_COLUMNS.items():
            if name not in present:  # a cache written by an older version of the package
                self._db.execute(f"ALTER TABLE judgments ADD COLUMN {name} {kind}")
        self._db.commit()

    @staticmethod
    def key(judge_model: str, prompt_version: str, metric: str, reference: str, candidate: str) -> str:
        parts = json.dumps([judge_model, prompt_version, metric, reference, candidate], ensure_ascii=False)
        return hashlib.sha256(parts.encode()).hexdigest()

    def get(self, judge_model: str, prompt_version: str, metric: str, reference: str, candidate: str
            ) -> CachedJudgment | None:  # fmt: skip
        """The stored judgment, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT answer, scores, backend, endpoint, answered_by FROM judgments WHERE key = ?",
                (self.key(judge_model, prompt_version, metric, reference, candidate),),
            ).fetchone()
        if row is None:
            return None
        answer, scores, backend, endpoint, answered_by = row
        return CachedJudgment(answer, json.loads(scores) if scores else None, backend, endpoint, answered_by)

    def put(self, judge_model: str, prompt_version: str, metric: str, reference: str, candidate: str,
            answer: str, scores: dict[str, int] | None, *, backend: str | None = None, endpoint: str | None = None,
            answered_by: str | None = None) -> None:  # fmt: skip
        """Store one judgment and commit it (a later answer to the same pair replaces it)."""
        row = {
            "key": self.key(judge_model, prompt_version, metric, reference, candidate), "judge_model": judge_model,
            "prompt_version": prompt_version, "metric": metric, "answer": answer,
            "scores": json.dumps(scores) if scores else None, "created": time.time(), "backend": backend,
            "endpoint": endpoint, "answered_by": answered_by, "package_version": __version__,
        }  # fmt: skip
        names = ", ".join(row)
        with self._lock:
            self._db.execute(f"INSERT OR REPLACE INTO judgments ({names}) VALUES ({', '.join('?' * len(row))})",
                             tuple(row.values()))  # fmt: skip
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM judgments").fetchone()[0]

    def close(self) -> None:
        self._db.close()


# -- backends -----------------------------------------------------------------------------------------------------

# Called by a backend for each answer as soon as it has it: (index of the prompt, answer or None when the
# request failed for good, the model the server says answered or None).
OnAnswer = Callable[[int, "str | None", "str | None"], None]


class JudgeBackend(Protocol):
    """What a judge backend does: answer a batch of prompts, reporting each answer through `on_answer` the moment
    it arrives (None for a request that finally failed), so that the caller can store it at once."""

    name: str
    model: str
    endpoint: str | None

    def generate(self, prompts: Sequence[str], *, metric: str, on_answer: OnAnswer | None = None
                 ) -> list[str | None]: ...  # fmt: skip


@dataclass
class OpenAIJudge:
    """Any OpenAI-compatible chat endpoint: vLLM's server, SGLang, TGI, `transformers serve`, hosted APIs.

    Requests run concurrently (at most `concurrency` at a time); 429, 5xx, timeouts and connection errors
    are retried `max_retries` times with exponential backoff (honouring `Retry-After`), and a sample that still
    fails gets None: the run goes on. When `max_consecutive_failures` requests in a row fail that way, the server
    is taken to be down or hanging and `generate` stops early with `JudgeUnavailableError` naming the URL, so a
    run fails in bounded time (about `(max_retries + 1) * timeout` plus the backoff) instead of waiting on every
    pair. The API key is read from the environment variable `api_key_env` and never printed.

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
    max_consecutive_failures: int = 3
    name: str = field(default="openai", init=False)

    @property
    def endpoint(self) -> str:
        return self.base_url

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIJudge(model={self.model!r}, base_url={self.base_url!r}, concurrency={self.concurrency})"

    def generate(self, prompts: Sequence[str], *, metric: str, on_answer: OnAnswer | None = None
                 ) -> list[str | None]:  # fmt: skip
        client = ChatClient(self.base_url, self.api_key_env, self.max_retries, self.timeout, self.backoff)
        stop = threading.Event()
        lock = threading.Lock()
        state = {"consecutive": 0, "last": ""}

        def one(index: int) -> str | None:
            if stop.is_set():  # the server is down: do not queue more waiting on it
                return None
            body: dict[str, Any] = {
                "model": self.model,
                "messages": [{"role": "user", "content": prompts[index]}],
                "temperature": 0,
                "max_tokens": self.max_tokens,
            }
            if self.structured_output:  # vLLM / SGLang servers: the judge can only write the expected format
                body["structured_outputs"] = {"regex": ANSWER_REGEX[metric]}
            try:
                reply = client.chat(body)
            except ChatRequestError as err:  # the sample gets None and the run goes on, unless the server is gone
                logger.warning("judge request failed: %s", err)
                with lock:
                    state["consecutive"] = state["consecutive"] + 1 if err.transient else 0
                    state["last"] = str(err)
                    if state["consecutive"] >= self.max_consecutive_failures:
                        stop.set()
                if on_answer is not None and not stop.is_set():
                    on_answer(index, None, None)
                return None
            with lock:
                state["consecutive"] = 0
            if on_answer is not None:
                on_answer(index, reply.text, reply.model)
            return reply.text

        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            answers = list(pool.map(one, range(len(prompts))))
        if stop.is_set():
            raise JudgeUnavailableError(
                f"the judge at {self.base_url} failed {state['consecutive']} requests in a row, each after "
                f"{self.max_retries + 1} attempts with a {self.timeout:g} s timeout (last: {state['last']}). Check that "
                "the server is up and serves this model (--judge-url, --judge-model); raise --judge-timeout for a "
                "slow one. Judgments received so far are cached: a re-run asks only for the rest."
            )
        return answers


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
    endpoint: str | None = field(default=None, init=False)

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

    def generate(self, prompts: Sequence[str], *, metric: str, on_answer: OnAnswer | None = None
                 ) -> list[str | None]:  # fmt: skip
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
            for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True):
                if on_answer is not None:
                    on_answer(len(answers), text, self.model)
                answers.append(text)
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
    batch_size: int = 256
    name: str = field(default="vllm", init=False)
    endpoint: str | None = field(default=None, init=False)

    def _llm(self) -> Any:
        if not hasattr(self, "_engine"):
            require("vllm", extra="vllm", feature="The vllm judge backend")
            from vllm import LLM

            self._engine = LLM(
                model=self.model, tensor_parallel_size=self.tensor_parallel_size, max_model_len=self.max_model_len,
                **self.llm_kwargs,
            )  # fmt: skip
        return self._engine

    def generate(self, prompts: Sequence[str], *, metric: str, on_answer: OnAnswer | None = None
                 ) -> list[str | None]:  # fmt: skip
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        params = SamplingParams(
            temperature=0, max_tokens=8, structured_outputs=StructuredOutputsParams(regex=ANSWER_REGEX[metric])
        )
        answers: list[str | None] = []
        # batches of `batch_size`: vLLM schedules each batch at full speed, and each batch's answers are stored
        # before the next one starts, so a killed run loses at most one batch of GPU work
        for begin in range(0, len(prompts), self.batch_size):
            conversations = [[{"role": "user", "content": p}] for p in prompts[begin : begin + self.batch_size]]
            for output in self._llm().chat(conversations, params, use_tqdm=False):
                text = output.outputs[0].text if output.outputs else None
                if on_answer is not None:
                    on_answer(len(answers), text, self.model)
                answers.append(text)
        return answers


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
        backend: a `JudgeBackend` (`make_backend("openai", model, base_url=...)`, ...).
        prompts: a `PromptSet` (`PromptSet.from_release(release, "en")` for the official prompts).
        cache: a `JudgmentCache` (`JudgmentCache(default_cache_path())` is the user's), or None to judge
            everything every time. Each answer is stored the moment it arrives.
        rejudge_invalid: ask again the pairs whose cached answer was invalid (default); False keeps them.
        show_progress: a progress bar per metric.

    Example:
        >>> judge = Judge(make_backend("openai", "judge", base_url=url), PromptSet.packaged("en"))  # doctest: +SKIP
        >>> judge.score("l1", ["He runs home."], ["Li Lei runs home."]).scores  # doctest: +SKIP
        {'L1-Env': 80.0, 'L1-Char': 60.0, 'L1': 70.0}
    """

    backend: JudgeBackend
    prompts: PromptSet
    cache: JudgmentCache | None = None
    rejudge_invalid: bool = True
    show_progress: bool = True

    def score(self, metric: str, predictions: Sequence[str], references: Sequence[str]) -> JudgeResult:
        """Judge each (prediction, reference) pair on `metric` (`"l1"` or `"l2"`).

        Raises:
            JudgeUnavailableError: the judge server is down or hanging (the answers received are cached).
        """
        from tqdm.auto import tqdm

        if metric not in METRICS:
            raise ValueError(f"Invalid metric {metric!r}; expected one of {METRICS}.")
        if len(predictions) != len(references):
            raise ValueError(f"{len(predictions)} predictions but {len(references)} references; they must pair up.")
        model, version, backend = self.backend.model, self.prompts.version, self.backend
        answers: list[str | None] = [None] * len(predictions)
        scores: list[dict[str, int] | None] = [None] * len(predictions)
        answered_by: set[str] = set()
        todo = []
        for i, (candidate, reference) in enumerate(zip(predictions, references)):
            cached = self.cache.get(model, version, metric, reference, candidate) if self.cache else None
            if cached is None or (cached.scores is None and self.rejudge_invalid):
                todo.append(i)
            else:
                answers[i], scores[i] = cached.answer, cached.scores
                answered_by.add(cached.answered_by or model)
        calls = 0
        lock = threading.Lock()
        with tqdm(total=len(predictions), initial=len(predictions) - len(todo), desc=f"judging {metric.upper()}",
                  unit="pair", disable=not self.show_progress) as progress:  # fmt: skip
            pending = todo
            for attempt in range(2):  # the first answer, and one more ask for the unparseable ones
                retry: list[int] = []

                def store(k: int, reply: str | None, by: str | None, batch: list[int] = pending,
                          retry: list[int] = retry, first: bool = attempt == 0) -> None:  # fmt: skip
                    # called as each answer arrives (from the backend's threads): durable before the next one
                    i = batch[k]
                    parsed = parse_answer(metric, reply)
                    with lock:
                        answers[i], scores[i] = reply, parsed
                        if reply is not None:
                            answered_by.add(by or model)
                        if reply is not None and parsed is None and first:
                            retry.append(i)
                        else:
                            progress.update(1)
                    if reply is not None and self.cache is not None:
                        self.cache.put(model, version, metric, references[i], predictions[i], reply, parsed,
                                       backend=backend.name, endpoint=backend.endpoint, answered_by=by)  # fmt: skip

                if not pending:
                    break
                prompts = [
                    self.prompts.render(metric, reference=references[i], candidate=predictions[i]) for i in pending
                ]
                calls += len(pending)
                backend.generate(prompts, metric=metric, on_answer=store)
                pending = sorted(retry)
        return JudgeResult(
            metric=metric, per_sample=scores, answers=answers,
            num_invalid=sum(1 for a, s in zip(answers, scores) if a is not None and s is None),
            num_failed=sum(1 for a in answers if a is None), judge_model=model, backend=backend.name,
            prompt_version=version, official_prompts=self.prompts.official, judge_calls=calls,
            endpoint=backend.endpoint, answered_by=sorted(answered_by),
        )  # fmt: skip
