"""The paper's figures shipped with the package, and the report that puts a run beside them."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from movie101v2_hf.data.paper import TABLE4_JUDGE, paper_table2, paper_table4
from movie101v2_hf.evaluation.report import judge_note, write_report

PAPERS = Path(__file__).resolve().parents[2] / ".." / "shared" / "papers"


def _tsv(name):
    path = PAPERS / name
    if not path.is_file():
        pytest.skip(f"the paper's tables are not at {PAPERS.resolve()} (CI has shared/ beside the clone)")
    lines = [line for line in path.read_text("utf-8").splitlines() if line and not line.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t"))


def test_packaged_table4_equals_the_papers():
    rows = _tsv("movie101v2-table4.tsv")
    reported = [r for r in rows if r["L1"] != "-"]
    packaged = paper_table4()
    assert len(packaged) == len(reported) == 20
    for row, ours in zip(reported, packaged):
        assert (ours["config"], ours["model"], ours["character_input"]) == (
            row["config"],
            row["model"],
            row["character"] == "with",
        )
        assert ours["scores"] == {k: float(row[k]) for k in ("L1-Env", "L1-Char", "L1", "L2")}
        assert ours["judge"] == TABLE4_JUDGE
    assert {r["config"] for r in paper_table4("zh")} == {"zh"} and len(paper_table4("en")) == 11


def test_packaged_table2_equals_the_papers():
    rows = _tsv("movie101v2-table2.tsv")
    assert [
        (r["model"], int(r["gt"]), int(r["predicted"]), int(r["correct"]), float(r["precision"])) for r in rows
    ] == [(r["model"], r["ground_truth"], r["predicted"], r["correct"], r["precision"]) for r in paper_table2()]


def _results(config, judge_model):
    return {
        "dataset": "d",
        "config": config,
        "split": "test",
        "num_samples": 3,
        "predictions": "p.jsonl",
        "package_version": "0",
        "complete": True,
        "problems": [],
        "scores": {"BLEU-4": 1.0, "L1-Env": 20.0, "L1-Char": 30.0, "L1": 25.0, "L2": 35.0},
        "judge": {
            "judge_model": judge_model,
            "judge_backend": "openai",
            "prompt_version": "official-x",
            "official_prompts": True,
        },
    }


@pytest.mark.parametrize("config", ["en", "zh"])
def test_report_shows_the_papers_rows_of_the_runs_config(tmp_path, config):
    page = write_report(_results(config, "meta-llama/Llama-3.1-70B-Instruct"), tmp_path).read_text()
    rows = paper_table4(config)
    for row in rows:
        label = f"{row['model']} ({'with' if row['character_input'] else 'without'} characters; judge: {TABLE4_JUDGE})"
        assert label in page
    other = "Videochat2" if config == "zh" else "CogVLM2-video"  # a model of the other config only
    assert other not in page
    assert f"{rows[0]['scores']['L2']:.2f}" in page
    assert "from different judges do not compare" in page
    assert (tmp_path / "scores.png").read_bytes()[:4] == b"\x89PNG"


def test_no_judge_note_when_the_judges_agree(tmp_path):
    page = write_report(_results("en", TABLE4_JUDGE), tmp_path).read_text()
    assert "do not compare" not in page
    assert judge_note({"judge": None}, paper_table4("en")).endswith("this run has no judge.")


def test_short_configs_have_no_paper_rows(tmp_path):
    page = write_report(_results("en-short", TABLE4_JUDGE), tmp_path).read_text()
    assert "No reference rows for config en-short" in page


def test_report_lists_why_a_run_is_incomplete(tmp_path):
    results = {**_results("en", TABLE4_JUDGE), "complete": False, "problems": ["L2: 9 of 100 judgments invalid"]}
    page = write_report(results, tmp_path).read_text()
    assert "Incomplete: these scores are not final." in page and "<li>L2: 9 of 100 judgments invalid</li>" in page
