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

from ..data.pacing import UNITS
from ..data.paper import paper_table4
from ..errors import FileFormatError
from ..utils.io import read_json
from ..utils.outputs import OutputFolder, output_folder
from .suite import judged_scores, score_names, specs

PAPER_SOURCE = "the Movie101v2 paper's Table 4"
REFERENCE_ROW = "reference narrations"


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


def chart_panels(shown: list[str]) -> list[tuple[str, list[str]]]:
    """The chart's panels, each on its own scale: judged scores, the others on 0-100, and one per other unit
    (L3-Overrun in seconds).

    Example:
        >>> chart_panels(["BLEU-4", "CIDEr", "L1", "L2", "L3-Fit", "L3-Overrun"])
        [('LLM-judged (0-100)', ['L1', 'L2']), ('reference-based and L3 (0-100; CIDEr x100)', ['BLEU-4', 'CIDEr', 'L3-Fit']), ('seconds', ['L3-Overrun'])]
    """
    judged = set(judged_scores())
    units = {score: unit for spec in specs() for score, unit in spec.units.items()}
    panels: dict[str, list[str]] = {}
    for score in shown:
        label = units.get(score) or (
            "LLM-judged (0-100)" if score in judged else "reference-based and L3 (0-100; CIDEr x100)"
        )
        panels.setdefault(label, []).append(score)
    order = ["LLM-judged (0-100)", "reference-based and L3 (0-100; CIDEr x100)"]
    return sorted(panels.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order))


def _bar_chart(results: dict[str, Any], runs: list[tuple[str, dict[str, Any]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    shown = [m for m in score_names(where="chart") if any(isinstance(s.get(m), (int, float)) for _, s in runs)]
    panels = chart_panels(shown)
    # readable at any number of reference rows: each panel as wide as its scores, the legend below the axes
    widths = [max(2, len(scores)) for _, scores in panels]
    figure, axes_row = plt.subplots(
        1, len(panels), figsize=(min(18.0, 3.0 + 1.3 * sum(widths)), 5.0), width_ratios=widths, squeeze=False
    )
    intervals = results.get("ci95") or {}
    palette = plt.get_cmap("tab10" if len(runs) <= 10 else "tab20")
    colors = {label: palette(k % palette.N) for k, (label, _) in enumerate(runs)}  # one colour per run, all panels
    for axes, (label, scores) in zip(axes_row[0], panels):
        present = [(name, s) for name, s in runs if any(isinstance(s.get(m), (int, float)) for m in scores)]
        width = 0.8 / len(present)
        for r, (run_label, run_scores) in enumerate(present):
            values = [run_scores.get(m) if isinstance(run_scores.get(m), (int, float)) else 0 for m in scores]
            errors = None
            if run_label == "this run" and intervals:  # this run's 95% intervals (bootstrap over movies) as error bars
                errors = [
                    [max(0.0, v - intervals[m][0]) if m in intervals else 0 for m, v in zip(scores, values)],
                    [max(0.0, intervals[m][1] - v) if m in intervals else 0 for m, v in zip(scores, values)],
                ]
            positions = [i + r * width for i in range(len(scores))]
            axes.bar(positions, values, width, label=run_label, color=colors[run_label], yerr=errors, capsize=2)
        axes.set_xticks([i + width * (len(present) - 1) / 2 for i in range(len(scores))], scores, rotation=30)
        axes.set_title(label, fontsize=9)
    figure.suptitle(f"Movie101v2 {results['config']} / {results['split']}: {results['num_samples']} clips")
    handles = {label: handle for axes in axes_row[0] for handle, label in zip(*axes.get_legend_handles_labels())}
    legend = [(label, handles[label]) for label, _ in runs if label in handles]  # in the table's order
    figure.legend(
        [h for _, h in legend],
        [label for label, _ in legend],
        fontsize=6,
        loc="lower center",
        ncol=min(4, len(runs)),
        frameon=False,
    )
    figure.tight_layout(rect=(0, 0.04 + 0.03 * ((len(runs) + 3) // 4), 1, 1))
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _pace_line(results: dict[str, Any]) -> str:
    """What L3 was measured against, for the report."""
    pace = results.get("pace")
    if not pace:
        return ""
    return (
        f"L3 speaks each narration at {pace['p95']:.2f} {UNITS[pace['language']]} (the describers' 95th percentile, "
        f"from {html.escape(pace['source'])}); the row '{REFERENCE_ROW}' is the references' own L3, the ceiling."
    )


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
    ceiling = results.get("reference_scores") or {}
    runs = [("this run", scores)]
    runs += [(REFERENCE_ROW, ceiling)] if ceiling else []
    runs += [(baseline_label(e), e["scores"]) for e in references]
    _bar_chart(results, runs, folder.path("scores.png"))

    def cell(value: Any) -> str:
        return "" if value is None else (f"{value:.2f}" if isinstance(value, float) else html.escape(str(value)))

    # every score once, in the run's order, then those only reference rows have
    columns = list(dict.fromkeys([m for m in scores if not m.endswith(("-invalid", "-failed"))]))
    columns += list(dict.fromkeys(m for e in references for m in e["scores"] if m not in columns))
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
    if ceiling:
        body.append(row(REFERENCE_ROW, ceiling))
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
    pace_line = _pace_line(results)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Movie101v2 evaluation</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child{{text-align:left;min-width:18em}}</style>
</head><body>
<h1>Movie101v2 evaluation</h1>
<p>{html.escape(results["dataset"])}, config <code>{html.escape(results["config"])}</code>, split
<code>{html.escape(results["split"])}</code>, {results["num_samples"]} clips; predictions {html.escape(results["predictions"])};
movie101v2-hf {html.escape(results["package_version"])}.</p>
{status}
<p>{judge_line}{" Invalid/failed judgments (excluded): " + html.escape(invalid) + "." if invalid else ""}</p>
<table><tr>{header}</tr>{"".join(body)}</table>
<p>{baseline_note}</p>
<p>{pace_line}</p>
<p><a href="clips.html">Every clip: frames, texts and scores, sortable (clips.html)</a></p>
<img src="scores.png" alt="bar chart of the scores">
</body></html>
"""
    return folder.write("report.html", page)
