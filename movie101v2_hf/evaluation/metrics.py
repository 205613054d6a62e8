"""Classic captioning metrics for narrations: BLEU-1..4, METEOR, ROUGE-L, CIDEr, BERTScore, RoleF1.

BLEU, METEOR, ROUGE-L and CIDEr are computed with pycocoevalcap, the reference implementation that
captioning papers report. Tokenization follows the reference of each language:

- English: pycocoevalcap's PTB tokenizer (lower-cased, punctuation removed), as the COCO caption evaluation
  does (equal to pycocoevalcap called directly; tested).
- Chinese: every character is a token, punctuation included; whitespace is dropped. This is what Movie101's
  own released evaluation does (`Movie101v1/baseline/RMN/metrics/evaluation.py` in the Movie101 repository
  joins each character of a narration with spaces before pycocoevalcap's BLEU, METEOR and CIDEr), so Chinese
  scores compare with Movie101's. ROUGE-L, which that script does not report, uses the same tokens.

An empty narration is scored as empty (no tokens: it matches nothing), not replaced by a placeholder word.
The PTB tokenizer and METEOR run on Java. All scores are reported x100.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import require


def _check_pairs(predictions: Sequence[str], references: Sequence[Any]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references; they must pair up.")
    if not predictions:
        raise ValueError("No predictions to score.")


def tokenize(texts: Sequence[str], *, language: str) -> list[str]:
    """Space-joined tokens as pycocoevalcap expects them (Chinese: one per character, punctuation included).

    Example:
        >>> tokenize(["程勇走进店里。", "他说：“走 吧！”"], language="zh")
        ['程 勇 走 进 店 里 。', '他 说 ： “ 走 吧 ！ ”']
    """
    if language == "zh":
        return [" ".join(ch for ch in text if not ch.isspace()) for text in texts]
    if language != "en":
        raise ValueError(f"Invalid language {language!r}; expected 'en' or 'zh'.")
    _require_java()
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    tokenized = PTBTokenizer().tokenize({i: [{"caption": text}] for i, text in enumerate(texts)})
    return [tokenized[i][0] for i in range(len(texts))]


def _require_java() -> None:
    """pycocoevalcap, and Java for what runs on it: the PTB tokenizer (English) and METEOR."""
    require("pycocoevalcap", extra="metrics", feature="BLEU, METEOR, ROUGE-L and CIDEr")
    if shutil.which("java") is None:
        raise FileNotFoundError(
            "pycocoevalcap's PTB tokenizer and METEOR need Java on PATH. Install a JRE "
            "(Debian/Ubuntu: `apt-get install -y default-jre-headless`)."
        )


@dataclass
class CaptionScores:
    """Corpus scores (x100) and what the intervals need: the tokenized clips and per-clip METEOR and ROUGE-L."""

    scores: dict[str, float]
    candidate_tokens: list[str]
    reference_tokens: list[str]
    per_clip: dict[str, list[float]]


def caption_metrics(
    predictions: Sequence[str], references: Sequence[str], *, language: str = "en", meteor: bool = True
) -> CaptionScores:
    """Corpus BLEU-1..4, METEOR, ROUGE-L and CIDEr (x100), one reference per prediction, with per-clip parts.

    Java is needed only where something runs on it: English tokenization and METEOR (Chinese BLEU, ROUGE-L and
    CIDEr are Python).

    Example:
        >>> caption_metrics(["他走了"], ["他走了"], language="zh", meteor=False).scores["BLEU-1"]
        100.0
    """
    _check_pairs(predictions, references)
    require("pycocoevalcap", extra="metrics", feature="BLEU, METEOR, ROUGE-L and CIDEr")
    if meteor:
        _require_java()
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    candidates, refs = tokenize(predictions, language=language), tokenize(references, language=language)
    # an empty string is a valid candidate for every scorer: it has no n-gram, so it matches nothing
    res = {i: [c] for i, c in enumerate(candidates)}
    gts = {i: [r] for i, r in enumerate(refs)}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    scores = {f"BLEU-{n + 1}": bleu[n] for n in range(4)}
    per_clip: dict[str, list[float]] = {}
    if meteor:
        from pycocoevalcap.meteor.meteor import Meteor

        scorer = Meteor()  # a Java process, ended when the scorer is garbage-collected
        scores["METEOR"], segments = scorer.compute_score(gts, res)
        per_clip["METEOR"] = [float(v) * 100 for v in segments]
        del scorer
    scores["ROUGE-L"], rouge = Rouge().compute_score(gts, res)
    per_clip["ROUGE-L"] = [float(v) * 100 for v in rouge]
    scores["CIDEr"] = Cider().compute_score(gts, res)[0]
    scores = {name: round(float(value) * 100, 4) for name, value in scores.items()}
    return CaptionScores(scores, candidates, refs, per_clip)


def caption_scores(
    predictions: Sequence[str], references: Sequence[str], *, language: str = "en", meteor: bool = True
) -> dict[str, float]:
    """Corpus BLEU-1..4, METEOR, ROUGE-L and CIDEr (x100), one reference per prediction.

    Example:
        >>> caption_scores(["他 走 了"], ["他 走 了"], language="zh", meteor=False)["BLEU-1"]
        100.0
    """
    return caption_metrics(predictions, references, language=language, meteor=meteor).scores


def bertscore(
    predictions: Sequence[str],
    references: Sequence[str],
    *,
    model_path: str | Path,
    num_layers: int | None = None,
    batch_size: int = 32,
    device: str | None = None,
) -> dict[str, float]:
    """BERTScore P/R/F1 (x100) with a local model; nothing is downloaded.

    Args:
        model_path: a local model folder (for example a downloaded `roberta-large` for English or
            `bert-base-chinese` for Chinese, the models BERTScore uses by default).
        num_layers: the layer whose embeddings are compared (default: the model's last layer).

    Raises:
        FileNotFoundError: `model_path` is not a local model folder.
    """
    _check_pairs(predictions, references)
    require("bert_score", extra="metrics", feature="BERTScore")
    path = Path(model_path).expanduser()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"BERTScore needs a local model folder with config.json, got {model_path!r}. Download one where you have "
            "internet (e.g. `hf download roberta-large --local-dir models/roberta-large`) and pass its path; this "
            "package never downloads models."
        )
    from bert_score import BERTScorer
    from transformers import AutoConfig

    layers = num_layers or AutoConfig.from_pretrained(path).num_hidden_layers
    scorer = BERTScorer(model_type=str(path), num_layers=layers, batch_size=batch_size, device=device)
    precision, recall, f1 = scorer.score(list(predictions), list(references))
    values = {"BERTScore-P": precision, "BERTScore-R": recall, "BERTScore-F1": f1}
    return {
        **{name: round(v.mean().item() * 100, 4) for name, v in values.items()},
        "per_sample": {name: [float(x) * 100 for x in v.tolist()] for name, v in values.items()},
    }


def role_f1(
    predictions: Sequence[str], reference_characters: Sequence[Sequence[str]], casts: Sequence[Sequence[str]]
) -> dict[str, Any]:
    """RoleF1 as in Movie101: F1 between the characters marked in the reference and the cast names the
    candidate mentions (substring match), per sample, then averaged (x100). A sample whose reference marks
    no character, or whose candidate names none, scores 0 and counts in the average, as in Movie101.

    How it differs from Movie101's `rolef1.py` (`Movie101v1/evaluation/MCN/rolef1.py` in the Movie101 repository):

    - Names are matched against the clip's own movie's cast only; `rolef1.py` matches every candidate against the
      role names of every movie of the release, so a name from another movie that occurs in the candidate counts
      as a (wrong) prediction there and not here.
    - No names are skipped; `rolef1.py` skips a fixed list of twelve Chinese role names that are also common words
      (such as 司机 "driver" or 大海 "sea") and would otherwise match ordinary text.
    - The ground truth is the names marked `[Name]` in the reference narration (completed across languages,
      see the dataset's `characters`), in English or Chinese; `rolef1.py` reads Chinese role lists from its own
      annotation file.

    The per-sample arithmetic (precision over the distinct names mentioned, recall over the distinct names in the
    reference, F1, zero when either side is empty) is the same.

    Example:
        >>> role_f1(["Cheng Yong meets Lv."], [["Cheng Yong", "Lv Shouyi"]], [["Cheng Yong", "Lv Shouyi", "Cao Bin"]])["RoleF1"]
        66.6667
    """
    _check_pairs(predictions, reference_characters)
    if len(casts) != len(predictions):
        raise ValueError(f"{len(casts)} cast lists for {len(predictions)} predictions; give one per prediction.")
    per_sample = []
    for candidate, truth, cast in zip(predictions, reference_characters, casts):
        mentioned = {name for name in cast if name and name in candidate}
        named = set(truth)
        hits = len(mentioned & named)
        p = hits / len(mentioned) if mentioned and named else 0.0
        r = hits / len(named) if mentioned and named else 0.0
        per_sample.append({"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0})

    def mean(key: str) -> float:
        return round(sum(s[key] for s in per_sample) / len(per_sample) * 100, 4)

    return {"RoleP": mean("precision"), "RoleR": mean("recall"), "RoleF1": mean("f1"), "per_sample": per_sample}
