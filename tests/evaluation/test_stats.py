"""How sure is a score: intervals by bootstrap over movies, paired comparison, agreement between judges."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from movie101v2_hf import cli
from movie101v2_hf.evaluation.compare import agreement_statistics, compare_runs, load_run
from movie101v2_hf.evaluation.stats import (
    SampleParts,
    bootstrap_intervals,
    movie_resamples,
    paired_comparison,
)
from movie101v2_hf.testing import ScriptedJudgeServer

# -- corpus metrics are recomputed, exactly, on every resample -----------------------------------------------------


@pytest.fixture(scope="module")
def narrations(sample_release):
    """Real narrations of the sample release, tokenized per character (Chinese: no Java needed)."""
    from movie101v2_hf.data.release import Release
    from movie101v2_hf.evaluation.metrics import tokenize

    release = Release(sample_release)
    clips = [clip for movie in release.movie_ids for clip in release.clips(movie)[:12]]
    texts = tokenize([clip.narrations["zh"].text for clip in clips], language="zh")
    candidates = texts[1:] + texts[:1]  # each clip "predicted" by its neighbour's narration
    return [clip.movie_id for clip in clips], candidates, texts


def test_bleu_and_cider_equal_pycocoevalcap_on_resampled_corpora(narrations):
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    movies, candidates, references = narrations
    parts = SampleParts.from_texts(movies, candidates, references)
    for weights in [np.ones(len(movies)), *movie_resamples(movies, 4, seed=3)]:
        drawn = [i for i, count in enumerate(weights) for _ in range(int(count))]
        res = {k: [candidates[i]] for k, i in enumerate(drawn)}
        gts = {k: [references[i]] for k, i in enumerate(drawn)}
        bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
        cider, _ = Cider().compute_score(gts, res)
        ours = parts.scores(weights[None])
        assert [float(ours[f"BLEU-{n}"][0]) for n in (1, 2, 3, 4)] == pytest.approx([b * 100 for b in bleu], abs=1e-6)
        assert float(ours["CIDEr"][0]) == pytest.approx(cider * 100, abs=1e-6)


def test_resamples_draw_whole_movies():
    movies = ["a"] * 3 + ["b"] * 2 + ["c"]
    weights = movie_resamples(movies, 50, seed=0)
    assert weights.shape == (50, 6) and np.all(weights.sum(axis=1) > 0)
    for row in weights:  # the clips of one movie are drawn together, as often as their movie
        assert len(set(row[:3])) == 1 and len(set(row[3:5])) == 1
        assert row[0] + row[3] + row[5] == 3  # three movies drawn


# -- intervals ------------------------------------------------------------------------------------------------------


def _synthetic_run(movies: int, clips_per_movie: int, seed: int, shift: float = 0.0) -> SampleParts:
    """Judge-like 0-100 per-clip scores with a movie effect (clips of a movie are alike)."""
    rng = np.random.default_rng(seed)
    movie_effect = rng.normal(0, 8, size=movies)
    values = np.clip(
        50 + shift + np.repeat(movie_effect, clips_per_movie) + rng.normal(0, 15, movies * clips_per_movie), 0, 100
    )
    ids = [f"m{k}" for k in range(movies) for _ in range(clips_per_movie)]
    return SampleParts(ids, means={"L2": values})


def test_intervals_contain_the_score_shrink_with_data_and_repeat_with_a_seed():
    small, large = _synthetic_run(8, 20, seed=1), _synthetic_run(200, 20, seed=1)
    widths = []
    for parts in (small, large):
        low, high = bootstrap_intervals(parts, resamples=500, seed=7)["L2"]
        assert low <= parts.point()["L2"] <= high
        widths.append(high - low)
    assert widths[1] < widths[0] / 3  # 25x the movies: about 5x narrower
    assert bootstrap_intervals(small, resamples=300, seed=1) == bootstrap_intervals(small, resamples=300, seed=1)
    assert bootstrap_intervals(small, resamples=300, seed=1) != bootstrap_intervals(small, resamples=300, seed=2)


def test_invalid_judgments_are_left_out_of_the_mean():
    parts = SampleParts(["a", "a", "b"], means={"L2": np.array([40.0, np.nan, 80.0])})
    assert parts.point()["L2"] == 60.0


def test_a_planted_difference_is_found_and_a_null_one_is_not():
    false_alarms = detections = 0
    trials = 100
    for trial in range(trials):
        base = _synthetic_run(20, 15, seed=1000 + trial)
        rng = np.random.default_rng(trial)
        noise = rng.normal(0, 10, size=len(base.movie_ids))
        same = SampleParts(base.movie_ids, means={"L2": base.means["L2"] + noise})  # B = A + noise: no effect
        better = SampleParts(base.movie_ids, means={"L2": base.means["L2"] + noise + 6.0})  # 6 points better
        false_alarms += paired_comparison(base, same, resamples=300, seed=trial)["L2"]["p_value"] < 0.05
        detections += paired_comparison(base, better, resamples=300, seed=trial)["L2"]["p_value"] < 0.05
    assert false_alarms / trials <= 0.10  # the stated rate is 5%; 100 trials leave room for chance
    assert detections / trials >= 0.90


# -- agreement statistics -------------------------------------------------------------------------------------------


def test_agreement_statistics_equal_scipy_and_scikit_learn():
    from scipy import stats
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(0)
    x = rng.integers(0, 6, 300)
    y = np.clip(x + rng.integers(-1, 2, 300), 0, 5)
    ours = agreement_statistics(x, y)
    assert ours["pearson"] == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-4)
    assert ours["spearman"] == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-4)
    assert ours["kappa_quadratic"] == pytest.approx(cohen_kappa_score(x, y, weights="quadratic"), abs=1e-4)
    assert ours["exact_agreement"] == pytest.approx(np.mean(x == y), abs=1e-4)
    assert ours["mean_absolute_difference"] == pytest.approx(np.mean(np.abs(x - y)), abs=1e-4)
    independent = agreement_statistics(rng.integers(0, 6, 3000), rng.integers(0, 6, 3000))
    assert abs(independent["kappa_quadratic"]) < 0.08 and abs(independent["pearson"]) < 0.08


# -- the commands on the mini-release, with scripted judges ----------------------------------------------------


def _hashed_judge(salt: str):
    def answer(prompt: str) -> str:
        h = int(hashlib.sha256((salt + prompt).encode()).hexdigest(), 16)
        return f"{h % 6},{(h // 6) % 6}" if ("Environment" in prompt or "环境" in prompt) else str(h % 6)

    return answer


@pytest.fixture
def predictions(mini_prepared, tmp_path):
    from datasets import load_dataset

    clips = load_dataset(str(mini_prepared), "en", split="train")
    files = {}
    for name, pick in (("previous", lambda r: r["prev_narration"] or ""), ("oracle", lambda r: r["narration"])):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"clip_id": r["clip_id"], "narration": pick(r)}) + "\n" for r in clips))
        files[name] = path
    return files


def _evaluate(mini_prepared, predictions_path, out, url, model, *extra):
    return cli.main(
        [
            "evaluate",
            "--predictions",
            str(predictions_path),
            "--dataset",
            str(mini_prepared),
            "--split",
            "train",
            "--out",
            str(out),
            "--judge-backend",
            "openai",
            "--judge-url",
            url,
            "--judge-model",
            model,
            "--bootstrap",
            "200",
            *extra,
        ]
    )


def test_evaluate_compare_and_agreement_commands(mini_prepared, predictions, tmp_path, capsys):
    with (
        ScriptedJudgeServer(answer=_hashed_judge("one")) as first,
        ScriptedJudgeServer(answer=_hashed_judge("one")) as twin,
    ):
        assert _evaluate(mini_prepared, predictions["previous"], tmp_path / "a", first.url, "judge-a") == 0
        assert _evaluate(mini_prepared, predictions["oracle"], tmp_path / "b", first.url, "judge-a") == 0
        assert _evaluate(mini_prepared, predictions["previous"], tmp_path / "twin", twin.url, "judge-twin") == 0
    results = json.loads((tmp_path / "a" / "results.json").read_text())
    assert set(results["ci95"]) >= {"BLEU-4", "METEOR", "ROUGE-L", "CIDEr", "RoleF1", "L1-Env", "L1-Char", "L1", "L2"}
    for name, (low, high) in results["ci95"].items():
        assert low - 1e-6 <= results["scores"][name] <= high + 1e-6, name
    assert results["bootstrap"]["resamples"] == 200 and results["bootstrap"]["unit"] == "movie"
    printed = capsys.readouterr().out
    assert f"{results['scores']['BLEU-4']:.2f}  [{results['ci95']['BLEU-4'][0]:.2f}, " in printed

    # compare: the oracle narrations beat the previous clip's narration on BLEU, everywhere
    assert (
        cli.main(
            ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "cmp"), "--bootstrap", "200"]
        )
        == 0
    )
    comparison = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    bleu = comparison["scores"]["BLEU-4"]
    assert bleu["B"] == 100.0 and bleu["B-A"] > 0 and bleu["ci95"][0] > 0
    assert (tmp_path / "cmp" / "comparison.md").read_text().count("|") > 20

    # agreement: a judge that answers as the first one does agrees perfectly (kappa 1)
    assert cli.main(["agreement", str(tmp_path / "a"), str(tmp_path / "twin"), "--out", str(tmp_path / "agr")]) == 0
    agreement = json.loads((tmp_path / "agr" / "agreement.json").read_text())
    pair = agreement["pairs"][0]
    assert {pair["scores"][name]["kappa_quadratic"] for name in ("L1-Env", "L1-Char", "L2")} == {1.0}
    assert (tmp_path / "agr" / "agreement.png").read_bytes()[:4] == b"\x89PNG"


def test_agreement_of_independent_judges_equals_the_statistics_on_the_per_clip_scores(
    mini_prepared, predictions, tmp_path
):
    from scipy import stats
    from sklearn.metrics import cohen_kappa_score

    with (
        ScriptedJudgeServer(answer=_hashed_judge("one")) as first,
        ScriptedJudgeServer(answer=_hashed_judge("two")) as other,
    ):
        _evaluate(mini_prepared, predictions["previous"], tmp_path / "a", first.url, "judge-a")
        _evaluate(mini_prepared, predictions["previous"], tmp_path / "c", other.url, "judge-c")
    a, c = load_run(tmp_path / "a"), load_run(tmp_path / "c")
    from movie101v2_hf.evaluation.compare import judge_agreement

    scores = judge_agreement([a, c])["pairs"][0]["scores"]["L2"]
    x, y = np.array(a.judged("L2", "plot")), np.array(c.judged("L2", "plot"))
    assert scores["n"] == len(x)
    assert scores["spearman"] == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-4)
    assert scores["kappa_quadratic"] == pytest.approx(cohen_kappa_score(x, y, weights="quadratic"), abs=1e-4)


def test_compare_refuses_runs_on_other_clips_or_by_other_judges(mini_prepared, predictions, tmp_path, capsys):
    with ScriptedJudgeServer() as server:
        _evaluate(mini_prepared, predictions["previous"], tmp_path / "a", server.url, "judge-a")
        _evaluate(mini_prepared, predictions["oracle"], tmp_path / "b", server.url, "judge-b")
    a, b = load_run(tmp_path / "a"), load_run(tmp_path / "b")
    with pytest.raises(ValueError, match="judged by judge-a .* by judge-b .*--allow-different-judges"):
        compare_runs(a, b, resamples=50)
    assert "L2" in compare_runs(a, b, resamples=50, allow_different_judges=True)["scores"]
    b.lines = b.lines[1:]
    with pytest.raises(ValueError, match=r"are not on the same clips: 1 only in A, 0 only in B"):
        compare_runs(a, b, resamples=50)
    assert cli.main(["compare", str(tmp_path / "a"), str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 2
    assert "is not an evaluation folder: results.json is missing" in capsys.readouterr().err
