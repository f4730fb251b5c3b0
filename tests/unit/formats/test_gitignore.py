from __future__ import annotations

import pytest

from lightly_ray.formats.gitignore import IgnoreList, compile_pattern, literal_prefix, parent_folders


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        # `*` and `?` stay within one folder name.
        ("subdir/*.png", "subdir/a.png", True),
        ("subdir/*.png", "subdir/x/a.png", False),
        ("subdir/image_?.png", "subdir/image_4.png", True),
        ("subdir/image_?.png", "subdir/image_41.png", False),
        ("a?b", "a/b", False),
        # Without a slash: a name at any depth.
        ("*.jpg", "x.jpg", True),
        ("*.jpg", "sub/deep/x.jpg", True),
        ("*.jpg", "x.jpg.png", False),
        # With a slash: from the root only.
        ("subdir/*.png", "a/subdir/x.png", False),
        # `**`.
        ("**/a.png", "a.png", True),
        ("**/a.png", "x/y/a.png", True),
        ("x/**", "x/a.png", True),
        ("x/**", "x/y/z.png", True),
        ("x/**", "x", False),
        ("a/**/b.png", "a/b.png", True),
        ("a/**/b.png", "a/x/y/b.png", True),
        ("a/**/**/b.png", "a/b.png", True),
        ("a**b", "axxb", True),
        ("a**b", "ax/xb", False),
        ("**", "any/thing.png", True),
        # Character classes never match `/`.
        ("img[0-3].png", "img2.png", True),
        ("img[0-3].png", "img5.png", False),
        ("img[!0-3].png", "img5.png", True),
        ("img[^0-3].png", "img2.png", False),
        ("a[!x]b", "a/b", False),
        ("img[]].png", "img].png", True),
        ("img[.png", "img[.png", True),
        # A pattern that matches a folder matches everything in it.
        ("subdir/*", "subdir/a/b/c.png", True),
        ("subdir", "subdir/a.png", True),
        ("cache/", "cache/a.png", True),
        ("cache/", "cache", False),
        ("sub", "subdir/a.png", False),
        # Regex metacharacters are literal.
        ("a+b(1).png", "a+b(1).png", True),
        ("a.png", "aXpng", False),
    ],
)
def test_pattern_matching(pattern: str, path: str, expected: bool) -> None:
    assert compile_pattern(pattern).matches(path) is expected


def test_anchored_selector_without_slash_matches_from_the_root_only() -> None:
    assert compile_pattern("sub*", anchored=True).matches("subdir/a.png")
    assert not compile_pattern("sub*", anchored=True).matches("x/subdir/a.png")
    assert compile_pattern("sub*").matches("x/subdir/a.png")


def test_last_matching_pattern_wins() -> None:
    ignore = IgnoreList(
        [compile_pattern("*.png"), compile_pattern("!keep*.png"), compile_pattern("keep_not.png")]
    )
    assert ignore.is_ignored("a.png")
    assert not ignore.is_ignored("keep_1.png")
    assert ignore.is_ignored("keep_not.png")
    assert not ignore.is_ignored("a.jpg")


def test_files_in_an_ignored_folder_cannot_be_re_included() -> None:
    ignore = IgnoreList([compile_pattern("build/"), compile_pattern("!build/keep.png")])
    assert ignore.is_ignored("build/keep.png")
    # Ignoring the folder's content (not the folder) lets `!` re-include.
    ignore = IgnoreList([compile_pattern("build/*"), compile_pattern("!build/keep.png")])
    assert not ignore.is_ignored("build/keep.png")
    assert ignore.is_ignored("build/other.png")
    assert ignore.is_ignored("build/sub/keep.png")


def test_helpers() -> None:
    assert parent_folders("a/b/c.png") == ["a", "a/b"]
    assert parent_folders("c.png") == []
    assert literal_prefix("subdir/image_4*") == "subdir/image_4"
    assert literal_prefix("sub?ir/*") == "sub"
    assert literal_prefix("a/[xy]*") == "a/"
    assert literal_prefix("**/a") == ""
