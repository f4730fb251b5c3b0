from __future__ import annotations

import io

import pytest

from lightly_ray.storage.ranged import RangedFile

DATA = bytes(range(256)) * 40  # 10,240 bytes


def _file(**options: int) -> tuple[RangedFile, list[tuple[int, int]]]:
    calls: list[tuple[int, int]] = []

    def fetch(start: int, length: int) -> bytes:
        calls.append((start, length))
        return DATA[start : start + length]

    return RangedFile(fetch, len(DATA), name="data.bin", **options), calls


def test_reads_and_seeks_return_the_object_bytes() -> None:
    ranged, _ = _file(block_bytes=1000, cached_blocks=2)
    assert ranged.read(10) == DATA[:10]
    assert ranged.seek(-20, io.SEEK_END) == len(DATA) - 20
    assert ranged.read() == DATA[-20:]
    assert ranged.read(5) == b""
    ranged.seek(995)
    assert ranged.read(10) == DATA[995:1005]  # across a block boundary
    assert ranged.tell() == 1005
    ranged.seek(5, io.SEEK_CUR)
    assert ranged.read(3) == DATA[1010:1013]
    with pytest.raises(OSError, match="negative seek"):
        ranged.seek(-1)


def test_only_the_blocks_read_are_fetched_and_recent_ones_are_kept() -> None:
    ranged, calls = _file(block_bytes=1024, cached_blocks=2)
    ranged.seek(5000)
    ranged.read(100)
    ranged.seek(5020)
    ranged.read(50)
    assert calls == [(4096, 1024)]
    ranged.seek(len(DATA) - 10)
    ranged.read(10)
    assert calls[-1] == (10240 - 1024, 1024)
    assert ranged.fetched_bytes == 2048 and ranged.requests == 2
    ranged.seek(0)
    ranged.read(1)
    ranged.seek(5000)
    ranged.read(1)  # evicted: two blocks are kept, this one was the least recently used
    assert ranged.requests == 4


def test_the_last_block_is_short() -> None:
    ranged, calls = _file(block_bytes=4096)
    ranged.seek(9000)
    assert ranged.read() == DATA[9000:]
    assert calls == [(8192, len(DATA) - 8192)]
