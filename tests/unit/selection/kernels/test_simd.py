"""The int8 dot product of the filter pass and the quantisation it relies on."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from lightly_ray.selection.kernels import _numba
from lightly_ray.selection.kernels._simd import dot_u8s8, dot_u8s8_generic, host_has_avx2


@numba.njit
def _dot(a: np.ndarray, b: np.ndarray) -> int:
    return dot_u8s8(a, b)  # pragma: no cover


@numba.njit
def _dot_generic(a: np.ndarray, b: np.ndarray) -> int:
    return dot_u8s8_generic(a, b)  # pragma: no cover


@numba.njit
def _quantize_row(
    x: np.ndarray, out: np.ndarray, max_level: int, offset: int
) -> tuple[float, int, float, int]:
    return _numba.quantize_row(x, out, max_level, offset)  # pragma: no cover


def _exact(a: np.ndarray, b: np.ndarray) -> int:
    return int((a.astype(np.int64) * b.astype(np.int64)).sum())


@pytest.mark.parametrize("length", [0, 1, 7, 31, 32, 33, 63, 64, 65, 127, 128, 129, 300, 1024, 4099])
def test_dot_matches_exact_integer_sum(length: int) -> None:
    rng = np.random.default_rng(length)
    a = rng.integers(0, 256, length).astype(np.uint8)
    b = rng.integers(-63, 64, length).astype(np.int8)
    assert _dot(a, b) == _exact(a, b)
    assert _dot_generic(a, b) == _exact(a, b)


@pytest.mark.parametrize("sign", [1, -1])
def test_dot_is_exact_at_the_largest_pair_sums(sign: int) -> None:
    # Every pair sums to +-2 * 255 * 63 = 32130, just below the 16-bit saturation of vpmaddubsw.
    a = np.full(1000, 255, dtype=np.uint8)
    b = np.full(1000, sign * 63, dtype=np.int8)
    assert _dot(a, b) == _dot_generic(a, b) == sign * 255 * 63 * 1000


def test_dot_uses_the_shorter_length_and_any_contiguous_row() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (5, 100)).astype(np.uint8)
    b = rng.integers(-63, 64, 70).astype(np.int8)
    assert _dot(a[3], b) == _exact(a[3, :70], b)


def test_dot_rejects_other_types() -> None:
    with pytest.raises(numba.core.errors.TypingError):
        _dot(np.zeros(4, dtype=np.int8), np.zeros(4, dtype=np.int8))


def test_host_feature_probe() -> None:
    assert isinstance(host_has_avx2(), bool)


@pytest.mark.parametrize(("max_level", "offset", "dtype"), [(127, 128, np.uint8), (63, 0, np.int8)])
def test_quantize_row_bounds_its_residual(max_level: int, offset: int, dtype: type) -> None:
    rng = np.random.default_rng(max_level)
    for scale in (1e-30, 1e-3, 1.0, 1e20):
        x = (rng.standard_normal(300) * scale).astype(np.float32)
        out = np.empty(300, dtype=dtype)
        s, squares, residual, total = _quantize_row(x, out, max_level, offset)
        levels = out.astype(np.int64) - offset
        assert np.abs(levels).max() <= max_level
        assert squares == int((levels**2).sum())
        assert total == int(levels.sum())
        assert np.float32(s) == s and np.float32(residual) == residual
        error = np.linalg.norm(x.astype(np.longdouble) - np.longdouble(s) * levels)
        assert error <= residual


def test_quantize_row_of_zeros() -> None:
    out = np.empty(16, dtype=np.uint8)
    s, squares, residual, total = _quantize_row(np.zeros(16, dtype=np.float32), out, 127, 128)
    assert (out == 128).all() and squares == 0 and total == 0 and s == 1.0 and residual > 0
