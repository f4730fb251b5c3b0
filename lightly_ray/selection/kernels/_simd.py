"""The int8 dot product of the filter pass, written as LLVM vector code.

`dot_u8s8(a, b)` returns `sum(a[j] * b[j])` over unsigned 8-bit `a` and signed 8-bit `b`, exactly,
as an int32. It is the hot loop of farthest-first: one call per (row, new center).

Why a hand-written kernel: from a plain numba loop LLVM emits sign extension to 16 bits plus
`pmaddwd` on 128-bit registers (8 multiply-adds per instruction). On x86 with AVX2 this uses
`vpmaddubsw` on 256-bit registers instead: 32 unsigned x signed byte products per instruction,
summed in adjacent pairs into 16-bit lanes, then `vpmaddwd` by ones into 32-bit lanes. That is
exact only while a pair sum fits in 16 bits, |a_j b_j + a_{j+1} b_{j+1}| <= 32767 (the
instruction saturates). Callers guarantee it: rows are stored as `level + 128` in [1, 255] and
centers quantised to [-63, 63], so a pair is at most 2 * 255 * 63 = 32130.

Elsewhere (no AVX2, or not x86: ARM clusters) the same function emits portable vector IR
(widen to 32 bits, multiply, add), which LLVM maps to the target's own instructions. Both give
the same integer. Which one is compiled is decided when the calling kernel is compiled, from the
host CPU's features; numba's on-disk cache is keyed on the CPU name and its features, so a cache
written on one CPU is not reused on another.

The 32-bit accumulation cannot overflow for the callers' inputs: |sum| <= 255 * 63 * d < 2**31
for d < 133,000 (their dimension limit).
"""

from __future__ import annotations

from typing import Any

import llvmlite.binding as llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

_CHUNK = 32  # bytes per 256-bit vector


def host_has_avx2() -> bool:
    """Whether the host CPU can run the AVX2 `vpmaddubsw` kernel."""
    features = llvm.get_host_cpu_features()
    return llvm.get_process_triple().startswith(("x86_64", "i686", "i386")) and bool(
        features.get("avx2", False)
    )


def _function(module: ir.Module, fnty: ir.FunctionType, name: str) -> ir.Function:
    return cgutils.get_or_insert_function(module, fnty, name)  # type: ignore[no-untyped-call]


def _variable(builder: ir.IRBuilder, value: ir.Value) -> ir.Value:
    return cgutils.alloca_once_value(builder, value)  # type: ignore[no-untyped-call]


def _joint_sum(builder: ir.IRBuilder, accs: list[ir.Value]) -> list[ir.Value]:
    """Lane sums of four <8 x i32> vectors at once (pairwise adds of shuffled halves)."""
    even, odd = list(range(0, 16, 2)), list(range(1, 16, 2))

    def pairs(x: ir.Value, y: ir.Value, lanes: int) -> ir.Value:
        first = builder.shuffle_vector(x, y, ir.Constant(ir.VectorType(ir.IntType(32), lanes), even[:lanes]))
        second = builder.shuffle_vector(x, y, ir.Constant(ir.VectorType(ir.IntType(32), lanes), odd[:lanes]))
        return builder.add(first, second)

    halves = pairs(pairs(accs[0], accs[1], 8), pairs(accs[2], accs[3], 8), 8)  # 2 lanes per input
    sums = pairs(halves, halves, 4)  # lanes 0..3: the four totals
    return [builder.extract_element(sums, ir.Constant(ir.IntType(32), j)) for j in range(4)]


def _dots_ir(
    builder: ir.IRBuilder, pa: ir.Value, pbs: list[ir.Value], length: ir.Value, avx2: bool
) -> list[ir.Value]:
    """IR for sum(a[j] * b[j]) over j < length (i64) for byte pointers pa (u8) and each b (s8).

    The row `a` is loaded once per 32-byte chunk for all the b's.
    """
    i8, i16, i32, i64 = ir.IntType(8), ir.IntType(16), ir.IntType(32), ir.IntType(64)
    bytes_ty = ir.VectorType(i8, _CHUNK)
    acc_ty = ir.VectorType(i32, _CHUNK // 4 if avx2 else _CHUNK)
    module = builder.module
    if avx2:
        pmaddubsw = _function(
            module, ir.FunctionType(ir.VectorType(i16, 16), [bytes_ty, bytes_ty]), "llvm.x86.avx2.pmadd.ub.sw"
        )
        pmaddwd = _function(
            module,
            ir.FunctionType(ir.VectorType(i32, 8), [ir.VectorType(i16, 16), ir.VectorType(i16, 16)]),
            "llvm.x86.avx2.pmadd.wd",
        )
        ones = ir.Constant(ir.VectorType(i16, 16), [1] * 16)
    reduce_add = _function(
        module, ir.FunctionType(i32, [acc_ty]), f"llvm.vector.reduce.add.v{acc_ty.count}i32"
    )
    chunks = builder.udiv(length, ir.Constant(i64, _CHUNK))
    accs = [_variable(builder, ir.Constant(acc_ty, None)) for _ in pbs]
    with cgutils.for_range(builder, chunks) as loop:
        offset = builder.mul(loop.index, ir.Constant(i64, _CHUNK))
        va = builder.load(builder.bitcast(builder.gep(pa, [offset]), bytes_ty.as_pointer()), align=1)
        wide = ir.VectorType(i32, _CHUNK)
        if not avx2:
            va = builder.zext(va, wide)
        for pb, acc in zip(pbs, accs, strict=True):
            vb = builder.load(builder.bitcast(builder.gep(pb, [offset]), bytes_ty.as_pointer()), align=1)
            if avx2:
                part = builder.call(pmaddwd, [builder.call(pmaddubsw, [va, vb]), ones])
            else:
                part = builder.mul(va, builder.sext(vb, wide))
            builder.store(builder.add(builder.load(acc), part), acc)
    loaded = [builder.load(acc) for acc in accs]
    if avx2 and len(pbs) == 4:
        sums = _joint_sum(builder, loaded)
    else:
        sums = [builder.call(reduce_add, [value]) for value in loaded]
    totals = [_variable(builder, value) for value in sums]
    tail_start = builder.mul(chunks, ir.Constant(i64, _CHUNK))
    with cgutils.for_range_slice(builder, tail_start, length, ir.Constant(i64, 1)) as (index, _):
        a = builder.zext(builder.load(builder.gep(pa, [index])), i32)
        for pb, total in zip(pbs, totals, strict=True):
            b = builder.sext(builder.load(builder.gep(pb, [index])), i32)
            builder.store(builder.add(builder.load(total), builder.mul(a, b)), total)
    return [builder.load(total) for total in totals]


def _is_row(a: Any, dtype: Any) -> bool:
    return isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" and a.dtype == dtype


def _codegen(force_generic: bool, single: bool) -> Any:
    """Codegen for the row `args[0]` against the centers `args[1:]` over their shortest length."""

    def codegen(context: Any, builder: ir.IRBuilder, signature: Any, args: Any) -> ir.Value:
        arrays = [
            context.make_array(t)(context, builder, v) for t, v in zip(signature.args, args, strict=True)
        ]
        length = arrays[0].nitems
        for array in arrays[1:]:
            length = builder.select(builder.icmp_signed("<", array.nitems, length), array.nitems, length)
        avx2 = not force_generic and host_has_avx2()
        sums = _dots_ir(builder, arrays[0].data, [array.data for array in arrays[1:]], length, avx2)
        return sums[0] if single else context.make_tuple(builder, signature.return_type, sums)

    return codegen


def _make_dot(force_generic: bool) -> Any:
    @intrinsic
    def dot(typingctx: Any, a: types.Array, b: types.Array) -> Any:
        if not (_is_row(a, types.uint8) and _is_row(b, types.int8)):
            return None
        return types.int32(a, b), _codegen(force_generic, single=True)

    return dot


def _make_dot4(force_generic: bool) -> Any:
    @intrinsic
    def dot4(typingctx: Any, a: types.Array, b0: Any, b1: Any, b2: Any, b3: Any) -> Any:
        if not (_is_row(a, types.uint8) and all(_is_row(b, types.int8) for b in (b0, b1, b2, b3))):
            return None
        result = types.UniTuple(types.int32, 4)  # type: ignore[no-untyped-call]
        return result(a, b0, b1, b2, b3), _codegen(force_generic, single=False)

    return dot4


dot_u8s8 = _make_dot(force_generic=False)
"""sum(a[j] * b[j]) as int32 over 1-D C-contiguous uint8 `a` and int8 `b` (the shorter length);
AVX2 `vpmaddubsw` where the host has it (pair sums must fit in 16 bits, see the module doc)."""

dot_u8s8_generic = _make_dot(force_generic=True)
"""The portable variant of `dot_u8s8` (used where AVX2 is missing; compiled here for tests)."""

dot4_u8s8 = _make_dot4(force_generic=False)
"""(dot_u8s8(a, b0), ..., dot_u8s8(a, b3)) in one pass over `a` (a tuple of four int32)."""

dot4_u8s8_generic = _make_dot4(force_generic=True)
"""The portable variant of `dot4_u8s8`."""
