"""`data.sampling`: one `FrameSampling` under the sampler, the collators and vLLM's limits."""

from __future__ import annotations

import pytest

from movie101v2_hf.data.sampling import FrameSampling, sample_times
from movie101v2_hf.prompting import PromptSettings


def test_count_mode_and_rate_mode_with_a_cap():
    assert FrameSampling(num_frames=4).count(0.0, 100.0) == 4
    rate = FrameSampling(fps=2, max_frames=8)
    assert rate.num_frames is None and [rate.count(0.0, d) for d in (0.1, 1.0, 3.2, 60.0)] == [1, 2, 6, 8]
    assert rate.times(0.0, 60.0) == sample_times(0.0, 60.0, 8)  # a long clip is spread out, never cut short
    assert FrameSampling(fps=1).max_count is None and rate.max_count == 8


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_frames": 0}, "num_frames"),
        ({"fps": 0}, "fps"),
        ({"fps": 1, "max_frames": 0}, "max_frames"),
        ({"size": (10,)}, "size"),
    ],
)
def test_bad_sampling_is_refused_with_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FrameSampling(**kwargs)


def test_the_prompt_settings_vocabulary_maps_onto_one_sampling():
    assert PromptSettings(video_num_frames=8).frame_sampling() == FrameSampling(num_frames=8)
    settings = PromptSettings(video_fps=2.0, video_maxlen=12)
    assert settings.frame_sampling() == FrameSampling(fps=2.0, max_frames=12)
    assert settings.sampler().sampling == settings.frame_sampling()  # the sampler decodes exactly that
    assert FrameSampling(num_frames=4, size=(90, 160)).describe()["size"] == [90, 160]
