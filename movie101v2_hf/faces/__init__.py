"""Who is on screen: cast members identified by face (insightface detection + ArcFace), over clips and splits.

`identify`: the analyzer, the cast bank and the matching; `run`: `movie101v2 faces` over a split, its scores
against the paper's test, and the join onto clip rows that `narrate --faces` and the recipe use.
"""

from .identify import (
    DEFAULT_DET_SIZE,
    DEFAULT_DET_THRESH,
    DEFAULT_THRESHOLD,
    IDENTIFIED_COLUMN,
    MODEL_LICENSE_NOTE,
    CastBank,
    FaceAnalyzer,
    FaceIdentifier,
    FaceSettings,
    MovieCast,
    match_face,
)
from .run import (
    FacesOptions,
    IdentificationScores,
    add_identified_characters,
    evaluate_identification,
    identification_table,
    identify_split,
    read_identified,
    score_identification,
)

__all__ = [
    "DEFAULT_DET_SIZE",
    "DEFAULT_DET_THRESH",
    "DEFAULT_THRESHOLD",
    "IDENTIFIED_COLUMN",
    "MODEL_LICENSE_NOTE",
    "CastBank",
    "FaceAnalyzer",
    "FaceIdentifier",
    "FaceSettings",
    "FacesOptions",
    "IdentificationScores",
    "MovieCast",
    "add_identified_characters",
    "evaluate_identification",
    "identification_table",
    "identify_split",
    "match_face",
    "read_identified",
    "score_identification",
]
