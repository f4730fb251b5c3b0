"""Whether a file can be one torch wrote, from its first and last bytes, without torch.

`torch.save` writes a zip archive (since torch 1.6), before that a pickle. A file cut short
(an interrupted download or copy) or of other content (an ONNX model, a text file, a folder's
listing saved by mistake) is found in a millisecond and two small reads, where loading it
would fail after Ray's start, tens of seconds into the run.
"""

from __future__ import annotations

import zipfile
from typing import IO

PICKLE_START = b"\x80"
ZIP_START = b"PK\x03\x04"


def not_torch_file(stream: IO[bytes]) -> str | None:
    """Why the file open in `stream` (seekable) cannot be one torch wrote; None when it may be.

    Only its first four bytes and, for a zip archive, the archive's end are read.
    """
    head = stream.read(4)
    if head.startswith(ZIP_START):
        stream.seek(0)
        whole = zipfile.is_zipfile(stream)
        return None if whole else "is a zip archive cut short (a partial download or copy?)"
    if head[:1] == PICKLE_START:  # torch's format before 1.6: a pickle
        return None
    if not head:
        return "is empty"
    return f"is not a file torch wrote (it starts with {head!r})"
