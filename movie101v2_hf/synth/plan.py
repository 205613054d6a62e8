"""`movie101v2 synth plan`: an LLM writes synthetic movies, after MovieLLM (arXiv 2403.01422), on open models.

For each theme the LLM writes one movie as JSON of a fixed shape (`MoviePlan`, a pydantic model whose JSON schema
is sent as structured output where the backend offers it): title, overview, style keywords, characters with a
visual description, scenes each with a keyframe description and a Movie101v2-style narration paragraph (the
characters by name, what is on screen, the plot), and QA pairs about the overview, the plot, the temporal order
and the characters. An answer that is not valid JSON of that shape, or breaks its rules (a scene naming someone
outside the cast, a missing QA kind), is asked again once with the error, then recorded as failed.

The run keeps the run layer's contract (`plans.jsonl`, one line per movie, resumable), and every valid answer goes
to the response cache keyed by the request, so a rerun with `--overwrite` costs no call for them.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from ..llm import AnswerFormat, Outcome, RoundPolicy, Rounds, TextLLM
from ..llm.options import LLMOptions
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
class PlanOptions(LLMOptions):
    """Every option of `movie101v2 synth plan` (the command line is built from these fields; the LLM's are
    `LLMOptions`'s). Defaults for the planner: answers up to 4096 tokens, 8 requests at once, 300 s each."""

    themes: str = field(metadata={"help": "A text file, one movie theme per line."})
    out: str = field(metadata={"help": "Folder for plans.jsonl (one movie a line; a rerun resumes)."})
    scenes: int = field(default=6, metadata={"help": "Scenes (keyframes) per movie."})
    language: str = field(default="en", metadata={"help": "Narration language.", "choices": ("en", "zh")})
    overwrite: bool = field(default=False, metadata={"help": "Start again instead of resuming."})

    def build_backend(self) -> TextLLM:
        return self.build(max_tokens=4096, concurrency=8, timeout=300.0)


def _movie_id(number: int) -> str:
    return f"synth-{number:05d}"


def plan_movies(options: PlanOptions, *, backend: TextLLM | None = None) -> RunRecord:
    """Write one `MoviePlan` per theme into `OUT/plans.jsonl` (see the module).

    Example:
        >>> with ScriptedJudgeServer() as server:  # it answers a plan prompt with a valid plan
        ...     record = plan_movies(PlanOptions(themes=themes_file, out=str(tmp / "synth"), model="planner",
        ...                                      base_url=server.url, scenes=2, cache=str(tmp / "c.sqlite")))
        >>> record.complete, record.num_written
        (True, 1)
    """
    themes = read_themes(options.themes)
    backend = backend or options.build_backend()
    out = Path(options.out) / "plans.jsonl"
    settings = {
        "themes": list(themes),
        "model": backend.model,
        "backend": backend.name,
        "scenes": options.scenes,
        "language": options.language,
        "prompt_version": PLAN_PROMPT_VERSION,
    }
    ids = [_movie_id(k) for k in range(len(themes))]
    inputs = {"--themes": options.themes, "--cache": options.cache}
    with ResumableRun(
        out, settings, ids, job="synth plan", key="movie_id", overwrite=options.overwrite, inputs=inputs
    ) as run:
        pending = list(run.pending)
        prompts = [plan_prompt(themes[k], scenes=options.scenes, language=options.language) for k in pending]

        def settled(index: int, outcome: Outcome) -> None:  # under the round loop's lock, as each plan arrives
            name = ids[pending[index]]
            if outcome.failed:
                run.fail(name, "the LLM request failed (a rerun asks again)")
            elif not outcome.valid:
                run.fail(name, f"invalid plan after a second ask: {outcome.error}")
            else:
                run.write([{"movie_id": name, "theme": themes[pending[index]], "plan": outcome.value}])

        Rounds(
            backend,
            lambda _, answer: parse_plan(answer, scenes=options.scenes).model_dump(),
            answer_format=AnswerFormat.of_schema("movie_plan", MoviePlan.model_json_schema()),
            cache=options.response_cache(),
            # an invalid plan is asked again with the error, and not cached: the next run asks it afresh
            policy=RoundPolicy(asks=2, cache_invalid=False, follow_up=_follow_up),
            purpose="movie_plan",
            on_settled=settled,
        ).ask(prompts)
    return run.record


def _follow_up(prompt: str, error: str) -> str:
    return f"{prompt}\n\nYour previous answer was not valid ({error}). Answer again."
