"""Benchmark exact farthest-first on a CUDA GPU against the bound set by memory bandwidth.

Cases (float32 unit-normalised embeddings generated on the GPU, seeded):

* `random`: N x dim Gaussian random vectors, DIVERSITY, k picks.
* `clustered`: 10,000 random unit centres plus Gaussian noise (std 0.03 per coordinate),
  normalised; DIVERSITY, k picks.

Per case it times:

* `engine_s`: `kernels.farthest_first_torch` (exact: a float32 matrix-vector product per pick
  with a rigorous error bound, float64 recomputation of the rows the bound cannot settle);
* `float32_loop_s`: the plain float32 loop (`2 - 2 X @ c`, minimum, argmax), not exact;
* `reference_s`: `kernels.torch_path.reference_farthest_first_torch`, the float64 reference
  (every distance recomputed in float64 at every pick, numpy's summation order), which decides
  `identical` (all k engine picks equal) and `float32_loop_first_difference` (the first pick
  where the float32 loop leaves it, or null).

`read_tb_s` is the measured read bandwidth (`torch.sum` over the matrix, best of 5, CUDA events),
`copy_tb_s` a device-to-device copy counting bytes read plus written. `bound_s` = k x (bytes of
the float32 matrix) / `read_tb_s`: the time a method that reads the whole matrix once per pick
cannot beat. The engine reads the matrix once per pick and moves n x 8-byte arrays a few times.

Progress goes to stderr; the last line of stdout is one JSON object.

Run (on a machine with a CUDA GPU; about 5 minutes at the defaults, most of it the reference):
    python bench/selection_gpu.py
    python bench/selection_gpu.py --n 1000000 --k 1000 --cases random      # quick
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from lightly_ray.selection.kernels.torch_path import farthest_first_torch, reference_farthest_first_torch

CASES = ("random", "clustered")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def normalise_(x: torch.Tensor) -> torch.Tensor:
    for start in range(0, len(x), 1 << 20):
        part = x[start : start + (1 << 20)]
        part.div_(part.norm(dim=1, keepdim=True))
    return x


def make_data(name: str, n: int, dim: int, seed: int) -> torch.Tensor:
    generator = torch.Generator(device="cuda").manual_seed(seed)
    x = torch.randn((n, dim), generator=generator, device="cuda", dtype=torch.float32)
    if name == "clustered":
        centres = normalise_(torch.randn((10_000, dim), generator=generator, device="cuda"))
        labels = torch.randint(0, len(centres), (n,), generator=generator, device="cuda")
        for start in range(0, n, 1 << 20):
            part = x[start : start + (1 << 20)]
            part.mul_(0.03).add_(centres[labels[start : start + (1 << 20)]])
    return normalise_(x)


def cuda_timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    torch.cuda.synchronize()
    return out, time.perf_counter() - start


def best_event_ms(fn: Callable[[], Any], repeats: int = 5) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        begin = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        begin.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        best = min(best, begin.elapsed_time(end))
    return best


def bandwidth_ms(x: torch.Tensor) -> tuple[float, float]:
    """Best times (ms) to read x (a sum) and to copy it (read plus write)."""
    target = torch.empty_like(x)
    return best_event_ms(lambda: x.sum()), best_event_ms(lambda: target.copy_(x))


def float32_loop(x: torch.Tensor, k: int) -> np.ndarray:
    """The plain float32 baseline on the GPU: 2 - 2 X @ c, minimum, argmax (unit vectors)."""
    nearest = torch.full((len(x),), float("inf"), device=x.device, dtype=torch.float32)
    picks = [0]
    for _ in range(k - 1):
        c = picks[-1]
        torch.minimum(nearest, 2.0 - 2.0 * (x @ x[c]), out=nearest)
        nearest[c] = -float("inf")
        picks.append(int(torch.argmax(nearest)))
    return np.asarray(picks, dtype=np.int64)


def first_difference(a: np.ndarray, b: np.ndarray) -> int | None:
    differ = np.flatnonzero(a[: len(b)] != b[: len(a)])
    return int(differ[0]) if len(differ) else None


def run_case(name: str, n: int, dim: int, k: int, reference: bool) -> dict[str, Any]:
    x = make_data(name, n, dim, seed=1 if name == "random" else 2)
    matrix_bytes = x.numel() * 4
    read_ms, copy_ms = bandwidth_ms(x)
    read_tb_s = matrix_bytes / (read_ms / 1e3) / 1e12
    bound_s = k * matrix_bytes / (read_tb_s * 1e12)
    log(f"[{name}] n={n} dim={dim} k={k}: read {read_tb_s:.2f} TB/s, bound {bound_s:.2f} s")

    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    result, engine_s = cuda_timed(lambda: farthest_first_torch(x, k))
    peak_mb = (torch.cuda.max_memory_allocated() - base) / 1e6
    log(f"[{name}] engine {engine_s:.2f} s ({engine_s / bound_s:.2f}x the bound), peak {peak_mb:.0f} MB")
    loop_picks, loop_s = cuda_timed(lambda: float32_loop(x, k))
    log(f"[{name}] float32 loop {loop_s:.2f} s")
    out: dict[str, Any] = {
        "name": name,
        "n": n,
        "dim": dim,
        "k": k,
        "engine_s": round(engine_s, 3),
        "bound_s": round(bound_s, 3),
        "engine_over_bound": round(engine_s / bound_s, 3),
        "float32_loop_s": round(loop_s, 3),
        "read_tb_s": round(read_tb_s, 3),
        "copy_tb_s": round(2 * matrix_bytes / (copy_ms / 1e3) / 1e12, 3),
        "matrix_mb": round(matrix_bytes / 1e6, 1),
        "engine_peak_extra_mb": round(peak_mb, 1),
        "float32_loop_agrees_with_engine": first_difference(loop_picks, result.indices) is None,
    }
    if reference:
        ref_picks, reference_s = cuda_timed(lambda: reference_farthest_first_torch(x, k))
        out["reference_s"] = round(reference_s, 1)
        out["identical"] = bool(np.array_equal(ref_picks, result.indices))
        out["float32_loop_first_difference"] = first_difference(loop_picks, ref_picks)
        log(f"[{name}] float64 reference {reference_s:.1f} s, identical={out['identical']}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--k", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {CASES}")
    parser.add_argument(
        "--reference-cases",
        default="random",
        help="cases checked against the float64 reference ('' for none)",
    )
    args = parser.parse_args()
    if not torch.cuda.is_available():
        parser.error("needs a CUDA GPU")
    torch.backends.cuda.matmul.allow_tf32 = False  # the engine's bound assumes float32 products
    warm = make_data("random", 100_000, args.dim, seed=0)
    farthest_first_torch(warm, 20)
    reference_farthest_first_torch(warm, 5)
    del warm
    cases = [c for c in args.cases.split(",") if c]
    checked = set(args.reference_cases.split(","))
    results = []
    for case in cases:
        results.append(run_case(case, args.n, args.dim, args.k, case in checked))
        torch.cuda.empty_cache()
    print(
        json.dumps(
            {
                "device": torch.cuda.get_device_name(),
                "torch": torch.__version__,
                "cases": results,
            }
        )
    )


if __name__ == "__main__":
    main()
