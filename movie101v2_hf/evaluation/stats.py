"""How sure is a score: 95% intervals by bootstrap over movies, and the paired comparison of two runs.

Clips of one movie are not independent (the same characters, places and narrator), so a resample draws movies,
as many as the run has, with replacement, and each drawn movie brings all its clips. Every score is recomputed
on each resample from per-clip parts (`SampleParts`):

- recomputed as a corpus: BLEU-1..4 (pycocoevalcap's clipped n-gram counts and lengths, summed over the
  resample) and CIDEr (its document frequencies recomputed from the resample's references, a movie drawn twice
  counting twice): exactly what pycocoevalcap gives on the resampled corpus (tested);
- means of per-clip scores, as the metric itself is: ROUGE-L (pycocoevalcap averages per clip), BERTScore,
  RoleP/RoleR/RoleF1, and the judged L1-Env, L1-Char, L1, L2 (over valid judgments);
- METEOR: its corpus score is Java's aggregate over all segments; per resample we take the mean of the segment
  scores, shifted by the corpus score's difference from that mean on the whole run (an approximation: one Java
  call per resample would cost minutes).

Example:
    >>> import numpy as np
    >>> parts = SampleParts(["m1", "m1", "m2", "m3"], means={"L2": np.array([60.0, 80.0, 40.0, 100.0])})
    >>> parts.point()["L2"]
    70.0
    >>> low, high = bootstrap_intervals(parts, resamples=200, seed=0)["L2"]
    >>> low <= 70.0 <= high
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

BLEU_ORDERS = 4
FEW_MOVIES = 5  # below this many movies a bootstrap over movies has too few distinct resamples to be read


def few_movies_warning(movie_ids: Sequence[str]) -> str | None:
    """A warning when there are too few movies for intervals over movies to mean much, else None.

    Example:
        >>> few_movies_warning(["a", "a", "b"])
        'only 2 movies: with fewer than 5, intervals over movies have few distinct resamples and are not reliable'
    """
    count = len(set(movie_ids))
    if count >= FEW_MOVIES:
        return None
    return (
        f"only {count} movie{'s' if count != 1 else ''}: with fewer than {FEW_MOVIES}, intervals over movies have "
        "few distinct resamples and are not reliable"
    )


_TINY, _SMALL = 1e-15, 1e-9  # pycocoevalcap's guards against zero counts
CIDER_SIGMA = 6.0  # pycocoevalcap's length penalty


def bleu_statistics(candidates: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """Per clip: test length, reference length, guessed and correct n-grams of orders 1-4 (pycocoevalcap's own
    cooking of tokenized strings), shape `(clips, 10)`."""
    from pycocoevalcap.bleu.bleu_scorer import cook_refs, cook_test

    rows = []
    for candidate, reference in zip(candidates, references):
        comps = cook_test(candidate, cook_refs([reference], n=BLEU_ORDERS), n=BLEU_ORDERS)
        rows.append([comps["testlen"], comps["reflen"][0], *comps["guess"], *comps["correct"]])
    return np.asarray(rows, dtype=np.float64).reshape(-1, 2 + 2 * BLEU_ORDERS)


def corpus_bleu(totals: np.ndarray) -> np.ndarray:
    """BLEU-1..4 (x100) from summed statistics, pycocoevalcap's formula; `totals` is `(..., 10)`."""
    testlen, reflen = totals[..., 0], totals[..., 1]
    guess, correct = totals[..., 2 : 2 + BLEU_ORDERS], totals[..., 2 + BLEU_ORDERS :]
    ratios = np.cumprod((correct + _TINY) / (guess + _SMALL), axis=-1)
    bleus = ratios ** (1.0 / np.arange(1, BLEU_ORDERS + 1))
    ratio = (testlen + _TINY) / (reflen + _SMALL)
    penalty = np.where(ratio < 1, np.exp(1 - 1 / np.minimum(ratio, 1)), 1.0)
    return bleus * penalty[..., None] * 100


class CiderParts:
    """CIDEr (pycocoevalcap's CIDEr-D: tf-idf n-grams 1-4, clipped, with a Gaussian length penalty), ready to be
    recomputed for any multiset of clips: document frequencies depend on which references are in the corpus.

    With idf >= 0, pycocoevalcap's clipped product `min(tf_h idf, tf_r idf) tf_r idf` is `min(tf_h, tf_r) tf_r
    idf^2`, so each clip's dot product and norms are sparse matrix products with the squared idf of a resample.
    """

    def __init__(self, candidates: Sequence[str], references: Sequence[str]) -> None:
        from pycocoevalcap.cider.cider_scorer import precook
        from scipy import sparse

        hyp = [precook(text, BLEU_ORDERS) for text in candidates]
        ref = [precook(text, BLEU_ORDERS) for text in references]
        self.orders = []
        for order in range(1, BLEU_ORDERS + 1):
            vocabulary: dict[tuple[str, ...], int] = {}
            matrices = []
            for counts in (hyp, ref):
                rows, cols, values = [], [], []
                for row, clip in enumerate(counts):
                    for ngram, count in clip.items():
                        if len(ngram) == order:
                            rows.append(row)
                            cols.append(vocabulary.setdefault(ngram, len(vocabulary)))
                            values.append(float(count))
                matrices.append((rows, cols, values))
            shape = (len(candidates), max(1, len(vocabulary)))
            tf_h, tf_r = (sparse.csr_matrix((v, (r, c)), shape=shape) for r, c, v in matrices)
            self.orders.append(
                {
                    "clipped": tf_h.minimum(tf_r).multiply(tf_r).tocsr(),
                    "hyp2": tf_h.power(2).tocsr(),
                    "ref2": tf_r.power(2).tocsr(),
                    "present": (tf_r > 0).astype(np.float64).T.tocsr(),  # n-grams x clips
                }
            )
            if order == 2:  # pycocoevalcap's "length" is the number of bigrams
                delta = np.asarray(tf_h.sum(axis=1) - tf_r.sum(axis=1)).ravel()
        self.penalty = np.exp(-(delta**2) / (2 * CIDER_SIGMA**2))

    def scores(self, weights: np.ndarray) -> float:
        """Corpus CIDEr (x100) of the corpus holding clip i `weights[i]` times."""
        total = float(weights.sum())
        per_order = []
        for parts in self.orders:
            df = parts["present"] @ weights
            idf2 = (math.log(total) - np.log(np.maximum(1.0, df))) ** 2
            dot, hyp, ref = parts["clipped"] @ idf2, parts["hyp2"] @ idf2, parts["ref2"] @ idf2
            both = (hyp > 0) & (ref > 0)
            value = np.where(both, dot / np.sqrt(np.where(both, hyp * ref, 1.0)), dot)
            per_order.append(value * self.penalty)
        per_clip = np.mean(per_order, axis=0) * 10.0
        return float(weights @ per_clip / total) * 100


@dataclass
class SampleParts:
    """What every score of a run is recomputed from, per clip.

    Args:
        movie_ids: each clip's movie (the resampling unit).
        bleu: `bleu_statistics` of the tokenized clips, or None.
        cider: `CiderParts` of the tokenized clips, or None.
        means: score name -> per-clip values on the score's scale (NaN where a clip has none, e.g. an invalid
            judgment); the score is their mean.
        offsets: score name -> a constant added to the mean (METEOR's corpus-vs-mean difference).
    """

    movie_ids: Sequence[str]
    bleu: np.ndarray | None = None
    cider: CiderParts | None = None
    means: dict[str, np.ndarray] = field(default_factory=dict)
    offsets: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_texts(
        cls,
        movie_ids: Sequence[str],
        candidate_tokens: Sequence[str] | None,
        reference_tokens: Sequence[str] | None,
        *,
        means: dict[str, Sequence[float | None]] | None = None,
        offsets: dict[str, float] | None = None,
    ) -> SampleParts:
        """Parts from tokenized clips (space-joined, as pycocoevalcap takes them) and per-clip scores."""
        arrays = {
            name: np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
            for name, values in (means or {}).items()
        }
        bleu, cider = None, None
        if candidate_tokens is not None and reference_tokens is not None:
            bleu, cider = (
                bleu_statistics(candidate_tokens, reference_tokens),
                CiderParts(candidate_tokens, reference_tokens),
            )
        return cls(
            movie_ids=list(movie_ids),
            bleu=bleu,
            cider=cider,
            means=arrays,
            offsets=dict(offsets or {}),
        )

    def names(self) -> list[str]:
        names = [f"BLEU-{n}" for n in range(1, BLEU_ORDERS + 1)] if self.bleu is not None else []
        return names + (["CIDEr"] if self.cider is not None else []) + list(self.means)

    def scores(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        """Every score for each row of `weights` (`(resamples, clips)`: how many times each clip is drawn)."""
        weights = np.atleast_2d(weights).astype(np.float64)
        out: dict[str, np.ndarray] = {}
        if self.bleu is not None:
            bleu = corpus_bleu(weights @ self.bleu)
            out.update({f"BLEU-{n + 1}": bleu[:, n] for n in range(BLEU_ORDERS)})
        if self.cider is not None:
            out["CIDEr"] = np.array([self.cider.scores(row) for row in weights])
        for name, values in self.means.items():
            valid = ~np.isnan(values)
            counted = weights[:, valid].sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = weights[:, valid] @ values[valid] / counted
            out[name] = np.where(counted > 0, mean, np.nan) + self.offsets.get(name, 0.0)
        return out

    def point(self) -> dict[str, float]:
        """The scores of the run itself (every clip once)."""
        return {name: float(values[0]) for name, values in self.scores(np.ones(len(self.movie_ids))).items()}


def movie_resamples(movie_ids: Sequence[str], resamples: int, seed: int) -> np.ndarray:
    """`(resamples, clips)` weights: movies drawn with replacement, each drawn movie bringing all its clips.

    Example:
        >>> movie_resamples(["a", "a", "b"], 2, seed=0).tolist()
        [[0.0, 0.0, 2.0], [1.0, 1.0, 1.0]]
    """
    movies, index = np.unique(np.asarray(movie_ids), return_inverse=True)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(movies), size=(resamples, len(movies)))
    counts = np.stack([np.bincount(row, minlength=len(movies)) for row in draws]).astype(np.float64)
    return counts[:, index]


def bootstrap_intervals(
    parts: SampleParts, *, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, list[float]]:
    """`{score: [low, high]}`, the percentile interval of each score over `resamples` movie resamples."""
    weights = movie_resamples(parts.movie_ids, resamples, seed)
    tail = (1 - level) / 2 * 100
    return {
        name: [round(float(np.nanpercentile(values, tail)), 4), round(float(np.nanpercentile(values, 100 - tail)), 4)]
        for name, values in parts.scores(weights).items()
        if not np.all(np.isnan(values))
    }


def paired_comparison(
    a: SampleParts, b: SampleParts, *, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> dict[str, dict[str, Any]]:
    """Per score: A, B, B - A, the interval of B - A by paired bootstrap over movies (the same movies drawn for
    both runs), and a two-sided p-value for "no difference".

    The p-value is the share of resampled differences at least as far from the observed one as the observed one is
    from zero (the bootstrap distribution shifted to the null), with the usual +1 in numerator and denominator.

    Raises:
        ValueError: the runs are not on the same clips of the same movies.
    """
    if list(a.movie_ids) != list(b.movie_ids):
        raise ValueError("the two runs are not on the same clips (in the same order); compare runs of one split.")
    weights = movie_resamples(a.movie_ids, resamples, seed)
    point_a, point_b = a.point(), b.point()
    scores_a, scores_b = a.scores(weights), b.scores(weights)
    tail = (1 - level) / 2 * 100
    out = {}
    for name in [n for n in a.names() if n in b.names()]:
        observed = point_b[name] - point_a[name]
        diffs = scores_b[name] - scores_a[name]
        diffs = diffs[~np.isnan(diffs)]
        if math.isnan(observed) or not len(diffs):
            continue
        extreme = np.sum(np.abs(diffs - observed) >= abs(observed) - 1e-12)
        out[name] = {
            "A": round(point_a[name], 4),
            "B": round(point_b[name], 4),
            "B-A": round(observed, 4),
            "ci95": [round(float(np.percentile(diffs, tail)), 4), round(float(np.percentile(diffs, 100 - tail)), 4)],
            "p_value": round(float((extreme + 1) / (len(diffs) + 1)), 4),
        }
    return out
