"""The load suite's latency histogram (``load/histogram.py``) against HdrHistogram (``hdrhistogram`` on PyPI).

    pip install hdrhistogram            # not a dependency: only this script uses it
    python bench/load_histogram.py [--values 200000] [--workers 8] [--seconds 3600]

Prints, side by side, in one process (ratios survive a busy machine better than absolute figures):

1. record: microseconds per ``record`` of a realistic latency (log-normal around 1 s);
2. merge across workers: a worker's histogram to the wire (ours: plain lists for locust's
   msgpack; HdrHistogram: its standard compressed base64 encoding) and back, and added into the
   master's, per worker; and the bytes on the wire;
3. memory: the bytes (tracemalloc) of one histogram holding 10 values (a route in one second:
   the load suite keeps one per route per second, for the charts) and of one holding all values;
   and what an hour of 5 routes, one histogram per route per second, would hold;
4. accuracy: the largest relative error of p50/p95/p99/p99.9 against the exact sample.

HdrHistogram is set up as the load suite needs: 1 µs to 1 hour, 3 significant digits (0.1 %).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import msgpack

from canvas_ai_harness.load.histogram import Histogram

try:
    from hdrh.histogram import HdrHistogram
except ImportError:  # pragma: no cover - a benchmark's optional comparison
    sys.exit("pip install hdrhistogram first (only this benchmark uses it)")

LOW, HIGH, DIGITS = 1, 3600 * 1_000_000, 3  # microseconds: 1 µs to one hour, 0.1 %


def _hdr() -> Any:
    return HdrHistogram(LOW, HIGH, DIGITS)


def _exact(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]


def _timed(fn: Callable[[], object], repeat: int = 3) -> float:
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _size(build: Callable[[], object]) -> int:
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = build()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del kept
    return after - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=3600)
    args = parser.parse_args()
    rng = random.Random(7)
    values = [rng.lognormvariate(math.log(1000), 0.5) for _ in range(args.values)]  # ms
    micros = [max(1, round(v * 1000)) for v in values]
    print(f"load average {os.getloadavg()[0]:.2f} (shared machine: compare the ratios)")

    ours = Histogram()
    hdr = _hdr()
    t_ours = _timed(lambda: [ours.record(v) for v in values], 1)
    t_hdr = _timed(lambda: [hdr.record_value(m) for m in micros], 1)
    n = len(values)
    print(
        f"record        ours {1e6 * t_ours / n:6.2f} µs   hdr {1e6 * t_hdr / n:6.2f} µs   hdr/ours {t_hdr / t_ours:.2f}"
    )

    # A worker sends its histogram; the master decodes it and adds it in.
    per_worker = [values[i :: args.workers] for i in range(args.workers)]
    ours_workers, hdr_workers = [], []
    for chunk in per_worker:
        h = Histogram()
        for v in chunk:
            h.record(v)
        ours_workers.append(h)
        g = _hdr()
        for v in chunk:
            g.record_value(max(1, round(v * 1000)))
        hdr_workers.append(g)
    ours_wire = [msgpack.packb(h.to_wire()) for h in ours_workers]
    hdr_wire = [g.encode() for g in hdr_workers]

    def merge_ours() -> Histogram:
        total = Histogram()
        for w in ours_workers:
            total.merge(Histogram.from_wire(msgpack.unpackb(msgpack.packb(w.to_wire()))))
        return total

    def merge_hdr() -> Any:
        total = _hdr()
        for g in hdr_workers:
            total.decode_and_add(g.encode())
        return total

    m_ours, m_hdr = _timed(merge_ours), _timed(merge_hdr)
    w = args.workers
    print(
        f"merge/worker  ours {1e3 * m_ours / w:6.2f} ms   hdr {1e3 * m_hdr / w:6.2f} ms   hdr/ours {m_hdr / m_ours:.2f}"
        f"   (encode + decode + add, {n // w} values each)"
    )
    o_bytes, h_bytes = sum(map(len, ours_wire)) / w, sum(map(len, hdr_wire)) / w
    print(f"wire/worker   ours {o_bytes:8.0f} B   hdr {h_bytes:8.0f} B")

    def small_ours() -> Histogram:
        h = Histogram()
        for v in values[:10]:
            h.record(v)
        return h

    def small_hdr() -> Any:
        g = _hdr()
        for m in micros[:10]:
            g.record_value(m)
        return g

    s_ours, s_hdr = _size(small_ours), _size(small_hdr)
    print(f"memory (10 values)  ours {s_ours:8d} B   hdr {s_hdr:8d} B")
    print(f"memory (all)        ours {_size(lambda: merge_ours()):8d} B   hdr {_size(lambda: merge_hdr()):8d} B")
    hour = 5 * args.seconds
    print(
        f"one histogram per route per second, 5 routes x {args.seconds} s: ours ~{hour * s_ours / 2**20:.0f} MiB, "
        f"hdr ~{hour * s_hdr / 2**20:.0f} MiB"
    )

    merged_ours, merged_hdr = merge_ours(), merge_hdr()
    worst_ours = worst_hdr = 0.0
    for pct in (50, 95, 99, 99.9):
        exact = _exact(values, pct)
        got_ours = merged_ours.percentile(pct) or 0.0
        got_hdr = merged_hdr.get_value_at_percentile(pct) / 1000.0
        worst_ours = max(worst_ours, abs(got_ours - exact) / exact)
        worst_hdr = max(worst_hdr, abs(got_hdr - exact) / exact)
        print(f"p{pct:<5} exact {exact:9.3f} ms   ours {got_ours:9.3f}   hdr {got_hdr:9.3f}")
    print(f"worst relative error  ours {100 * worst_ours:.3f} %   hdr {100 * worst_hdr:.3f} %")


if __name__ == "__main__":
    main()
