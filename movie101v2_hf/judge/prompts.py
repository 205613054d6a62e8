"""The judge prompts of Movie101v2's L1 (visual facts: Environment and Characters) and L2 (plot).

The official prompts ship with the release (`Movie101v2/evaluation/prompt/{L1,L2}_{en,zh}.txt`) and are read from
the user's copy (`PromptSet.from_release`); results made with them are marked official. Without them the
package's own templates for the same rubric and answer format are used (`PromptSet.packaged`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..constants import LANGUAGES
from ..utils.io import read_text

METRICS = ("l1", "l2")
# The paper's judges: DeepSeek-V2.5 for Chinese, Llama-3.1-70B-Instruct for English.
DEFAULT_JUDGE_MODELS = {"en": "meta-llama/Llama-3.1-70B-Instruct", "zh": "deepseek-ai/DeepSeek-V2.5"}
PACKAGE_PROMPT_VERSION = "movie101v2-hf-prompts-v1"
# The package's own templates: the same rubric and answer format as the paper's, in our words.
_PACKAGE_TEMPLATES = {
    ("l1", "en"): (
        "You are judging audio descriptions, the narration that tells blind and low-vision viewers what "
        "happens on screen in a movie.\n\n"
        "Compare the candidate narration of a clip with the reference narration of the same clip. Judge only "
        "whether the visual facts of the candidate are correct, on two aspects:\n"
        "1. Environment: are the scenes, objects and events of the reference described correctly and completely?\n"
        "2. Characters: are the same characters named as in the reference, with their actions and emotions "
        "described correctly and completely?\n\n"
        "Give each aspect an integer from 0 (wrong or missing) to 5 (correct and complete). Answer with the "
        "two integers separated by a comma, Environment first, for example: 2,4\n\n"
        "Reference narration:\n<gt>\nCandidate narration:\n<pred>\n\n"
        "Answer with the two scores only:"
    ),
    ("l2", "en"): (
        "You are judging audio descriptions, the narration that tells blind and low-vision viewers what "
        "happens on screen in a movie.\n\n"
        "Compare the candidate narration of a clip with the reference narration of the same clip. Judge only "
        "how well the candidate conveys the plot of the reference: what happens and why it matters to the "
        "story, regardless of wording and of visual detail.\n\n"
        "Give an integer from 0 (the plot is missing or wrong) to 5 (the plot is fully conveyed).\n\n"
        "Reference narration:\n<gt>\nCandidate narration:\n<pred>\n\n"
        "Answer with the score only:"
    ),
    ("l1", "zh"): (
        "你在评价电影的无障碍解说，即为视障观众讲述画面内容的解说词。\n\n"
        "请将待评价解说与同一片段的参考解说进行比较，只判断待评价解说中的视觉事实是否正确，分两个方面：\n"
        "1. 环境：参考解说中的场景、物体和事件是否被正确、完整地描述？\n"
        "2. 人物：提到的人物是否与参考解说一致，其动作和情绪是否被正确、完整地描述？\n\n"
        "每个方面给出0（错误或缺失）到5（正确且完整）的整数分，先环境后人物，用逗号隔开，例如：2,4\n\n"
        "参考解说：\n<gt>\n待评价解说：\n<pred>\n\n只输出两个分数："
    ),
    ("l2", "zh"): (
        "你在评价电影的无障碍解说，即为视障观众讲述画面内容的解说词。\n\n"
        "请将待评价解说与同一片段的参考解说进行比较，只判断待评价解说对参考解说中剧情的传达程度："
        "发生了什么、对故事意味着什么，不考虑措辞和视觉细节。\n\n"
        "给出0（剧情缺失或错误）到5（剧情完整传达）的整数分。\n\n"
        "参考解说：\n<gt>\n待评价解说：\n<pred>\n\n只输出分数："
    ),
}


# -- prompts ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromptSet:
    """The judge prompt templates of one language, with the version recorded in every result.

    Example:
        >>> prompts = PromptSet.packaged("en")
        >>> prompts.version, prompts.official
        ('movie101v2-hf-prompts-v1-en', False)
        >>> prompts.render("l2", reference="He runs.", candidate="He walks.").endswith("Answer with the score only:")
        True
    """

    language: str
    templates: dict[str, str]
    version: str
    official: bool

    @classmethod
    def packaged(cls, language: str) -> PromptSet:
        """The package's own templates (not the official prompts: results are not paper-comparable)."""
        _check_language(language)
        templates = {m: _PACKAGE_TEMPLATES[(m, language)] for m in METRICS}
        return cls(language, templates, f"{PACKAGE_PROMPT_VERSION}-{language}", False)

    @classmethod
    def from_release(cls, path: str | Path, language: str) -> PromptSet:
        """The official prompts from a copy of the release: its root, `Movie101v2/evaluation/prompt`, or a folder
        holding `L1_<lang>.txt` and `L2_<lang>.txt`. The version names the files' content hash."""
        _check_language(language)
        path = Path(path)
        for folder in (path, path / "Movie101v2" / "evaluation" / "prompt", path / "evaluation" / "prompt"):
            files = {m: folder / f"{m.upper()}_{language}.txt" for m in METRICS}
            if all(f.is_file() for f in files.values()):
                break
        else:
            raise FileNotFoundError(
                f"No official judge prompts under {path}: expected Movie101v2/evaluation/prompt/L1_{language}.txt and "
                f"L2_{language}.txt (the release's root, or the prompt folder itself)."
            )
        templates = {m: read_text(f, what="judge prompt") for m, f in files.items()}
        for metric, template in templates.items():
            if "<gt>" not in template or "<pred>" not in template:
                raise ValueError(f"{files[metric]}: the template has no <gt> or <pred> placeholder.")
        digest = hashlib.sha256("\0".join(templates[m] for m in METRICS).encode()).hexdigest()[:12]
        return cls(language, templates, f"official-{language}-{digest}", True)

    def render(self, metric: str, *, reference: str, candidate: str) -> str:
        """The prompt for one pair: `<gt>` and `<pred>` replaced in that order, as the official script does."""
        return self.templates[metric].replace("<gt>", reference).replace("<pred>", candidate)


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"Invalid language {language!r}; expected one of {LANGUAGES}.")
