"""A seekable read-only file over an object in any store, fetched in byte ranges as it is read.

A video decoder seeks: to the index at the end of an MP4, then to the keyframe a segment starts
at. Reading the whole object first would make every task that decodes a segment download the
whole video. `RangedFile` fetches aligned blocks on demand (one ranged GET each), keeps the
last few in memory, and counts what it fetched, so tests can show that a task reads only about
the part of the file it decodes.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Callable

DEFAULT_BLOCK_BYTES = 1 << 20
DEFAULT_CACHED_BLOCKS = 8


class RangedFile(io.RawIOBase):
    """A read-only, seekable file whose bytes come from `fetch(start, length)`.

    Args:
        fetch: Returns `length` bytes from `start` (the object's ranged read).
        size: The object's size in bytes.
        name: For messages and `repr`.
        block_bytes: Bytes fetched per request (aligned blocks).
        cached_blocks: Blocks kept in memory (least recently used dropped first).

    Attributes:
        fetched_bytes: Bytes fetched from the store so far.
        requests: Ranged requests made so far.

    """

    def __init__(
        self,
        fetch: Callable[[int, int], bytes],
        size: int,
        name: str = "",
        block_bytes: int = DEFAULT_BLOCK_BYTES,
        cached_blocks: int = DEFAULT_CACHED_BLOCKS,
    ) -> None:
        super().__init__()
        if block_bytes <= 0 or cached_blocks <= 0:
            raise ValueError("block_bytes and cached_blocks must be positive")
        self._fetch = fetch
        self._size = size
        self.name = name
        self._block_bytes = block_bytes
        self._cached_blocks = cached_blocks
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._position = 0
        self.fetched_bytes = 0
        self.requests = 0

    def __repr__(self) -> str:
        return f"RangedFile({self.name!r}, {self._size} bytes)"

    def readable(self) -> bool:
        """Always readable."""
        return True

    def seekable(self) -> bool:
        """Always seekable."""
        return True

    def tell(self) -> int:
        """The current position."""
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move the position (no request is made until bytes are read)."""
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._position + offset
        elif whence == io.SEEK_END:
            position = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if position < 0:
            raise OSError(f"negative seek position {position} in {self.name or 'ranged file'}")
        self._position = position
        return position

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        """Fill `buffer` from the current position; 0 at the end of the object."""
        view = memoryview(buffer).cast("B")
        written = 0
        while written < len(view) and self._position < self._size:
            block = self._block(self._position // self._block_bytes)
            offset = self._position % self._block_bytes
            count = min(len(view) - written, len(block) - offset)
            if count <= 0:
                break
            view[written : written + count] = block[offset : offset + count]
            written += count
            self._position += count
        return written

    def _block(self, number: int) -> bytes:
        cached = self._blocks.get(number)
        if cached is not None:
            self._blocks.move_to_end(number)
            return cached
        start = number * self._block_bytes
        length = min(self._block_bytes, self._size - start)
        data = self._fetch(start, length)
        self.requests += 1
        self.fetched_bytes += len(data)
        self._blocks[number] = data
        if len(self._blocks) > self._cached_blocks:
            self._blocks.popitem(last=False)
        return data
