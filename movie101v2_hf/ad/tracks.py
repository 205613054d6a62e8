"""Description tracks: a movie's narrations as cues, written as WebVTT, SubRip and a W3C DAPT script.

- WebVTT (`.vtt`) for `<track kind="descriptions">` and SubRip (`.srt`), both written and read by `webvtt-py`.
- DAPT (`.dapt.ttml`): the W3C Dubbing and Audio description Profiles of TTML2 (Candidate Recommendation,
  2025), an audio description script. Without speech it is a pre-recording script (`daptm:scriptType=
  "preRecording"`, text to be voiced); with speech an as-recorded one: each script event holds its audio
  (`<audio src>`, the cue's WAV, starting at the event's begin) and the mixing instructions (`tta:gain`
  animations) that duck the programme audio under it, as the mix does.
  The text of descriptions has no inherent language (`daptm:langSrc="zxx"`) and represents the picture
  (`visual.nonText`). Written with the standard library's ElementTree, read back with `ttconv`'s TTML reader.

Example:
    >>> cues = [Cue("m_long_0", 2.0, 5.5, "Cheng Yong walks in."), Cue("m_long_1", 8.0, 9.0, "He sits.")]
    >>> _ = (tmp / "m.vtt").write_text(vtt_text(cues))
    >>> read_vtt(tmp / "m.vtt") == cues
    True
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Cue:
    """One description: the clip it narrates (its id), when (seconds into the movie) and what is said."""

    id: str
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Spoken:
    """A cue's synthesized speech: its WAV (relative to the output folder) and how long it lasts."""

    audio: str
    seconds: float


def _captions(cues: Sequence[Cue], *, escape: bool) -> list:
    from webvtt import Caption
    from webvtt.models import Timestamp

    captions = []
    for cue in cues:
        # one line per cue: a blank line inside a cue's text would end the cue in both formats
        text = " ".join(cue.text.split()) or "…"
        if escape:  # WebVTT cue text is markup: &, < and > are written as character references
            text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        start, end = Timestamp.from_seconds(cue.start), Timestamp.from_seconds(max(cue.end, cue.start + 0.001))
        captions.append(Caption(str(start), str(end), text, identifier=cue.id))
    return captions


def vtt_text(cues: Sequence[Cue]) -> str:
    """The cues as a WebVTT file (each cue's identifier is its clip id)."""
    from webvtt import WebVTT

    return WebVTT(captions=_captions(cues, escape=True)).content


def srt_text(cues: Sequence[Cue]) -> str:
    """The cues as a SubRip file (numbered; SubRip has no identifiers, and players read `<...>` in it as tags, which
    webvtt-py leaves out)."""
    from webvtt import WebVTT

    out = io.StringIO()
    WebVTT(captions=_captions(cues, escape=False)).write(out, format="srt")
    return out.getvalue()


def _from_captions(captions: Sequence, ids: Sequence[str] | None = None, *, unescape: bool = False) -> list[Cue]:
    import html

    return [
        Cue(
            ids[k] if ids else c.identifier,
            c.start_in_seconds + _ms(c.start),
            c.end_in_seconds + _ms(c.end),
            html.unescape(c.text) if unescape else c.text,
        )
        for k, c in enumerate(captions)
    ]


def _ms(timestamp: str) -> float:
    """The milliseconds of `HH:MM:SS.mmm` (webvtt-py's `*_in_seconds` are whole seconds)."""
    return int(re.split(r"[.,]", timestamp)[-1]) / 1000 if re.search(r"[.,]\d+$", timestamp) else 0.0


def read_vtt(path: str | Path) -> list[Cue]:
    """The cues of a WebVTT file."""
    import webvtt

    return _from_captions(webvtt.read(str(path)).captions, unescape=True)


def read_srt(path: str | Path, ids: Sequence[str] | None = None) -> list[Cue]:
    """The cues of a SubRip file (`ids`: the clip ids, which SubRip does not keep; default its numbers)."""
    import webvtt

    captions = webvtt.from_srt(str(path)).captions
    return _from_captions(captions, ids or [str(k + 1) for k in range(len(captions))])


TT, TTP, TTA, DAPTM = (
    "http://www.w3.org/ns/ttml",
    "http://www.w3.org/ns/ttml#parameter",
    "http://www.w3.org/ns/ttml#audio",
    "http://www.w3.org/ns/ttml/profile/dapt#metadata",
)
XML = "http://www.w3.org/XML/1998/namespace"
DAPT_CONTENT_PROFILE = "http://www.w3.org/ns/ttml/profile/dapt1.0/content"
_NCNAME = re.compile(r"^[A-Za-z_][\w.-]*$")


def _xml_id(clip_id: str) -> str:
    """An `xml:id` for a clip id (an XML name: a clip id starting with a digit gets a leading `_`)."""
    return clip_id if _NCNAME.match(clip_id) else "_" + re.sub(r"[^\w.-]", "_", clip_id)


def dapt_text(
    cues: Sequence[Cue],
    *,
    language: str,
    spoken: dict[str, Spoken] | None = None,
    duck_gain: float = 1.0,
    ramp: float = 0.25,
) -> str:
    """The cues as a DAPT audio description script; with `spoken` (clip id -> its speech) an as-recorded one whose
    events hold their audio and duck the programme audio to `duck_gain` (a linear gain) around it."""
    for prefix, uri in (("", TT), ("ttp", TTP), ("tta", TTA), ("daptm", DAPTM)):
        ET.register_namespace(prefix, uri)
    root = ET.Element(
        f"{{{TT}}}tt",
        {
            f"{{{TTP}}}contentProfiles": DAPT_CONTENT_PROFILE,
            f"{{{XML}}}lang": "zh-Hans" if language == "zh" else language,
            f"{{{DAPTM}}}langSrc": "zxx",  # descriptions of the picture have no inherent language
            f"{{{DAPTM}}}scriptRepresents": "visual.nonText",
            f"{{{DAPTM}}}scriptType": "asRecorded" if spoken else "preRecording",
            f"{{{TTP}}}timeBase": "media",
        },
    )
    body = ET.SubElement(root, f"{{{TT}}}body")
    for cue in cues:
        div = ET.SubElement(
            body,
            f"{{{TT}}}div",
            {
                "begin": f"{cue.start:.3f}s",
                "end": f"{max(cue.end, cue.start + 0.001):.3f}s",
                f"{{{XML}}}id": _xml_id(cue.id),
                f"{{{DAPTM}}}represents": "visual.nonText",
            },
        )
        speech = (spoken or {}).get(cue.id)
        if speech is not None:
            # mixing instructions of the script event, on the programme audio (times from the event's begin): the
            # gain falls over `ramp` seconds as the speech starts, holds, and rises over `ramp` once it ends
            for begin, gains in ((0.0, f"1;{duck_gain:.3f}"), (speech.seconds, f"{duck_gain:.3f};1")):
                ET.SubElement(
                    div,
                    f"{{{TT}}}animate",
                    {
                        "begin": f"{begin:.3f}s",
                        "end": f"{begin + ramp:.3f}s",
                        f"{{{TTA}}}gain": gains,
                        "fill": "freeze",
                    },
                )
        p = ET.SubElement(div, f"{{{TT}}}p")
        if speech is None:
            p.text = cue.text
            continue
        span = ET.SubElement(p, f"{{{TT}}}span", {"begin": "0.000s", "end": f"{speech.seconds:.3f}s"})
        ET.SubElement(span, f"{{{TT}}}audio", {"src": speech.audio})
        span[0].tail = cue.text
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def read_dapt(path: str | Path) -> list[Cue]:
    """The cues of a DAPT script, read by `ttconv`'s TTML reader (an independent parser)."""
    from ttconv import model
    from ttconv.imsc import reader

    document = reader.to_model(ET.parse(str(path)))
    if document is None or document.get_body() is None:
        raise ValueError(f"{path}: not a TTML document with a body.")

    def text(element) -> str:
        if isinstance(element, model.Text):
            return element.get_text()
        return "".join(text(child) for child in element)

    # ttconv's model keeps no `xml:id` of content elements: the ids, in document order, from the XML itself
    ids = [div.get(f"{{{XML}}}id", "") for div in ET.parse(str(path)).getroot().iter(f"{{{TT}}}div")]
    divs = list(document.get_body())
    if len(ids) != len(divs):
        raise ValueError(f"{path}: {len(divs)} script events but {len(ids)} <div> elements; expected one <div> each.")
    return [
        Cue(clip_id, float(div.get_begin() or 0), float(div.get_end() or 0), " ".join(text(div).split()))
        for clip_id, div in zip(ids, divs)
    ]
