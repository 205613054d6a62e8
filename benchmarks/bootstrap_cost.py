"""What 95% intervals cost on a split the size of Movie101v2's test split (2,227 clips of 10 movies).

Real narrations of the shipped sample release (`../shared/movie101v2-sample`), Chinese, tokenized per character
(no Java needed), are cycled to 2,227 clips over 10 movies; each clip is "predicted" by its neighbour's narration.
Per-clip judge and RoleF1 scores are random. Prints the seconds of `bootstrap_intervals` with 1,000 resamples of
movies: BLEU-1..4 and CIDEr recomputed as corpora on every resample, the rest as means.

    .venv/bin/python benchmarks/bootstrap_cost.py [--resamples 1000] [--clips 2227] [--movies 10]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from movie101v2_hf.data.release import Release
from movie101v2_hf.evaluation.metrics import tokenize
from movie101v2_hf.evaluation.stats import SampleParts, bootstrap_intervals

SAMPLE = Path(__file__).resolve().parents[1] / ".." / "shared" / "movie101v2-sample"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--clips", type=int, default=2227, help="Clips (default: the test split's 2,227).")
    parser.add_argument("--movies", type=int, default=10, help="Movies (default: the test split's 10).")
    args = parser.parse_args()

    release = Release(SAMPLE)
    texts = [c.narrations["zh"].text for m in release.movie_ids for c in release.clips(m)]
    references = tokenize([texts[i % len(texts)] for i in range(args.clips)], language="zh")
    candidates = references[1:] + references[:1]
    movies = [f"m{i * args.movies // args.clips}" for i in range(args.clips)]
    rng = np.random.default_rng(0)
    means = {
        "ROUGE-L": rng.uniform(0, 60, args.clips),
        "RoleF1": rng.uniform(0, 100, args.clips),
        "L1": rng.integers(0, 11, args.clips) * 10.0,
        "L2": rng.integers(0, 6, args.clips) * 20.0,
    }
    began = time.perf_counter()
    parts = SampleParts.from_texts(movies, candidates, references, means=means)
    built = time.perf_counter() - began
    began = time.perf_counter()
    intervals = bootstrap_intervals(parts, resamples=args.resamples, seed=0)
    seconds = time.perf_counter() - began
    point = parts.point()
    print(f"{args.clips:,} clips, {args.movies} movies, {args.resamples:,} resamples of movies")
    print(f"  parts (n-gram statistics, CIDEr matrices): {built:.2f} s")
    print(f"  bootstrap of {len(intervals)} scores:       {seconds:.2f} s")
    for name in ("BLEU-4", "CIDEr", "ROUGE-L", "L2"):
        print(f"  {name:<8} {point[name]:7.2f}  [{intervals[name][0]:.2f}, {intervals[name][1]:.2f}]")


if __name__ == "__main__":
    main()
