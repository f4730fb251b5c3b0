"""Which files in a folder were opened: Linux inotify through ctypes, for tests that promise a
command reads no input file (listing a folder opens the folder, not its files)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
from pathlib import Path
from types import TracebackType

IN_OPEN = 0x00000020
IN_NONBLOCK = 0o4000
_EVENT = struct.Struct("iIII")


class FileOpens:
    """Record the names of files opened in `folder` (not below it) while the block runs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.names: set[str] = set()
        self._libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self._fd = -1

    def __enter__(self) -> FileOpens:
        self._fd = self._libc.inotify_init1(IN_NONBLOCK)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if self._libc.inotify_add_watch(self._fd, os.fsencode(self.folder), IN_OPEN) < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {self.folder}")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            while True:
                try:
                    data = os.read(self._fd, 1 << 16)
                except BlockingIOError:
                    break
                offset = 0
                while offset < len(data):
                    _, _, _, length = _EVENT.unpack_from(data, offset)
                    raw = data[offset + _EVENT.size : offset + _EVENT.size + length]
                    name = raw.rstrip(b"\0").decode()
                    if name:  # an event on the folder itself has no name
                        self.names.add(name)
                    offset += _EVENT.size + length
        finally:
            os.close(self._fd)
