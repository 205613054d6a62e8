"""Movie101v2 loading script, for script-era `datasets` (< 4.0).

`datasets` 4 and later no longer run loading scripts: use `movie101v2 prepare` and load the folder
it writes (or its Hub copy) instead. With an older `datasets` and this package installed:

    from datasets import load_dataset
    ds = load_dataset("loading_script/movie101v2.py", "en", data_dir="path/to/Movie101",
                      trust_remote_code=True)  # add video_dir="path/to/movies" for a `video` column

`data_dir` is a copy of the Movie101 repository (the folder holding Movie101v2/). The builder is the
one `movie101v2 prepare` runs, so both give the same rows.
"""

from movie101v2_hf.data.builder import Movie101v2Builder


class Movie101v2(Movie101v2Builder):
    """Movie101v2: configs en, zh, bilingual, en-short, zh-short and movies; splits train, validation, test."""
