"""Which per-sample files a read skips without a problem, and why (formats/sample_files.py)."""

from __future__ import annotations

import pyarrow as pa

from lightly_ray.formats.relevant_filenames import parse_relevant_filenames
from lightly_ray.formats.sample_files import OtherInputFiles, UnreadInputs, split_known_files

PHOTOS_ONLY = parse_relevant_filenames("photos/*\n")


def test_each_file_is_read_not_read_with_its_reason_or_a_problem() -> None:
    files = {
        stem: f".lightly/metadata/{stem}.json"
        for stem in ("photos/a", "photos/broken", "photos/copy", "photos/old", "photos/ghost", "new/cat")
    }
    unread = UnreadInputs(
        [
            ("unchangedDatapool", OtherInputFiles(pa.array(["photos/old.png"]))),
            ("corrupt", OtherInputFiles(pa.array(["photos/broken.jpg"]))),
            ("duplicate", OtherInputFiles(pa.array(["photos/copy.png"]))),
        ],
        relevant=PHOTOS_ONLY,
    )

    split = split_known_files(files, {"photos/a"}, "an input sample", elsewhere=unread)

    assert split.to_read == [(".lightly/metadata/photos/a.json", "photos/a")]
    assert split.not_read == {"unchangedDatapool": 1, "corrupt": 1, "duplicate": 1, "notRelevant": 1}
    assert [str(problem) for problem in split.problems] == [
        ".lightly/metadata/photos/ghost.json: expected a file of an input sample, but none has the path "
        "without extension 'photos/ghost'; the file is ignored"
    ]
    assert len(split.to_read) + len(split.problems) + sum(split.not_read.values()) == len(files)


def test_a_plain_container_counts_as_not_read() -> None:
    split = split_known_files({"old": "p/old.json"}, set(), "an input sample", elsewhere={"old"})
    assert (split.to_read, split.problems, split.not_read) == ([], [], {"notRead": 1})


def test_the_first_group_that_holds_a_stem_names_the_reason() -> None:
    unread = UnreadInputs([("corrupt", {"a"}), ("duplicate", {"a", "b"})])
    assert (unread.reason("a"), unread.reason("b"), unread.reason("c")) == ("corrupt", "duplicate", None)
    assert "b" in unread
    assert "c" not in unread
    assert UnreadInputs.of(unread) is unread


def test_relevant_filenames_leave_out_samples_videos_and_their_frames() -> None:
    unread = UnreadInputs(relevant=parse_relevant_filenames("photos/*\nclips/keep.mp4\nshots/a.PNG\n"))
    assert unread.reason("new/cat") == "notRelevant"
    assert unread.reason("clips/drive") == "notRelevant"
    assert unread.reason("clips/drive-003-mp4") == "notRelevant"
    for kept in ("photos/cat", "clips/keep", "clips/keep-003-mp4", "shots/a"):
        assert unread.reason(kept) is None, kept


def test_a_name_a_wildcard_line_leaves_out_is_not_relevant_whatever_its_extension() -> None:
    lines = "*.png !img_01.png\nsub/* !sub/img_1*\nparts/* parts/wheel*\n"
    unread = UnreadInputs(relevant=parse_relevant_filenames(lines))
    # The first line neither keeps nor selects img_01.jpg; the file left out is img_01.png.
    assert unread.reason("img_01") == "notRelevant"
    assert unread.reason("sub/img_15") == "notRelevant"
    assert unread.reason("parts/door") == "notRelevant"  # selected by `parts/*`, not kept by its filter
    for ghost in ("img_99", "sub/img_2", "parts/wheel_9"):  # kept where they existed: a problem
        assert unread.reason(ghost) is None, ghost
    # A trial's file: `*` keeps img_01.jpg, yet the input file it left out is img_01.png.
    everything_but = UnreadInputs(relevant=parse_relevant_filenames("* !img_01.png !sub/img_1*\n"))
    assert everything_but.reason("img_01") == everything_but.reason("sub/img_15") == "notRelevant"
    assert everything_but.reason("img_99") is None


def test_without_relevant_filenames_every_file_is_relevant() -> None:
    assert UnreadInputs().reason("new/cat") is None
