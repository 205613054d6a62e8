"""`movie101v2 synth dataset`: planned and drawn movies as a script-free HF dataset, and a contact sheet per movie.

Configs (split `train`, Parquet with the images embedded):

- `narration`: one row per scene, a clip whose frames are its `keyframes`, with the columns of Movie101v2's clip
  rows (`clip_id`, `movie_id`, `index`, `start`, `end` on a synthetic 8-second-a-scene timeline, `narration`,
  `narration_raw`, `characters`, `cast`, `prev_narration`, `prev_end`): `NarrationCollator` reads the keyframes as
  the clip's frames, so `recipes/sft_lora.py --dataset_name DIR --dataset_config narration` trains on it unchanged;
- `movies`: one row per movie with its cast and a portrait keyframe per character (what `PortraitAttacher` reads);
- `qa`: the QA pairs (kind overview / plot / temporal / character) with the movie's keyframes.

Only movies whose every image was drawn are written; the card names the models that made the data.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import yaml

from ..utils.io import read_json, read_jsonl, write_parquet
from ..utils.outputs import OutputFolder, inside, safe_name
from ..utils.runs import RunRecord, sidecar_path
from .draw import portrait_id

SCENE_SECONDS = 8.0


def _image(path: Path) -> dict[str, Any]:
    return {"bytes": path.read_bytes(), "path": path.name}


def _rows(out: Path) -> tuple[list[dict], list[dict], list[dict], list[str]]:
    plans = [line for _, line in read_jsonl(out / "plans.jsonl", what="plans file")]
    drawn = {
        line["image_id"]: inside(out, line["path"])
        for _, line in read_jsonl(out / "keyframes.jsonl", what="keyframes")
    }
    narration, movies, qa, skipped = [], [], [], []
    for line in plans:
        movie_id, plan = line["movie_id"], line["plan"]
        scenes = [drawn.get(f"{movie_id}/scene-{k:02d}") for k in range(len(plan["scenes"]))]
        portraits = [drawn.get(portrait_id(movie_id, k)) for k in range(len(plan["characters"]))]
        if None in scenes or None in portraits:
            skipped.append(movie_id)  # not every image drawn yet
            continue
        cast = [c["name"] for c in plan["characters"]]
        previous = None
        for k, (scene, path) in enumerate(zip(plan["scenes"], scenes)):
            start = k * SCENE_SECONDS
            narration.append(
                {
                    "clip_id": f"{movie_id}_synth_{k:05d}",
                    "movie_id": movie_id,
                    "index": k,
                    "start": start,
                    "end": start + SCENE_SECONDS,
                    "narration": scene["narration"],
                    "narration_raw": scene["narration"],
                    "characters": list(scene["characters"]),
                    "cast": cast,
                    "prev_narration": previous["narration"] if previous else None,
                    "prev_end": start if previous else None,
                    "keyframes": [_image(path)],
                }
            )
            previous = scene
        movies.append(
            {
                "movie_id": movie_id,
                "title": plan["title"],
                "intro": plan["overview"],
                "genre": list(plan["style"]),
                "theme": line.get("theme", ""),
                "cast": [
                    {
                        "actor_id": c["name"],
                        "actor": "",
                        "role": c["name"],
                        "role_en": c["name"],
                        "description": c["description"],
                        "portrait": _image(p),
                    }
                    for c, p in zip(plan["characters"], portraits)
                ],
            }
        )
        keyframes = [_image(path) for path in scenes]
        for pair in plan["qa"]:
            qa.append(
                {
                    "movie_id": movie_id,
                    "kind": pair["kind"],
                    "question": pair["question"],
                    "answer": pair["answer"],
                    "keyframes": keyframes,
                }
            )
    return narration, movies, qa, skipped


def _features() -> dict[str, Any]:
    from datasets import Features, Image, List, Value

    image_list = List(Image())
    return {
        "narration": Features(
            {
                "clip_id": Value("string"),
                "movie_id": Value("string"),
                "index": Value("int32"),
                "start": Value("float64"),
                "end": Value("float64"),
                "narration": Value("string"),
                "narration_raw": Value("string"),
                "characters": List(Value("string")),
                "cast": List(Value("string")),
                "prev_narration": Value("string"),
                "prev_end": Value("float64"),
                "keyframes": image_list,
            }
        ),
        "movies": Features(
            {
                "movie_id": Value("string"),
                "title": Value("string"),
                "intro": Value("string"),
                "genre": List(Value("string")),
                "theme": Value("string"),
                "cast": List(
                    {
                        "actor_id": Value("string"),
                        "actor": Value("string"),
                        "role": Value("string"),
                        "role_en": Value("string"),
                        "description": Value("string"),
                        "portrait": Image(),
                    }
                ),
            }
        ),
        "qa": Features(
            {
                "movie_id": Value("string"),
                "kind": Value("string"),
                "question": Value("string"),
                "answer": Value("string"),
                "keyframes": image_list,
            }
        ),
    }


def build_dataset(out: str | Path) -> dict[str, Any]:
    """Write `OUT/dataset` (three configs, README with the card) and `OUT/contact_sheets/<movie>.png`; returns the
    counts and the movies skipped for missing images.

    Example:
        >>> build_dataset(drawn_movies)["rows"]
        {'narration': 2, 'movies': 1, 'qa': 4}
    """
    from datasets import Dataset

    out = Path(out)
    narration, movies, qa, skipped = _rows(out)
    if not movies:
        raise ValueError(f"{out}: no movie has all its images drawn yet; run `movie101v2 synth draw --out {out}`.")
    rows = {"narration": narration, "movies": movies, "qa": qa}
    plans = out / "plans.jsonl"
    plan_settings = RunRecord.load(plans, key="movie_id").settings if sidecar_path(plans).is_file() else {}
    drawn_with = out / "keyframes" / "draw_settings.json"
    draw_settings = read_json(drawn_with, what="draw settings") if drawn_with.is_file() else {}
    with OutputFolder(out / "dataset", job="synth dataset") as folder:
        for name, features in _features().items():
            write_parquet(
                Dataset.from_list(rows[name], features=features), folder.path(f"{name}/train-00000-of-00001.parquet")
            )
        folder.write("README.md", _card(plan_settings, draw_settings, {k: len(v) for k, v in rows.items()}))
    with OutputFolder(out / "contact_sheets", job="synth dataset") as sheets:
        for movie in movies:
            sheets.write(f"{safe_name(movie['movie_id'], fallback='movie')}.png", _contact_sheet(movie, narration))
    return {"dataset": str(out / "dataset"), "rows": {k: len(v) for k, v in rows.items()}, "skipped": skipped}


def _contact_sheet(movie: dict[str, Any], narration: list[dict[str, Any]]) -> bytes:
    """The movie's keyframes in story order, then its portraits, on one PNG."""
    from PIL import Image

    images = [
        Image.open(io.BytesIO(row["keyframes"][0]["bytes"]))
        for row in narration
        if row["movie_id"] == movie["movie_id"]
    ]
    images += [Image.open(io.BytesIO(member["portrait"]["bytes"])) for member in movie["cast"]]
    width, height = images[0].size
    columns = min(4, len(images))
    rows = -(-len(images) // columns)
    sheet = Image.new("RGB", (columns * width, rows * height), "white")
    for k, image in enumerate(images):
        sheet.paste(image.convert("RGB").resize((width, height)), ((k % columns) * width, (k // columns) * height))
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    return buffer.getvalue()


def _card(plan: dict[str, Any], draw: dict[str, Any], counts: dict[str, int]) -> str:
    header = {
        "license": "other",
        "pretty_name": "Synthetic movies (movie101v2-hf synth)",
        "tags": ["synthetic", "movie-narration", "audio-description"],
        "configs": [
            {
                "config_name": name,
                **({"default": True} if name == "narration" else {}),
                "data_files": [{"split": "train", "path": f"{name}/train-*.parquet"}],
            }
            for name in ("narration", "movies", "qa")
        ],
    }
    planner = f"{plan.get('model', '?')} (backend {plan.get('backend', '?')})"
    pipeline = draw.get("pipeline", "?")
    return f"""---
{yaml.safe_dump(header, sort_keys=False).rstrip()}
---

# Synthetic movies

Generated with `movie101v2 synth` after MovieLLM (arXiv 2403.01422): {counts["movies"]} movies, {counts["narration"]}
narrated scenes, {counts["qa"]} QA pairs.

- Planner (titles, characters, scenes, narration, QA): {planner}, prompt version {plan.get("prompt_version", "?")}.
- Keyframes and portraits: `{pipeline}`, {draw.get("steps", "?")} steps, seed {draw.get("seed", "?")}, style embedding
  {draw.get("style_embedding") or "none"}.

## Licences

The text and images are outputs of the models above: their licences and terms of use (see each model's card;
SDXL base, for example, is under the CreativeML Open RAIL++-M licence) govern this data. Check them before sharing
it.

## Use

`load_dataset(DIR, "narration")` gives clip rows whose `keyframes` are the frames; `recipes/sft_lora.py
--dataset_name DIR --dataset_config narration` trains on them (portraits from the `movies` config).
"""


def mix_with_movie101v2(
    synthetic: str | Path, movie101v2: str, out: str | Path, *, config: str = "en"
) -> dict[str, int]:
    """A dataset folder training can read in one go: Movie101v2's clips of `config` (every split) with the
    synthetic clips added to `train`, and both `movies` configs. Movie101v2 rows keep their `video` and get no
    keyframes; synthetic rows have keyframes and no video; the collator reads each kind as it comes, so
    `recipes/sft_lora.py --dataset_name OUT --dataset_config CONFIG` trains on the mix unchanged.

    Example:
        >>> _ = build_dataset(drawn_movies)
        >>> mix_with_movie101v2(f"{drawn_movies}/dataset", mini_dataset, tmp / "mix", config="en")
        {'train': 8, 'validation': 3, 'test': 3, 'movies': 5}
    """
    inputs = {"--synthetic": synthetic, "--movie101v2": movie101v2}
    with OutputFolder(out, job="synth mix", inputs=inputs) as folder:
        return _mix(synthetic, movie101v2, folder, config)


def _mix(synthetic: str | Path, movie101v2: str, folder: OutputFolder, config: str) -> dict[str, int]:
    from datasets import Image, List, Video, concatenate_datasets, load_dataset

    synthetic_clips = load_dataset(str(synthetic), "narration", split="train")
    counts = {}
    for split, clips in load_dataset(movie101v2, config).items():
        if "video" not in clips.column_names:
            raise ValueError(f"{movie101v2} ({config}) has no video column: prepare it with --videos to train on it.")
        clips = clips.cast_column("video", Video(decode=False))
        clips = clips.add_column("keyframes", [[] for _ in range(len(clips))]).cast_column("keyframes", List(Image()))
        if split == "train":
            extra = synthetic_clips.add_column("video", [None] * len(synthetic_clips))
            extra = extra.cast_column("video", Video(decode=False)).select_columns(clips.column_names)
            clips = concatenate_datasets([clips, extra.cast(clips.features)])
        write_parquet(clips, folder.path(f"{config}/{split}-00000-of-00001.parquet"))
        counts[split] = len(clips)
    common = ["movie_id", "title", "cast"]
    movies = [m.select_columns(common) for m in load_dataset(movie101v2, "movies").values()]
    synthetic_movies = load_dataset(str(synthetic), "movies", split="train").select_columns(common)
    synthetic_movies = synthetic_movies.map(
        lambda cast: {"cast": [{k: v for k, v in member.items() if k != "description"} for member in cast]},
        input_columns="cast",
        features=movies[0].features,
    )
    mixed_movies = concatenate_datasets([*movies, synthetic_movies])
    write_parquet(mixed_movies, folder.path("movies/train-00000-of-00001.parquet"))
    counts["movies"] = len(mixed_movies)
    header = {
        "configs": [
            {
                "config_name": config,
                "default": True,
                "data_files": [{"split": s, "path": f"{config}/{s}-*.parquet"} for s in counts if s != "movies"],
            },
            {"config_name": "movies", "data_files": [{"split": "train", "path": "movies/train-*.parquet"}]},
        ]
    }
    folder.write(
        "README.md",
        f"---\n{yaml.safe_dump(header, sort_keys=False).rstrip()}\n---\n\n# Movie101v2 ({config}) mixed with "
        f"synthetic movies\n\nMovie101v2 clips from `{movie101v2}` and synthetic clips from `{synthetic}` "
        "(train only). Movie101v2's terms apply to its part (non-commercial academic research, no sharing); the "
        "synthetic part follows the licences named in its own card.\n",
    )
    return counts
