"""Stand-ins for what cannot run everywhere, for tests, benchmarks, dry runs and the GPU check.

- `models`: a tiny randomly initialised model of every supported family (Qwen2.5-VL, Qwen3-VL, SmolVLM2,
  LLaVA-OneVision, InternVL3), built from its config with its real processor classes, that `from_pretrained` and
  vLLM load like a Hub checkpoint: recipes and backends run on it end to end on a CPU, in seconds.
- `servers`: `ScriptedJudgeServer`, a real OpenAI-compatible HTTP server on loopback that answers by rule, with
  faults on demand (429, 500, slow replies, garbage answers), to exercise the judging path without a GPU.
- `faces`: synthetic faces and a detector / recognizer pair that insightface's model zoo loads.
- `diffusion`: a tiny text-to-image pipeline for `synth draw`.
- `hub`: `LocalHub`, a stand-in for the Hub's repo, commit and download endpoints (`push-metrics`, `evaluate.load`).
"""

from .diffusion import make_tiny_text_to_image
from .faces import FACE_SIDE, make_tiny_face_models, synthetic_face, synthetic_portrait
from .hub import LocalHub
from .models import FAMILIES, make_tiny_model, make_tiny_video_llm
from .servers import ScriptedJudgeServer, rule_based_answer

__all__ = [
    "FACE_SIDE",
    "FAMILIES",
    "LocalHub",
    "ScriptedJudgeServer",
    "make_tiny_face_models",
    "make_tiny_model",
    "make_tiny_text_to_image",
    "make_tiny_video_llm",
    "rule_based_answer",
    "synthetic_face",
    "synthetic_portrait",
]
