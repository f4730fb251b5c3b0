from __future__ import annotations

import math

import numpy as np
import pytest

from lightly_ray.selection.embedding_scores import nearest_distances, similarity_scores, typicality_scores


def brute_typicality(x: np.ndarray, k: int) -> np.ndarray:
    x = x.astype(np.float64)
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    nearest = np.sort(d, axis=1)[:, :k]
    return np.exp(-nearest / nearest.mean()).mean(axis=1)


def brute_similarity(x: np.ndarray, q: np.ndarray) -> np.ndarray:
    d = np.sqrt(((x[:, None, :].astype(np.float64) - q[None, :, :]) ** 2).sum(-1)).min(axis=1)
    return np.exp(-d / d.mean())


def test_typicality_by_hand() -> None:
    # Points 0, 1, 3 on a line, K = 1: neighbour distances 1, 1, 2; sigma = 4/3.
    scores = typicality_scores(np.array([[0.0], [1.0], [3.0]]), 1)
    np.testing.assert_allclose(scores, [math.exp(-0.75), math.exp(-0.75), math.exp(-1.5)])


def test_k_is_clamped_to_n_minus_one() -> None:
    x = np.array([[0.0], [1.0], [3.0]])
    np.testing.assert_allclose(typicality_scores(x, 5), typicality_scores(x, 2))


def test_degenerate_cases() -> None:
    np.testing.assert_allclose(typicality_scores(np.zeros((3, 2)), 2), [1.0, 1.0, 1.0])
    np.testing.assert_allclose(typicality_scores(np.zeros((1, 2)), 2), [1.0])
    np.testing.assert_allclose(similarity_scores(np.zeros((2, 2)), np.zeros((1, 2))), [1.0, 1.0])
    with pytest.raises(ValueError, match="at least one query"):
        similarity_scores(np.zeros((2, 2)), np.zeros((0, 2)))
    with pytest.raises(ValueError, match="at least 1"):
        typicality_scores(np.zeros((2, 2)), 0)


def test_duplicates_are_exactly_zero_apart() -> None:
    x = np.array([[0.3, 0.7], [0.3, 0.7], [5.0, 1.0]])
    distances = nearest_distances(x, x, 1, exclude_self=True)
    assert distances[0, 0] == 0.0 and distances[1, 0] == 0.0


def test_similarity_by_hand() -> None:
    # Distances to the nearest query (0): 0, 1, 3; sigma' = 4/3.
    scores = similarity_scores(np.array([[0.0], [1.0], [3.0]]), np.array([[0.0], [10.0]]))
    np.testing.assert_allclose(scores, [1.0, math.exp(-0.75), math.exp(-2.25)])


@pytest.mark.parametrize("memory_bytes", [64, 4096, 1 << 28])
def test_against_brute_force_in_any_chunking(memory_bytes: int) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(150, 8)).astype(np.float32)
    q = rng.normal(size=(7, 8)).astype(np.float32)
    np.testing.assert_allclose(
        typicality_scores(x, 10, memory_bytes=memory_bytes), brute_typicality(x, 10), rtol=1e-12
    )
    np.testing.assert_allclose(
        similarity_scores(x, q, memory_bytes=memory_bytes), brute_similarity(x, q), rtol=1e-12
    )


def test_agrees_with_lightly_mundig() -> None:
    mundig = pytest.importorskip("lightly_mundig")
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = x[:5] + rng.normal(scale=0.05, size=(5, 16)).astype(np.float32)
    for k in (1, 5, 20):
        reference = np.asarray(mundig.Typicality(x).calculate_typicality(k))
        np.testing.assert_allclose(typicality_scores(x, k), reference, atol=1e-5)
    reference = np.asarray(mundig.Similarity(x).calculate_similarity(q))
    np.testing.assert_allclose(similarity_scores(x, q), reference, atol=1e-5)
