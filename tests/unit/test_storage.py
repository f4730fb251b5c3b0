from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from lightly_ray.errors import ReadOnlyLocationError, UnsafePathError
from lightly_ray.storage import Location, safe_relative_path


def test_listing_is_recursive_and_skips_hidden(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.png").write_bytes(b"12")
    (tmp_path / "sub" / "b.jpg").write_bytes(b"123")
    (tmp_path / ".lightly").mkdir()
    (tmp_path / ".lightly" / "c.png").write_bytes(b"x")
    (tmp_path / ".hidden.png").write_bytes(b"x")
    listed = sorted(Location(str(tmp_path), writable=False).list_files(), key=lambda item: item.path)
    assert [(item.path, item.size) for item in listed] == [("a.png", 2), ("sub/b.jpg", 3)]
    assert all(item.mtime_ns for item in listed)
    hidden = Location(str(tmp_path), writable=False).list_files(".lightly", include_hidden=True)
    assert [item.path for item in hidden] == [".lightly/c.png"]


def test_input_location_refuses_writes(tmp_path: Path) -> None:
    location = Location(str(tmp_path), writable=False)
    with pytest.raises(ReadOnlyLocationError, match="read-only"):
        location.write_bytes("x.txt", b"data")
    with pytest.raises(ReadOnlyLocationError):
        location.delete("x.txt")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path) -> None:
    location = Location(str(tmp_path), writable=True)
    location.write_bytes("out/file.txt", b"old")
    with pytest.raises(RuntimeError), location.open_atomic_output("out/file.txt") as stream:
        stream.write(b"half of the new")
        raise RuntimeError("crash while writing")
    assert (tmp_path / "out" / "file.txt").read_bytes() == b"old"
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["file.txt"]


def test_read_and_exists(tmp_path: Path) -> None:
    location = Location(str(tmp_path), writable=True)
    location.write_bytes("a/b.bin", b"\x00\x01")
    assert location.exists("a/b.bin")
    assert not location.exists("a/c.bin")
    assert location.read_bytes("a/b.bin") == b"\x00\x01"
    with pytest.raises(FileNotFoundError, match=r"'a/c\.bin'"):
        location.read_bytes("a/c.bin")


@pytest.mark.parametrize("bad", ["../x.png", "a/../../x.png", "/etc/passwd", "C:/x.png", "", "./"])
def test_paths_cannot_escape(bad: str) -> None:
    with pytest.raises(UnsafePathError):
        safe_relative_path(bad)


def test_safe_relative_path_normalises() -> None:
    assert safe_relative_path("./a//b/./c.png") == "a/b/c.png"


def test_location_pickles_by_url(tmp_path: Path) -> None:
    location = pickle.loads(pickle.dumps(Location(str(tmp_path), writable=False)))
    assert location.root == tmp_path.resolve().as_posix()
    assert location.writable is False


def test_a_relative_local_location_travels_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A worker of a cluster started elsewhere has another working directory than the driver.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.png").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    payload = pickle.dumps(Location("data", writable=False))
    monkeypatch.chdir("/")
    reopened = pickle.loads(payload)
    assert reopened.root == (tmp_path / "data").resolve().as_posix()
    assert reopened.read_bytes("a.png") == b"x"


def test_a_provider_without_credentials_says_what_to_set() -> None:
    from botocore.exceptions import NoCredentialsError

    from lightly_ray.storage.location import _safe_message

    message = _safe_message(NoCredentialsError())
    assert message.startswith("NoCredentialsError: Unable to locate credentials (no AWS credentials: set ")
    assert "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE" in message
    assert _safe_message(ValueError("x")) == "ValueError: x"
