"""A mini-ShotBench in the official layout (`test.tsv`, `image/`, `video/`), for tests and `make demo`.

Stills are drawn with PIL and camera-movement clips made with FFmpeg; the TSV has the real file's quirks: `path`
as a single-quoted Python list, `type` as a JSON list, options with an empty one and a NaN one, composite labels
("Daylight, Sunny"), and image files of several extensions (`.jpg`, `.png`, `.JPG`, `.jpeg`).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from ..data.synthetic import make_movie
from .data import CATEGORIES

# plausible option texts per dimension (from the categories' vocabularies; the answers are random here)
_OPTIONS = {
    "shot size": ["Extreme Close Up", "Close Up", "Medium Close Up", "Medium Shot", "Wide Shot", "Extreme Wide Shot"],
    "shot framing": ["Single", "Two shot", "Over the shoulder", "Insert", "Group shot", "Establishing shot"],
    "camera angle": ["Low angle", "High angle", "Eye level", "Dutch angle", "Aerial", "Overhead"],
    "lens size": ["Ultra Wide / Fisheye", "Wide", "Medium", "Long Lens", "Telephoto"],
    "lighting type": [
        "Daylight, Sunny",
        "Artificial light",
        "Moonlight",
        "Firelight",
        "Practical light",
        "Mixed light",
    ],
    "lighting": ["Hard light", "Soft light", "Backlight", "Side light", "Silhouette", "High contrast"],
    "composition": ["Center", "Left heavy", "Right heavy", "Symmetrical", "Balanced", "Short side"],
    "camera movement": ["Push in", "Pull out", "Pan left", "Pan right", "Tilt up", "Static", "Arc", "Handheld"],
}
_EXTENSIONS = (".jpg", ".png", ".JPG", ".jpeg")


def make_mini_shotbench(out: str | Path, *, per_category: int = 4, seed: int = 0) -> Path:
    """Write `per_category` questions of each of the eight dimensions in ShotBench's official layout.

    Example:
        >>> sorted(path.name for path in make_mini_shotbench(tmp / "ShotBench", per_category=1).iterdir())
        ['image', 'test.tsv', 'video']
    """
    from PIL import Image, ImageDraw

    out = Path(out)
    (out / "image").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    lines = ["index\ttype\tpath\tquestion\toptions\tanswer\tcategory"]
    index = 0
    for category, (_, question) in CATEGORIES.items():
        for k in range(per_category):
            index += 1
            name = f"{category.replace(' ', '_')}_{k}"
            if category == "camera movement":
                media, kind = f"video/{name}.mp4", "video"
                make_movie(out / media, duration=2, fps=12, width=64, height=48)
            else:
                media, kind = f"image/{name}{_EXTENSIONS[index % len(_EXTENSIONS)]}", "image"
                image = Image.new("RGB", (96, 64), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
                ImageDraw.Draw(image).rectangle((8 + 4 * k, 8, 48, 40), fill=(255, 255, 255))
                image.save(out / media, format="PNG" if media.endswith(".png") else "JPEG")
            texts = rng.sample(_OPTIONS[category], 4)
            options: dict[str, object] = dict(zip("ABCD", texts))
            if k == 1:
                options["D"] = float("nan")  # a NaN option: three options left
            if k == 2:
                options["C"] = ""  # an empty option
            letters = [letter for letter, text in options.items() if isinstance(text, str) and text]
            answer = rng.choice(letters)
            lines.append(
                "\t".join(
                    [str(index), json.dumps([kind]), repr([media]), question, json.dumps(options), answer, category]
                )
            )
    (out / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out
