from __future__ import annotations

import pytest

from lightly_ray.errors import InputFormatError
from lightly_ray.formats.relevant_filenames import parse_relevant_filenames, read_relevant_filenames
from lightly_ray.storage import Location

NO_DOTS = "expected a path relative to the input root without './' or '../'"
SELECTOR = "expected the line to start with a selector containing '*' (such as 'subdir/*')"
FILES = [
    "image_1.png",
    "subdir/image_2.png",
    "subdir/image_3.png",
    "subdir/image_40.png",
    "subdir/image_41.png",
    "subdir/image_42.png",
    "subdir/deeper/image_5.png",
    "other/video.mp4",
]


def test_plain_lines_keep_exactly_those_files() -> None:
    relevant = parse_relevant_filenames("image_1.png\nsubdir/image_2.png\n\n  subdir/image_3.png  \r\n")
    assert relevant.filter(FILES) == ["image_1.png", "subdir/image_2.png", "subdir/image_3.png"]
    assert relevant.matches("subdir/image_2.png")
    assert not relevant.matches("subdir/image_2.png.bak")
    assert relevant.listing_folders() == [""]
    assert relevant.missing_files(FILES) == []


def test_formats_md_example() -> None:
    relevant = parse_relevant_filenames("subdir/* subdir/image_4* !subdir/image_41.png\n")
    # The patterns after the selector select (image_4*) and deselect (!image_41.png).
    assert relevant.filter(FILES) == ["subdir/image_40.png", "subdir/image_42.png"]
    assert relevant.prefixes == ["subdir/"]
    assert relevant.listing_folders() == ["subdir"]


def test_selector_only_keeps_what_it_matches() -> None:
    relevant = parse_relevant_filenames("subdir/*.png\nother/*.mp4")
    assert relevant.filter(FILES) == [
        "subdir/image_2.png",
        "subdir/image_3.png",
        "subdir/image_40.png",
        "subdir/image_41.png",
        "subdir/image_42.png",
        "other/video.mp4",
    ]
    assert relevant.listing_folders() == ["other", "subdir"]


def test_patterns_without_slash_match_at_any_depth_and_folders_can_be_deselected() -> None:
    relevant = parse_relevant_filenames("subdir/* !image_4?.png !deeper/")
    assert relevant.filter(FILES) == ["subdir/image_2.png", "subdir/image_3.png"]
    selected = parse_relevant_filenames("subdir/* image_4?.png deeper/")
    assert selected.filter(FILES) == [
        "subdir/image_40.png",
        "subdir/image_41.png",
        "subdir/image_42.png",
        "subdir/deeper/image_5.png",
    ]


def test_negation_order_matters() -> None:
    later = parse_relevant_filenames("subdir/* !subdir/image_41.png subdir/image_4*")
    assert later.matches("subdir/image_41.png")
    earlier = parse_relevant_filenames("subdir/* subdir/image_4* !subdir/image_41.png")
    assert not earlier.matches("subdir/image_41.png")


def test_lines_add_up() -> None:
    relevant = parse_relevant_filenames("image_1.png\nsubdir/deeper/*\nsubdir/image_4* *_42.png")
    assert relevant.filter(FILES) == ["image_1.png", "subdir/image_42.png", "subdir/deeper/image_5.png"]
    assert relevant.listing_folders() == [""]
    assert relevant.mask(FILES).tolist() == [True, False, False, False, False, True, True, False]
    assert relevant.mask([]).tolist() == []


def test_listing_folders_drop_nested_folders() -> None:
    relevant = parse_relevant_filenames("a/b/c.png\na/* \na-x/y.png\nq/r/s*")
    assert relevant.listing_folders() == ["a", "a-x", "q/r"]


def test_file_names_with_spaces_and_hash() -> None:
    relevant = parse_relevant_filenames("my image.png\n#1.png")
    assert relevant.filter(["my image.png", "#1.png", "my"]) == ["my image.png", "#1.png"]


def test_missing_files() -> None:
    relevant = parse_relevant_filenames("a.png\nb.png")
    assert relevant.missing_files(["a.png"]) == ["b.png"]


def test_vectorised_filter_on_many_names() -> None:
    names = [f"d{index % 7}/img_{index}.png" for index in range(50_000)]
    relevant = parse_relevant_filenames("d3/* *_1?.png\nd5/img_5.png")
    mask = relevant.mask(names)
    expected = [
        (name.startswith("d3/") and (name.split("_")[1].startswith("1") and len(name.split("_")[1]) == 6))
        or name == "d5/img_5.png"
        for name in names
    ]
    assert mask.tolist() == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a.png\n./b.png",
            f'f.txt: line 2: {NO_DOTS}, got "./b.png"',
        ),
        (
            "../b.png",
            f'f.txt: line 1: {NO_DOTS}, got "../b.png"',
        ),
        (
            "a/../b.png",
            f'f.txt: line 1: {NO_DOTS}, got "a/../b.png"',
        ),
        (
            "/b.png",
            'f.txt: line 1: expected a path relative to the input root, got the absolute path "/b.png"',
        ),
        (
            "C:/b.png",
            'f.txt: line 1: expected a path relative to the input root, got the absolute path "C:/b.png"',
        ),
        (
            "a\\b.png",
            "f.txt: line 1: expected '/' as the folder separator, got a backslash in \"a\\\\b.png\"",
        ),
        ("a//b.png", "f.txt: line 1: expected a file path, got an empty folder name ('//') in \"a//b.png\""),
        ("subdir/", 'f.txt: line 1: expected a file path, got a folder, not a file in "subdir/"'),
        (
            "\n\nx/y.png !x/* z",
            f'f.txt: line 3: {SELECTOR}, got "x/y.png"',
        ),
        (
            "!sub/*",
            f'f.txt: line 1: {SELECTOR}, got "!sub/*"',
        ),
        ("sub/* ! x", "f.txt: line 1: expected a pattern after '!', got nothing"),
        (
            "sub/* ../x*",
            f'f.txt: line 1: {NO_DOTS}, got "../x*"',
        ),
        (
            "sub/* !./x",
            f'f.txt: line 1: {NO_DOTS}, got "./x"',
        ),
        ("\n  \n", "f.txt: expected at least one file name or pattern, got an empty file"),
    ],
)
def test_invalid_lines_are_errors_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(InputFormatError) as caught:
        parse_relevant_filenames(text, "f.txt")
    assert str(caught.value) == message


def test_every_invalid_line_is_named_the_first_ten_of_many() -> None:
    with pytest.raises(InputFormatError) as caught:
        parse_relevant_filenames("a.png\n/abs.png\nok/*\nsub\\b.png\n!x/*\n", "f.txt")
    lines = str(caught.value).splitlines()
    named = [line.split(": expected")[0] for line in lines]
    assert named == ["f.txt: line 2", "f.txt: line 4", "f.txt: line 5"]
    many = "\n".join(f"/abs_{index}.png" for index in range(13))
    with pytest.raises(InputFormatError) as caught:
        parse_relevant_filenames(many, "f.txt")
    lines = str(caught.value).splitlines()
    assert len(lines) == 11 and lines[9].startswith("f.txt: line 10: expected a path relative")
    assert lines[10] == "... and 3 more invalid lines in f.txt"


def test_read_default_and_configured_files(lightly: Location) -> None:
    assert read_relevant_filenames(lightly) is None
    with pytest.raises(InputFormatError, match=r"^\.lightly/mine\.txt: expected the relevant filenames file"):
        read_relevant_filenames(lightly, ".lightly/mine.txt")
    lightly.write_bytes(".lightly/relevant_filenames.txt", b"\xef\xbb\xbfa.png\n")
    relevant = read_relevant_filenames(lightly)
    assert relevant is not None
    assert relevant.files == frozenset({"a.png"})
    lightly.write_bytes(".lightly/mine.txt", b"sub/*\n")
    configured = read_relevant_filenames(lightly, ".lightly/mine.txt")
    assert configured is not None
    assert configured.source == ".lightly/mine.txt"
    assert configured.matches("sub/x.png")
    lightly.write_bytes(".lightly/bad.txt", b"\xff\n")
    with pytest.raises(InputFormatError, match=r"^\.lightly/bad\.txt: expected UTF-8 text"):
        read_relevant_filenames(lightly, ".lightly/bad.txt")
