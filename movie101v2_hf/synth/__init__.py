"""Synthetic movies for training, after MovieLLM (arXiv 2403.01422), on open models and the HF stack.

`plan`: an LLM writes each movie (title, overview, style, characters, scenes with keyframe descriptions and
Movie101v2-style narration, QA pairs) as validated structured output, cached and resumable; `draw`: the keyframes
and portraits with a `diffusers` pipeline, one style per movie, seeded and resumable per image; `dataset`: the
result as a script-free HF dataset (`narration`, `movies`, `qa`) that the SFT recipe trains on, and contact sheets.
"""

from .dataset import build_dataset, mix_with_movie101v2
from .draw import DrawOptions, draw_keyframes, image_jobs
from .plan import MoviePlan, PlanOptions, parse_plan, plan_movies, plan_prompt, read_themes

__all__ = [
    "DrawOptions",
    "build_dataset",
    "MoviePlan",
    "PlanOptions",
    "draw_keyframes",
    "image_jobs",
    "mix_with_movie101v2",
    "parse_plan",
    "plan_movies",
    "plan_prompt",
    "read_themes",
]
