"""Benchmark exact farthest-first on a CUDA GPU against the bound set by memory bandwidth.

Cases (float32 unit-normalised embeddings generated on the GPU, seeded):

* `random`: N x dim Gaussian random vectors, DIVERSITY, k picks.
* `clustered`: 10,000 random unit centres plus Gaussian noise (std 0.03 per coordinate),
  normalised; DIVERSITY, k picks.

Per case it times:

* `engine_s`: `kernels.farthest_first_torch` with `backend="triton"`, the fused Triton
  kernel (`kernels.triton_filter`: per pick one pass over an int8 copy with a rigorous bound,
  float64 recomputation of the rows the bound cannot settle, no host synchronisation);
* `engine_eager_s`: the same function with `backend="eager"` (run 1's engine: a float32
  matrix-vector product per pick with a rigorous error bound);
* `float32_loop_s`: the plain float32 loop (`2 - 2 X @ c`, minimum, argmax), not exact;
* `identical_to_eager`: all k picks of the two engines equal (and `distances_identical_to_eager`:
  their float64 distances at pick time bit for bit);
* with `--reference-cases`, `reference_s`: `kernels.torch_path.reference_farthest_first_torch`,
  the float64 reference (every distance recomputed in float64 at every pick, numpy's summation
  order), which decides `identical` (all k engine picks equal) and
  `float32_loop_first_difference` (the first pick where the float32 loop leaves it, or null).

`identical` is the equality with the full-size reference when that ran; otherwise it is
`identical_to_eager` (run 1 showed the eager engine identical to the reference at 10M x 10k),
and the top-level `reference_check` compares the Triton engine with the float64 reference at
`--check-n` x `--check-k`. `identical_basis` says which.

`read_tb_s` is the measured read bandwidth (`torch.sum` over the matrix, best of 5, CUDA events),
`copy_tb_s` a device-to-device copy counting bytes read plus written. `bound_s` = k x (bytes of
the float32 matrix) / `read_tb_s`: the time a method that reads the whole float32 matrix once
per pick cannot beat. `int8_bound_s` = k x n x d bytes (the int8 copy) / `read_tb_s`;
`filter_bound_s` adds the 12 bytes a row the Triton kernel also reads (scale, |q|^2, threshold).

`--sweep` times kernel configurations (rows per program, warps, dp4a or plain int32 dot
products, CUDA graphs) on the random case instead: the steady per-pick time from two runs of
different length.

Progress goes to stderr; the last line of stdout is one JSON object.

Run (on a machine with a CUDA GPU; about 4 minutes at the defaults, most of it the eager engine
and the float32 loop):
    python bench/selection_gpu.py
    python bench/selection_gpu.py --n 1000000 --k 1000 --cases random      # quick
    python bench/selection_gpu.py --sweep --k 400
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

FILTER_ROW_BYTES = 12  # float32 scale, int32 |q|^2, float32 threshold

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


def run_case(name: str, n: int, dim: int, k: int, reference: bool, eager: bool, loop: bool) -> dict[str, Any]:
    x = make_data(name, n, dim, seed=1 if name == "random" else 2)
    matrix_bytes = x.numel() * 4
    read_ms, copy_ms = bandwidth_ms(x)
    read_tb_s = matrix_bytes / (read_ms / 1e3) / 1e12
    bound_s = k * matrix_bytes / (read_tb_s * 1e12)
    int8_bound_s = k * n * dim / (read_tb_s * 1e12)
    filter_bound_s = k * n * (dim + FILTER_ROW_BYTES) / (read_tb_s * 1e12)
    log(
        f"[{name}] n={n} dim={dim} k={k}: read {read_tb_s:.2f} TB/s, bounds {bound_s:.2f} s (float32), "
        f"{int8_bound_s:.2f} s (int8), {filter_bound_s:.2f} s (int8 + per-row data)"
    )

    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    result, engine_s = cuda_timed(lambda: farthest_first_torch(x, k, backend="triton"))
    peak_mb = (torch.cuda.max_memory_allocated() - base) / 1e6
    log(
        f"[{name}] engine {engine_s:.2f} s ({engine_s / int8_bound_s:.2f}x the int8 bound), "
        f"peak {peak_mb:.0f} MB"
    )
    out: dict[str, Any] = {
        "name": name,
        "n": n,
        "dim": dim,
        "k": k,
        "engine_s": round(engine_s, 3),
        "bound_s": round(bound_s, 3),
        "int8_bound_s": round(int8_bound_s, 3),
        "filter_bound_s": round(filter_bound_s, 3),
        "engine_over_int8_bound": round(engine_s / int8_bound_s, 3),
        "read_tb_s": round(read_tb_s, 3),
        "copy_tb_s": round(2 * matrix_bytes / (copy_ms / 1e3) / 1e12, 3),
        "matrix_mb": round(matrix_bytes / 1e6, 1),
        "engine_peak_extra_mb": round(peak_mb, 1),
    }
    if eager:
        eager_result, eager_s = cuda_timed(lambda: farthest_first_torch(x, k, backend="eager"))
        out["engine_eager_s"] = round(eager_s, 3)
        out["eager_over_engine"] = round(eager_s / engine_s, 2)
        out["identical_to_eager"] = bool(np.array_equal(eager_result.indices, result.indices))
        out["distances_identical_to_eager"] = bool(
            np.array_equal(eager_result.min_distances_at_pick, result.min_distances_at_pick)
        )
        log(f"[{name}] eager engine {eager_s:.2f} s, identical={out['identical_to_eager']}")
    if loop:
        loop_picks, loop_s = cuda_timed(lambda: float32_loop(x, k))
        out["float32_loop_s"] = round(loop_s, 3)
        out["float32_loop_agrees_with_engine"] = first_difference(loop_picks, result.indices) is None
        out["float32_loop_first_difference_from_engine"] = first_difference(loop_picks, result.indices)
        log(f"[{name}] float32 loop {loop_s:.2f} s")
    if reference:
        ref_picks, reference_s = cuda_timed(lambda: reference_farthest_first_torch(x, k))
        out["reference_s"] = round(reference_s, 1)
        out["identical"] = bool(np.array_equal(ref_picks, result.indices))
        out["identical_basis"] = "float64 reference at this size"
        if loop:
            out["float32_loop_first_difference"] = first_difference(loop_picks, ref_picks)
        log(f"[{name}] float64 reference {reference_s:.1f} s, identical={out['identical']}")
    elif eager:
        out["identical"] = out["identical_to_eager"]
        out["identical_basis"] = (
            "eager engine at this size (run 1: eager identical to the reference at 10M x 10k)"
        )
    return out


def reference_check(n: int, dim: int, k: int) -> dict[str, Any]:
    x = make_data("random", n, dim, seed=3)
    result, engine_s = cuda_timed(lambda: farthest_first_torch(x, k, backend="triton"))
    eager_result, eager_s = cuda_timed(lambda: farthest_first_torch(x, k, backend="eager"))
    ref_picks, reference_s = cuda_timed(lambda: reference_farthest_first_torch(x, k))
    out = {
        "n": n,
        "dim": dim,
        "k": k,
        "engine_s": round(engine_s, 3),
        "engine_eager_s": round(eager_s, 3),
        "reference_s": round(reference_s, 2),
        "identical": bool(np.array_equal(ref_picks, result.indices)),
        "eager_identical": bool(np.array_equal(ref_picks, eager_result.indices)),
        "distances_identical_to_eager": bool(
            np.array_equal(eager_result.min_distances_at_pick, result.min_distances_at_pick)
        ),
    }
    log(f"[reference check] {out}")
    return out


SWEEP = [  # rows per program, warps, dot products, picks per CUDA graph
    (128, 4, "dp4a", 0),
    (128, 4, "dp4a", 32),
    (64, 2, "dp4a", 0),
    (256, 8, "dp4a", 0),
    (256, 4, "dp4a", 0),
    (512, 8, "dp4a", 0),
    (128, 4, "sum", 0),
]


def sweep(n: int, dim: int, k: int) -> list[dict[str, Any]]:
    """Steady per-pick time of each configuration: (time(k) - time(k / 8)) / (k - k / 8)."""
    from lightly_ray.selection.kernels.triton_filter import farthest_first_triton

    x = make_data("random", n, dim, seed=1)
    short = max(k // 8, 2)
    rows = []
    for block_m, num_warps, dot, graph_picks in SWEEP:
        options = {"block_m": block_m, "num_warps": num_warps, "dot": dot, "graph_picks": graph_picks}

        def run(data: torch.Tensor, picks: int, options: dict[str, Any] = options) -> Any:
            return farthest_first_triton(data, picks, **options)

        try:
            run(x[:100_000], 40)  # compiles this configuration
            first, short_s = cuda_timed(lambda: run(x, short))
            full, full_s = cuda_timed(lambda: run(x, k))
        except Exception as error:  # noqa: BLE001 - a configuration that does not compile is reported
            rows.append({**options, "error": repr(error)[:300]})
            log(f"[sweep] {options}: {error!r}"[:400])
            continue
        pick_ms = (full_s - short_s) / (k - short) * 1e3
        row = {
            **options,
            "short_s": round(short_s, 3),
            "full_s": round(full_s, 3),
            "pick_ms": round(pick_ms, 4),
            "same_picks": bool(np.array_equal(first.indices, full.indices[:short])),
        }
        rows.append(row)
        log(f"[sweep] {row}")
    return rows


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
        default="",
        help="cases checked against the float64 reference at full size ('' for none: see --check-n)",
    )
    parser.add_argument(
        "--check-n", type=int, default=1_000_000, help="rows of the reference check (0: none)"
    )
    parser.add_argument("--check-k", type=int, default=1000)
    parser.add_argument("--skip-eager", action="store_true", help="do not time the eager engine")
    parser.add_argument("--skip-loop", action="store_true", help="do not time the float32 loop")
    parser.add_argument("--sweep", action="store_true", help="time kernel configurations instead")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        parser.error("needs a CUDA GPU")
    torch.backends.cuda.matmul.allow_tf32 = False  # the eager engine's bound assumes float32 products
    info = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "triton": _triton_version()}
    if args.sweep:
        print(
            json.dumps(
                {**info, "n": args.n, "dim": args.dim, "k": args.k, "sweep": sweep(args.n, args.dim, args.k)}
            )
        )
        return
    warm = make_data("random", 100_000, args.dim, seed=0)
    farthest_first_torch(warm, 80, backend="triton")
    farthest_first_torch(warm, 20, backend="eager")
    reference_farthest_first_torch(warm, 5)
    del warm
    cases = [c for c in args.cases.split(",") if c]
    checked = set(args.reference_cases.split(","))
    results = []
    for case in cases:
        results.append(
            run_case(case, args.n, args.dim, args.k, case in checked, not args.skip_eager, not args.skip_loop)
        )
        torch.cuda.empty_cache()
    summary: dict[str, Any] = {**info, "cases": results}
    if args.check_n:
        summary["reference_check"] = reference_check(args.check_n, args.dim, args.check_k)
    print(json.dumps(summary))


def _triton_version() -> str | None:
    try:
        import triton  # type: ignore[import-untyped]
    except ImportError:
        return None
    return str(triton.__version__)


if __name__ == "__main__":
    main()
