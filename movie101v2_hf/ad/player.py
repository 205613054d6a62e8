"""`<movie>.html`: the movie with its descriptions track, spoken by the browser, and a transcript beside it.

The page plays the movie with `<track kind="descriptions">` (the exported WebVTT). A small script speaks each cue
as it becomes active with the browser's speech synthesis (Web Speech API) and, with "extended AD" ticked, pauses
the movie while a description is still speaking past its cue's end, resuming when it is done. The transcript
lists every clip (time, reference, prediction, per-clip scores); clicking a row seeks to it, and the active
cue's row is highlighted. Everything is in the one file (data as JSON), so it opens from disk.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from ..utils.io import script_json

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
main{display:flex;gap:1.5em;align-items:flex-start;flex-wrap:wrap}
main > div:first-child{flex:0 1 640px}
video{max-width:640px;width:100%;background:#000}
#panel{flex:1;min-width:420px;max-height:80vh;overflow:auto}
table{border-collapse:collapse;width:100%;font-size:14px}
td,th{border-bottom:1px solid #ddd;padding:4px 6px;vertical-align:top;text-align:left}
tr.active{background:#fff3c4}
tr{cursor:pointer}
#now{min-height:3em;font-size:18px;margin:.5em 0;padding:.4em;border-left:4px solid #c90}
.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.scores{font-size:12px;color:#555;white-space:nowrap}
"""

_SCRIPT = """
const data = JSON.parse(document.getElementById('ad-data').textContent);
const video = document.getElementById('movie');
const element = video.querySelector('track');
// the cues come with the page (a page opened from disk may not fetch a file beside it: file: URLs are unique
// origins), so the track reads them from a blob of the page's own; served over HTTP it is the same text
element.src = URL.createObjectURL(new Blob([data.vtt], {type: 'text/vtt'}));
const track = element.track;
const now = document.getElementById('now');
const extended = document.getElementById('extended');
const rows = new Map();
let speaking = 0, heldBy = null;
track.mode = 'hidden';  // a descriptions track is not drawn; its cues still become active
for (const clip of data.clips) {
  const row = document.querySelector(`tr[data-clip="${CSS.escape(clip.clip_id)}"]`);
  rows.set(clip.clip_id, row);
  row.addEventListener('click', () => { video.currentTime = clip.start + 0.01; });
}
function speak(text) {
  if (!('speechSynthesis' in window)) return;
  const utterance = new SpeechSynthesisUtterance(text);
  utterance.lang = data.lang;
  utterance.rate = data.rate;
  speaking += 1;
  utterance.onend = utterance.onerror = () => {
    speaking = Math.max(0, speaking - 1);
    if (!speaking && heldBy !== null) { heldBy = null; video.play(); }
  };
  window.speechSynthesis.speak(utterance);
}
track.addEventListener('cuechange', () => {
  for (const row of rows.values()) row.classList.remove('active');
  const active = Array.from(track.activeCues || []);
  const said = cue => cue.getCueAsHTML().textContent;  // the cue's text with its character references read
  now.textContent = active.map(said).join(' ');
  for (const cue of active) {
    const row = rows.get(cue.id);
    if (row) { row.classList.add('active'); row.scrollIntoView({block: 'nearest'}); }
    if (!video.paused) speak(said(cue));
    cue.onexit = () => {  // extended AD: hold the picture until the description is done
      if (extended.checked && speaking && !video.paused) { heldBy = cue.id; video.pause(); }
    };
  }
});
video.addEventListener('seeking', () => { if ('speechSynthesis' in window) speechSynthesis.cancel(); speaking = 0; });
"""


def _time(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}:{rest:04.1f}"


def player_page(
    *,
    title: str,
    movie_src: str | None,
    vtt_src: str,
    vtt: str,
    language: str,
    clips: Sequence[dict[str, Any]],
    score_names: Sequence[str] = (),
    notes: Sequence[str] = (),
    rate: float = 1.0,
) -> str:
    """The player page (`vtt`: the text of the descriptions track, `vtt_src` its file beside the page). `clips`: per clip `clip_id`, `start`, `end`, `reference`, `prediction` (or None), `scores`
    (name -> value), and optionally `spoken` (seconds) and `overrun` (seconds)."""
    lang = "zh-CN" if language == "zh" else "en"
    header = ["time", "reference", *(["prediction"] if any(c.get("prediction") is not None for c in clips) else [])]
    header += [
        *(["scores"] if score_names else []),
        *(["spoken s", "overrun s"] if any("spoken" in c for c in clips) else []),
    ]
    body = []
    for clip in clips:
        cells = [f'<td class="num">{_time(clip["start"])}</td>', f"<td>{html.escape(clip['reference'])}</td>"]
        if "prediction" in header:
            cells.append(f"<td>{html.escape(clip.get('prediction') or '')}</td>")
        if score_names:
            values = clip.get("scores") or {}
            shown = [f"{name} {values[name]:.1f}" for name in score_names if values.get(name) is not None]
            cells.append(f'<td class="scores">{"<br>".join(html.escape(s) for s in shown)}</td>')
        if "spoken s" in header:
            cells += [
                f'<td class="num">{clip.get("spoken", 0):.1f}</td>',
                f'<td class="num">{clip.get("overrun", 0):.1f}</td>',
            ]
        body.append(f'<tr data-clip="{html.escape(clip["clip_id"])}">{"".join(cells)}</tr>')
    video = (
        f'<video id="movie" controls preload="metadata" src="{html.escape(movie_src)}">'
        f'<track kind="descriptions" data-file="{html.escape(vtt_src)}" srclang="{language}" label="Audio description" default>'
        "</video>"
        if movie_src
        else f'<video id="movie" controls><track kind="descriptions" data-file="{html.escape(vtt_src)}" srclang="{language}" default></video>'
        "<p>No movie file was given (--videos DIR): the transcript and the track only.</p>"
    )
    data = {
        "lang": lang,
        "rate": rate,
        "vtt": vtt,
        "clips": [{k: c[k] for k in ("clip_id", "start", "end")} for c in clips],
    }
    notes_html = "".join(f"<p>{html.escape(note)}</p>" for note in notes)
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(title)}: audio description</title>
<style>{_STYLE}</style></head><body>
<h1>{html.escape(title)}: audio description</h1>
{notes_html}
<main><div>{video}
<div id="now" aria-live="polite"></div>
<label><input type="checkbox" id="extended"> extended AD: pause the movie while a description runs past its cue</label>
</div>
<div id="panel"><table><thead><tr>{"".join(f"<th>{html.escape(h)}</th>" for h in header)}</tr></thead>
<tbody>{"".join(body)}</tbody></table></div></main>
<script type="application/json" id="ad-data">{script_json(data)}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
