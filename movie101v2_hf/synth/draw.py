"""`movie101v2 synth draw`: the keyframes of planned movies, drawn with any `diffusers` text-to-image pipeline.

For each movie of `OUT/plans.jsonl`: one keyframe per scene and one portrait per character. Every prompt of a movie
carries its style keywords (and, optionally, a textual-inversion style embedding the user trained with diffusers'
own script, loaded with `load_textual_inversion`), and a character is described the same way in every image it
appears in, which keeps the cast consistent. Each image is seeded from the run's seed and its own id, so a redraw
gives the same image; it is written atomically and recorded on the run layer (`OUT/keyframes.jsonl`), so a killed
run resumes at the next image. SDXL by default; the GPU when there is one.
"""

from __future__ import annotations

import io
import json
import logging
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import require
from ..utils.io import read_jsonl
from ..utils.outputs import OutputFolder
from ..utils.runs import ResumableRun, RunRecord

logger = logging.getLogger(__name__)

DEFAULT_PIPELINE = "stabilityai/stable-diffusion-xl-base-1.0"
NEGATIVE_PROMPT = "text, watermark, caption, blurry, deformed, extra limbs"


@dataclass(kw_only=True)
class DrawOptions:
    """Every option of `movie101v2 synth draw` (the command line is built from these fields)."""

    out: str = field(metadata={"help": "The folder of `synth plan` (plans.jsonl); keyframes go to OUT/keyframes."})
    pipeline: str = field(
        default=DEFAULT_PIPELINE,
        metadata={"help": "A diffusers text-to-image pipeline: Hub id or folder (default SDXL base)."},
    )
    style_embedding: str | None = field(
        default=None,
        metadata={
            "help": "A textual-inversion embedding (diffusers' "
            "textual_inversion script) for one fixed style across movies."
        },
    )
    style_token: str = field(default="<movie-style>", metadata={"help": "The token of --style-embedding."})
    steps: int = field(default=30, metadata={"help": "Denoising steps."})
    guidance: float = field(default=7.0, metadata={"help": "Classifier-free guidance scale."})
    height: int | None = field(default=None, metadata={"help": "Image height (default: the pipeline's)."})
    width: int | None = field(default=None, metadata={"help": "Image width (default: the pipeline's)."})
    seed: int = field(default=0, metadata={"help": "Seed of the run; each image adds its own id."})
    device: str | None = field(default=None, metadata={"help": "cuda, cpu, ... (default: cuda when available)."})
    dtype: str = field(default="auto", metadata={"help": "float16 on a GPU, float32 on a CPU by default."})
    overwrite: bool = field(default=False, metadata={"help": "Draw again instead of resuming."})
    show_progress: bool = field(default=True, metadata={"help": "Show a progress bar."})


def image_jobs(plan_line: dict[str, Any], *, style_token: str | None = None) -> list[dict[str, Any]]:
    """The images of one planned movie: `{"image_id", "movie_id", "kind", "name", "prompt"}` for each scene's
    keyframe and each character's portrait, every prompt in the movie's style with the characters described.

    Example:
        >>> plan = {"title": "T", "overview": "O", "style": ["noir", "35mm"], "qa": [],
        ...         "characters": [{"name": "Lin", "description": "a woman in a red coat"}],
        ...         "scenes": [{"keyframe": "a rainy street", "narration": "Lin walks.", "characters": ["Lin"]}]}
        >>> [job["prompt"] for job in image_jobs({"movie_id": "m", "plan": plan})]
        ['noir, 35mm, a rainy street. Lin: a woman in a red coat', 'noir, 35mm, portrait of Lin: a woman in a red coat']
    """
    plan, movie_id = plan_line["plan"], plan_line["movie_id"]
    style = ", ".join(([style_token] if style_token else []) + list(plan["style"]))
    looks = {c["name"]: c["description"] for c in plan["characters"]}
    jobs = []
    for number, scene in enumerate(plan["scenes"]):
        cast = "; ".join(f"{name}: {looks[name]}" for name in scene["characters"] if name in looks)
        prompt = f"{style}, {scene['keyframe']}" + (f". {cast}" if cast else "")
        jobs.append(
            {
                "image_id": f"{movie_id}/scene-{number:02d}",
                "movie_id": movie_id,
                "kind": "keyframe",
                "name": f"scene-{number:02d}",
                "prompt": prompt,
            }
        )
    for number, character in enumerate(plan["characters"]):
        jobs.append(
            {
                "image_id": portrait_id(movie_id, number),
                "movie_id": movie_id,
                "kind": "portrait",
                "name": character["name"],
                "prompt": f"{style}, portrait of {character['name']}: {character['description']}",
            }
        )
    return jobs


def portrait_id(movie_id: str, number: int) -> str:
    """The image id of a movie's `number`-th character's portrait: by position, never by the name the LLM wrote
    (a name is no file name: `AC/DC`, `../x`).

    Example:
        >>> portrait_id("synth-00000", 1)
        'synth-00000/portrait-01'
    """
    return f"{movie_id}/portrait-{number:02d}"


def _load_pipeline(options: DrawOptions) -> Any:
    require("diffusers", extra="synth", feature="Drawing keyframes")
    import torch
    from diffusers import AutoPipelineForText2Image

    device = options.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = {
        "auto": torch.float16 if device.startswith("cuda") else torch.float32,
        "float16": torch.float16,
        "bfloat16": torch.bfloat16,
        "float32": torch.float32,
    }[options.dtype]
    pipeline = AutoPipelineForText2Image.from_pretrained(options.pipeline, torch_dtype=dtype).to(device)
    pipeline.set_progress_bar_config(disable=True)
    if options.style_embedding:
        pipeline.load_textual_inversion(options.style_embedding, token=options.style_token)
    return pipeline, device


def draw_keyframes(options: DrawOptions) -> RunRecord:
    """Draw every image of every planned movie into `OUT/keyframes/` (see the module).

    Example:
        >>> import shutil
        >>> folder = shutil.copytree(drawn_movies, tmp / "synth", ignore=shutil.ignore_patterns("keyframes", ".*"))
        >>> options = DrawOptions(out=str(folder), pipeline=tiny_pipeline, steps=2, height=32, width=32)
        >>> options.show_progress = False
        >>> draw_keyframes(options).complete
        True
    """
    import torch
    from tqdm.auto import tqdm

    out = Path(options.out)
    plans = [line for _, line in read_jsonl(out / "plans.jsonl", what="plans file")]
    token = options.style_token if options.style_embedding else None
    jobs = [job for line in plans for job in image_jobs(line, style_token=token)]
    settings = {
        "pipeline": options.pipeline,
        "style_embedding": options.style_embedding,
        "steps": options.steps,
        "guidance": options.guidance,
        "height": options.height,
        "width": options.width,
        "seed": options.seed,
    }
    pipeline = device = None
    ids = [j["image_id"] for j in jobs]
    inputs = {"--pipeline": options.pipeline, "--style-embedding": options.style_embedding}
    with (
        ResumableRun(
            out / "keyframes.jsonl", settings, ids, job="synth draw", key="image_id", overwrite=options.overwrite
        ) as run,
        OutputFolder(out / "keyframes", job="synth draw", inputs=inputs) as images,
    ):
        with tqdm(
            total=len(jobs), initial=len(run.done), unit="image", desc="draw", disable=not options.show_progress
        ) as bar:
            for k in run.pending:
                job = jobs[k]
                if pipeline is None:
                    pipeline, device = _load_pipeline(options)
                seed = options.seed + zlib.crc32(job["image_id"].encode())  # the image's own seed, stable across runs
                try:
                    image = pipeline(
                        job["prompt"],
                        negative_prompt=NEGATIVE_PROMPT,
                        num_inference_steps=options.steps,
                        guidance_scale=options.guidance,
                        height=options.height,
                        width=options.width,
                        generator=torch.Generator(device).manual_seed(seed),
                    ).images[0]
                except (RuntimeError, ValueError) as err:
                    run.fail(job["image_id"], f"{type(err).__name__}: {err}")
                    continue
                buffer = io.BytesIO()
                image.save(buffer, format="PNG")
                path = images.write(f"{job['image_id']}.png", buffer.getvalue())  # inside keyframes/ or refused
                run.write([{**job, "path": str(path.relative_to(out)), "seed": seed}])
                bar.update()
        images.write("draw_settings.json", json.dumps(settings, indent=2) + "\n")
    return run.record
