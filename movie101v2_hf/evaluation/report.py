"""The HTML report of an evaluation: a table of scores and a bar chart (PNG) beside reference results.

Reference results are the paper's Table 4 rows of the run's config (`movie101v2_hf.paper`), or a JSON file
given with `--baselines FILE`: a list of `{"model": ..., "judge": ..., "config": "en", "source": ...,
"scores": {"L1": ..., "L2": ...}}`. Each row is labelled with the judge that produced it, and the report says
so when the run's judge is another one: scores from different judges do not compare.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from ..data.paper import paper_table4
from ..errors import FileFormatError
from ..utils.io import read_json
from ..utils.outputs import OutputFolder, output_folder
from .suite import score_names

PAPER_SOURCE = "the Movie101v2 paper's Table 4"


def load_baselines(path: str | Path | None, config: str) -> list[dict[str, Any]]:
    """Reference results for `config`: from `path`, else the paper's Table 4 rows of that config.

    Example:
        >>> [row["model"] for row in load_baselines(None, "zh")][:2]
        ['InternVL2', 'CogVLM2-video']
    """
    if path is None:
        return paper_table4(config)
    entries = read_json(path, what="baselines file")
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and "model" in e and isinstance(e.get("scores"), dict) for e in entries
    ):
        raise FileFormatError('expected a JSON list of objects with "model" and "scores".', path=path)
    return [e for e in entries if e.get("config", config) == config]


def baseline_label(entry: dict[str, Any]) -> str:
    """`model (with characters; judge: J)`: what a reference row is, and who judged it."""
    parts = []
    if "character_input" in entry:
        parts.append("with characters" if entry["character_input"] else "without characters")
    parts.append(f"judge: {entry.get('judge') or '?'}")
    return f"{entry['model']} ({'; '.join(parts)})"


def judge_note(results: dict[str, Any], references: list[dict[str, Any]]) -> str | None:
    """A warning when the reference rows' L1/L2 were judged by another judge than this run's (or this run has none).

    Example:
        >>> paper_rows = [{"judge": "gpt-3.5-turbo-1106", "scores": {"L1": 31.4}}]
        >>> judge_note({"judge": {"judge_model": "meta-llama/Llama-3.1-70B-Instruct"}}, paper_rows)
        'The reference rows were judged by gpt-3.5-turbo-1106, this run by meta-llama/Llama-3.1-70B-Instruct: L1 and L2 from different judges do not compare.'
    """
    theirs = sorted({str(e.get("judge")) for e in references if any(k.startswith("L") for k in e["scores"])})
    if not theirs:
        return None
    ours = (results.get("judge") or {}).get("judge_model")
    if ours is None:
        return f"The reference rows' L1 and L2 were judged by {', '.join(theirs)}; this run has no judge."
    if theirs != [ours]:
        return (
            f"The reference rows were judged by {', '.join(theirs)}, this run by {ours}: L1 and L2 from different "
            "judges do not compare."
        )
    return None


def _bar_chart(results: dict[str, Any], runs: list[tuple[str, dict[str, Any]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    shown = [m for m in score_names(where="chart") if any(isinstance(s.get(m), (int, float)) for _, s in runs)]
    # readable at any number of reference rows: the width follows the metrics, the legend sits beside the axes
    figure, axes = plt.subplots(figsize=(min(16.0, 4.0 + 1.2 * len(shown)), 4.5))
    width = 0.8 / len(runs)
    intervals = results.get("ci95") or {}
    for r, (label, run_scores) in enumerate(runs):
        values = [run_scores.get(m) or 0 for m in shown]
        errors = None
        if r == 0 and intervals:  # this run's 95% intervals (bootstrap over movies) as error bars
            errors = [
                [max(0.0, v - intervals[m][0]) if m in intervals else 0 for m, v in zip(shown, values)],
                [max(0.0, intervals[m][1] - v) if m in intervals else 0 for m, v in zip(shown, values)],
            ]
        axes.bar([i + r * width for i in range(len(shown))], values, width, label=label, yerr=errors, capsize=2)
    axes.set_xticks([i + width * (len(runs) - 1) / 2 for i in range(len(shown))], shown, rotation=30)
    axes.set_ylabel("score (0-100; CIDEr x100)")
    axes.set_title(f"Movie101v2 {results['config']} / {results['split']}: {results['num_samples']} clips")
    axes.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_report(
    results: dict[str, Any], out: str | Path | OutputFolder, *, baselines: str | Path | None = None
) -> Path:
    """Write `out/scores.png` and `out/report.html` (this run beside the reference rows); returns the HTML path.

    `out` is an evaluation folder (claimed for `evaluate`, see `utils.outputs`) or the `OutputFolder` of the job
    writing it."""
    with output_folder(out, job="evaluate") as folder:
        return _write_report(results, folder, baselines)


def _write_report(results: dict[str, Any], folder: OutputFolder, baselines: str | Path | None) -> Path:
    scores: dict[str, Any] = results["scores"]
    references = load_baselines(baselines, results["config"])
    _bar_chart(
        results,
        [("this run", scores)] + [(baseline_label(e), e["scores"]) for e in references],
        folder.path("scores.png"),
    )

    def cell(value: Any) -> str:
        return "" if value is None else (f"{value:.2f}" if isinstance(value, float) else html.escape(str(value)))

    columns = [m for m in scores if not m.endswith(("-invalid", "-failed"))]
    columns += [m for e in references for m in e["scores"] if m not in columns]
    header = "".join(f"<th>{html.escape(c)}</th>" for c in ["run", *columns])

    def row(label: str, values: dict[str, Any]) -> str:
        cells = "".join(f"<td>{cell(values.get(c))}</td>" for c in columns)
        return f"<tr><td>{html.escape(label)}</td>{cells}</tr>"

    intervals = results.get("ci95") or {}
    interval_row = "".join(
        f"<td>[{intervals[c][0]:.2f}, {intervals[c][1]:.2f}]</td>" if c in intervals else "<td></td>" for c in columns
    )
    body = [row("this run", scores)]
    if intervals:
        body.append(f"<tr><td>95% interval (bootstrap over movies)</td>{interval_row}</tr>")
    body += [row(baseline_label(e), e["scores"]) for e in references]
    judge = results.get("judge") or {}
    judge_line = (
        f"Judge: {html.escape(str(judge.get('judge_model')))} via {html.escape(str(judge.get('judge_backend')))}, "
        f"prompts {html.escape(str(judge.get('prompt_version')))} "
        f"({'official' if judge.get('official_prompts') else 'not the official prompts: not comparable to the paper'})."
        if judge
        else "No LLM judge was configured: L1 and L2 were not computed."
    )
    invalid = ", ".join(f"{k}: {v}" for k, v in scores.items() if k.endswith(("-invalid", "-failed")))
    status = ""
    if not results.get("complete", True):
        items = "".join(f"<li>{html.escape(p)}</li>" for p in results.get("problems") or ["some judgments failed"])
        status = f"<p><b>Incomplete: these scores are not final.</b></p><ul>{items}</ul>"
    if results.get("num_missing"):
        status += (
            f"<p><b>{results['num_missing']} clip(s) had no prediction</b> (narration failed) and were scored as "
            "empty narrations.</p>"
        )
    source = html.escape(str(baselines)) if baselines else PAPER_SOURCE
    baseline_note = (
        f"Reference rows from {source}."
        if references
        else f"No reference rows for config {html.escape(results['config'])} in {source}."
    )
    if note := judge_note(results, references):
        baseline_note += f" <b>{html.escape(note)}</b>"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Movie101v2 evaluation</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child{{text-align:left}}</style>
</head><body>
<h1>Movie101v2 evaluation</h1>
<p>{html.escape(results["dataset"])}, config <code>{html.escape(results["config"])}</code>, split
<code>{html.escape(results["split"])}</code>, {results["num_samples"]} clips; predictions {html.escape(results["predictions"])};
movie101v2-hf {html.escape(results["package_version"])}.</p>
{status}
<p>{judge_line}{" Invalid/failed judgments (excluded): " + html.escape(invalid) + "." if invalid else ""}</p>
<table><tr>{header}</tr>{"".join(body)}</table>
<p>{baseline_note}</p>
<img src="scores.png" alt="bar chart of the scores">
</body></html>
"""
    return folder.write("report.html", page)
