"""`movie101v2 synth plan`: an LLM writes synthetic movies, after MovieLLM (arXiv 2403.01422), on open models.

For each theme the LLM writes one movie as JSON of a fixed shape (`MoviePlan`, a pydantic model whose JSON schema
is sent as structured output where the backend offers it): title, overview, style keywords, characters with a
visual description, scenes each with a keyframe description and a Movie101v2-style narration paragraph (the
characters by name, what is on screen, the plot), and QA pairs about the overview, the plot, the temporal order
and the characters. An answer that is not valid JSON of that shape, or breaks its rules (a scene naming someone
outside the cast, a missing QA kind), is asked again once with the error, then recorded as failed.

The run keeps the run layer's contract (`plans.jsonl`, one line per movie, resumable), and every valid answer goes
to the judgment cache keyed by the model and the prompt, so a rerun with `--overwrite` costs no call for them.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from ..judge import JUDGE_BACKENDS, JudgeBackend, JudgmentCache, default_cache_path, make_backend
from ..utils.io import read_text
from ..utils.runs import ResumableRun, RunRecord

logger = logging.getLogger(__name__)

PLAN_PROMPT_VERSION = "movie101v2-hf-synth-plan-v1"
QA_KINDS = ("overview", "plot", "temporal", "character")


class Character(BaseModel):
    name: str = Field(min_length=1, description="The character's name, as the narration uses it.")
    description: str = Field(min_length=1, description="What the character looks like, for the image model.")


class Scene(BaseModel):
    keyframe: str = Field(min_length=1, description="What the scene's keyframe shows, for the image model.")
    narration: str = Field(min_length=1, description="Audio description: who (by name) does what on screen.")
    characters: list[str] = Field(description="Names of the cast members on screen.")


class QAPair(BaseModel):
    kind: Literal["overview", "plot", "temporal", "character"]
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)


class MoviePlan(BaseModel):
    """One synthetic movie: what the image model draws and what training reads.

    Example:
        >>> plan = MoviePlan.model_validate({"title": "T", "overview": "O", "style": ["noir"],
        ...     "characters": [{"name": "Lin", "description": "a tall woman in a red coat"}],
        ...     "scenes": [{"keyframe": "a rainy street", "narration": "Lin walks in the rain.", "characters": ["Lin"]}],
        ...     "qa": [{"kind": k, "question": "?", "answer": "!"} for k in QA_KINDS]})
        >>> plan.title, len(plan.scenes)
        ('T', 1)
    """

    title: str = Field(min_length=1)
    overview: str = Field(min_length=1)
    style: list[str] = Field(min_length=1, description="Visual style keywords, the same for every keyframe.")
    characters: list[Character] = Field(min_length=1)
    scenes: list[Scene] = Field(min_length=1)
    qa: list[QAPair] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> MoviePlan:
        names = [character.name for character in self.characters]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"the characters list names {repeated} more than once; give each character its own name")
        cast = set(names)
        for number, scene in enumerate(self.scenes, start=1):
            strangers = [name for name in scene.characters if name not in cast]
            if strangers:
                raise ValueError(f"scene {number} names {strangers}, who are not in the characters list")
        missing = [kind for kind in QA_KINDS if kind not in {pair.kind for pair in self.qa}]
        if missing:
            raise ValueError(f"the qa list has no question of kind {missing}")
        return self


_PROMPT = """You are writing a short movie for a training set of movie narration (audio description).

Theme: {theme}

Write one movie as JSON with exactly these fields:
- title, overview (three sentences), style (3 to 6 visual style keywords, the same look for the whole movie);
- characters: 2 to 4, each with a name and a visual description (age, face, hair, clothes) an image model can draw;
- scenes: exactly {scenes}, in story order, each with keyframe (what one frame shows: place, light, who does what),
  narration (one paragraph in {language_name} in the style of audio description: the characters by name, what is
  on screen, the plot; no dialogue, no camera terms) and characters (the names on screen);
- qa: questions with short answers, at least one of each kind: overview, plot, temporal (which happens first),
  character.

The JSON schema:
{schema}

Answer with the JSON only."""
_LANGUAGE_NAMES = {"en": "English", "zh": "Chinese"}


def plan_prompt(theme: str, *, scenes: int = 6, language: str = "en") -> str:
    """The planner's prompt for one theme (the JSON schema included, for backends without structured output)."""
    schema = json.dumps(MoviePlan.model_json_schema(), ensure_ascii=False)
    return _PROMPT.format(theme=theme, scenes=scenes, language_name=_LANGUAGE_NAMES[language], schema=schema)


def parse_plan(answer: str, *, scenes: int | None = None) -> MoviePlan:
    """A `MoviePlan` from an answer (a JSON object, possibly inside a code fence).

    Raises:
        ValueError: the answer is not JSON of the plan's shape, or breaks its rules; the message says how.
    """
    text = answer.strip()
    fenced = re.search(r"```(?:json)?\s*(\{.*\})\s*```", text, flags=re.DOTALL)
    if fenced:
        text = fenced.group(1)
    try:
        plan = MoviePlan.model_validate_json(text)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'the answer'}: {e['msg']}" for e in err.errors()[:5])
        raise ValueError(problems) from None
    if scenes is not None and len(plan.scenes) != scenes:
        raise ValueError(f"{len(plan.scenes)} scenes, but exactly {scenes} were asked for")
    return plan


def read_themes(path: str | Path) -> list[str]:
    """Themes, one per non-blank line of a UTF-8 text file (`#` starts a comment line)."""
    themes = [line.strip() for line in read_text(path, what="themes file").splitlines()]
    themes = [line for line in themes if line and not line.startswith("#")]
    if not themes:
        raise ValueError(f"{path} holds no theme: write one theme per line.")
    return themes


@dataclass(kw_only=True)
class PlanOptions:
    """Every option of `movie101v2 synth plan` (the command line is built from these fields)."""

    themes: str = field(metadata={"help": "A text file, one movie theme per line."})
    out: str = field(metadata={"help": "Folder for plans.jsonl (one movie a line; a rerun resumes)."})
    model: str = field(metadata={"help": "The LLM (served name for openai, id or folder otherwise)."})
    backend: str = field(default="openai", metadata={"help": "Text LLM backend.", "choices": JUDGE_BACKENDS.names()})
    base_url: str = field(default="http://localhost:8000/v1", metadata={"help": "Server /v1 URL (openai)."})
    scenes: int = field(default=6, metadata={"help": "Scenes (keyframes) per movie."})
    language: str = field(default="en", metadata={"help": "Narration language.", "choices": ("en", "zh")})
    max_tokens: int = field(default=4096, metadata={"help": "Answer length cap."})
    concurrency: int = field(default=8, metadata={"help": "Concurrent requests (openai)."})
    timeout: float = field(default=300.0, metadata={"help": "Seconds per request attempt (openai)."})
    retries: int = field(default=4, metadata={"help": "Retries of a failed request (openai)."})
    cache: str | None = field(default=None, metadata={"help": "SQLite answer cache (default: the user's)."})
    overwrite: bool = field(default=False, metadata={"help": "Start again instead of resuming."})

    def build_backend(self) -> JudgeBackend:
        options: dict[str, Any] = {}
        if self.backend == "openai":
            options = {
                "base_url": self.base_url,
                "max_tokens": self.max_tokens,
                "concurrency": self.concurrency,
                "timeout": self.timeout,
                "max_retries": self.retries,
            }
        elif self.backend == "transformers":
            options = {"max_new_tokens": self.max_tokens, "batch_size": 1}
        else:
            options = {"max_tokens": self.max_tokens}
        return make_backend(self.backend, self.model, **options)


def _movie_id(number: int) -> str:
    return f"synth-{number:05d}"


def plan_movies(options: PlanOptions, *, backend: JudgeBackend | None = None) -> RunRecord:
    """Write one `MoviePlan` per theme into `OUT/plans.jsonl` (see the module).

    Example:
        >>> record = plan_movies(PlanOptions(themes="themes.txt", out="synth", model="Qwen/Qwen2.5-72B-Instruct"))  # doctest: +SKIP
    """
    themes = read_themes(options.themes)
    backend = backend or options.build_backend()
    cache = JudgmentCache(options.cache or default_cache_path())
    out = Path(options.out) / "plans.jsonl"
    settings = {
        "themes": [t for t in themes],
        "model": backend.model,
        "backend": backend.name,
        "scenes": options.scenes,
        "language": options.language,
        "prompt_version": PLAN_PROMPT_VERSION,
    }
    ids = [_movie_id(k) for k in range(len(themes))]
    schema = MoviePlan.model_json_schema()
    inputs = {"--themes": options.themes, "--cache": options.cache}
    with ResumableRun(
        out, settings, ids, job="synth plan", key="movie_id", overwrite=options.overwrite, inputs=inputs
    ) as run:
        todo = {ids[k]: plan_prompt(themes[k], scenes=options.scenes, language=options.language) for k in run.pending}
        planner = _Planner(run, backend, cache, themes={i: t for i, t in zip(ids, themes)}, scenes=options.scenes)
        for attempt in range(2):  # the first answer, and one more ask with the error for an invalid one
            if not todo:
                break
            todo = planner.round(todo, last=attempt == 1, schema=schema)
    return run.record


class _Planner:
    """One round of asking: cached plans first, then the backend; each answer is checked and stored the moment it
    arrives (a valid plan cached and written, from the backend's thread), so a kill loses no answer received."""

    def __init__(self, run: ResumableRun, backend: JudgeBackend, cache: JudgmentCache, *, themes, scenes) -> None:
        self.run, self.backend, self.cache = run, backend, cache
        self.themes, self.scenes = themes, scenes
        self._lock = threading.Lock()

    def round(self, todo: dict[str, str], *, last: bool, schema: dict) -> dict[str, str]:
        """Ask for every movie of `todo` (id -> prompt); returns the movies to ask again (id -> prompt)."""
        errors: dict[str, str | None] = {}
        asking = []
        for name, prompt in todo.items():
            cached = self.cache.get(
                judge_model=self.backend.model,
                prompt_version=PLAN_PROMPT_VERSION,
                metric="movie_plan",
                reference=prompt,
                candidate="",
            )
            if cached is not None:
                errors[name] = self._take(name, prompt, cached.answer, store=False)
            else:
                asking.append(name)

        def arrived(index: int, reply: str | None, answered_by: str | None) -> None:
            name = asking[index]
            errors[name] = "request failed" if reply is None else self._take(name, todo[name], reply, store=True)

        if asking:
            replies = self.backend.generate(
                [todo[n] for n in asking], metric="movie_plan", schema=schema, on_answer=arrived
            )
            for index, (name, reply) in enumerate(zip(asking, replies)):  # a backend that did not report as it went
                if name not in errors:
                    arrived(index, reply, None)
        retry = {}
        for name in todo:
            error = errors.get(name, "request failed")
            if error is None:
                continue
            if error == "request failed":
                self.run.fail(name, "the LLM request failed (a rerun asks again)")
            elif last:
                self.run.fail(name, f"invalid plan after a second ask: {error}")
            else:
                retry[name] = f"{todo[name]}\n\nYour previous answer was not valid ({error}). Answer again."
        return retry

    def _take(self, name: str, prompt: str, reply: str, *, store: bool) -> str | None:
        """Check one answer; a valid plan is cached (`store`) and written at once. Returns the error, or None."""
        try:
            plan = parse_plan(reply, scenes=self.scenes)
        except ValueError as err:
            return str(err)  # not cached: an invalid answer is asked again next time
        with self._lock:  # answers arrive on the backend's threads
            if store:
                self.cache.put(
                    judge_model=self.backend.model,
                    prompt_version=PLAN_PROMPT_VERSION,
                    metric="movie_plan",
                    reference=prompt,  # the planner's request is the whole key: no candidate
                    candidate="",
                    answer=reply,
                    scores={"valid": 1},
                    backend=self.backend.name,
                    endpoint=self.backend.endpoint,
                )
            self.run.write([{"movie_id": name, "theme": self.themes[name], "plan": plan.model_dump()}])
        return None
