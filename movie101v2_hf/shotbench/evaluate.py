"""`movie101v2 shotbench evaluate`: score predictions (ours, or the official runner's) and write the results.

Needs only `test.tsv` (no media). Predictions: our JSONL (`{"index", "prediction"}` per line), or the official
runner's `.xlsx` / `.tsv` (a `prediction` column beside `index`), so predictions users already have re-score.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import FileFormatError
from ..utils.io import read_jsonl
from ..utils.outputs import OutputFolder
from .data import CATEGORIES, read_test_tsv, read_tsv
from .scoring import MATCHER_PROMPT_VERSION, LLMMatcher, score_predictions


def load_shotbench_predictions(path: str | Path) -> dict[int, str]:
    """`{index: raw answer}` from our JSONL or the official `.xlsx` / `.tsv`; a bad line or row names itself."""
    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".xls"):
        import pandas as pd

        try:
            frame = pd.read_excel(path)  # the official runner's file: the TSV's columns plus `prediction`
        except ImportError:
            raise
        except Exception as err:  # noqa: BLE001 (openpyxl raises many types for a broken workbook)
            raise FileFormatError(
                f"not a readable Excel workbook ({type(err).__name__}: {err}); save it again as .xlsx, or as .tsv",
                path=path,
            ) from None
        records = frame.to_dict("records")
        source = [(k + 2, r) for k, r in enumerate(records)]
    elif path.suffix.lower() == ".tsv":
        source = read_tsv(path, what="predictions")[1]
    else:
        source = list(read_jsonl(path, what="predictions file"))
    predictions: dict[int, str] = {}
    for line, row in source:
        try:
            index, prediction = int(row["index"]), row["prediction"]
        except (KeyError, TypeError, ValueError):
            raise FileFormatError('expected "index" and "prediction"', path=path, line=line) from None
        if index in predictions:
            raise FileFormatError(f"a second prediction for question {index}", path=path, line=line)
        predictions[index] = "" if prediction is None or prediction != prediction else str(prediction)  # NaN: empty
    return predictions


def majority_baseline(rows: list[dict[str, Any]]) -> dict[int, str]:
    """A trivial baseline: every question answered with its dimension's most frequent correct letter (ties: the
    first letter). It reads the answers, so it is a floor to beat, not a model.

    Example:
        >>> majority_baseline([{"index": 1, "category": "shot size", "answer": "B"}, {"index": 2, "category": "shot size", "answer": "B"}])
        {1: 'B', 2: 'B'}
    """
    from collections import Counter

    counts: dict[str, Counter] = {}
    for row in rows:
        counts.setdefault(row["category"], Counter())[row["answer"]] += 1
    majority = {category: sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] for category, c in counts.items()}
    return {row["index"]: majority[row["category"]] for row in rows}


def published_results() -> dict[str, Any]:
    """ShotBench's published accuracies (a selection of its README's table), shipped with the package."""
    text = resources.files("movie101v2_hf.data").joinpath("shotbench_published.json").read_text("utf-8")
    return json.loads(text)


def evaluate_shotbench(
    predictions_path: str | Path, data: str | Path, *, out: str | Path, matcher: LLMMatcher | None = None
) -> dict[str, Any]:
    """Score predictions against `data/test.tsv`; writes `results.json`, `per_row.jsonl` and `report.html`.

    Example:
        >>> import json
        >>> from movie101v2_hf.shotbench import read_test_tsv
        >>> rows = read_test_tsv(f"{mini_shotbench}/test.tsv")
        >>> lines = [json.dumps({"index": row["index"], "prediction": row["answer"]}) for row in rows]
        >>> _ = (tmp / "preds.jsonl").write_text("\\n".join(lines) + "\\n")
        >>> evaluate_shotbench(tmp / "preds.jsonl", mini_shotbench, out=tmp / "shotbench")["scores"]["Overall"]
        100.0
    """
    with OutputFolder(
        out, job="shotbench evaluate", inputs={"--predictions": predictions_path, "--data": data}
    ) as folder:
        return _evaluate(predictions_path, data, folder, matcher)


def _evaluate(
    predictions_path: str | Path, data: str | Path, folder: OutputFolder, matcher: LLMMatcher | None
) -> dict[str, Any]:
    rows = read_test_tsv(Path(data) / "test.tsv", check_media=False)
    scored = score_predictions(rows, load_shotbench_predictions(predictions_path), matcher=matcher)
    per_row = scored.pop("per_row")
    results = {
        "benchmark": "ShotBench",
        "data": str(data),
        "predictions": str(predictions_path),
        **scored,
        "matcher": None
        if matcher is None
        else {
            "judge_model": matcher.backend.model,
            "judge_backend": matcher.backend.name,
            "prompt_version": MATCHER_PROMPT_VERSION,
            "calls": matcher.calls,
        },
        "complete": scored["matcher_failed"] == 0,
        "package_version": __version__,
    }
    folder.write("per_row.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in per_row))
    folder.write("report.html", _report(results))
    folder.write("results.json", json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return results


def _report(results: dict[str, Any]) -> str:
    columns = [abbr for abbr, _ in CATEGORIES.values()] + ["Avg", "Overall"]
    published = published_results()

    def row(label: str, scores: dict[str, float]) -> str:
        cells = "".join(f"<td>{scores[c]:.1f}</td>" if c in scores else "<td></td>" for c in columns)
        return f"<tr><td>{html.escape(label)}</td>{cells}</tr>"

    body = [row("this run", results["scores"])] + [row(r["model"], r["scores"]) for r in published["rows"]]
    unresolved = results["num_unresolved"]
    note = f"{unresolved} answer(s) matched no option and count as wrong (no random choice)." if unresolved else ""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ShotBench</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{border:1px solid #ccc;padding:4px 8px}}</style></head>
<body><h1>ShotBench accuracy (%)</h1><p>{results["num_rows"]} questions; resolved by {html.escape(str(results["resolved_by"]))}.
{html.escape(note)}</p>
<table><tr><th>run</th>{"".join(f"<th>{c}</th>" for c in columns)}</tr>{"".join(body)}</table>
<p>Published rows: {html.escape(published["source"])}. {html.escape(published["note"])}</p></body></html>
"""
