"""Benchmark exact farthest-first selection (lightly_ray.selection.kernels) against baselines.

Cases (all on float32 unit-normalised embeddings, seeded):

* `diversity`: N x dim Gaussian random vectors, DIVERSITY, k picks.
* `diversity_weights`: the same vectors, DIVERSITY x WEIGHTS (weights uniform in (0, 1], both
  strengths 1): the engine's score log(A + m) + log(W + w), see kernels.farthest_first_weighted.
* `clustered`: 1,000 random unit centres plus Gaussian noise (std 0.03 per coordinate),
  normalised; DIVERSITY, k picks.

Per case it times this engine (numba, JIT compiled beforehand; `jit_s` is reported on its own),
a plain numpy float32 loop (`2 - 2 X @ c`, np.minimum, argmax; for the weighted case plus the
score in numpy), and lightly-mundig (`Selection().add_diversifying_strategy` /
`add_weighting_strategy` / `run_selection`). `identical` compares all engine picks with the float64
numpy reference (kernels.reference_farthest_first: `((x - c) ** 2).sum()` in float64, chunked);
`numpy_identical` does the same for the float32 numpy loop; `mundig_agreement` is the fraction of
positions where the engine and mundig picked the same row (mundig accumulates in float32, so it
leaves the float64 order at the first near-tie; every later pick may differ).

Memory: `engine_peak_mb` is the peak growth of the process RSS (sampled from /proc/self/statm
every 2 ms by a thread, from just before the engine call until it returns, with the input matrix
already resident); `engine_alloc_mb` is what the engine allocates by its own accounting
(MinDistanceState.nbytes plus the per-pick scratch). `stream_gb_s` is a two-thread numba read
of a 400 MB float32 array (best of 5), measured in the same run.

Progress goes to stderr; the last line of stdout is one JSON object.

Run:
    .venv/bin/python bench/selection.py                                  # full (about 15 min)
    .venv/bin/python bench/selection.py --n 20000 --k 500 --skip-reference   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from rss_peak import RssPeak

from lightly_ray.selection.kernels import (
    MinDistanceState,
    farthest_first,
    farthest_first_weighted,
    reference_farthest_first,
)
from lightly_ray.selection.kernels import _numba as kernels

CASES = ("diversity", "diversity_weights", "clustered")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def unit_random(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def clustered(n: int, dim: int, seed: int, n_centres: int = 1000, noise: float = 0.03) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = unit_random(n_centres, dim, seed + 1)
    x = centres[rng.integers(0, n_centres, n)] + rng.standard_normal((n, dim), dtype=np.float32) * np.float32(
        noise
    )
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


def stream_gb_s() -> float:
    data = np.ones(100_000_000, dtype=np.float32)
    kernels.stream_sum(data, 1 << 16)
    best = np.inf
    for _ in range(5):
        start = time.perf_counter()
        kernels.stream_sum(data, 1 << 16)
        best = min(best, time.perf_counter() - start)
    return data.nbytes / best / 1e9


def numpy_loop(x: np.ndarray, k: int, weights: np.ndarray | None = None) -> np.ndarray:
    """The plain float32 baseline: 2 - 2 X @ c, minimum, argmax (unit vectors).

    With weights, the engine's score log(A + m) + log(W + w) on those float32 distances (A the
    sum of the selected rows' squared distances to their nearest other selected row).
    """
    n = len(x)
    nearest = np.full(n, np.inf, dtype=np.float32)
    chosen = np.zeros(n, dtype=bool)
    picks = [0 if weights is None else int(np.argmax(np.log(weights)))]
    nearest_other = np.empty(0, dtype=np.float32)
    weight_sum = 0.0
    for _ in range(k - 1):
        c = picks[-1]
        chosen[c] = True
        if weights is not None:
            weight_sum += float(weights[c])
            others = np.float32(2.0) - np.float32(2.0) * (x[picks[:-1]] @ x[c])
            nearest_other = np.append(np.minimum(nearest_other, others), others.min(initial=np.inf))
        np.minimum(nearest, np.float32(2.0) - np.float32(2.0) * (x @ x[c]), out=nearest)
        if weights is None:
            scores = np.where(chosen, -np.inf, nearest)
        else:
            offset = float(np.where(np.isinf(nearest_other), 0.0, nearest_other).sum())
            with np.errstate(divide="ignore", invalid="ignore"):
                scores = np.log(offset + np.maximum(nearest, 0.0).astype(np.float64)) + np.log(
                    weight_sum + weights
                )
            scores[chosen] = -np.inf
        picks.append(int(np.argmax(scores)))
    return np.asarray(picks, dtype=np.int64)


def mundig_select(x: np.ndarray, k: int, weights: np.ndarray | None) -> list[int] | None:
    try:
        import lightly_mundig
    except ImportError:
        return None
    selection = lightly_mundig.Selection()
    selection.add_diversifying_strategy(x, 1.0, None)
    if weights is not None:
        selection.add_weighting_strategy(weights, 1.0)
    return list(selection.run_selection([], len(x), k))


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def run_case(name: str, n: int, dim: int, k: int, skip_reference: bool, skip_mundig: bool) -> dict[str, Any]:
    x = clustered(n, dim, seed=2) if name == "clustered" else unit_random(n, dim, seed=1)
    weights = None
    if name == "diversity_weights":
        weights = 1.0 - np.random.default_rng(3).random(n)  # uniform in (0, 1]
    log(f"[{name}] n={n} dim={dim} k={k}")

    with RssPeak() as rss:
        if weights is None:
            result, engine_s = timed(lambda: farthest_first(x, k))
        else:
            result, engine_s = timed(lambda: farthest_first_weighted(x, weights, k))
    picks = result.indices
    log(f"[{name}] engine {engine_s:.2f} s, peak RSS growth {rss.growth_mb:.1f} MB")
    # n (d + 24) bytes of per-row state, 16 per selected row; the weighted
    # variant adds a score buffer, a row buffer, the weight order and the sorted weights (8 bytes
    # per row each) and a float32 copy of the selected rows (a buffer that doubles from 16 rows).
    picked_rows = 16
    while picked_rows <= k:
        picked_rows *= 2
    weighted_bytes = 32 * n + 4 * dim * picked_rows if weights is not None else 0
    alloc_mb = (n * (dim + 24) + 16 * max(k, 1024) + weighted_bytes) / 1e6
    probe = MinDistanceState(x)
    probe_rows = 0
    if k > 1:  # recomputed rows over the first min(k, 200) picks (diversity order), for the report
        probe.add(0)
        for _ in range(min(k, 200) - 1):
            probe.add(probe.best()[0])
        probe_rows = probe.recomputed_rows
    del probe

    numpy_picks, numpy_s = timed(lambda: numpy_loop(x, k, weights))
    log(f"[{name}] numpy float32 loop {numpy_s:.2f} s")
    mundig_picks: list[int] | None = None
    mundig_s = None
    if not skip_mundig:
        mundig_picks, mundig_s = timed(lambda: mundig_select(x, k, weights))
        log(f"[{name}] mundig {mundig_s:.2f} s")
    identical = None
    numpy_identical = None
    reference_s = None
    if not skip_reference:
        (ref_picks, _, _), reference_s = timed(lambda: reference_farthest_first(x, k, weights=weights))
        identical = bool(np.array_equal(ref_picks, picks))
        numpy_identical = bool(np.array_equal(ref_picks, numpy_picks))
        log(f"[{name}] float64 reference {reference_s:.1f} s, identical={identical}")
    agreement = None
    if mundig_picks is not None:
        m = np.asarray(mundig_picks[: len(picks)])
        agreement = float(np.mean(m == picks[: len(m)])) if len(m) else None
    return {
        "name": name,
        "n": n,
        "dim": dim,
        "k": k,
        "engine_s": round(engine_s, 3),
        "numpy_s": round(numpy_s, 3),
        "mundig_s": round(mundig_s, 3) if mundig_s is not None else None,
        "speedup_vs_mundig": round(mundig_s / engine_s, 2) if mundig_s else None,
        "speedup_vs_numpy": round(numpy_s / engine_s, 2),
        "identical": identical,
        "numpy_identical": numpy_identical,
        "mundig_agreement": agreement,
        "engine_peak_mb": round(rss.growth_mb, 1),
        "engine_alloc_mb": round(alloc_mb, 1),
        "matrix_mb": round(x.nbytes / 1e6, 1),
        "recomputed_fraction_first_200": round(probe_rows / (n * min(k, 200)), 5) if k > 1 else None,
        "reference_s": round(reference_s, 1) if reference_s is not None else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--k", type=int, default=2_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {CASES}")
    parser.add_argument("--skip-reference", action="store_true", help="skip the float64 reference")
    parser.add_argument("--skip-mundig", action="store_true", help="skip lightly-mundig")
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default: all cores)")
    args = parser.parse_args()
    if args.threads:
        kernels.numba.set_num_threads(args.threads)
    cases = [c for c in args.cases.split(",") if c]
    unknown = set(cases) - set(CASES)
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}")

    start = time.perf_counter()  # JIT (or load from numba's cache) on a tiny input
    tiny = unit_random(64, args.dim, seed=0)
    farthest_first(tiny, 8)
    farthest_first_weighted(tiny, np.ones(64), 8)
    jit_s = time.perf_counter() - start
    log(f"JIT / cache load {jit_s:.1f} s")
    gb_s = stream_gb_s()
    log(f"two-thread stream read {gb_s:.1f} GB/s")
    results = [run_case(c, args.n, args.dim, args.k, args.skip_reference, args.skip_mundig) for c in cases]
    print(
        json.dumps(
            {
                "stream_gb_s": round(gb_s, 1),
                "jit_s": round(jit_s, 2),
                "threads": int(kernels.numba.get_num_threads()),
                "load_average_1min": round(os.getloadavg()[0], 2),
                "cases": results,
            }
        )
    )


if __name__ == "__main__":
    main()
