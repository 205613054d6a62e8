"""The pages the package writes, opened in a real browser (the system Chromium, headless, through Playwright):
the player, the evaluation report and its clip viewer. Each test saves a screenshot in its temporary folder."""

from __future__ import annotations

import json
import shutil

import pytest

from movie101v2_hf.testing.browser import browser_page, chromium_path

pytestmark = [
    pytest.mark.skipif(chromium_path() is None, reason="no Chromium on PATH (make test installs Debian's chromium)"),
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed"),
]


@pytest.fixture(scope="module")
def evaluated(mini_prepared, tmp_path_factory):
    """The retrieval baseline narrated, evaluated (report and clip viewer) and exported with speech."""
    from movie101v2_hf.ad.export import ExportOptions, export_ad
    from movie101v2_hf.evaluation import run_bench
    from movie101v2_hf.narrate import NarrateOptions

    root = tmp_path_factory.mktemp("pages")
    options = NarrateOptions(dataset=str(mini_prepared), out="", backend="retrieval", show_progress=False)
    run_bench(options, root / "run", metrics=["rouge", "rolef1", "l3"], bootstrap=0, log=lambda *a: None)
    export = ExportOptions(
        dataset=str(mini_prepared), predictions=str(root / "run" / "predictions.jsonl"), scores=str(root / "run"),
        speak=True, out=str(root / "ad"), show_progress=False,
    )  # fmt: skip
    assert export_ad(export).complete
    return root


def test_the_player_plays_the_descriptions_track(evaluated, tmp_path):
    page_path = next((evaluated / "ad").glob("*.html"))
    clips = [line for line in map(json.loads, (evaluated / "run" / "predictions.jsonl").read_text().splitlines())]
    with browser_page() as (page, errors):
        page.goto(page_path.as_uri())
        page.wait_for_function(
            "document.querySelector('video').readyState >= 1 && document.querySelector('video').textTracks[0].cues && document.querySelector('video').textTracks[0].cues.length > 0"
        )
        cues = page.evaluate(
            "Array.from(document.querySelector('video').textTracks[0].cues).map(c => [c.id, c.startTime])"
        )
        assert [c[0] for c in cues] == [c["clip_id"] for c in clips]  # one cue per clip, in order
        for clip_id, start in cues:
            page.evaluate(f"document.querySelector('video').currentTime = {start + 0.05}")
            page.wait_for_function(
                f"Array.from(document.querySelector('video').textTracks[0].activeCues || []).some(c => c.id === {json.dumps(clip_id)})"
            )
            assert page.evaluate("document.querySelector('tr.active').dataset.clip") == clip_id  # its row lights up
        page.screenshot(path=str(tmp_path / "player.png"), full_page=True)
        assert errors == []


def test_the_report_shows_each_score_once_and_loads_cleanly(evaluated, tmp_path):
    with browser_page() as (page, errors):
        page.goto((evaluated / "run" / "report.html").as_uri())
        header = page.evaluate(
            "Array.from(document.querySelectorAll('table tr:first-child th')).map(th => th.textContent)"
        )
        assert len(header) == len(set(header)) and {"L1", "L2", "L3-Fit", "ROUGE-L"} <= set(header)
        assert page.evaluate("document.querySelector('img').naturalWidth") > 0  # the chart loaded
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        page.click("a[href='clips.html']")  # the report links its clip viewer, whose strips are the clips' frames
        page.wait_for_function("document.querySelectorAll('#clips tbody img').length > 0")
        page.wait_for_function(
            "Array.from(document.querySelectorAll('#clips tbody img')).every(i => i.naturalWidth > 0)"
        )
        page.screenshot(path=str(tmp_path / "viewer.png"), full_page=True)
        assert errors == []


def test_the_clip_viewer_sorts_filters_and_pages(tmp_path):
    from movie101v2_hf.evaluation.viewer import PAGE_SIZE, viewer_page

    clips = [
        {"clip_id": f"m_long_{k:05d}", "start": float(k), "end": k + 2.0, "reference": f"ref {k}",
         "prediction": "needle" if k == 77 else f"pred {k}", "scores": {"L2": (k * 37) % 101, "ROUGE-L": k / 2},
         "answers": {"L2": f"Score: {k % 6}"}, "frames": None}
        for k in range(120)
    ]  # fmt: skip
    (tmp_path / "clips.html").write_text(viewer_page("test", clips, ["L2", "ROUGE-L"], worst="L2"))
    with browser_page() as (page, errors):
        page.goto((tmp_path / "clips.html").as_uri())
        rows = "document.querySelectorAll('#clips tbody tr')"
        assert page.evaluate(f"{rows}.length") == PAGE_SIZE
        l2 = page.evaluate(f"Array.from({rows}).map(tr => Number(tr.children[4].textContent))")
        assert l2 == sorted(c["scores"]["L2"] for c in clips)[:PAGE_SIZE]  # worst first
        page.click("#next")
        page.click("#next")
        assert page.evaluate(f"{rows}.length") == 120 - 2 * PAGE_SIZE
        assert "page 3 of 3" in page.text_content("#page")
        page.click("th[data-key='ROUGE-L']")  # ascending
        page.click("th[data-key='ROUGE-L']")  # then descending
        assert page.evaluate(f"{rows}[0].dataset.clip") == "m_long_00119"
        page.fill("#filter", "needle")
        assert page.evaluate(f"Array.from({rows}).map(tr => tr.dataset.clip)") == ["m_long_00077"]
        page.screenshot(path=str(tmp_path / "clips.png"), full_page=True)
        assert errors == []
