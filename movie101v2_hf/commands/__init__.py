"""The `movie101v2` subcommands, one module each, in the order `--help` lists them."""

from .agreement import Agreement
from .analyze import Analyze
from .base import Command
from .bench import Bench
from .cache_frames import CacheFrames
from .compare import Compare
from .demo import Demo
from .env import Env
from .evaluate import Evaluate
from .export import Export
from .faces import Faces
from .mini_release import MiniRelease
from .narrate import Narrate
from .prepare import Prepare
from .push_dataset import PushDataset
from .push_metrics import PushMetrics
from .push_model import PushModel
from .shotbench import ShotBench
from .stats import Stats
from .synth import Synth

COMMANDS: tuple[type[Command], ...] = (
    Prepare,
    PushDataset,
    PushModel,
    PushMetrics,
    Narrate,
    Evaluate,
    Bench,
    Compare,
    Export,
    Stats,
    Analyze,
    Agreement,
    Faces,
    CacheFrames,
    ShotBench,
    Synth,
    MiniRelease,
    Demo,
    Env,
)

__all__ = ["COMMANDS", "Command"]
