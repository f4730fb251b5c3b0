"""TYPICALITY and SIMILARITY scores of embeddings, exact and memory-bounded.

- Typicality of sample i: `(1/K) sum_k exp(-d_k / sigma)` over its K nearest neighbours (itself
  excluded), d Euclidean, sigma the mean of all n * K neighbour distances. K is clamped to n - 1.
- Similarity of sample i: `exp(-d_i / sigma')`, d_i the Euclidean distance to the nearest query
  embedding, sigma' the mean of the d_i.

Both match `lightly_mundig` (Typicality / Similarity) to float32 precision. Degenerate cases, where
mundig differs or fails: when sigma is 0 (all neighbour distances 0, e.g. all embeddings equal)
every score is 1.0 (mundig's typicality gives NaN; its similarity gives 1.0 as here); a single
embedding has typicality 1.0 (mundig panics).

Computation: brute force in float64, in row chunks whose (chunk, n) distance block stays under
`memory_bytes`. The neighbours are found with `|a|^2 + |b|^2 - 2 a.b` and their distances are then
recomputed as `|a - b|`, which avoids the cancellation error of the first formula (a duplicate is
exactly 0 away). Time is O(n^2 d): about right up to n ~ 100,000 (d = 128: tens of seconds on a
few cores); beyond that an approximate nearest-neighbour index is needed.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DEFAULT_MEMORY_BYTES = 256 * 1024 * 1024


def typicality_scores(
    embeddings: npt.NDArray[np.floating],
    num_nearest_neighbors: int,
    *,
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
) -> FloatArray:
    """The typicality of every embedding.

    Args:
        embeddings: Array of shape (n, dim).
        num_nearest_neighbors: K, at least 1; clamped to n - 1.
        memory_bytes: Bound on the distance block computed at once.

    Returns:
        Array of shape (n,), float64, in (0, 1].

    Raises:
        ValueError: When K < 1 or the array is not 2-D.
    """
    if num_nearest_neighbors < 1:
        raise ValueError(f"num_nearest_neighbors must be at least 1, got {num_nearest_neighbors}")
    points = _as_matrix(embeddings, "embeddings")
    n_points = len(points)
    if n_points <= 1:
        return np.ones(n_points, dtype=np.float64)
    k = min(num_nearest_neighbors, n_points - 1)
    distances = nearest_distances(points, points, k, exclude_self=True, memory_bytes=memory_bytes)
    return np.asarray(np.exp(-_scaled(distances)).mean(axis=1), dtype=np.float64)


def similarity_scores(
    embeddings: npt.NDArray[np.floating],
    queries: npt.NDArray[np.floating],
    *,
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
) -> FloatArray:
    """The similarity of every embedding to its nearest query embedding.

    Args:
        embeddings: Array of shape (n, dim).
        queries: Array of shape (n_queries, dim), n_queries >= 1.
        memory_bytes: Bound on the distance block computed at once.

    Returns:
        Array of shape (n,), float64, in (0, 1].

    Raises:
        ValueError: Without queries, or when the dimensions differ.
    """
    points = _as_matrix(embeddings, "embeddings")
    query_points = _as_matrix(queries, "queries")
    if len(query_points) == 0:
        raise ValueError("similarity needs at least one query embedding, got none")
    if query_points.shape[1] != points.shape[1]:
        raise ValueError(
            f"query embeddings have dimension {query_points.shape[1]}, the embeddings {points.shape[1]}"
        )
    if len(points) == 0:
        return np.zeros(0, dtype=np.float64)
    distances = nearest_distances(points, query_points, 1, exclude_self=False, memory_bytes=memory_bytes)
    return np.exp(-_scaled(distances[:, 0]))


def nearest_distances(
    points: FloatArray,
    references: FloatArray,
    k: int,
    *,
    exclude_self: bool,
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
) -> FloatArray:
    """Euclidean distances from each point to its k nearest references, ascending.

    Args:
        points: Array of shape (n, dim), float64.
        references: Array of shape (m, dim), float64.
        k: Neighbours per point, 1 <= k <= m (m - 1 with `exclude_self`).
        exclude_self: Whether `references` is `points` and row i must skip reference i.
        memory_bytes: Bound on the (chunk, m) and (chunk, k, dim) blocks computed at once.

    Returns:
        Array of shape (n, k), float64.
    """
    n_points, n_references = len(points), len(references)
    row_bytes = 8 * max(n_references, k * references.shape[1])
    chunk = max(1, min(n_points, memory_bytes // row_bytes))
    reference_norms = np.einsum("ij,ij->i", references, references)
    result = np.empty((n_points, k), dtype=np.float64)
    for start in range(0, n_points, chunk):
        block = points[start : start + chunk]
        rows = np.arange(len(block))
        squared = reference_norms[None, :] - 2.0 * (block @ references.T)
        if exclude_self:
            squared[rows, rows + start] = np.inf
        if k < n_references:
            nearest = np.argpartition(squared, k - 1, axis=1)[:, :k]
        else:
            nearest = np.broadcast_to(np.arange(n_references), (len(block), n_references))
        differences = block[:, None, :] - references[nearest]
        exact = np.sqrt(np.einsum("ijk,ijk->ij", differences, differences))
        result[start : start + len(block)] = np.sort(exact, axis=1)
    return result


def _scaled(distances: FloatArray) -> FloatArray:
    """Distances divided by their mean; all zeros when the mean is 0."""
    sigma = float(distances.mean())
    if sigma == 0.0:
        return np.zeros_like(distances)
    return distances / sigma


def _as_matrix(values: npt.NDArray[np.floating], name: str) -> FloatArray:
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n, dim), got shape {matrix.shape}")
    return matrix
