from __future__ import annotations

import numpy as np
import pytest

from lightly_ray.errors import InputFormatError
from lightly_ray.formats.embeddings_csv import (
    embeddings_csv_bytes,
    parse_embeddings_csv,
    read_embeddings_csv,
    write_embeddings_csv,
)
from lightly_ray.storage import Location

GOOD = b"filenames,embedding_0,embedding_1,labels\nsubdir/a.png,0.5,-1.25,0\nb.png,1e-3,2,3\n"


def test_read_small_file() -> None:
    table = parse_embeddings_csv(GOOD, "e.csv")
    assert table.filenames == ["subdir/a.png", "b.png"]
    assert table.embeddings.dtype == np.float32
    np.testing.assert_array_equal(table.embeddings, np.array([[0.5, -1.25], [1e-3, 2]], dtype=np.float32))
    assert table.labels.tolist() == [0, 3]
    assert table.dimension == 2


def test_quoted_names_crlf_and_bom() -> None:
    data = b'\xef\xbb\xbf"filenames","embedding_0","labels"\r\n"a,b.png",1,0\r\n"c""d.png",2,1\r\n'
    table = parse_embeddings_csv(data, "e.csv")
    assert table.filenames == ["a,b.png", 'c"d.png']
    assert table.embeddings[:, 0].tolist() == [1.0, 2.0]


def test_header_only_is_empty() -> None:
    table = parse_embeddings_csv(b"filenames,embedding_0,embedding_1,labels\n", "e.csv")
    assert table.filenames == []
    assert table.embeddings.shape == (0, 2)


def test_write_then_read_round_trip(lightly: Location) -> None:
    rng = np.random.default_rng(0)
    names = ["a.png", "sub/b c.png", 'q"uote,comma.png']
    matrix = rng.normal(size=(3, 5)).astype(np.float32)
    write_embeddings_csv(lightly, "out/embeddings.csv", names, matrix, [1, 2, 3])
    text = (lightly.read_bytes("out/embeddings.csv")).decode()
    assert (
        text.splitlines()[0] == "filenames,embedding_0,embedding_1,embedding_2,embedding_3,embedding_4,labels"
    )
    assert text.splitlines()[1].startswith("a.png,")
    assert text.splitlines()[3].startswith('"q""uote,comma.png",')
    table = read_embeddings_csv(lightly, "out/embeddings.csv")
    assert table.filenames == names
    np.testing.assert_array_equal(table.embeddings, matrix)
    assert table.labels.tolist() == [1, 2, 3]


def test_written_floats_are_short() -> None:
    data = embeddings_csv_bytes(["a.png"], np.array([[0.1, 1.0]], dtype=np.float32))
    assert data == b"filenames,embedding_0,embedding_1,labels\na.png,0.1,1,0\n"
    assert embeddings_csv_bytes([], np.zeros((0, 2))) == b"filenames,embedding_0,embedding_1,labels\n"


def test_write_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="shape"):
        embeddings_csv_bytes(["a.png"], np.zeros((2, 3)))
    with pytest.raises(ValueError, match="labels"):
        embeddings_csv_bytes(["a.png"], np.zeros((1, 3)), [1, 2])
    with pytest.raises(ValueError, match="finite"):
        embeddings_csv_bytes(["a.png"], np.array([[np.nan]]))


def test_medium_file_round_trip() -> None:
    rng = np.random.default_rng(1)
    names = [f"d{index % 100}/img_{index}.png" for index in range(50_000)]
    matrix = rng.normal(size=(len(names), 32)).astype(np.float32)
    table = parse_embeddings_csv(embeddings_csv_bytes(names, matrix), "e.csv")
    assert table.filenames == names
    np.testing.assert_array_equal(table.embeddings, matrix)


HEADER = b"filenames,embedding_0,embedding_1,labels\n"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b"",
            "e.csv: line 1: expected the header 'filenames,embedding_0,...,embedding_{d-1},labels', "
            "got an empty line",
        ),
        (
            b"names,embedding_0,labels\n",
            "e.csv: line 1: expected the header 'filenames,embedding_0,...,embedding_{d-1},labels', "
            'got "names,embedding_0,labels"',
        ),
        (
            b"filenames,labels\n",
            "e.csv: line 1: expected the header 'filenames,embedding_0,...,embedding_{d-1},labels', "
            'got "filenames,labels"',
        ),
        (
            b"filenames,embedding_0,embedding_2,labels\n",
            "e.csv: line 1: column 3: expected 'embedding_1' (consecutive embedding columns from 0), "
            'got "embedding_2"',
        ),
        (
            HEADER + b"a.png,1,2,0\nb.png,1,x,0\n",
            "e.csv: line 3: column 'embedding_1': expected a number, got \"x\"",
        ),
        (HEADER + b"a.png,1,2,0\nb.png,1,0\n", "e.csv: line 3: expected 4 fields, got 3"),
        (HEADER + b"a.png,1,2,0,9\n", "e.csv: line 2: expected 4 fields, got 5"),
        (HEADER + b"a.png,1,2,zero\n", "e.csv: line 2: column 'labels': expected an integer, got \"zero\""),
        (HEADER + b"a.png,1,2,1.5\n", "e.csv: line 2: column 'labels': expected an integer, got \"1.5\""),
        (HEADER + b"a.png,1,2,\n", "e.csv: line 2: column 'labels': expected an integer, got nothing"),
        (HEADER + b"a.png,1,,0\n", "e.csv: line 2: column 'embedding_1': expected a number, got nothing"),
        (
            HEADER + b"a.png,1,2,0\nb.png,nan,2,0\n",
            "e.csv: line 3: column 'embedding_0': expected a finite number that fits float32, got nan",
        ),
        (
            HEADER + b"a.png,1,-inf,0\n",
            "e.csv: line 2: column 'embedding_1': expected a finite number that fits float32, got -inf",
        ),
        (
            HEADER + b"a.png,1,1e300,0\n",
            "e.csv: line 2: column 'embedding_1': expected a finite number that fits float32, got 1e+300",
        ),
        (
            HEADER + b"a.png,1,2,0\nb.png,1,2,0\na.png,3,4,0\n",
            "e.csv: line 4: column 'filenames': expected distinct file names, got \"a.png\" also on line 2",
        ),
        (
            HEADER + b"a.png,1,2,0\n./b.png,1,2,0\n",
            "e.csv: line 3: column 'filenames': expected a normalised relative path "
            '(such as "b.png"), got "./b.png"',
        ),
    ],
)
def test_errors_name_file_line_and_column(data: bytes, message: str) -> None:
    with pytest.raises(InputFormatError) as caught:
        parse_embeddings_csv(data, "e.csv")
    assert str(caught.value) == message


@pytest.mark.parametrize("name", ["../a.png", "/etc/a.png", "a/../../b.png", ""])
def test_unsafe_names_are_rejected(name: str) -> None:
    with pytest.raises(
        InputFormatError,
        match=r"^e\.csv: line 2: column 'filenames': expected a path relative to the input root, "
        r"got an unsafe path",
    ):
        parse_embeddings_csv(HEADER + name.encode() + b",1,2,0\n", "e.csv")


def test_missing_file(lightly: Location) -> None:
    with pytest.raises(
        InputFormatError, match=r"^x\.csv: expected an embeddings CSV, but the file does not exist"
    ):
        read_embeddings_csv(lightly, "x.csv")
