"""Tracks written by the package parse back to the same cues with independent parsers (webvtt-py, ttconv)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from movie101v2_hf.ad.tracks import (
    DAPT_CONTENT_PROFILE,
    DAPTM,
    TT,
    TTP,
    Cue,
    Spoken,
    dapt_text,
    read_dapt,
    read_srt,
    read_vtt,
    srt_text,
    vtt_text,
)

CUES = [
    Cue("iqy-1_long_00000", 2.0, 5.5, "Cheng Yong walks in & looks </around> at <b>them</b>."),
    Cue("iqy-1_long_00001", 8.25, 9.04, "程勇走进店里，看了看。"),
    Cue("iqy-1_long_00002", 3725.5, 3731.0, "Late in the movie."),
]


def test_webvtt_and_srt_round_trip(tmp_path):
    (tmp_path / "m.vtt").write_text(vtt_text(CUES), encoding="utf-8")
    (tmp_path / "m.srt").write_text(srt_text(CUES), encoding="utf-8")
    assert read_vtt(tmp_path / "m.vtt") == CUES
    # SubRip has no escaping: players read <...> as tags (and webvtt-py drops them); the rest is kept
    srt = read_srt(tmp_path / "m.srt", [c.id for c in CUES])
    assert srt[1:] == CUES[1:] and srt[0].text == "Cheng Yong walks in & looks  at them."
    assert (tmp_path / "m.vtt").read_text().startswith("WEBVTT")


def test_a_line_break_in_a_narration_does_not_end_its_cue(tmp_path):
    cue = Cue("m_long_0", 0.0, 2.0, "one\n\ntwo")
    (tmp_path / "m.vtt").write_text(vtt_text([cue]))
    assert read_vtt(tmp_path / "m.vtt") == [Cue("m_long_0", 0.0, 2.0, "one two")]


def test_dapt_is_an_audio_description_script_that_ttconv_reads_back(tmp_path):
    path = tmp_path / "m.dapt.ttml"
    path.write_text(dapt_text(CUES, language="en"), encoding="utf-8")
    root = ET.parse(path).getroot()
    assert root.tag == f"{{{TT}}}tt"
    assert root.get(f"{{{TTP}}}contentProfiles") == DAPT_CONTENT_PROFILE
    assert root.get(f"{{{DAPTM}}}scriptType") == "preRecording"
    assert root.get(f"{{{DAPTM}}}scriptRepresents") == "visual.nonText"
    assert root.get(f"{{{DAPTM}}}langSrc") == "zxx"
    assert read_dapt(path) == CUES


def test_a_spoken_dapt_script_holds_the_audio_and_the_ducking(tmp_path):
    spoken = {CUES[0].id: Spoken("speech/m/iqy-1_long_00000.wav", 1.5)}
    path = tmp_path / "m.dapt.ttml"
    path.write_text(dapt_text(CUES, language="zh", spoken=spoken, duck_gain=0.25))
    root = ET.parse(path).getroot()
    assert root.get(f"{{{DAPTM}}}scriptType") == "asRecorded"
    first = root.find(f"{{{TT}}}body/{{{TT}}}div")
    assert first.find(f".//{{{TT}}}audio").get("src") == "speech/m/iqy-1_long_00000.wav"
    gains = [a.get("{http://www.w3.org/ns/ttml#audio}gain") for a in first.findall(f"{{{TT}}}animate")]
    assert gains == ["1;0.250", "0.250;1"]
    assert read_dapt(path) == CUES  # the text is still the cue's
