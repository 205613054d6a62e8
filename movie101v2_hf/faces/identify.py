"""Who is on screen: cast members identified by face with insightface (face detection + ArcFace embeddings).

The paper's study (its Table 2): on 500 test clips at 1 fps, ArcFace identification against the cast portraits
(cosine similarity) reached 47.8% precision, GPT-4V 43.6%. This module makes that a tool:

- `FaceAnalyzer`: insightface's `FaceAnalysis` loaded from a model-pack folder the user names (e.g. `buffalo_l`:
  an SCRFD detector and an ArcFace recognizer); nothing is downloaded. **The insightface model packs are licensed
  for non-commercial research use only.** onnxruntime runs them on the GPU when `onnxruntime-gpu` provides
  `CUDAExecutionProvider`, else on the CPU.
- `CastBank`: one embedding per cast portrait and movie, cached on disk by model fingerprint and portrait bytes,
  so each portrait is embedded once per model.
- `FaceIdentifier`: faces of frames sampled from a clip, each matched to the closest portrait of the clip's movie;
  a match counts when its cosine similarity reaches `threshold`.

`faces.run` runs this over a split (`movie101v2 faces`) and scores it against the paper's test.

Defaults, with their source: 1 frame per second (the paper's test); detection threshold 0.5 and a 640x640 detector
input (insightface's `FaceAnalysis` defaults); cosine threshold 0.3, the loose end of the squared-L2 range 0.8-1.4
insightface's author gives for its normalised embeddings (issue deepinsight/insightface#168: d^2 = 2 - 2 cos, so
1.4 is cos 0.3), loose because each face is matched among one movie's cast only.
"""

from __future__ import annotations

import copy
import hashlib
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.video import ClipSampler
from ..errors import require
from ..utils.io import cache_home, write_atomically

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.3
DEFAULT_DET_SIZE = 640
DEFAULT_DET_THRESH = 0.5
IDENTIFIED_COLUMN = "identified_characters"
MODEL_LICENSE_NOTE = (
    "insightface's pretrained model packs (buffalo_l, antelopev2, ...) are for non-commercial research use only."
)


def default_cache_dir() -> Path:
    """`<cache_home()>/faces`: `$MOVIE101V2_HF_CACHE/faces`, by default `~/.cache/huggingface/movie101v2_hf/faces`."""
    return cache_home() / "faces"


@dataclass
class Face:
    """One detected face: its box in frame pixels (x0, y0, x1, y1), detection score and L2-normalised embedding."""

    box: list[float]
    det_score: float
    embedding: Any  # numpy float32 vector, unit length


class FaceAnalyzer:
    """insightface's detector + recognizer, from a local model-pack folder.

    Args:
        model_dir: a folder of insightface ONNX models holding a detector and a recognizer, e.g.
            `~/.insightface/models/buffalo_l` (non-commercial research use only).
        det_size: the detector's input side in pixels (insightface: 640).
        det_thresh: the detection score threshold (insightface: 0.5).
        providers: onnxruntime providers; default: CUDA when available, then CPU.

    Raises:
        FileNotFoundError: `model_dir` is missing or holds no `.onnx` file.
        ValueError: the folder has no detector or no recognizer.

    Example:
        >>> from movie101v2_hf.testing import make_tiny_face_models, synthetic_portrait
        >>> analyzer = FaceAnalyzer(make_tiny_face_models(tmp / "faces"), det_size=128)  # buffalo_l for real use
        >>> len(analyzer.faces(synthetic_portrait(3))), analyzer.faces(synthetic_portrait(None))
        (1, [])
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        det_size: int = DEFAULT_DET_SIZE,
        det_thresh: float = DEFAULT_DET_THRESH,
        providers: Sequence[str] | None = None,
    ) -> None:
        require("insightface", extra="face", feature="Face identification")
        import onnxruntime
        from insightface.app import FaceAnalysis

        self.model_dir = Path(model_dir).expanduser()
        onnx_files = sorted(self.model_dir.glob("*.onnx")) if self.model_dir.is_dir() else []
        if not onnx_files:
            raise FileNotFoundError(
                f"No insightface model pack at {self.model_dir} (a folder of .onnx files is expected). Download a "
                "pack such as buffalo_l from insightface's model zoo, unzip it, and pass that folder as --model-dir. "
                + MODEL_LICENSE_NOTE
            )
        available = onnxruntime.get_available_providers()
        self.providers = list(
            providers or [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        )
        try:
            self.app = FaceAnalysis(
                name=str(self.model_dir), allowed_modules=["detection", "recognition"], providers=self.providers
            )
        except AssertionError:  # insightface 2.1 asserts that the pack has a detector
            self._refuse(["detection"])
        missing = [task for task in ("detection", "recognition") if task not in self.app.models]
        if missing:
            self._refuse(missing)
        on_gpu = self.providers[0] == "CUDAExecutionProvider"
        self.app.prepare(ctx_id=0 if on_gpu else -1, det_thresh=det_thresh, det_size=(det_size, det_size))
        self.det_size, self.det_thresh = det_size, det_thresh
        digest = hashlib.sha256(f"{det_size}|{det_thresh}".encode())
        for task in ("detection", "recognition"):
            digest.update(Path(self.app.models[task].model_file).read_bytes())
        self.fingerprint = digest.hexdigest()[:16]  # the cache key of every embedding this analyzer makes

    def _refuse(self, missing: list[str]) -> None:
        raise ValueError(
            f"{self.model_dir} has no {' and no '.join(missing)} model that insightface recognises: pass the folder of "
            "an unzipped model pack (e.g. buffalo_l, with det_10g.onnx and w600k_r50.onnx)."
        )

    def faces(self, image: Any) -> list[Face]:
        """Faces of an RGB image (H x W x 3 uint8 numpy array, or a PIL image), best detection first."""
        import numpy as np

        array = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
        bgr = np.ascontiguousarray(array[:, :, ::-1])  # insightface works in OpenCV's BGR order
        found = [
            Face([float(v) for v in face.bbox], float(face.det_score), face.normed_embedding.astype("float32"))
            for face in self.app.get(bgr)
        ]
        return sorted(found, key=lambda face: -face.det_score)


@dataclass
class MovieCast:
    """The cast of one movie with a portrait embedding each (billing order); `missing` lost their portrait's face."""

    names: list[str]
    embeddings: Any  # numpy array, len(names) x D
    missing: list[str] = field(default_factory=list)


class CastBank:
    """Portrait embeddings per movie, computed once per model and portrait and cached on disk.

    Example:
        >>> from datasets import concatenate_datasets, load_dataset
        >>> from movie101v2_hf.testing import make_tiny_face_models
        >>> analyzer = FaceAnalyzer(make_tiny_face_models(tmp / "faces"), det_size=128)
        >>> movies = concatenate_datasets(list(load_dataset(mini_dataset, "movies").values()))
        >>> bank = CastBank.build(analyzer, movies, language="en", cache_dir=tmp / "bank", show_progress=False)
        >>> bank.casts["mini-0004"].names[:2]
        ['Ye Qing', 'Bai Lu']
    """

    def __init__(self, casts: dict[str, MovieCast], *, computed: int = 0, cached: int = 0) -> None:
        self.casts = casts
        self.computed = computed  # portraits embedded by this build
        self.cached = cached  # portraits read from the cache

    @classmethod
    def build(
        cls,
        analyzer: FaceAnalyzer,
        movies: Any,
        *,
        language: str = "en",
        cache_dir: str | Path | None = None,
        movie_ids: Sequence[str] | None = None,
        show_progress: bool = True,
    ) -> CastBank:
        """Embed the portraits of `movies` (rows of the `movies` config), reading and filling the cache.

        A portrait in which no face is found is left out of its movie's bank with a warning that names the
        movie, the character and the actor id: that character cannot be identified.
        """
        import numpy as np
        from datasets import Image
        from tqdm.auto import tqdm

        name_key = "role_en" if language == "en" else "role"
        cache = Path(cache_dir or default_cache_dir()) / analyzer.fingerprint
        cache.mkdir(parents=True, exist_ok=True)
        features = copy.deepcopy(movies.features)
        cast_feature = features["cast"]  # a list of structs: `[{...}]` or `List({...})` by datasets version
        (cast_feature[0] if isinstance(cast_feature, list) else cast_feature.feature)["portrait"] = Image(decode=False)
        rows = movies.cast(features)
        if movie_ids is not None:
            wanted = set(movie_ids)
            rows = rows.filter(lambda movie_id: movie_id in wanted, input_columns="movie_id")
        casts: dict[str, MovieCast] = {}
        computed = cached = 0
        bar = tqdm(
            total=sum(len(c) for c in rows["cast"]), unit="portrait", desc="cast bank", disable=not show_progress
        )
        for row in rows:
            names, vectors, missing = [], [], []
            for member in row["cast"]:
                data = member["portrait"]["bytes"] or Path(member["portrait"]["path"]).read_bytes()
                entry = cache / f"{hashlib.sha256(data).hexdigest()}.npy"
                if entry.is_file():
                    vector = np.load(entry)
                    cached += 1
                else:
                    vector = _portrait_embedding(analyzer, data)
                    _save_atomically(entry, vector)
                    computed += 1
                bar.update()
                if vector.size == 0:
                    missing.append(member[name_key])
                    logger.warning(
                        "No face found in the portrait of %s (movie %s, actor id %s): this character cannot be "
                        "identified. Replace the portrait with a frontal face photo to include them.",
                        member[name_key],
                        row["movie_id"],
                        member["actor_id"],
                    )
                    continue
                names.append(member[name_key])
                vectors.append(vector)
            dim = vectors[0].shape[0] if vectors else 0
            casts[row["movie_id"]] = MovieCast(names, np.stack(vectors) if vectors else np.zeros((0, dim)), missing)
        bar.close()
        return cls(casts, computed=computed, cached=cached)


def _portrait_embedding(analyzer: FaceAnalyzer, data: bytes) -> Any:
    """The embedding of the best face of a portrait, or an empty array when there is none."""
    import numpy as np
    from PIL import Image

    faces = analyzer.faces(Image.open(io.BytesIO(data)))
    return faces[0].embedding if faces else np.zeros(0, dtype="float32")


def _save_atomically(path: Path, array: Any) -> None:
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, array)
    write_atomically(path, buffer.getvalue())


@dataclass
class FaceSettings:
    """How clips are searched for cast members.

    Args:
        threshold: the cosine similarity a face needs to its closest portrait to count (default 0.3, see the module).
        max_cast: match against the first K cast members in billing order only (None: the whole cast).
        min_frames: frames a character must be found in to be identified in the clip.
        fps: frames sampled per second of clip (the paper's test: 1).
        max_frames: at most this many frames per clip (a longer clip is subsampled over its whole length).
    """

    threshold: float = field(
        default=DEFAULT_THRESHOLD,
        metadata={"help": f"Cosine similarity a face needs to its closest portrait (default {DEFAULT_THRESHOLD})."},
    )
    max_cast: int | None = field(default=None, metadata={"help": "Match against the first K billed cast members."})
    min_frames: int = field(default=1, metadata={"help": "Frames a character must be found in."})
    fps: float = field(default=1.0, metadata={"help": "Frames per second of clip (default 1, as the paper)."})
    max_frames: int = field(default=32, metadata={"help": "At most this many frames per clip."})

    def __post_init__(self) -> None:
        if not -1.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold is a cosine similarity in [-1, 1], got {self.threshold}.")
        if self.max_cast is not None and self.max_cast < 1:
            raise ValueError(f"max_cast must be >= 1 (or None for the whole cast), got {self.max_cast}.")


def match_face(embedding: Any, cast: MovieCast, settings: FaceSettings) -> tuple[str, float] | None:
    """The closest cast member to a face embedding and its cosine similarity, if it reaches the threshold.

    Example:
        >>> import numpy as np
        >>> cast = MovieCast(["A", "B"], np.eye(2, dtype="float32"))
        >>> match_face(np.array([0.6, 0.8], dtype="float32"), cast, FaceSettings(threshold=0.5))
        ('B', 0.8)
    """
    limit = len(cast.names) if settings.max_cast is None else min(settings.max_cast, len(cast.names))
    if limit == 0:
        return None
    similarities = cast.embeddings[:limit] @ embedding
    best = int(similarities.argmax())
    similarity = round(float(similarities[best]), 4)
    return (cast.names[best], similarity) if similarity >= settings.threshold else None


class FaceIdentifier:
    """Identify the cast members in clips: sample frames, detect faces, match each to the movie's portraits.

    Example:
        >>> from datasets import concatenate_datasets, load_dataset
        >>> from movie101v2_hf.testing import make_tiny_face_models
        >>> analyzer = FaceAnalyzer(make_tiny_face_models(tmp / "faces"), det_size=128)
        >>> movies = concatenate_datasets(list(load_dataset(mini_dataset, "movies").values()))
        >>> bank = CastBank.build(analyzer, movies, cache_dir=tmp / "bank", show_progress=False)
        >>> identifier = FaceIdentifier(analyzer, bank, FaceSettings())
        >>> sorted(identifier.identify(test[0]))
        ['characters', 'clip_id', 'detections', 'frames', 'scores']
    """

    def __init__(
        self,
        analyzer: FaceAnalyzer,
        bank: CastBank,
        settings: FaceSettings | None = None,
        *,
        frame_cache: str | None = None,
    ) -> None:
        self.analyzer, self.bank = analyzer, bank
        self.settings = settings or FaceSettings()
        self.sampler = ClipSampler(fps=self.settings.fps, max_frames=self.settings.max_frames, cache_dir=frame_cache)

    def decode(self, row: dict[str, Any]) -> tuple[Any, Any]:
        """The clip's sampled frames (T x C x H x W uint8) and their times in seconds of movie time."""
        return self.sampler.decode(row["video"], row["start"], row["end"], clip_id=row.get("clip_id"))

    def identify(self, row: dict[str, Any], frames: Any = None, times: Any = None) -> dict[str, Any]:
        """`{"clip_id", "characters", "scores", "frames", "detections"}` for one clip row (with `video`).

        `characters` are ordered by best similarity; `scores` maps each to it; `detections` lists every face
        found: frame time, box, detection score, and the character it matched (or None) with the similarity.
        """
        if row["movie_id"] not in self.bank.casts:
            raise KeyError(f"Clip {row.get('clip_id')}: movie {row['movie_id']} has no cast bank; build it first.")
        cast = self.bank.casts[row["movie_id"]]
        if frames is None:
            frames, times = self.decode(row)
        detections, best, seen = [], {}, {}
        for frame, seconds in zip(frames, times):
            for face in self.analyzer.faces(frame.permute(1, 2, 0).numpy()):
                matched = match_face(face.embedding, cast, self.settings)
                name, similarity = matched if matched else (None, None)
                detections.append(
                    {
                        "time": round(float(seconds), 3),
                        "box": [round(v, 1) for v in face.box],
                        "det_score": round(face.det_score, 4),
                        "character": name,
                        "similarity": similarity,
                    }
                )
                if name is not None:
                    best[name] = max(best.get(name, -1.0), similarity)
                    seen.setdefault(name, set()).add(float(seconds))
        identified = sorted((n for n in best if len(seen[n]) >= self.settings.min_frames), key=lambda n: (-best[n], n))
        return {
            "clip_id": row["clip_id"],
            "characters": identified,
            "scores": {n: best[n] for n in identified},
            "frames": [round(float(t), 3) for t in times],
            "detections": detections,
        }
