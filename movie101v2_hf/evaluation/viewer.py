"""`clips.html`, the clip viewer of an evaluation: every clip with its frames, texts and scores, worst first.

Per clip: a strip of its sampled frames as small thumbnails (`frames/<clip>.jpg`, when the dataset points at
movies), the reference and the prediction, every per-clip score (classic, RoleF1, L1/L2 with the judge's answer,
L3) and the clip's timing. The table sorts by any column (click its header; the first click on a score sorts worst
first), filters by text, and is paged (50 clips a page) so that a 2,227-clip test split opens at once. The data is
JSON inside the page, so it works opened from disk.
"""

from __future__ import annotations

import html
import io
import logging
from collections.abc import Sequence
from typing import Any

from ..utils.io import script_json
from ..utils.outputs import OutputFolder, safe_name

logger = logging.getLogger(__name__)

PAGE_SIZE = 50
THUMB_SIZE = (54, 96)  # height, width of a frame in the strip

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:13px;width:100%}
td,th{border-bottom:1px solid #ddd;padding:4px 6px;vertical-align:top;text-align:left}
th{cursor:pointer;user-select:none;background:#f4f4f4;position:sticky;top:0}
th.sorted-asc::after{content:" \\25B2"}th.sorted-desc::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.text{max-width:28em}
img.strip{display:block;height:54px}
.answer{color:#666;font-size:12px;white-space:pre-wrap;max-width:22em}
#controls{margin:1em 0;display:flex;gap:1em;align-items:center}
"""

_SCRIPT = """
const data = JSON.parse(document.getElementById('clip-data').textContent);
const scores = data.scores;
const columns = ['clip_id', 'frames', 'reference', 'prediction', ...scores, 'judge'];
let sortKey = data.worst, ascending = true, page = 0, shown = data.clips;
const body = document.querySelector('#clips tbody');
const head = document.querySelector('#clips thead tr');
function cell(clip, column) {
  const td = document.createElement('td');
  if (column === 'frames') {
    if (clip.frames) { const img = document.createElement('img'); img.src = clip.frames; img.className = 'strip';
      img.alt = 'frames of ' + clip.clip_id; td.appendChild(img); }
  } else if (column === 'judge') {
    td.className = 'answer'; td.textContent = Object.entries(clip.answers || {}).map(([k, v]) => k + ': ' + v).join('\\n');
  } else if (scores.includes(column)) {
    const value = clip.scores[column]; td.className = 'num';
    td.textContent = value === null || value === undefined ? '' : value.toFixed(1);
  } else if (column === 'clip_id') {
    td.textContent = clip.clip_id + ' [' + clip.start.toFixed(1) + '-' + clip.end.toFixed(1) + 's]';
  } else { td.className = 'text'; td.textContent = clip[column] || ''; }
  return td;
}
function value(clip, key) {
  if (scores.includes(key)) { const v = clip.scores[key]; return v === null || v === undefined ? null : v; }
  return clip[key] || '';
}
function render() {
  const filter = document.getElementById('filter').value.toLowerCase();
  shown = data.clips.filter(c => !filter || (c.clip_id + ' ' + c.reference + ' ' + c.prediction).toLowerCase().includes(filter));
  if (sortKey) shown = shown.slice().sort((a, b) => {
    const x = value(a, sortKey), y = value(b, sortKey);
    if (x === null) return 1; if (y === null) return -1;  // clips without the score last, either way
    return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
  });
  const pages = Math.max(1, Math.ceil(shown.length / data.page_size));
  page = Math.min(page, pages - 1);
  body.replaceChildren(...shown.slice(page * data.page_size, (page + 1) * data.page_size).map(clip => {
    const tr = document.createElement('tr'); tr.dataset.clip = clip.clip_id;
    for (const column of columns) tr.appendChild(cell(clip, column));
    return tr;
  }));
  document.getElementById('page').textContent = `page ${page + 1} of ${pages} (${shown.length} clips)`;
  for (const th of head.children) th.className = th.dataset.key === sortKey ? (ascending ? 'sorted-asc' : 'sorted-desc') : '';
}
for (const column of columns) {
  const th = document.createElement('th'); th.dataset.key = column; th.textContent = column;
  if (column !== 'frames' && column !== 'judge') th.addEventListener('click', () => {
    ascending = sortKey === column ? !ascending : true; sortKey = column; page = 0; render();
  });
  head.appendChild(th);
}
document.getElementById('filter').addEventListener('input', () => { page = 0; render(); });
document.getElementById('prev').addEventListener('click', () => { page = Math.max(0, page - 1); render(); });
document.getElementById('next').addEventListener('click', () => { page += 1; render(); });
render();
"""


def frame_strip(frames: Any) -> bytes:
    """A JPEG of a clip's frames (uint8 T x C x H x W) side by side, each `THUMB_SIZE`."""
    from PIL import Image

    height, width = THUMB_SIZE
    strip = Image.new("RGB", (width * len(frames), height))
    for k, frame in enumerate(frames):
        strip.paste(Image.fromarray(frame.permute(1, 2, 0).numpy()).resize((width, height)), (k * width, 0))
    buffer = io.BytesIO()
    strip.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def write_frame_strips(
    folder: OutputFolder, rows: Any, *, num_frames: int, show_progress: bool = True
) -> tuple[dict[str, str], list[str]]:
    """`frames/<clip>.jpg` for every clip of `rows` (with a `video` column); returns clip id -> path in the
    folder, and the clips whose frames could not be decoded (named, not fatal: the viewer shows no strip)."""
    from tqdm.auto import tqdm

    from ..data.video import ClipSampler
    from ..errors import ClipDecodeError

    sampler = ClipSampler(num_frames=num_frames, size=THUMB_SIZE)
    strips, failed = {}, []
    for row in tqdm(rows, desc="clip viewer frames", unit="clip", disable=not show_progress):
        try:
            frames, _ = sampler.decode(row["video"], row["start"], row["end"], clip_id=row["clip_id"])
        except ClipDecodeError:
            failed.append(row["clip_id"])
            continue
        relative = f"frames/{safe_name(row['clip_id'], fallback='clip')}.jpg"
        folder.write(relative, frame_strip(frames))
        strips[row["clip_id"]] = relative
    return strips, failed


def viewer_page(title: str, clips: Sequence[dict[str, Any]], scores: Sequence[str], *, worst: str | None) -> str:
    """The viewer page; `clips`: per clip `clip_id`, `start`, `end`, `reference`, `prediction`, `scores`,
    `answers` (the judge's, by metric) and `frames` (a relative path, or None); sorted by `worst` first."""
    data = {"clips": list(clips), "scores": list(scores), "worst": worst, "page_size": PAGE_SIZE}
    payload = script_json(data)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}: clips</title><style>{_STYLE}</style></head><body>
<h1>{html.escape(title)}: clips</h1>
<p>Every clip, its frames, texts and scores; click a column to sort (scores: worst first), type to filter.
<a href="report.html">Back to the report</a>.</p>
<div id="controls"><input id="filter" type="search" placeholder="filter by id or text" size="40">
<button id="prev">previous</button><span id="page"></span><button id="next">next</button></div>
<table id="clips"><thead><tr></tr></thead><tbody></tbody></table>
<script type="application/json" id="clip-data">{payload}</script>
<script>{_SCRIPT}</script>
</body></html>
"""


def write_clip_viewer(
    folder: OutputFolder,
    rows: Any,
    lines: Sequence[dict[str, Any]],
    *,
    num_frames: int,
    title: str,
    show_progress: bool = True,
) -> str:
    """Write `clips.html` (and `frames/`) of an evaluation from its rows and `per_sample.jsonl` lines; returns
    the page's name. Frames come only where the rows have a `video` column and `num_frames` > 0."""
    strips: dict[str, str] = {}
    if num_frames > 0 and "video" in rows.column_names:
        strips, failed = write_frame_strips(folder, rows, num_frames=num_frames, show_progress=show_progress)
        if failed:
            logger.warning("clip viewer: no frames for %d clip(s) (e.g. %s)", len(failed), failed[0])
    starts, ends = rows["start"], rows["end"]
    clips = []
    for k, line in enumerate(lines):
        answers = {key[: -len("-answer")]: value for key, value in line.items() if key.endswith("-answer") and value}
        clips.append(
            {
                "clip_id": line["clip_id"],
                "start": starts[k],
                "end": ends[k],
                "reference": line["reference"],
                "prediction": line["prediction"],
                "scores": line.get("clip_scores") or {},
                "answers": answers,
                "frames": strips.get(line["clip_id"]),
            }
        )
    scores = list(dict.fromkeys(name for clip in clips for name in clip["scores"]))
    worst = next((name for name in ("L2", "L1") if name in scores), scores[0] if scores else None)
    folder.write("clips.html", viewer_page(title, clips, scores, worst=worst))
    return "clips.html"
