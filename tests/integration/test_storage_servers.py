"""The storage layer against real servers: local, S3 (moto), GCS (emulator), Azure (Azurite)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lightly_ray.errors import ReadOnlyLocationError, StorageError
from lightly_ray.storage import Location

SCHEMES = ["local", "s3", "gs", "az"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_write_list_read_delete(scheme: str, make_url: Callable[[str, str], str]) -> None:
    url = make_url(scheme, "lr-lightly")
    location = Location(url, writable=True)
    location.write_bytes("a.png", b"one")
    location.write_bytes("sub/dir/b.jpg", b"two!")
    location.write_bytes(".lightly/runs/x/_SUCCESS", b"{}")
    listed = sorted(location.list_files(), key=lambda item: item.path)
    assert [(item.path, item.size) for item in listed] == [("a.png", 3), ("sub/dir/b.jpg", 4)]
    assert all(item.mtime_ns for item in listed)
    hidden = [item.path for item in location.list_files(".lightly", include_hidden=True)]
    assert hidden == [".lightly/runs/x/_SUCCESS"]
    assert [item.path for item in location.list_files("sub")] == ["sub/dir/b.jpg"]
    assert location.list_folders() == [".lightly/", "sub/"]
    assert location.read_bytes("sub/dir/b.jpg") == b"two!"
    assert location.read_many(["a.png", "sub/dir/b.jpg"]) == [b"one", b"two!"]
    missing = location.read_many(["nope.png"])[0]
    assert isinstance(missing, FileNotFoundError) and "'nope.png'" in str(missing)
    with pytest.raises(FileNotFoundError):
        location.read_bytes("nope.png")
    assert location.exists("a.png") and not location.exists("nope.png")
    location.delete("a.png")
    location.delete("a.png")
    assert not location.exists("a.png")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_failed_write_publishes_nothing(scheme: str, make_url: Callable[[str, str], str]) -> None:
    location = Location(make_url(scheme, "lr-lightly"), writable=True)
    location.write_bytes("report.json", b"old")
    with pytest.raises(RuntimeError), location.open_atomic_output("report.json") as stream:
        stream.write(b"new but unfinished")
        raise RuntimeError("crash")
    with pytest.raises(RuntimeError), location.open_atomic_output("other.json") as stream:
        stream.write(b"unfinished")
        raise RuntimeError("crash")
    assert location.read_bytes("report.json") == b"old"
    assert [item.path for item in location.list_files()] == ["report.json"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_input_location_is_read_only(scheme: str, make_url: Callable[[str, str], str]) -> None:
    location = Location(make_url(scheme, "lr-input"), writable=False)
    with pytest.raises(ReadOnlyLocationError):
        location.write_bytes("x.png", b"x")
    with pytest.raises(ReadOnlyLocationError):
        location.delete("x.png")


@pytest.mark.parametrize("scheme", ["s3", "gs", "az"])
def test_missing_bucket_is_a_clear_error(scheme: str, make_url: Callable[[str, str], str]) -> None:
    make_url(scheme, "lr-input")  # skips when the server is not available
    location = Location(f"{scheme}://no-such-bucket-lr/prefix", writable=False)
    with pytest.raises(StorageError, match="no-such-bucket-lr"):
        list(location.list_files())


@pytest.mark.usefixtures("ray_instance")
@pytest.mark.parametrize("scheme", ["s3", "gs", "az"])
def test_parallel_listing_equals_sequential(scheme: str, make_url: Callable[[str, str], str]) -> None:
    from lightly_ray.formats.relevant_filenames import parse_relevant_filenames
    from lightly_ray.pipeline.listing import list_images

    location = Location(make_url(scheme, "lr-input"), writable=True)
    names = ["top.png", "notes.txt", ".hidden/x.png", "only/deep/er/a.jpg", "only/deep/er/b.JPG"]
    names += [
        f"f{folder}/sub{sub}/img_{index}.png" for folder in range(4) for sub in range(2) for index in range(3)
    ]
    for name in names:
        location.write_bytes(name, b"x" * (len(name) % 7))
    reader = Location(location.url, writable=False)
    sequential = list_images(reader)
    listed = list_images(reader, parallel=True)
    parallel = listed.table
    assert parallel.equals(sequential.table)
    assert listed.other_files == sequential.other_files == {".txt": 1}
    assert parallel.num_rows == 1 + 2 + 24
    assert parallel.column("name").to_pylist()[:3] == [
        "f0/sub0/img_0.png",
        "f0/sub0/img_1.png",
        "f0/sub0/img_2.png",
    ]
    relevant = parse_relevant_filenames("top.png\nf2/* f2/sub1/* !*_2.png\nonly/*")
    kept = list_images(reader, relevant, parallel=True).table.column("name").to_pylist()
    assert kept == [
        "f2/sub1/img_0.png",
        "f2/sub1/img_1.png",
        "only/deep/er/a.jpg",
        "only/deep/er/b.JPG",
        "top.png",
    ]
