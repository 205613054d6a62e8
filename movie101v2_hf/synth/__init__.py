"""Synthetic movies for training, after MovieLLM (arXiv 2403.01422), on open models and the HF stack.

`plan`: an LLM writes each movie (title, overview, style, characters, scenes with keyframe descriptions and
Movie101v2-style narration, QA pairs) as validated structured output, cached and resumable. Drawing the keyframes
and writing the dataset are the next steps (see the README).
"""

from .plan import MoviePlan, PlanOptions, parse_plan, plan_movies, plan_prompt, read_themes

__all__ = ["MoviePlan", "PlanOptions", "parse_plan", "plan_movies", "plan_prompt", "read_themes"]
