"""Judge throughput: concurrency against a server with a fixed latency, and a re-run served from the cache.

    python benchmarks/judge_throughput.py                     # 1,000 samples, 200 ms per request
    python benchmarks/judge_throughput.py --samples 200       # a quick look

Starts a local OpenAI-compatible server (`movie101v2_hf.testing.ScriptedJudgeServer`) that answers every
request after a fixed latency, judges L2 for N samples with concurrency 1 and 64, and prints samples/s and
their ratio (target >= 20x), then re-runs the concurrent judging on the same cache and prints its time and
the number of judge calls it made (target: zero).

Concurrency 1 at 200 ms per request takes N x 0.2 s (200 s for 1,000 samples); `--serial-samples` measures
the serial rate on fewer samples.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from movie101v2_hf.judge import Judge, PromptSet
from movie101v2_hf.llm import OpenAILLM, ResponseCache
from movie101v2_hf.testing import ScriptedJudgeServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--serial-samples", type=int, default=100, help="samples for the concurrency-1 run")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per request (default: 0.2)")
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()

    predictions = [f"candidate narration number {i}" for i in range(args.samples)]
    references = [f"reference narration number {i}" for i in range(args.samples)]
    prompts = PromptSet.packaged("en")
    with ScriptedJudgeServer(latency=args.latency) as server, tempfile.TemporaryDirectory() as tmp:

        def run(concurrency: int, count: int, cache: ResponseCache | None) -> tuple[float, int]:
            backend = OpenAILLM(model="scripted-judge", base_url=server.url, concurrency=concurrency)
            judge = Judge(backend, prompts, cache=cache, show_progress=False)
            before = len(server.requests)
            began = time.perf_counter()
            result = judge.score("l2", predictions[:count], references[:count])
            elapsed = time.perf_counter() - began
            assert result.num_failed == 0 and result.num_invalid == 0, result
            return elapsed, len(server.requests) - before

        serial_seconds, _ = run(1, args.serial_samples, None)
        cache = ResponseCache(Path(tmp) / "responses.sqlite")
        concurrent_seconds, calls = run(args.concurrency, args.samples, cache)
        rerun_seconds, rerun_calls = run(args.concurrency, args.samples, cache)

    serial_rate = args.serial_samples / serial_seconds
    concurrent_rate = args.samples / concurrent_seconds
    print(f"\nserver latency {args.latency * 1000:.0f} ms per request; L2, packaged prompts\n")
    print(f"{'run':<26} {'samples':>8} {'calls':>6} {'seconds':>8} {'samples/s':>10}")
    print(
        f"{'concurrency 1':<26} {args.serial_samples:>8} {args.serial_samples:>6} {serial_seconds:>8.2f} {serial_rate:>10.2f}"
    )
    print(
        f"{f'concurrency {args.concurrency}':<26} {args.samples:>8} {calls:>6} {concurrent_seconds:>8.2f} {concurrent_rate:>10.2f}"
    )
    print(
        f"{'re-run (cache)':<26} {args.samples:>8} {rerun_calls:>6} {rerun_seconds:>8.2f} {args.samples / rerun_seconds:>10.0f}"
    )
    ratio = concurrent_rate / serial_rate
    print(
        f"\nconcurrency {args.concurrency} / 1: {ratio:.1f}x   target >= 20x   {'met' if ratio >= 20 else 'NOT met'}"
    )
    print(f"re-run judge calls: {rerun_calls}   target 0   {'met' if rerun_calls == 0 else 'NOT met'}")


if __name__ == "__main__":
    main()
