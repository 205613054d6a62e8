"""The HTML report of an evaluation: a table of scores and a bar chart (PNG) beside reference results.

Reference results come from a JSON file (`--baselines FILE`, or `movie101v2_hf/data/paper_table4.json`
when present): a list of `{"model": ..., "judge": ..., "config": "en", "source": ..., "scores": {"L1": ...,
"L2": ...}}`, each labelled with the judge that produced it, since scores from different judges do not
compare. The paper's Table 4 figures are not bundled yet: this build had no copy of them.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from .utils.io import write_atomically

CHART_METRICS = ("BLEU-4", "METEOR", "ROUGE-L", "CIDEr", "RoleF1", "L1-Env", "L1-Char", "L1", "L2")


PAPER_BASELINES = "paper_table4.json"  # in movie101v2_hf/data/ once the paper's figures are bundled


def load_baselines(path: str | Path | None, config: str) -> list[dict[str, Any]]:
    """Reference results for `config` from `path`, else from the packaged paper figures when bundled."""
    if path is None:
        from importlib import resources

        packaged = resources.files("movie101v2_hf.data").joinpath(PAPER_BASELINES)
        if not packaged.is_file():
            return []
        path = str(packaged)
    entries = json.loads(Path(path).read_text("utf-8"))
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and "model" in e and "scores" in e for e in entries
    ):
        raise ValueError(f'{path}: expected a JSON list of objects with "model" and "scores".')
    return [e for e in entries if e.get("config", config) == config]


def write_report(results: dict[str, Any], out: str | Path, *, baselines: str | Path | None = None) -> Path:
    """Write `out/scores.png` and `out/report.html`; returns the HTML path."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    scores: dict[str, Any] = results["scores"]
    references = load_baselines(baselines, results["config"])
    runs = [("this run", scores)] + [(f"{e['model']} ({e.get('judge', 'judge?')})", e["scores"]) for e in references]
    shown = [m for m in CHART_METRICS if any(isinstance(s.get(m), (int, float)) for _, s in runs)]

    figure, axes = plt.subplots(figsize=(max(6, 1.1 * len(shown) * max(1, len(runs)) ** 0.5), 4))
    width = 0.8 / len(runs)
    for r, (label, run_scores) in enumerate(runs):
        values = [run_scores.get(m) or 0 for m in shown]
        axes.bar([i + r * width for i in range(len(shown))], values, width, label=label)
    axes.set_xticks([i + width * (len(runs) - 1) / 2 for i in range(len(shown))], shown, rotation=30)
    axes.set_ylabel("score (0-100; CIDEr x100)")
    axes.set_title(f"Movie101v2 {results['config']} / {results['split']}: {results['num_samples']} clips")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out / "scores.png", dpi=120)
    plt.close(figure)

    def cell(value: Any) -> str:
        return "" if value is None else (f"{value:.2f}" if isinstance(value, float) else html.escape(str(value)))

    columns = [m for m in scores if not m.endswith(("-invalid", "-failed"))]
    header = "".join(f"<th>{html.escape(c)}</th>" for c in ["run", *columns])

    def row(label: str, values: dict[str, Any]) -> str:
        cells = "".join(f"<td>{cell(values.get(c))}</td>" for c in columns)
        return f"<tr><td>{html.escape(label)}</td>{cells}</tr>"

    body = [row("this run", scores)]
    for entry in references:
        label = f"{entry['model']} (judge: {entry.get('judge', '?')}; {entry.get('source', '')})"
        body.append(row(label, entry["scores"]))
    judge = results.get("judge") or {}
    judge_line = (
        f"Judge: {html.escape(str(judge.get('judge_model')))} via {html.escape(str(judge.get('judge_backend')))}, "
        f"prompts {html.escape(str(judge.get('prompt_version')))} "
        f"({'official' if judge.get('official_prompts') else 'not the official prompts: not comparable to the paper'})."
        if judge
        else "No LLM judge was configured: L1 and L2 were not computed."
    )
    invalid = ", ".join(f"{k}: {v}" for k, v in scores.items() if k.endswith(("-invalid", "-failed")))
    status = (
        "" if results.get("complete", True) else "<p><b>Incomplete:</b> some judgments failed; re-run to finish.</p>"
    )
    if results.get("num_missing"):
        status += (
            f"<p><b>{results['num_missing']} clip(s) had no prediction</b> (narration failed) and were scored as "
            "empty narrations.</p>"
        )
    baseline_note = (
        f"Reference results from {html.escape(str(baselines))}."
        if references
        else "No reference results given (pass --baselines FILE); the paper's Table 4 figures are not bundled yet."
    )
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
    write_atomically(out / "report.html", page)
    return out / "report.html"
