"""Audio description people can hear and watch: tracks (WebVTT, SRT, DAPT), speech, the ducked mix, the player.

`movie101v2 export` (`ad.export`) runs it all per movie; `ad.tracks`, `ad.tts`, `ad.audio` and `ad.player` are its
parts. This package imports nothing of `evaluation` at import time, so that `evaluate --tts` can use `ad.tts`.
"""
