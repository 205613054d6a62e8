"""The run layer's contract, job by job (utils/outputs.py, utils/runs.py): ownership of outputs, one writer at a
time, names from data kept inside, every answer durable as it arrives, no secret stored, partial runs labelled,
consistent ShotBench inputs, and a user's mistakes answered in one line. Real processes, files and servers."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from movie101v2_hf import cli
from movie101v2_hf.testing import ScriptedJudgeServer
from movie101v2_hf.testing.servers import rule_based_answer
from movie101v2_hf.utils.outputs import MANIFEST, OutputFolder, inside, safe_name
from movie101v2_hf.utils.runs import RunRecord

CLI = [sys.executable, "-m", "movie101v2_hf.cli"]


def _tree(root: Path) -> dict[str, str]:
    """Every file under `root` with its hash: what "nothing was touched" is checked against."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def _gated(gate: threading.Event):
    """A server latency: the first request answered at once, the others held until `gate` is set."""
    return lambda number: 0.0 if number == 0 or gate.wait(120) else 0.0


def _retrieval(dataset: Path, out: Path, *extra: str) -> list[str]:
    """The arguments of a `narrate` run with the retrieval baseline (no model): the cheapest real narration."""
    return ["narrate", "--dataset", str(dataset), "--backend", "retrieval", "--out", str(out), *extra]


def _wait_for(condition, process: subprocess.Popen, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the process ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


# -- names from data stay inside ----------------------------------------------------------------------------------


def test_safe_names_and_inside():
    assert safe_name("../../../../outside/x", fallback="c") == "outside_x"
    assert safe_name("AC/DC", fallback="c") == "AC_DC" and safe_name("/", fallback="c-1") == "c-1"
    for bad in ("../x.png", "/etc/passwd", "a/../../x"):
        with pytest.raises(ValueError, match="outside"):
            inside("out", bad)


def test_draw_keeps_every_portrait_inside_and_apart(tmp_path):
    pytest.importorskip("diffusers", reason="drawing needs the `synth` extra")
    from movie101v2_hf.synth import DrawOptions, draw_keyframes
    from movie101v2_hf.testing import make_tiny_text_to_image

    pipeline = make_tiny_text_to_image(tmp_path / "pipeline")
    out = tmp_path / "run" / "synth"
    out.mkdir(parents=True)
    names = ["../../../../outside/x", "AC/DC", "Lin"]
    plan = {
        "title": "T",
        "overview": "O",
        "style": ["noir"],
        "characters": [{"name": n, "description": "a face"} for n in names],
        "scenes": [{"keyframe": "a street", "narration": "Lin walks.", "characters": ["Lin"]}],
        "qa": [],
    }
    (out / "plans.jsonl").write_text(json.dumps({"movie_id": "synth-00000", "theme": "t", "plan": plan}) + "\n")
    before = {p for p in tmp_path.rglob("*") if "synth" not in p.parts}
    options = DrawOptions(out=str(out), pipeline=str(pipeline), steps=1, height=32, width=32, show_progress=False)
    assert draw_keyframes(options).complete
    pngs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert pngs == [
        f"keyframes/synth-00000/{n}.png" for n in ("portrait-00", "portrait-01", "portrait-02", "scene-00")
    ]
    assert {p for p in tmp_path.rglob("*") if "synth" not in p.parts} == before  # nothing written outside
    lines = [json.loads(line) for line in (out / "keyframes.jsonl").read_text().splitlines()]
    assert len({line["image_id"] for line in lines}) == 4 and {line["name"] for line in lines} >= set(names)


def test_a_plan_with_two_characters_of_one_name_is_invalid():
    from movie101v2_hf.synth import parse_plan

    plan = {
        "title": "T",
        "overview": "O",
        "style": ["noir"],
        "characters": [{"name": "Lin", "description": "a"}, {"name": "Lin", "description": "b"}],
        "scenes": [{"keyframe": "k", "narration": "n", "characters": ["Lin"]}],
        "qa": [{"kind": k, "question": "?", "answer": "!"} for k in ("overview", "plot", "temporal", "character")],
    }
    with pytest.raises(ValueError, match=r"names \['Lin'\] more than once"):
        parse_plan(json.dumps(plan))


# -- ownership ----------------------------------------------------------------------------------------------------


def test_mix_refuses_a_folder_it_did_not_write(mini_prepared, tmp_path, capsys):
    copy = tmp_path / "prepared"
    shutil.copytree(mini_prepared, copy)
    home = tmp_path / "home"
    home.mkdir()
    (home / "README.md").write_text("my notes")
    for target in (copy, home):
        before = _tree(target)
        code = cli.main(
            ["synth", "mix", "--synthetic", str(tmp_path / "none"), "--movie101v2", str(mini_prepared)]
            + ["--out", str(target)]
        )
        err = capsys.readouterr().err
        assert code == 2 and "did not write" in err and str(target) in err, err
        assert _tree(target) == before  # not a byte changed
    code = cli.main(["synth", "mix", "--synthetic", str(copy), "--movie101v2", str(copy), "--out", str(copy / "x")])
    assert code == 2 and "lies inside --synthetic" in capsys.readouterr().err


def test_overwrite_never_deletes_a_file_the_job_did_not_write(mini_prepared, shotbench, tmp_path, capsys):
    theirs = tmp_path / "test.tsv"
    theirs.write_text("index\tanswer\n1\tA\n")
    for command in (
        ["narrate", "--dataset", str(mini_prepared), "--backend", "retrieval"],
        ["shotbench", "run", "--data", str(shotbench), "--model", "m", "--backend", "openai"],
    ):
        assert cli.main([*command, "--out", str(theirs), "--overwrite"]) == 2
        err = capsys.readouterr().err
        assert "did not write it" in err and "nothing is replaced" in err, err
        assert theirs.read_text() == "index\tanswer\n1\tA\n"
    # narrate's own output is another job's for shotbench run: refused too, even with --overwrite
    preds = tmp_path / "preds.jsonl"
    assert cli.main(_retrieval(mini_prepared, preds)) == 0
    kept = preds.read_text()
    code = cli.main(["shotbench", "run", "--data", str(shotbench), "--model", "m", "--out", str(preds), "--overwrite"])
    assert code == 2 and "`narrate`" in capsys.readouterr().err and preds.read_text() == kept
    # an output inside an input is refused
    code = cli.main(_retrieval(mini_prepared, mini_prepared / "preds.jsonl"))
    assert code == 2 and "lies inside --dataset" in capsys.readouterr().err


def test_an_output_folder_refuses_another_jobs_folder_and_foreign_files(tmp_path):
    with OutputFolder(tmp_path / "results", job="evaluate") as folder:
        folder.write("results.json", "{}")
    (tmp_path / "results" / "notes.txt").write_text("mine")
    with OutputFolder(tmp_path / "results", job="evaluate") as folder:  # its own folder: fine, files are its
        folder.write("results.json", "{}")
        with pytest.raises(FileExistsError, match="did not write it"):
            folder.write("notes.txt", "x")
    with pytest.raises(FileExistsError, match="written by `movie101v2 evaluate`, not by `compare`"):
        OutputFolder(tmp_path / "results", job="compare").__enter__()
    assert (tmp_path / "results" / "notes.txt").read_text() == "mine"
    assert json.loads((tmp_path / "results" / MANIFEST).read_text())["files"] == ["results.json"]


# -- one writer ---------------------------------------------------------------------------------------------------


def test_two_narrate_runs_on_one_output(mini_prepared, tmp_path):
    out = tmp_path / "preds.jsonl"
    gate = threading.Event()  # the first run waits on its second answer until the second run has been refused
    with ScriptedJudgeServer(answer=lambda text: "Someone walks in.", latency=_gated(gate)) as server:
        command = ["narrate", "--dataset", str(mini_prepared), "--backend", "openai", "--model", "m"]
        command += ["--base_url", server.url, "--out", str(out), "--max-samples", "6", "--batch-size", "1"]
        command += ["--num-workers", "0", "--split", "train"]
        first = subprocess.Popen([*CLI, *command], stderr=subprocess.PIPE, text=True)
        _wait_for(lambda: server.replies_sent >= 1, first, "the first run's first answer")
        second = subprocess.run([*CLI, *command], capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second.stderr
        assert f"being written by another run (PID {first.pid}" in second.stderr and "Traceback" not in second.stderr
        gate.set()
        assert first.wait(timeout=120) == 0, first.stderr.read()
    lines = [json.loads(line)["clip_id"] for line in out.read_text().splitlines()]
    record = json.loads((tmp_path / "preds.run.json").read_text())
    assert len(lines) == len(set(lines)) == 6 and record["complete"] and record["job"] == "narrate"
    # the lock died with its holder: a killed run never blocks the next one
    again = subprocess.Popen([*CLI, *command, "--overwrite"], stderr=subprocess.DEVNULL)
    again.send_signal(signal.SIGKILL)
    again.wait()
    assert cli.main(_retrieval(mini_prepared, out, "--overwrite", "--split", "train", "--max-samples", "6")) == 0


def _evaluate_command(predictions: Path, dataset: Path, out: Path, url: str) -> list[str]:
    return ["evaluate", "--predictions", str(predictions), "--dataset", str(dataset), "--out", str(out)] + [
        "--metrics",
        "bleu",
        "l2",
        "--judge-backend",
        "openai",
        "--judge-url",
        url,
        "--judge-model",
        "judge",
        "--judge-concurrency",
        "1",
        "--bootstrap",
        "0",
        "--judge-cache",
        str(out.parent / f"{out.name}.sqlite"),
    ]


def test_two_evaluate_runs_into_one_folder(mini_prepared, tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert cli.main(_retrieval(mini_prepared, a)) == 0
    b.write_text(a.read_text().replace('"narration": "', '"narration": "Then '))
    out = tmp_path / "results"
    gate = threading.Event()
    with ScriptedJudgeServer(latency=_gated(gate)) as server:
        first = subprocess.Popen(
            [*CLI, *_evaluate_command(a, mini_prepared, out, server.url)], stderr=subprocess.PIPE, text=True
        )
        _wait_for(lambda: server.replies_sent >= 1, first, "the first evaluation's first judgment")
        second = subprocess.run(
            [*CLI, *_evaluate_command(b, mini_prepared, out, server.url)], capture_output=True, text=True, timeout=120
        )
        assert second.returncode == 2 and "being written by another run" in second.stderr, second.stderr
        gate.set()
        assert first.wait(timeout=300) == 0, first.stderr.read()
    results = json.loads((out / "results.json").read_text())
    predictions = {json.loads(line)["prediction"] for line in (out / "per_sample.jsonl").read_text().splitlines()}
    assert results["predictions"] == str(a) and not any(p.startswith("Then ") for p in predictions)


# -- every answer durable as it arrives ---------------------------------------------------------------------------


def _plan_answer(prompt: str) -> str:
    theme = prompt.split("Theme: ", 1)[1].split("\n", 1)[0]
    return json.dumps(
        {
            "title": theme,
            "overview": "O",
            "style": ["noir"],
            "characters": [{"name": "Lin", "description": "a woman"}],
            "scenes": [{"keyframe": "k", "narration": "Lin walks.", "characters": ["Lin"]}] * 2,
            "qa": [{"kind": k, "question": "?", "answer": "!"} for k in ("overview", "plot", "temporal", "character")],
        }
    )


@pytest.mark.parametrize("kill_after", [1, 3])
def test_a_killed_plan_keeps_every_answer_received(tmp_path, kill_after):
    themes = tmp_path / "themes.txt"
    themes.write_text("".join(f"theme {k}\n" for k in range(6)))
    out = tmp_path / "synth"
    command = ["synth", "plan", "--themes", str(themes), "--out", str(out), "--model", "planner", "--scenes", "2"]
    command += ["--concurrency", "6", "--cache", str(tmp_path / "cache.sqlite")]
    # six requests at once, answers spread out: the first `kill_after` arrive while the rest wait
    with ScriptedJudgeServer(answer=_plan_answer, latency=lambda number: 0.3 + 1.5 * number) as server:
        process = subprocess.Popen([*CLI, *command, "--base_url", server.url], stderr=subprocess.DEVNULL)
        _wait_for(lambda: server.replies_sent >= kill_after, process, f"{kill_after} answers")
        process.send_signal(signal.SIGKILL)
        process.wait()
        received = server.replies_sent
        kept = (out / "plans.jsonl").read_text().count("\n")
        assert kept >= received - 1  # an answer in the socket at the kill may be lost; none already read is
        before = len(server.requests)
        assert cli.main([*command, "--base_url", server.url]) == 0
        asked = len(server.requests) - before
    lines = [json.loads(line)["movie_id"] for line in (out / "plans.jsonl").read_text().splitlines()]
    assert len(lines) == len(set(lines)) == 6
    # what was not written is asked again, except an answer the kill caught between the response cache and the
    # output (stored, not yet written): the rerun takes that one from the cache
    assert 6 - kept - 1 <= asked <= 6 - kept


# -- secrets never stored -----------------------------------------------------------------------------------------

SECRET = "hunter2-not-a-token-shape"


def test_replies_quoting_the_key_are_redacted_everywhere(mini_prepared, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    preds, out = tmp_path / "preds.jsonl", tmp_path / "results"
    with ScriptedJudgeServer(answer=lambda text: f"A man walks in ({SECRET}).", served_model=f"m-{SECRET}") as server:
        code = cli.main(
            ["narrate", "--dataset", str(mini_prepared), "--backend", "openai", "--model", "m"]
            + ["--base_url", server.url, "--out", str(preds), "--num-workers", "0"]
        )
        assert code == 0

    def judge_reply(text: str) -> str:
        return f"{rule_based_answer(text)} (key {SECRET})"

    with ScriptedJudgeServer(answer=judge_reply, served_model=f"judge-{SECRET}") as server:
        cli.main(_evaluate_command(preds, mini_prepared, out, server.url))
    stored = [preds, tmp_path / "preds.run.json", *(p for p in out.rglob("*") if p.is_file())]
    assert (out / "clips.html").is_file() and "L2-answer" in (out / "per_sample.jsonl").read_text()  # answers kept
    for path in stored:
        assert SECRET not in path.read_bytes().decode("utf-8", "replace"), path
    with sqlite3.connect(tmp_path / "results.sqlite") as db:
        rows = db.execute("SELECT answer, answered_by FROM responses").fetchall()
    assert rows and all(SECRET not in (answer or "") + (by or "") for answer, by in rows)
    assert "judge-***" in json.dumps(json.loads((out / "results.json").read_text())["judge"]["answered_by"])


# -- partial is labelled; judged scores on common clips ----------------------------------------------------------


def test_compare_labels_a_partial_run_and_uses_clips_valid_in_both(mini_prepared, tmp_path, capsys):
    preds = tmp_path / "preds.jsonl"
    assert cli.main(_retrieval(mini_prepared, preds)) == 0
    folders = {}
    unjudgeable: set[str] = set()

    def one_invalid(prompt: str) -> str:  # the same clip answered invalid however often it is asked
        if prompt in unjudgeable or not unjudgeable:
            unjudgeable.add(prompt)
            return "I cannot judge this."
        return rule_based_answer(prompt)

    for name, answer in (("a", rule_based_answer), ("b", one_invalid)):
        folders[name] = tmp_path / name
        with ScriptedJudgeServer(answer=answer) as server:
            command = _evaluate_command(preds, mini_prepared, folders[name], server.url) + ["--max-invalid", "0"]
            cli.main(command)
    capsys.readouterr()
    assert not json.loads((folders["b"] / "results.json").read_text())["complete"]
    assert cli.main(["compare", str(folders["a"]), str(folders["b"]), "--out", str(tmp_path / "cmp")]) == 0
    printed = capsys.readouterr().out
    lines = {n: [json.loads(x) for x in (f / "per_sample.jsonl").read_text().splitlines()] for n, f in folders.items()}
    valid = [i for i, (x, y) in enumerate(zip(lines["a"], lines["b"])) if x["L2"] and y["L2"]]
    assert len(valid) == len(lines["a"]) - 1 >= 2
    assert printed.startswith("PARTIAL: B") and "| L2 (partial) |" in printed
    assert f"valid judgment in both runs: L2 {len(valid)}" in printed
    comparison = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    expected_a = sum(lines["a"][i]["L2"]["plot"] * 20 for i in valid) / len(valid)
    assert comparison["scores"]["L2"]["A"] == pytest.approx(expected_a, abs=1e-3)
    assert comparison["judged_clips"] == {"L2": len(valid)} and comparison["partial"] == ["B"]


# -- consistent ShotBench inputs ----------------------------------------------------------------------------------


@pytest.fixture
def shotbench(tmp_path):
    from movie101v2_hf.shotbench import make_mini_shotbench

    return make_mini_shotbench(tmp_path / "ShotBench", per_category=1)


def _edit_row(tsv: Path, line: int, column: str, value: str) -> None:
    rows = tsv.read_text().splitlines()
    header = rows[0].split("\t")
    cells = rows[line - 1].split("\t")
    cells[header.index(column)] = value
    rows[line - 1] = "\t".join(cells)
    tsv.write_text("\n".join(rows) + "\n")


def test_shotbench_rows_that_cannot_be_scored_are_errors(shotbench):
    from movie101v2_hf.shotbench.data import read_test_tsv

    tsv = shotbench / "test.tsv"
    original = tsv.read_text()
    first_index = original.splitlines()[1].split("\t")[0]
    _edit_row(tsv, 4, "index", first_index)
    with pytest.raises(ValueError, match=rf"test.tsv:4: index {first_index} is already the index of line 2"):
        read_test_tsv(tsv)
    tsv.write_text(original)
    _edit_row(tsv, 3, "answer", "E")
    with pytest.raises(ValueError, match=r"test.tsv:3: row \d+: its answer 'E' is not one of its options' letters"):
        read_test_tsv(tsv)
    tsv.write_text(original.splitlines()[0] + "\n")
    with pytest.raises(ValueError, match="test.tsv:1: the TSV has a header and no rows"):
        read_test_tsv(tsv)


def test_one_unreadable_still_is_one_failed_question(shotbench, tmp_path, capsys):
    tsv = (shotbench / "test.tsv").read_text().splitlines()
    header = tsv[0].split("\t")
    still = next(row for row in tsv[1:] if row.split("\t")[header.index("path")].startswith("['image/"))
    index = still.split("\t")[header.index("index")]
    media = still.split("\t")[header.index("path")].strip("[]'")
    (shotbench / media).write_bytes(b"not an image")
    out = tmp_path / "preds.jsonl"
    with ScriptedJudgeServer(answer=lambda text: "A") as server:
        code = cli.main(
            ["shotbench", "run", "--data", str(shotbench), "--out", str(out), "--model", "m"]
            + ["--backend", "openai", "--base_url", server.url, "--num-workers", "0"]
        )
    record = json.loads((tmp_path / "preds.run.json").read_text())
    assert code == 1 and [f["index"] for f in record["failures"]] == [int(index)], record["failures"]
    assert record["num_written"] == len(tsv) - 2


def test_a_killed_extraction_is_not_taken_for_complete(tmp_path):
    import tarfile

    from movie101v2_hf.shotbench.data import untar_into_place

    archive = tmp_path / "images.tar"
    with tarfile.open(archive, "w") as tar:
        for k in range(3):
            (tmp_path / f"{k}.jpg").write_bytes(b"x" * 1000)
            tar.add(tmp_path / f"{k}.jpg", arcname=f"image/{k}.jpg")
    archive.write_bytes(archive.read_bytes()[:1800])  # cut mid-member, as a killed download or copy leaves it
    with pytest.raises(tarfile.TarError):
        untar_into_place(archive, tmp_path / "image")
    assert not (tmp_path / "image").exists() and not list(tmp_path.glob(".image.partial-*"))


# -- a user's mistakes: one line, no traceback ------------------------------------------------------------------


def _one_line_error(arguments: list[str], *, expect: str, cwd: Path | None = None) -> None:
    result = subprocess.run([*CLI, *arguments], capture_output=True, text=True, timeout=300, cwd=cwd)
    assert result.returncode == 2, (arguments, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and expect in result.stderr, result.stderr


def test_mistakes_get_one_line(mini_prepared, tmp_path):
    preds = tmp_path / "preds.jsonl"
    assert cli.main(_retrieval(mini_prepared, preds)) == 0
    evaluate = ["evaluate", "--dataset", str(mini_prepared), "--out", str(tmp_path / "r"), "--metrics", "bleu"]
    (tmp_path / "a-folder").mkdir()
    _one_line_error([*evaluate, "--predictions", str(tmp_path / "a-folder")], expect="is a folder, not a file")
    for name, text in (
        ("broken.yaml", "metrics: [bleu\n"),
        ("tagged.yaml", "metrics: !!python/object/apply:os.system ['true']\n"),
    ):
        (tmp_path / name).write_text(text)
        _one_line_error([*evaluate, "--predictions", str(preds), "--config", str(tmp_path / name)], expect=f"{name}:")
    _one_line_error(
        [*evaluate, "--predictions", str(preds), "--bootstrap", "-1"], expect="--bootstrap must be at least 0"
    )
    _one_line_error(
        _retrieval(mini_prepared, tmp_path / "p", "--max-samples", "-1"), expect="--max-samples must be at least 1"
    )
    # run folders with a missing or mistyped field, and --bootstrap 0 where the bootstrap is the answer
    assert cli.main([*evaluate, "--predictions", str(preds)]) == 0
    broken = tmp_path / "broken"
    shutil.copytree(tmp_path / "r", broken)
    results = json.loads((broken / "results.json").read_text())
    (broken / "results.json").write_text(json.dumps({**results, "scores": "high"}))
    _one_line_error(
        ["compare", str(tmp_path / "r"), str(broken), "--out", str(tmp_path / "c")],
        expect="missing or mistyped field(s) ['scores']",
    )
    _one_line_error(
        ["compare", str(tmp_path / "r"), str(tmp_path / "r"), "--out", str(tmp_path / "c"), "--bootstrap", "0"],
        expect="--bootstrap must be at least 1",
    )
    record = tmp_path / "preds.run.json"
    record.write_text(json.dumps({**json.loads(record.read_text()), "settings": ["mistyped"]}))
    _one_line_error(
        _retrieval(mini_prepared, preds),
        expect="preds.run.json: not a run record of this package",
    )
    record.write_text('{"settings": {}, "num_items": 3}')
    with pytest.raises(ValueError, match="preds.run.json: the run record has no field 'num_written'"):
        RunRecord.load(preds)


def test_shotbench_file_mistakes_get_one_line(shotbench, tmp_path):
    tsv = shotbench / "test.tsv"
    header = tsv.read_text().splitlines()[0]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "test.tsv").write_text(header + "\n")
    preds = tmp_path / "preds.jsonl"
    preds.write_text('{"index": 1, "prediction": "A"}\n')
    run = ["shotbench", "evaluate", "--predictions", str(preds), "--out", str(tmp_path / "out")]
    _one_line_error([*run, "--data", str(empty)], expect="the TSV has a header and no rows")
    huge = tmp_path / "huge"
    huge.mkdir()
    (huge / "test.tsv").write_text(header + "\n" + '1\t"' + "x" * 200_000 + "\n")
    _one_line_error([*run, "--data", str(huge)], expect="not a readable TSV row")
    broken = tmp_path / "official.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a workbook")
    _one_line_error(
        [
            "shotbench",
            "evaluate",
            "--predictions",
            str(broken),
            "--data",
            str(shotbench),
            "--out",
            str(tmp_path / "x"),
        ],
        expect="not a readable Excel workbook",
    )


def test_a_stale_lock_file_never_blocks(tmp_path):
    out = tmp_path / "results"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from movie101v2_hf.utils.outputs import OutputFolder; "
            "f = OutputFolder(sys.argv[1], job='evaluate').__enter__(); print('held', flush=True); time.sleep(600)",
            str(out),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RuntimeError, match=f"PID {holder.pid}"):
        OutputFolder(out, job="evaluate").__enter__()
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with OutputFolder(out, job="evaluate") as folder:  # the kernel dropped the dead holder's lock
        folder.write("results.json", "{}")


def test_two_prepares_of_one_folder(mini_release, tmp_path, capsys):
    out = tmp_path / "prepared"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from movie101v2_hf.utils.outputs import WriterLock; "
            "WriterLock(sys.argv[1], what='x').__enter__(); print('held', flush=True); time.sleep(600)",
            str(tmp_path / ".prepared.lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        code = cli.main(["prepare", "--release", str(mini_release), "--out", str(out), "--configs", "en"])
        assert code == 2 and f"being written by another run (PID {holder.pid}" in capsys.readouterr().err
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    # a mini-release is never written into a folder of the user's
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    assert cli.main(["mini-release", str(mine)]) == 2 and "did not write" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["thesis.tex"]
