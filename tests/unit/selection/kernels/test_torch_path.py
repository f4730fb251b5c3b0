"""The int8 bound behind the Triton path, and the Triton path against the float64 reference."""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from lightly_ray.selection.kernels import farthest_first, farthest_first_torch, reference_farthest_first
from lightly_ray.selection.kernels.int8_bound import quantize_rows, skip_rows, thresholds
from lightly_ray.selection.kernels.torch_path import reference_farthest_first_torch

HAS_TRITON = importlib.util.find_spec("triton") is not None
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return np.asarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


def _near_ties(seed: int, groups: int = 40, d: int = 64, copies: int = 6) -> np.ndarray:
    """Copies of rows perturbed by one float32 ulp, exact duplicates, and midpoints."""
    rng = np.random.default_rng(seed)
    base = _unit(rng, groups, d)
    rows = [base]
    for _ in range(copies):
        copy = base.copy()
        cols = rng.integers(0, d, size=groups)
        direction = np.where(rng.random(groups) < 0.5, np.float32(np.inf), np.float32(-np.inf))
        copy[np.arange(groups), cols] = np.nextafter(copy[np.arange(groups), cols], direction)
        rows.append(copy)
    rows.append(base[: groups // 4])  # exact duplicates
    rows.append(((base[:-1] + base[1:]) / 2).astype(np.float32))  # (nearly) equidistant rows
    x = np.concatenate(rows)
    return x[rng.permutation(len(x))]


def _exact_sq(a: np.ndarray, b: np.ndarray) -> Fraction:
    return sum(
        ((Fraction(float(u)) - Fraction(float(v))) ** 2 for u, v in zip(a, b, strict=True)), Fraction(0)
    )


def test_quantize_rows_bounds_the_residual_exactly() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 9)) * rng.uniform(1e-20, 1e20, (30, 1)) ** rng.uniform(0, 1, (30, 1))
    x[0] = 0.0
    x[1] = [1e-40, 0, 0, 0, 0, 0, 0, 0, -3e-39]  # float32 subnormals
    x[2, 3] = 1e6  # one large coordinate
    x = x.astype(np.float32)
    q, scale, qnorm, rho = (t.numpy() for t in quantize_rows(torch.from_numpy(x), chunk_rows=7))
    assert q.dtype == np.int8 and np.abs(q.astype(np.int64)).max() <= 127
    np.testing.assert_array_equal(qnorm, (q.astype(np.int64) ** 2).sum(axis=1))
    for i in range(len(x)):
        s = Fraction(float(scale[i]))
        residual = sum((Fraction(float(v)) - s * int(k)) ** 2 for v, k in zip(x[i], q[i], strict=True))
        assert residual <= Fraction(float(rho[i])) ** 2


def test_thresholds_round_up() -> None:
    rng = np.random.default_rng(1)
    min_sq = np.concatenate([rng.uniform(0, 4, 200), [0.0, 1e-300, 1e300, 7e-46, math.inf, -1.0]])
    rho = np.concatenate([rng.uniform(1e-30, 0.1, 200), [1e-30, 1e-30, 1.0, 1e-30, 0.5, 0.5]])
    got = thresholds(torch.from_numpy(min_sq), torch.from_numpy(rho)).numpy()
    assert got.dtype == np.float32
    assert got[-2] == math.inf and got[-1] == -math.inf
    assert got[-4] == math.inf  # sqrt(1e300) overflows float32
    for m, r, t in zip(min_sq[:-2], rho[:-2], got[:-2], strict=True):
        if t == math.inf:
            continue
        margin = Fraction(float(t)) - Fraction(float(r))  # T - rho >= sqrt(m) (1 + 1e-9)
        assert margin >= 0 and margin**2 >= Fraction(float(m)) * Fraction(1 + 10**-9) ** 2


@pytest.mark.parametrize("kind", ["random", "near_ties", "scaled"])
def test_skipped_rows_keep_their_minimum(kind: str) -> None:
    rng = np.random.default_rng(2)
    if kind == "random":
        x = _unit(rng, 800, 48)
    elif kind == "near_ties":
        x = _near_ties(3)
    else:
        x = (rng.standard_normal((600, 24)) * rng.uniform(0.01, 50.0, (600, 1))).astype(np.float32)
    q, scale, qnorm, rho = quantize_rows(torch.from_numpy(x))
    x64 = x.astype(np.float64)
    min_sq = np.full(len(x), np.inf)
    picks = reference_farthest_first(x, 60)[0]
    skipped = 0
    for step, center in enumerate(picks):
        new = ((x64 - x64[center]) ** 2).sum(axis=1)  # the reference's values (numpy's order)
        if step:
            mask = skip_rows(q, scale, qnorm, rho, thresholds(torch.from_numpy(min_sq), rho), int(center))
            skip = mask.numpy() & (min_sq >= 0)
            assert np.all(new[skip] > min_sq[skip])  # a skipped row's minimum cannot drop
            skipped += int(skip.sum())
            tight = np.flatnonzero(skip)[np.argsort((new - min_sq)[skip])[:3]]
            for i in tight:  # the closest calls, in exact arithmetic
                assert _exact_sq(x[i], x[center]) > Fraction(float(min_sq[i]))
        min_sq = np.where(min_sq < 0, min_sq, np.minimum(min_sq, new))
        min_sq[center] = -1.0
    assert skipped > 0.3 * 59 * len(x) * (kind != "near_ties")  # the bound does settle rows


def test_backend_argument() -> None:
    x = _unit(np.random.default_rng(4), 50, 8)
    with pytest.raises(ValueError, match="backend"):
        farthest_first_torch(x, 5, device="cpu", backend="numba")
    with pytest.raises(ValueError, match="Triton backend"):
        farthest_first_torch(np.zeros((5, 0), dtype=np.float32), 2, device="cpu", backend="triton")
    eager = farthest_first_torch(x, 20, device="cpu", backend="eager")
    np.testing.assert_array_equal(eager.indices, farthest_first(x, 20).indices)


_INTERPRETED = """
import sys
import numpy as np, torch
from lightly_ray.selection.kernels.triton_filter import farthest_first_triton
data = np.load(sys.argv[1])
out = {}
for case in range(3):
    x, budget = data[f"x{case}"], int(data[f"budget{case}"])
    pre = data[f"pre{case}"] if len(data[f"pre{case}"]) else None
    stop = float(data[f"stop{case}"]) if np.isfinite(data[f"stop{case}"]) else None
    got = farthest_first_triton(
        torch.from_numpy(x), budget, preselected=pre, minimum_distance=stop, block_m=128
    )
    out[f"indices{case}"], out[f"distances{case}"] = got.indices, got.min_distances_at_pick
    out[f"stop{case}"] = np.array(got.stop_reason)
np.savez(sys.argv[2], **out)
"""


@pytest.mark.skipif(not HAS_TRITON, reason="needs triton")
def test_triton_kernel_in_the_interpreter(tmp_path: Path) -> None:
    """The kernels run by Triton's interpreter (numpy, on CPU) on small near-tie inputs."""
    cases = [
        (_near_ties(5, groups=6, d=20, copies=3), 16, np.array([4, 9]), math.inf),
        (_near_ties(6, groups=6, d=5, copies=3)[:16] * 7, 12, np.zeros(0, dtype=np.int64), math.inf),
        (_near_ties(7, groups=6, d=12, copies=3), 24, np.zeros(0, dtype=np.int64), 1e-7),
    ]
    data: dict[str, Any] = {}
    for i, (x, budget, pre, stop) in enumerate(cases):
        data.update({f"x{i}": x, f"budget{i}": budget, f"pre{i}": pre, f"stop{i}": stop})
    np.savez(tmp_path / "in.npz", **data)
    root = Path(__file__).resolve().parents[4]
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(root)}
    script = [sys.executable, "-c", _INTERPRETED, str(tmp_path / "in.npz"), str(tmp_path / "out.npz")]
    done = subprocess.run(script, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    out = np.load(tmp_path / "out.npz")
    for i, (x, budget, pre, stop) in enumerate(cases):
        want = farthest_first(x, budget, preselected=pre, minimum_distance=None if math.isinf(stop) else stop)
        np.testing.assert_array_equal(out[f"indices{i}"], want.indices)
        np.testing.assert_array_equal(out[f"distances{i}"], want.min_distances_at_pick)
        assert str(out[f"stop{i}"]) == want.stop_reason


def _gpu_cases() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(10)
    scaled = rng.standard_normal((3000, 24)) * rng.uniform(0.01, 50.0, (3000, 1))
    return [
        ("random128", _unit(rng, 5000, 128)),
        ("near_ties", _near_ties(11)),
        ("dim5", _unit(rng, 3000, 5)),
        ("dim129", _unit(rng, 2000, 129)),
        ("dim300", _unit(rng, 2000, 300)),
        ("scaled", scaled.astype(np.float32)),
        ("duplicates", np.repeat(_unit(rng, 50, 16), 6, axis=0)),
    ]


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize(("name", "x"), _gpu_cases(), ids=[c[0] for c in _gpu_cases()])
@pytest.mark.parametrize("preselect", [False, True])
def test_triton_cuda_matches_numba_and_reference(name: str, x: np.ndarray, preselect: bool) -> None:
    pytest.importorskip("triton")
    budget = min(len(x), 700)
    kwargs = {"preselected": np.array([7, 3, len(x) - 1])} if preselect else {}
    want = farthest_first(x, budget, **kwargs)  # type: ignore[arg-type]
    got = farthest_first_torch(x, budget, device="cuda", backend="triton", **kwargs)  # type: ignore[arg-type]
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.min_distances_at_pick, want.min_distances_at_pick)  # bit-identical
    if not preselect:
        reference = reference_farthest_first_torch(torch.from_numpy(x).cuda(), budget)
        np.testing.assert_array_equal(got.indices, reference)


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"graph_picks": 32},
        {"graph_picks": 7, "dot": "sum"},
        {"block_m": 256, "num_warps": 8},
        {"block_m": 64, "num_warps": 2},
    ],
)
def test_triton_cuda_options_and_stops(options: dict[str, object]) -> None:
    from lightly_ray.selection.kernels.triton_filter import farthest_first_triton

    x = _near_ties(12)
    xt = torch.from_numpy(x).cuda()
    want = farthest_first(x, len(x))
    got = farthest_first_triton(xt, len(x), **options)  # type: ignore[arg-type]
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.min_distances_at_pick, want.min_distances_at_pick)
    for position in (0, 1, 5, 33, 64, 65, 200):  # inside and at the edges of graph batches
        stop_at = float(want.min_distances_at_pick[position])
        a = farthest_first_triton(xt, len(x), minimum_distance=stop_at, **options)  # type: ignore[arg-type]
        b = farthest_first(x, len(x), minimum_distance=stop_at)
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_array_equal(a.min_distances_at_pick, b.min_distances_at_pick)
        assert a.stop_reason == b.stop_reason
    for budget, preselected in [
        (0, None),
        (1, None),
        (2, None),
        (3, np.array([0, 1, 2])),
        (4, np.array([5])),
    ]:
        a = farthest_first_triton(xt, budget, preselected=preselected, **options)  # type: ignore[arg-type]
        b = farthest_first(x, budget, preselected=preselected)
        np.testing.assert_array_equal(a.indices, b.indices)


@pytest.mark.gpu
@needs_cuda
def test_triton_cuda_large_against_eager_and_reference() -> None:
    x = torch.nn.functional.normalize(torch.randn(300_000, 64, generator=torch.Generator().manual_seed(3)))
    xc = x.cuda()
    got = farthest_first_torch(xc, 500)
    eager = farthest_first_torch(xc, 500, backend="eager")
    np.testing.assert_array_equal(got.indices, eager.indices)
    np.testing.assert_array_equal(got.min_distances_at_pick, eager.min_distances_at_pick)
    np.testing.assert_array_equal(got.indices, reference_farthest_first_torch(xc, 500))
