"""The int8 copy of a float32 matrix and the bound the fused GPU kernel prunes rows with.

Shared by `kernels.triton_filter` (the kernel) and the tests, which mirror the kernel's
arithmetic in torch (`skip_rows`). The argument that the bound is rigorous is in
`kernels.triton_filter` and docs/selection_gpu.md.
"""

from __future__ import annotations

import math

import torch

SLACK = 1e-9
# The int8 bound (see `triton_filter`): relative slack on bounds, and headroom for rounding the
# float32 thresholds up (a few float64 roundings and one to float32).
LOW = 1.0 - SLACK
HIGH = 1.0 + SLACK
THRESHOLD_ROUND_UP = 1.0 + 1e-6
# |q_x . q_c| <= 127^2 d must fit in int32.
MAX_DIM = (2**31 - 1) // (127 * 127)


def quantize_rows(
    x: torch.Tensor, chunk_rows: int = 1 << 19
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The int8 copy of a float32 matrix: x = scale * q + r with |r| <= rho, row by row.

    scale = float32(max|x| / 127) (1 for a zero row), q = round(x / scale) clipped to
    [-127, 127]. The residual norm is computed in float64 and rounded up by 1e-6 relative (plus
    1e-30), far more than the float64 rounding in it.

    Args:
        x: Float32 tensor (n, d), on any device.
        chunk_rows: Rows per float64 chunk (scratch of a few chunk_rows * d * 8 bytes).

    Returns:
        q (int8, (n, d)), scale (float32, (n,)), |q|^2 (int32, (n,)), rho (float64, (n,)).
    """
    n, dim = x.shape
    q = torch.empty((n, dim), dtype=torch.int8, device=x.device)
    scale = torch.empty(n, dtype=torch.float32, device=x.device)
    qnorm = torch.empty(n, dtype=torch.int32, device=x.device)
    rho = torch.empty(n, dtype=torch.float64, device=x.device)
    for start in range(0, n, chunk_rows):
        part = slice(start, start + chunk_rows)
        x64 = x[part].double()
        top = x64.abs().amax(dim=1) if dim else torch.zeros(len(x64), dtype=torch.float64, device=x.device)
        s = torch.where(top > 0, top / 127.0, torch.ones_like(top)).float()
        s64 = s.double()[:, None]
        level = torch.round(x64 / s64).clamp_(-127.0, 127.0)
        q[part] = level.to(torch.int8)
        scale[part] = s
        qnorm[part] = (level * level).sum(dim=1).to(torch.int32)  # exact: integers below 2^53
        residual = x64.sub_(s64 * level)
        rho[part] = (residual * residual).sum(dim=1).sqrt_().mul_(THRESHOLD_ROUND_UP).add_(1e-30)
    return q, scale, qnorm, rho


def block_rows(q: torch.Tensor, block_m: int, chunks: int) -> torch.Tensor:
    """The kernel's layout of the int8 copy: [blocks, chunks, block_m, 16], zero padded.

    Args:
        q: Int8 tensor (n, d), d <= 16 * chunks.
        block_m: Rows per block.
        chunks: 16-byte pieces per row.

    Returns:
        A contiguous int8 tensor of ceil(n / block_m) * block_m * 16 * chunks bytes.
    """
    n, dim = q.shape
    blocks = -(-n // block_m)
    padded = torch.zeros((blocks * block_m, chunks * 16), dtype=torch.int8, device=q.device)
    padded[:n, :dim] = q
    return padded.view(blocks, block_m, chunks, 16).transpose(1, 2).contiguous()


def thresholds(min_sq: torch.Tensor, rho: torch.Tensor) -> torch.Tensor:
    """Float32 T >= sqrt(min_sq) (1 + 1e-9) + rho (-inf for selected rows, min_sq < 0)."""
    t64 = (min_sq.clamp(min=0.0).sqrt() * HIGH + rho * HIGH) * THRESHOLD_ROUND_UP
    return torch.where(min_sq < 0, torch.full_like(t64, -math.inf), t64).float()


def skip_rows(
    q: torch.Tensor,
    scale: torch.Tensor,
    qnorm: torch.Tensor,
    rho: torch.Tensor,
    thresh: torch.Tensor,
    center: int,
) -> torch.Tensor:
    """The rows the kernel skips for `center` (selected rows included), with its arithmetic.

    A torch mirror of the kernel's bound, for tests: every row it returns has an exact
    distance to `center` above sqrt(min_sq) (1 + 1e-9).

    Args:
        q: Int8 copy (n, d).
        scale: Per-row float32 scale.
        qnorm: Per-row int32 |q|^2.
        rho: Per-row float64 residual bound.
        thresh: Per-row float32 threshold (`thresholds`).
        center: The new center's row.

    Returns:
        Boolean mask of the skipped rows.
    """
    dot = (q.to(torch.int32) * q[center].to(torch.int32)).sum(dim=1, dtype=torch.int32).double()
    sx = scale.double()
    sc = float(scale[center])
    p1 = sx * sx * qnorm.double()
    p2 = sc * sc * float(qnorm[center])
    p3 = 2.0 * (sx * sc) * dot
    a2 = (p1 + p2 - p3) - 1e-12 * (p1 + p2 + p3.abs())
    t64 = thresh.double()
    reach = t64 + float(rho[center]) * HIGH
    skip = (t64 < 0) | (a2 * LOW > reach * reach * HIGH)
    skip[center] = False
    return skip
