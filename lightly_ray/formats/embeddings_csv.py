"""The embeddings CSV: an input (worker config `embeddings`) and an export format.

Layout: a header `filenames,embedding_0,...,embedding_{d-1},labels`, then one row per sample:
its name relative to the input root, d numbers and an integer label (0 when there is none)::

    filenames,embedding_0,embedding_1,labels
    subdir/image_1.png,0.12,-0.5,0

Reading validates the header, the number of fields of every row, that every embedding value is a
finite number that fits float32, that labels are integers, and that file names are distinct,
normalised relative paths. Row problems name the line (the header is line 1; a file name with a
line break inside quotes shifts later line numbers of the fast path by one). Parsing uses
`pyarrow.csv` (multi-threaded); the slower Python `csv` module only runs to locate an error.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from lightly_ray.errors import InputFormatError, UnsafePathError
from lightly_ray.formats.problems import describe
from lightly_ray.storage import Location, safe_relative_path

FILENAMES_COLUMN = "filenames"
LABELS_COLUMN = "labels"
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_SUSPICIOUS_NAME = r"(^|/)\.{1,2}(/|$)|^/|\\|//|/$|^.:|^$"
_HEADER_TEXT = "'filenames,embedding_0,...,embedding_{d-1},labels'"
_NEEDS_QUOTES = re.compile(r'[",\r\n]')


@dataclass
class EmbeddingsTable:
    """Embeddings read from or written to a CSV.

    Attributes:
        filenames: Sample names, relative to the input root.
        embeddings: Float32 matrix of shape (n, d).
        labels: Int64 labels of shape (n,).

    """

    filenames: list[str]
    embeddings: npt.NDArray[np.float32]
    labels: npt.NDArray[np.int64]

    @property
    def dimension(self) -> int:
        """The embedding dimension d."""
        return int(self.embeddings.shape[1])


def read_embeddings_csv(location: Location, path: str) -> EmbeddingsTable:
    """Read and validate an embeddings CSV.

    Args:
        location: Where the file is (the lightly location).
        path: The file, relative to the location.

    Raises:
        InputFormatError: When the file is missing or does not follow the format.

    """
    try:
        data = location.read_bytes(path)
    except FileNotFoundError:
        raise InputFormatError(f"{path}: expected an embeddings CSV, but the file does not exist") from None
    return parse_embeddings_csv(data, path)


def parse_embeddings_csv(data: bytes, source: str) -> EmbeddingsTable:
    """Parse and validate the bytes of an embeddings CSV.

    Args:
        data: The file's content (UTF-8, an optional byte-order mark).
        source: The file's path, for messages.

    Raises:
        InputFormatError: For the first problem found.

    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    header = _read_header(data, source)
    dimension = len(header) - 2
    types: dict[str, pa.DataType] = {FILENAMES_COLUMN: pa.string(), LABELS_COLUMN: pa.int64()}
    types.update({name: pa.float64() for name in header[1:-1]})
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                null_values=[""],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as error:
        _diagnose(data, source, header)
        raise InputFormatError(f"{source}: expected a valid embeddings CSV, got: {error}") from None
    names = table.column(FILENAMES_COLUMN).to_pylist()
    _check_names(table.column(FILENAMES_COLUMN), names, source)
    labels_column = table.column(LABELS_COLUMN)
    if labels_column.null_count:
        row = _first_null(labels_column)
        raise InputFormatError(
            f"{source}: line {row + 2}: column '{LABELS_COLUMN}': expected an integer, got nothing"
        )
    matrix = np.empty((table.num_rows, dimension), dtype=np.float64)
    for index, name in enumerate(header[1:-1]):
        column = table.column(name)
        if column.null_count:
            row = _first_null(column)
            raise InputFormatError(
                f"{source}: line {row + 2}: column '{name}': expected a number, got nothing"
            )
        matrix[:, index] = column.to_numpy()
    bad = ~np.isfinite(matrix) | (np.abs(matrix) > _FLOAT32_MAX)
    if bad.any():
        row, index = (int(value) for value in np.argwhere(bad)[0])
        raise InputFormatError(
            f"{source}: line {row + 2}: column '{header[index + 1]}': expected a finite number that fits "
            f"float32, got {describe(float(matrix[row, index]))}"
        )
    return EmbeddingsTable(
        filenames=names,
        embeddings=matrix.astype(np.float32),
        labels=labels_column.to_numpy().astype(np.int64),
    )


def embeddings_csv_bytes(
    filenames: Sequence[str], embeddings: npt.ArrayLike, labels: npt.ArrayLike | None = None
) -> bytes:
    """Render embeddings as an embeddings CSV.

    Args:
        filenames: Sample names, relative to the input root.
        embeddings: Matrix of shape (n, d), written as float32 in shortest round-trip form.
        labels: Integer labels of shape (n,); zeros when None.

    Raises:
        ValueError: When the shapes disagree or a value is not finite.

    """
    matrix = np.asarray(embeddings, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != len(filenames) or matrix.shape[1] == 0:
        raise ValueError(f"expected embeddings of shape ({len(filenames)}, d > 0), got {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError("embeddings must be finite")
    label_array = (
        np.zeros(len(filenames), dtype=np.int64) if labels is None else np.asarray(labels, dtype=np.int64)
    )
    if label_array.shape != (len(filenames),):
        raise ValueError(f"expected labels of shape ({len(filenames)},), got {label_array.shape}")
    dimension = matrix.shape[1]
    header = ",".join([FILENAMES_COLUMN, *(f"embedding_{i}" for i in range(dimension)), LABELS_COLUMN])
    if not filenames:
        return (header + "\n").encode()
    columns: dict[str, Any] = {f"embedding_{i}": matrix[:, i] for i in range(dimension)}
    columns[LABELS_COLUMN] = label_array
    sink = io.BytesIO()
    pacsv.write_csv(pa.table(columns), sink, write_options=pacsv.WriteOptions(include_header=False))
    rows = sink.getvalue().decode().split("\n")[: len(filenames)]
    lines = [f"{_quote(name)},{row}" for name, row in zip(filenames, rows, strict=True)]
    return (header + "\n" + "\n".join(lines) + "\n").encode()


def write_embeddings_csv(
    location: Location,
    path: str,
    filenames: Sequence[str],
    embeddings: npt.ArrayLike,
    labels: npt.ArrayLike | None = None,
) -> None:
    """Write an embeddings CSV atomically to a (writable) location."""
    location.write_bytes(path, embeddings_csv_bytes(filenames, embeddings, labels))


def _quote(name: str) -> str:
    if _NEEDS_QUOTES.search(name):
        return '"' + name.replace('"', '""') + '"'
    return name


def _read_header(data: bytes, source: str) -> list[str]:
    end = data.find(b"\n")
    first_line = (data if end < 0 else data[:end]).rstrip(b"\r")
    try:
        text = first_line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputFormatError(
            f"{source}: line 1: expected UTF-8 text, got an undecodable byte at offset {error.start}"
        ) from None
    header = next(csv.reader([text]), [])
    shown = describe(text)
    if not text.strip():
        raise InputFormatError(f"{source}: line 1: expected the header {_HEADER_TEXT}, got an empty line")
    if len(header) < 3 or header[0] != FILENAMES_COLUMN or header[-1] != LABELS_COLUMN:
        raise InputFormatError(f"{source}: line 1: expected the header {_HEADER_TEXT}, got {shown}")
    for index, name in enumerate(header[1:-1]):
        if name != f"embedding_{index}":
            raise InputFormatError(
                f"{source}: line 1: column {index + 2}: expected 'embedding_{index}' (consecutive embedding "
                f"columns from 0), got {describe(name)}"
            )
    return header


def _diagnose(data: bytes, source: str, header: list[str]) -> None:
    """Find the first bad row with the Python csv module and raise a precise error for it."""
    text = data.decode("utf-8", errors="strict") if _is_utf8(data) else None
    if text is None:
        raise InputFormatError(f"{source}: expected UTF-8 text, got undecodable bytes")
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader, None)
    for row in reader:
        line = reader.line_num
        if not row:
            raise InputFormatError(f"{source}: line {line}: expected {len(header)} fields, got an empty line")
        if len(row) != len(header):
            raise InputFormatError(f"{source}: line {line}: expected {len(header)} fields, got {len(row)}")
        for name, value in zip(header[1:-1], row[1:-1], strict=True):
            if not _is_float(value):
                raise InputFormatError(
                    f"{source}: line {line}: column '{name}': expected a number, got {describe(value)}"
                )
        if not re.fullmatch(r"\s*[+-]?\d+\s*", row[-1]):
            raise InputFormatError(
                f"{source}: line {line}: column '{LABELS_COLUMN}': expected an integer, "
                f"got {describe(row[-1])}"
            )


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_float(value: str) -> bool:
    if not value:
        return True  # reported as a null by the fast path
    try:
        float(value)
    except ValueError:
        return False
    return True


def _first_null(column: pa.ChunkedArray) -> int:
    return int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])


def _check_names(column: pa.ChunkedArray, names: list[str], source: str) -> None:
    suspicious = pc.match_substring_regex(column, pattern=_SUSPICIOUS_NAME).to_numpy(zero_copy_only=False)
    for row in np.flatnonzero(suspicious).tolist():
        name = names[row]
        try:
            normalised = safe_relative_path(name)
        except UnsafePathError as error:
            raise InputFormatError(
                f"{source}: line {row + 2}: column '{FILENAMES_COLUMN}': expected a path relative to "
                f"the input root, got an unsafe path: {error}"
            ) from None
        if normalised != name:
            raise InputFormatError(
                f"{source}: line {row + 2}: column '{FILENAMES_COLUMN}': expected a normalised relative path "
                f"(such as {describe(normalised)}), got {describe(name)}"
            )
    if len(set(names)) != len(names):
        first_row: dict[str, int] = {}
        for index, name in enumerate(names):
            if name in first_row:
                raise InputFormatError(
                    f"{source}: line {index + 2}: column '{FILENAMES_COLUMN}': expected distinct file names, "
                    f"got {describe(name)} also on line {first_row[name] + 2}"
                )
            first_row[name] = index
