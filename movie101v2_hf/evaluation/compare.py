"""Runs side by side: `movie101v2 compare` (two systems on the same clips: is B better than A?) and
`movie101v2 agreement` (the same predictions judged by several judges: can one stand in for another?).

Both read evaluation folders (`movie101v2 evaluate --out DIR`, or a `bench` run folder): `results.json` for the
provenance and `per_sample.jsonl` for the per-clip parts every score is recomputed from.
"""

from __future__ import annotations

import html
import io
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FileFormatError
from ..utils.io import read_json, read_jsonl
from ..utils.outputs import OutputFolder
from .evaluate import sample_parts
from .stats import SampleParts, few_movies_warning, paired_comparison
from .suite import judged_scores

# agreement is measured on the judge's own 0-5 answers: score name -> (per-sample key, field)
AGREEMENT_SCORES = {"L1-Env": ("L1", "env"), "L1-Char": ("L1", "char"), "L2": ("L2", "plot")}


@dataclass
class EvaluatedRun:
    """An evaluation folder read back: its results and its per-clip lines."""

    folder: Path
    results: dict[str, Any]
    lines: list[dict[str, Any]]

    @property
    def clip_ids(self) -> list[str]:
        return [line["clip_id"] for line in self.lines]

    @property
    def judge_key(self) -> tuple[str, str] | None:
        """(judge model, prompt version), or None for a run without L1/L2."""
        judge = self.results.get("judge") or {}
        return (judge["judge_model"], judge["prompt_version"]) if judge.get("judge_model") else None

    def parts(self) -> SampleParts:
        """The per-clip parts of every score of this run."""
        per_clip: dict[str, list[Any]] = {}
        for line in self.lines:
            for name, value in line.get("clip_scores", {}).items():
                per_clip.setdefault(name, []).append(value)
        tokens = None
        if all("tokens" in line for line in self.lines):
            tokens = ([line["tokens"][0] for line in self.lines], [line["tokens"][1] for line in self.lines])
        return sample_parts([line["movie_id"] for line in self.lines], per_clip, tokens, self.results["scores"])

    def judged(self, key: str, item: str) -> list[int | None]:
        """A judge's 0-5 answer per clip (`key` "L1" or "L2", `item` "env", "char" or "plot"), None where invalid."""
        return [None if line.get(key) is None else line[key][item] for line in self.lines]


def load_run(folder: str | Path) -> EvaluatedRun:
    """Read an evaluation folder.

    Raises:
        FileNotFoundError: the folder has no `results.json` or `per_sample.jsonl`.
        FileFormatError: a line of `per_sample.jsonl` was not written by this version's `evaluate`.
    """
    folder = Path(folder)
    results_path, lines_path = folder / "results.json", folder / "per_sample.jsonl"
    for path in (results_path, lines_path):
        if not path.is_file():
            raise FileNotFoundError(
                f"{folder} is not an evaluation folder: {path.name} is missing. Pass the --out folder of "
                "`movie101v2 evaluate` or a `movie101v2 bench` run folder."
            )
    lines = [line for _, line in read_jsonl(lines_path, what="per-sample file")]
    for number, line in enumerate(lines, start=1):
        if not isinstance(line, dict) or "movie_id" not in line or "clip_scores" not in line:
            raise FileFormatError(
                "a line without movie_id and clip_scores: this folder was evaluated by an older version. "
                "Re-run `movie101v2 evaluate` (judgments come from the cache, at no cost).",
                path=lines_path,
                line=number,
            )
    return EvaluatedRun(folder, _results(results_path), lines)


def _results(path: Path) -> dict[str, Any]:
    """`results.json` of an evaluation folder, with the fields `compare` and `agreement` read checked."""
    results = read_json(path, what="results file", fix="re-run `movie101v2 evaluate` into a new folder")
    expected = {"scores": dict, "complete": bool}
    wrong = [
        name
        for name, kind in expected.items()
        if not isinstance(results, dict) or not isinstance(results.get(name), kind)
    ]
    if wrong:
        raise FileFormatError(
            f"missing or mistyped field(s) {wrong}: not the results of `movie101v2 evaluate`; re-run it into a new "
            "folder",
            path=path,
        )
    if results.get("judge") is not None and not isinstance(results["judge"], dict):
        raise FileFormatError('the field "judge" is not an object; re-run `movie101v2 evaluate`', path=path)
    return results


def compare_runs(
    a: EvaluatedRun, b: EvaluatedRun, *, resamples: int = 1000, seed: int = 0, allow_different_judges: bool = False
) -> dict[str, Any]:
    """Per score: A, B, B - A, its 95% interval by paired bootstrap over movies, and a two-sided p-value.

    Raises:
        ValueError: the runs are on different clips, or their L1/L2 come from different judges or prompt versions
            (unless `allow_different_judges`).
    """
    if a.clip_ids != b.clip_ids:
        only_a = sorted(set(a.clip_ids) - set(b.clip_ids))
        only_b = sorted(set(b.clip_ids) - set(a.clip_ids))
        example = (only_a or only_b or ["the same clips in another order"])[0]
        raise ValueError(
            f"{a.folder} ({len(a.clip_ids)} clips) and {b.folder} ({len(b.clip_ids)} clips) are not on the same "
            f"clips: {len(only_a)} only in A, {len(only_b)} only in B (e.g. {example}). Compare evaluations of the "
            "same config and split."
        )
    key_a, key_b = a.judge_key, b.judge_key
    different_judges = bool(key_a and key_b and key_a != key_b)
    if key_a and key_b and different_judges and not allow_different_judges:
        raise ValueError(
            f"L1/L2 of {a.folder} were judged by {key_a[0]} with prompts {key_a[1]}, those of {b.folder} "
            f"by {key_b[0]} with {key_b[1]}: scores of different judges or prompts do not compare. "
            "Evaluate both with the same judge, or pass --allow-different-judges to compare anyway."
        )
    parts_a, parts_b = a.parts(), b.parts()
    judged_clips = _on_common_judgments(parts_a, parts_b)
    table = paired_comparison(parts_a, parts_b, resamples=resamples, seed=seed)
    complete = {"A": a.results.get("complete", True), "B": b.results.get("complete", True)}
    return {
        "A": str(a.folder),
        "B": str(b.folder),
        "num_clips": len(a.clip_ids),
        "num_movies": len({line["movie_id"] for line in a.lines}),
        "bootstrap": {
            "resamples": resamples,
            "seed": seed,
            "unit": "movie",
            "paired": True,
            "warning": few_movies_warning([line["movie_id"] for line in a.lines]),
        },
        "judges": {"A": a.results.get("judge"), "B": b.results.get("judge"), "differ": bool(different_judges)},
        "complete": complete,
        "partial": [name for name, done in complete.items() if not done],
        "judged_clips": judged_clips,
        "scores": table,
    }


def _on_common_judgments(a: SampleParts, b: SampleParts) -> dict[str, int]:
    """Judged scores of A and B on the clips with a valid judgment in both (in place: a clip invalid in one run is
    left out of both, so the means compare the same clips); returns, per score, how many clips that leaves."""
    counts = {}
    for name in judged_scores():
        if name in a.means and name in b.means:
            missing = np.isnan(a.means[name]) | np.isnan(b.means[name])
            a.means[name][missing] = np.nan
            b.means[name][missing] = np.nan
            counts[name] = int((~missing).sum())
    return counts


def write_comparison(comparison: dict[str, Any], out: str | Path) -> Path:
    """`comparison.json`, `comparison.md` and `comparison.html` in `out`; returns the Markdown path."""
    header = ["score", "A", "B", "B-A", "95% interval of B-A", "p"]
    rows = []
    for name, row in comparison["scores"].items():
        flag = " (judges differ)" if comparison["judges"]["differ"] and name in judged_scores() else ""
        low, high = row["ci95"]
        rows.append(
            [
                name + flag,
                f"{row['A']:.2f}",
                f"{row['B']:.2f}",
                f"{row['B-A']:+.2f}",
                f"[{low:+.2f}, {high:+.2f}]",
                f"{row['p_value']:.3f}",
            ]
        )
    intro = (
        f"A: {comparison['A']}\nB: {comparison['B']}\n{comparison['num_clips']} clips of "
        f"{comparison['num_movies']} movies; paired bootstrap over movies, {comparison['bootstrap']['resamples']} "
        f"resamples (seed {comparison['bootstrap']['seed']}). An interval that excludes 0 (p < 0.05) is a "
        "difference these clips support."
    )
    if judged := comparison.get("judged_clips"):
        intro += "\nJudged scores on the clips with a valid judgment in both runs: " + ", ".join(
            f"{name} {count}" for name, count in judged.items()
        )
        intro += "."
    if warning := comparison["bootstrap"].get("warning"):
        intro += f"\nWarning: {warning}."
    if partial := comparison.get("partial"):
        runs = " and ".join(f"{name} ({comparison[name]})" for name in partial)
        intro = (
            f"PARTIAL: {runs} {'is an incomplete run' if len(partial) == 1 else 'are incomplete runs'} "
            + "(complete: false in results.json): these differences are not final.\n"
            + intro
        )
        rows = [[f"{row[0]} (partial)", *row[1:]] for row in rows]
    markdown = "\n".join(
        [intro.replace("\n", "  \n"), "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        + ["| " + " | ".join(row) + " |" for row in rows]
    )
    cells = "".join(f"<tr>{''.join(f'<td>{html.escape(c)}</td>' for c in row)}</tr>" for row in rows)
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Movie101v2 comparison</title></head>'
        f"<body><h1>Movie101v2: B vs A</h1><p>{html.escape(intro).replace(chr(10), '<br>')}</p><table border=1>"
        f"<tr>{''.join(f'<th>{html.escape(h)}</th>' for h in header)}</tr>{cells}</table></body></html>"
    )
    with OutputFolder(out, job="compare", inputs={"run_a": comparison["A"], "run_b": comparison["B"]}) as folder:
        folder.write("comparison.json", json.dumps(comparison, indent=2, ensure_ascii=False) + "\n")
        folder.write("comparison.html", page)
        return folder.write("comparison.md", markdown + "\n")


# -- agreement between judges ------------------------------------------------------------------------------------


def agreement_statistics(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Agreement of two judges' 0-5 scores on the same items (scipy and scikit-learn do the statistics).

    Example:
        >>> agreement_statistics(np.array([0, 2, 4, 5]), np.array([0, 2, 4, 5]))["kappa_quadratic"]
        1.0
    """
    from scipy import stats
    from sklearn.metrics import cohen_kappa_score

    def defined(value: float) -> float | None:
        return None if np.isnan(value) else round(float(value), 4)

    varied = len(x) > 1 and np.std(x) > 0 and np.std(y) > 0
    return {
        "n": int(len(x)),
        "pearson": defined(stats.pearsonr(x, y).statistic) if varied else None,
        "spearman": defined(stats.spearmanr(x, y).statistic) if varied else None,
        "kappa_quadratic": defined(cohen_kappa_score(x, y, weights="quadratic", labels=list(range(6))))
        if len(x)
        else None,
        "exact_agreement": round(float(np.mean(x == y)), 4) if len(x) else None,
        "mean_absolute_difference": round(float(np.mean(np.abs(x - y))), 4) if len(x) else None,
    }


def _judge_labels(runs: list[EvaluatedRun]) -> list[str]:
    """One label per run: its judge and prompts; a judge run twice on the same predictions gets its folder too."""
    labels = []
    for run in runs:
        if run.judge_key is None:
            raise ValueError(f"{run.folder} has no L1/L2: evaluate it with a judge (--judge-backend ...).")
        labels.append(f"{run.judge_key[0]} ({run.judge_key[1]})")
    seen = [(label, run.results["predictions_sha256"]) for label, run in zip(labels, runs)]
    return [
        f"{label} [{run.folder.name}]" if seen.count(key) > 1 else label for label, key, run in zip(labels, seen, runs)
    ]


def judge_agreement(runs: list[EvaluatedRun]) -> dict[str, Any]:
    """For each pair of judges, agreement on every clip both judged validly, over the prediction files both judged;
    with several prediction files (systems), Kendall's tau between the two judges' rankings of the systems.

    Raises:
        ValueError: a run has no L1/L2, or no two judges judged the same predictions on the same clips.
    """
    from scipy import stats
    from sklearn.metrics import confusion_matrix

    labels = _judge_labels(runs)
    judges = list(dict.fromkeys(labels))
    by_judge = {
        judge: {r.results["predictions_sha256"]: r for label, r in zip(labels, runs) if label == judge}
        for judge in judges
    }
    pairs, rankings = [], []
    for first, second in itertools.combinations(judges, 2):
        systems = [s for s in by_judge[first] if s in by_judge[second]]
        systems = [s for s in systems if by_judge[first][s].clip_ids == by_judge[second][s].clip_ids]
        if not systems:
            continue
        scores, confusions = {}, {}
        for name, (key, item) in AGREEMENT_SCORES.items():
            x, y = [], []
            for system in systems:
                for a, b in zip(by_judge[first][system].judged(key, item), by_judge[second][system].judged(key, item)):
                    if a is not None and b is not None:
                        x.append(a)
                        y.append(b)
            x_arr, y_arr = np.array(x, dtype=int), np.array(y, dtype=int)
            scores[name] = agreement_statistics(x_arr, y_arr)
            confusions[name] = confusion_matrix(x_arr, y_arr, labels=list(range(6))).tolist() if x else None
        pairs.append(
            {"judge_a": first, "judge_b": second, "systems": len(systems), "scores": scores, "confusion": confusions}
        )
        if len(systems) >= 2:
            for name in ("L1", "L2"):
                first_scores = [by_judge[first][s].results["scores"].get(name) for s in systems]
                second_scores = [by_judge[second][s].results["scores"].get(name) for s in systems]
                if None not in first_scores and None not in second_scores:
                    tau = stats.kendalltau(first_scores, second_scores)
                    rankings.append(
                        {
                            "judge_a": first,
                            "judge_b": second,
                            "score": name,
                            "systems": len(systems),
                            "kendall_tau": None if np.isnan(tau.statistic) else round(float(tau.statistic), 4),
                            "p_value": None if np.isnan(tau.pvalue) else round(float(tau.pvalue), 4),
                        }
                    )
    if not pairs:
        raise ValueError(
            "No two judges judged the same predictions on the same clips: pass evaluation folders of one prediction "
            "file judged by different judges (or twice by one)."
        )
    return {"runs": [str(run.folder) for run in runs], "judges": judges, "pairs": pairs, "rankings": rankings}


def write_agreement(agreement: dict[str, Any], out: str | Path) -> Path:
    """`agreement.json` and `agreement.png` (one confusion matrix per score and judge pair) in `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = agreement["pairs"]
    figure, axes = plt.subplots(
        len(pairs), len(AGREEMENT_SCORES), figsize=(4 * len(AGREEMENT_SCORES), 3.6 * len(pairs)), squeeze=False
    )
    for row, pair in zip(axes, pairs):
        for ax, name in zip(row, AGREEMENT_SCORES):
            matrix = np.array(pair["confusion"][name] or np.zeros((6, 6)))
            ax.imshow(matrix, cmap="Blues")
            for (i, j), count in np.ndenumerate(matrix):
                ax.text(j, i, int(count), ha="center", va="center", fontsize=7)
            kappa = pair["scores"][name]["kappa_quadratic"]
            ax.set_title(f"{name}: kappa {kappa if kappa is not None else 'n/a'}", fontsize=9)
            ax.set_xlabel(pair["judge_b"][:40], fontsize=7)
            ax.set_ylabel(pair["judge_a"][:40], fontsize=7)
            ax.set_xticks(range(6))
            ax.set_yticks(range(6))
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=110)
    plt.close(figure)
    inputs = {f"run {k + 1}": run for k, run in enumerate(agreement["runs"])}
    with OutputFolder(out, job="agreement", inputs=inputs) as folder:
        folder.write("agreement.png", image.getvalue())
        return folder.write("agreement.json", json.dumps(agreement, indent=2, ensure_ascii=False) + "\n")
