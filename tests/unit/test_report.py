"""report.json's statistics and report.html's drawing, on arrays made here."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from lightly_ray.report import embedding_stats
from lightly_ray.report.analysis import analyse_selection, video_timelines
from lightly_ray.report.embedding_stats import embedding_statistics, nearest_distances, selection_examples
from lightly_ray.report.histograms import category_block, histogram_block, summary
from lightly_ray.report.html import render_report
from lightly_ray.report.projection import embedding_map
from lightly_ray.report.run_report import listed_sizes, wanted_pictures
from lightly_ray.report.samples import FilesRead, ReportSamples
from lightly_ray.selection.data import SelectionData


def _samples(
    count: int = 60, dim: int = 6, picked: int = 6, preselected: int = 0, seed: int = 0
) -> ReportSamples:
    rng = np.random.default_rng(seed)
    embeddings = rng.normal(size=(count, dim)).astype(np.float32)
    order = rng.permutation(count)
    return ReportSamples(
        names=[f"img_{index:03d}.png" for index in range(count)],
        embeddings=embeddings,
        picked=order[:picked],
        preselected=np.sort(order[picked : picked + preselected]),
        videos=[None] * count,
        frame_indices=np.full(count, -1),
        seed=seed,
    )


def _brute_nearest(
    points: np.ndarray, queries: np.ndarray, references: np.ndarray, exclude_self: bool
) -> np.ndarray:
    distances = np.linalg.norm(
        points[queries][:, None, :].astype(np.float64) - points[references][None, :, :], axis=2
    )
    if exclude_self:
        distances[queries[:, None] == references[None, :]] = np.inf
    return distances.min(axis=1)


@pytest.mark.parametrize("exclude_self", [True, False])
def test_nearest_distances_match_brute_force_across_chunks(
    monkeypatch: pytest.MonkeyPatch, exclude_self: bool
) -> None:
    monkeypatch.setattr(embedding_stats, "CHUNK", 7)  # several chunks, the last one short
    points = np.random.default_rng(1).normal(size=(50, 5)).astype(np.float32)
    queries = np.array([0, 3, 17, 49])
    references = np.arange(50)
    got = nearest_distances(points, queries, references, exclude_self=exclude_self)
    np.testing.assert_allclose(
        got, _brute_nearest(points, queries, references, exclude_self), rtol=1e-9, atol=1e-6
    )
    if not exclude_self:
        np.testing.assert_allclose(got, 0.0, atol=1e-6)


def test_sets_random_twin_has_the_size_of_the_picks_and_keeps_the_preselected() -> None:
    samples = _samples(picked=5, preselected=3)
    selected, random = samples.mask("selected"), samples.mask("random")
    assert selected.sum() == random.sum() == 8
    assert (selected & random).sum() >= 3  # the preselected are in both
    assert set(samples.preselected) <= set(np.flatnonzero(random))
    assert len(samples.removed) == 60 - 8
    with pytest.raises(ValueError, match="unknown set"):
        samples.mask("everything")


def test_embedding_statistics_show_a_diverse_selection_beating_random() -> None:
    # 10 tight clusters; the picks are one member of each: spread far apart and covering all.
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(10, 8)) * 10
    embeddings = (np.repeat(centres, 20, axis=0) + rng.normal(size=(200, 8)) * 0.1).astype(np.float32)
    samples = ReportSamples(
        names=[f"s{index}" for index in range(200)],
        embeddings=embeddings,
        picked=np.arange(0, 200, 20),
        preselected=np.zeros(0, dtype=np.int64),
        videos=[None] * 200,
        frame_indices=np.full(200, -1),
        seed=3,
    )
    stats = embedding_statistics(samples)
    nearest = stats["nearestNeighbour"]["sets"]
    assert nearest["selected"]["min"] > 5 > nearest["input"]["median"]
    assert nearest["selected"]["median"] > nearest["random"]["median"]
    cover = stats["coverDistance"]["sets"]
    assert (
        cover["selected"]["max"] < 1.0 < cover["random"]["max"]
        or cover["selected"]["max"] < cover["random"]["max"]
    )
    assert cover["selected"]["count"] == 200
    histogram = stats["nearestNeighbour"]["histogram"]
    assert len(histogram["edges"]) == 31 and {
        key: sum(counts) for key, counts in histogram["counts"].items()
    } == {
        "input": 200,
        "selected": 10,
        "random": 10,
    }


def test_embedding_statistics_bound_their_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedding_stats, "QUERIES", 25)
    monkeypatch.setattr(embedding_stats, "REFERENCES", 40)
    stats = embedding_statistics(_samples(count=300, picked=30))
    assert stats["nearestNeighbour"]["sets"]["input"] == {
        **stats["nearestNeighbour"]["sets"]["input"],
        "count": 25,
        "sampled": True,
    }
    assert stats["nearestNeighbour"]["sets"]["selected"]["count"] == 25
    assert stats["coverDistance"]["sampled"] is True


def test_examples_pair_picks_with_their_closest_removed_sample() -> None:
    samples = _samples(count=40, picked=12)
    examples = selection_examples(samples, count=4)
    picked = [samples.names[index] for index in samples.picked]
    assert [example["selected"] for example in examples] == [picked[0], picked[3], picked[7], picked[11]]
    removed = samples.removed
    for example in examples:
        row = samples.names.index(example["selected"])
        expected = _brute_nearest(samples.embeddings, np.array([row]), removed, False)[0]  # type: ignore[arg-type]
        assert example["distance"] == pytest.approx(expected, abs=1e-5)
        assert example["closestRemoved"] not in picked


def test_histograms_and_categories() -> None:
    block = histogram_block({"a": np.array([0.0, 1.0, np.nan]), "b": np.array([2.0])}, bins=4)
    assert block["edges"] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert block["counts"] == {"a": [1, 0, 1, 0], "b": [0, 0, 0, 1]}
    assert histogram_block({"a": np.array([np.nan])})["edges"] == []
    assert summary(np.array([np.inf]))["count"] == 0
    categories = category_block(
        {
            "input": np.array(["x", "x", "y", "z", "w"], dtype=object),
            "selected": np.array(["q"], dtype=object),
        },
        top=2,
    )
    assert categories == {
        "categories": ["x", "y", "other"],
        "counts": {"input": [2, 1, 2], "selected": [0, 0, 1]},
    }


def test_video_timelines_list_every_video_most_selected_first() -> None:
    names = ["a-0-mp4.png", "a-1-mp4.png", "b-0-mp4.png", "b-1-mp4.png", "b-2-mp4.png", "x.png"]
    samples = ReportSamples(
        names=names,
        embeddings=None,
        picked=np.array([3, 4]),
        preselected=np.array([0]),
        videos=["a.mp4", "a.mp4", "b.mp4", "b.mp4", "b.mp4", None],
        frame_indices=np.array([0, 1, 0, 1, 2, -1]),
    )
    timelines = video_timelines(samples, {"a.mp4": 2, "b.mp4": 3, "c.mp4": 9})
    assert timelines == [
        {"video": "b.mp4", "frameCount": 3, "selected": [1, 2], "preselected": []},
        {"video": "a.mp4", "frameCount": 2, "selected": [], "preselected": [0]},
        {"video": "c.mp4", "frameCount": 9, "selected": [], "preselected": []},
    ]


def test_map_is_bounded_and_highlights_the_selection() -> None:
    samples = _samples(count=120, picked=10, preselected=5)
    block = embedding_map(samples, points=40)
    groups = [point["group"] for point in block["points"]]
    assert block["nPoints"] == 40 == len(groups)
    assert (groups.count("selected"), groups.count("preselected")) == (10, 5)
    assert all(-1.0 <= point["x"] <= 1.0 and -1.0 <= point["y"] <= 1.0 for point in block["points"])
    assert embedding_map(_samples(count=4, picked=1)) == {}


def test_pictures_wanted_for_examples_and_map_but_not_unselected_map_frames() -> None:
    samples = ReportSamples(
        names=["v-0-mp4.png", "v-1-mp4.png", "x.png", "y.png"],
        embeddings=None,
        picked=np.array([0]),
        preselected=np.zeros(0, dtype=np.int64),
        videos=["v.mp4", "v.mp4", None, None],
        frame_indices=np.array([0, 1, -1, -1]),
    )
    report = {
        "examples": [{"selected": "v-0-mp4.png", "closestRemoved": "x.png", "distance": 1.0}],
        "embeddingMap": {"points": [{"name": name, "group": "removed"} for name in ("v-1-mp4.png", "y.png")]},
    }
    wanted = {item.name: item for item in wanted_pictures(report, samples)}
    assert set(wanted) == {"v-0-mp4.png", "x.png", "y.png"}
    assert wanted["v-0-mp4.png"].selected and wanted["v-0-mp4.png"].video == "v.mp4"


def test_page_shows_every_section_or_says_why_it_is_empty() -> None:
    samples = _samples(count=80, picked=8)
    data = SelectionData(
        names=list(samples.names),
        embeddings=samples.embeddings,
        lightly_metadata={"sharpness": np.arange(80.0)},
    )
    blocks = analyse_selection(samples, data, [], {})
    training = {
        "epochs": [{"epoch": 1, "loss": 4.8}, {"epoch": 2, "loss": 4.5}],
        "seconds": 9.0,
        "workers": 1,
        "device": "cpu",
        "checkpoint": "checkpoint.ckpt",
    }
    report = {
        "run": {"id": "r1", "durationSeconds": 2.0},
        "stageTimings": {"embed": 1.5},
        "training": training,
        **blocks,
    }
    page = render_report(report, {samples.names[int(samples.picked[0])]: _jpeg()})
    assert page.startswith("<!DOCTYPE html>")
    assert "<script src=" not in page and "<link " not in page, "nothing is loaded from elsewhere"
    for key in ("nearest", "cover", "map", "metadataDistributions-0", "loss", "timings"):
        assert f'data-plot="{key}"' in page
    assert "4.8000 -&gt; 4.5000" in page
    assert page.count('<p class="empty">') == 4  # selection block, predictions, strategies, videos
    assert "data:image/jpeg;base64," in page
    assert len(page) < 2_000_000
    empty = render_report({}, {})
    assert empty.count('<p class="empty">') == 10  # every section but the run's facts


def _jpeg() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 0, 0)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_pictures_of_files_this_run_did_not_read_are_not_wanted_unless_asked() -> None:
    samples = ReportSamples(
        names=["new.png", "old.png", "v-0-mp4.png"],
        embeddings=None,
        picked=np.array([0]),
        preselected=np.array([1, 2]),
        videos=[None, None, "v.mp4"],
        frame_indices=np.array([-1, -1, 0]),
        read_here=FilesRead(pa.array(["new.png", "other.png"])),
    )
    report = {"embeddingMap": {"points": [{"name": name, "group": "x"} for name in samples.names]}}
    # the old frame is a selected one: its picture is in .lightly/frames/, not the input
    assert [item.name for item in wanted_pictures(report, samples)] == ["new.png", "v-0-mp4.png"]
    everything = wanted_pictures(report, samples, readable_only=False)
    assert [item.name for item in everything] == ["new.png", "old.png", "v-0-mp4.png"]


def test_unselected_frames_are_read_from_their_video_only_when_this_run_read_it() -> None:
    samples = ReportSamples(
        names=["a-0-mp4.png", "a-1-mp4.png", "b-0-mp4.png", "c.png"],
        embeddings=None,
        picked=np.array([3]),
        preselected=np.array([], dtype=np.int64),
        videos=["a.mp4", "a.mp4", "b.mp4", None],
        frame_indices=np.array([0, 1, 0, -1]),
        read_here=FilesRead(pa.chunked_array([pa.array(["a.mp4"]), pa.array(["c.png"])])),
    )
    report = {
        "examples": [
            {"selected": "c.png", "closestRemoved": "a-1-mp4.png"},
            {"selected": "c.png", "closestRemoved": "b-0-mp4.png"},
            {"selected": "missing.png", "closestRemoved": "a-0-mp4.png"},
        ]
    }
    wanted = wanted_pictures(report, samples)
    assert [(item.name, item.video, item.frame_index) for item in wanted] == [
        ("c.png", None, -1),
        ("a-1-mp4.png", "a.mp4", 1),
        ("a-0-mp4.png", "a.mp4", 0),
    ]
    assert [item.name for item in wanted_pictures(report, samples, readable_only=False)] == [
        "c.png",
        "a-1-mp4.png",
        "b-0-mp4.png",
        "a-0-mp4.png",
    ]


def test_files_read_rows_and_listed_sizes_are_looked_up_for_a_few_names() -> None:
    files = FilesRead(
        pa.chunked_array([pa.array(["a", "c"], pa.large_string()), pa.array(["e"], pa.large_string())])
    )
    assert files.among(["c", "b", "e", "c"]) == {"c", "e"}
    assert files.among([]) == set()
    assert FilesRead(pa.array([], pa.string())).among(["a"]) == set()
    samples = ReportSamples(
        names=["a", "b", "d"],
        embeddings=None,
        picked=np.array([0]),
        preselected=np.array([], dtype=np.int64),
        videos=[None, None, None],
        frame_indices=np.array([-1, -1, -1]),
    )
    assert [samples.row_of(name) for name in ("a", "b", "d", "c", "e", "")] == [0, 1, 2, None, None, None]
    listing = pa.table({"name": ["a.mp4", "b.png", "c.mp4"], "size": [1, 2, 3], "mtime_ns": [0, 0, 0]})
    assert listed_sizes(listing, {"c.mp4", "x.mp4"}) == {"c.mp4": 3}
    assert listed_sizes(listing, set()) == {}
