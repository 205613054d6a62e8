"""The names everything else derives from: languages, splits, narration sets and dataset configs, in one table.

Example:
    >>> CLIP_CONFIGS, SINGLE_LANGUAGE_CONFIGS
    (('en', 'zh', 'bilingual', 'en-short', 'zh-short'), ('en', 'zh', 'en-short', 'zh-short'))
"""

from __future__ import annotations

LANGUAGES = ("en", "zh")
SPLITS = ("train", "validation", "test")
# Narration sets of the release, by the short name the configs use.
NARRATION_SETS = {"long": "long-46k", "short": "short-71k"}

# config name -> (narration set, languages of a row); "movies" has one row per movie.
CONFIG_LAYOUT: dict[str, tuple[str, tuple[str, ...]]] = {
    "en": ("long", ("en",)),
    "zh": ("long", ("zh",)),
    "bilingual": ("long", ("en", "zh")),
    "en-short": ("short", ("en",)),
    "zh-short": ("short", ("zh",)),
    "movies": ("movies", ()),
}
DEFAULT_CONFIG = "en"
CONFIG_NAMES = tuple(CONFIG_LAYOUT)
CLIP_CONFIGS = tuple(name for name, (kind, _) in CONFIG_LAYOUT.items() if kind != "movies")
# the configs a model narrates and a run is scored on: one language per row
SINGLE_LANGUAGE_CONFIGS = tuple(name for name in CLIP_CONFIGS if len(CONFIG_LAYOUT[name][1]) == 1)


def config_language(config: str) -> str:
    """The language of a single-language clip config.

    Example:
        >>> config_language("zh-short")
        'zh'
    """
    if config not in SINGLE_LANGUAGE_CONFIGS:
        raise ValueError(f"{config!r} is not a single-language clip config; choose one of {SINGLE_LANGUAGE_CONFIGS}.")
    return CONFIG_LAYOUT[config][1][0]


PREPARED_MANIFEST = "movie101v2_prepare.json"  # in a prepared folder: what `prepare` built from what
