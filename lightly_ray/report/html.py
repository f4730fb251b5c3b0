"""report.html: one self-contained page that shows report.json as pictures.

The page holds everything it needs: Bokeh's JavaScript and CSS inlined, the data of every plot,
and the thumbnails as `data:` URLs, so it opens from disk or an object store without network
access. Its size is bounded whatever the run's size: report.json's blocks are bounded (see
`analysis.py`), and so are the thumbnails (`thumbnails.py`).

Sections (each a `<section id=...>`): summary, selection, distances, map, examples, metadata,
predictions, strategies, videos, timings. A section without data says why it is empty.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from typing import Any

from bokeh.document import Document
from bokeh.embed import components
from bokeh.resources import Resources

from lightly_ray.report.figures import (
    category_figure,
    histogram_figure,
    loss_figure,
    map_figure,
    timeline_figure,
    timings_figure,
)
from lightly_ray.report.summary_lines import (
    count,
    crops_text,
    input_problems,
    input_text,
    requested_text,
    selected_text,
    selection_unit,
    strategy_text,
)

MAX_FIELD_PLOTS = 24
# BokehJS's core bundle only (1.3 MB): the page uses no widgets, tables, WebGL or MathJax.
_RESOURCES = Resources(mode="inline", components=["bokeh"])

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1180px; color: #212529; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #dee2e6; }
table.facts td, table.facts th { padding: 2px 12px 2px 0; text-align: left; font-size: 14px; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
.pairs { display: flex; flex-wrap: wrap; gap: 18px; }
.pair { border: 1px solid #dee2e6; padding: 6px; font-size: 11px; width: 250px; }
.pair img { width: 112px; height: 112px; object-fit: contain; background: #f1f3f5; }
.pair .names { word-break: break-all; }
.empty { color: #868e96; font-style: italic; }
"""


def render_report(report: Mapping[str, Any], thumbnails: Mapping[str, bytes]) -> str:
    """The page for one run's report.json and thumbnails.

    Args:
        report: The run's report.json content.
        thumbnails: JPEG thumbnails by sample name (`thumbnails.py`).

    Returns:
        The HTML document.
    """
    urls = {
        name: "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
        for name, jpeg in thumbnails.items()
    }
    plots: dict[str, Any] = {}
    sections = [
        _section("summary", "Run", _summary_html(report)),
        _section("selection", "Selection", _selection_html(report)),
        _section("distances", "Spread and coverage of the embeddings", _distances(report, plots)),
        _section("map", "Embedding map", _map(report, urls, plots)),
        _section("examples", "Selected samples beside the closest removed ones", _examples(report, urls)),
        _section(
            "metadata", "Metadata before and after selection", _fields(report, "metadataDistributions", plots)
        ),
        _section("predictions", "Predictions before and after selection", _predictions(report, plots)),
        _section(
            "strategies",
            "Values each strategy used",
            _fields(report, "strategyDistributions", plots, prefix="strategies["),
        ),
        _section("videos", "Selected frames per video", _videos(report, plots)),
        _section("training", "Training of the embedding model", _training(report, plots)),
        _section("timings", "Stage timings", _timings(report, plots)),
    ]
    script, divs = _components(plots)
    body = "\n".join(sections)
    for key, div in divs.items():
        body = body.replace(f"<!--plot:{key}-->", div)
    title = f"lightly_ray run {report.get('run', {}).get('id', '')}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>"
        f"{_RESOURCES.render_css()}{_RESOURCES.render_js()}</head>\n<body>\n<h1>{html.escape(title)}</h1>\n"
        f"{body}\n{script}\n</body></html>\n"
    )


def _components(plots: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The script and divs of every plot, from one document.

    Bokeh's `components` adds each plot to a new document, and each addition walks every model
    added so far; the plots are added to one document inside a single freeze instead, which
    `components` then uses as is (0.45 s less for the 15 plots of a typical page).
    """
    if not plots:
        return "", {}
    document = Document()
    with document.models.freeze():
        for plot in plots.values():
            document.add_root(plot)
    return components(plots)


def _section(key: str, title: str, content: str) -> str:
    return f'<section id="{key}">\n<h2>{html.escape(title)}</h2>\n{content}\n</section>'


def _plot(plots: dict[str, Any], key: str, model: Any) -> str:
    plots[key] = model
    return f'<div class="plot" data-plot="{html.escape(key)}"><!--plot:{key}--></div>'


def _empty(text: str) -> str:
    return f'<p class="empty">{html.escape(text)}</p>'


def _facts(rows: list[tuple[str, Any]]) -> str:
    cells = "".join(
        f"<tr><th>{html.escape(key)}</th><td>{html.escape(str(value))}</td></tr>" for key, value in rows
    )
    return f'<table class="facts">{cells}</table>'


def _summary_html(report: Mapping[str, Any]) -> str:
    run = report.get("run", {})
    sizes = report.get("datasetSizes", {})
    dataset = report.get("dataset", {})
    rows: list[tuple[str, Any]] = [
        ("run", run.get("id", "")),
        ("started", run.get("start", "")),
        ("duration", f"{run.get('durationSeconds', 0):.1f} s"),
        ("input", run.get("input", "")),
        ("lightly", run.get("lightly", "")),
        ("dataset", f"{dataset.get('name', '')} (tag {dataset.get('tag') or 'none'})"),
    ]
    rows.append(("input", input_text(report)))
    rows += [(key, value) for key, value in sizes.items()]
    crops = crops_text(report)
    if crops is not None:
        rows.append(("crops (objectLevel)", crops))
    total, problems = input_problems(report)
    if total:
        rows.append(("problems in .lightly/ inputs", f"{count(total, 'problem')}: files or values skipped"))
        rows += [("", problem) for problem in problems]
        if total > len(problems):
            rows.append(("", f"... and {total - len(problems)} more"))
    versions = ", ".join(f"{name} {version}" for name, version in run.get("versions", {}).items())
    rows.append(("versions", versions))
    return _facts(rows)


def _selection_html(report: Mapping[str, Any]) -> str:
    selection = report.get("selection", {})
    if not selection:
        return _empty("no selection block")
    unit = selection_unit(report)
    rows: list[tuple[str, Any]] = [
        ("counted in", unit),
        ("requested", requested_text(report)),
        ("selected", selected_text(report)),
        ("preselected", selection.get("nPreselected")),
        ("stopped", selection.get("stopReason")),
    ]
    shortfall = selection.get("shortfall")
    if shortfall:
        rows.append(("why fewer", shortfall.get("message", "")))
    for strategy in selection.get("strategies", []):
        rows.append((f"strategies[{strategy.get('index')}]", strategy_text(strategy)))
    return _facts(rows)


def _distances(report: Mapping[str, Any], plots: dict[str, Any]) -> str:
    stats = report.get("embeddingStatistics") or {}
    if not stats:
        return _empty("the run has no embeddings to measure")
    nearest = stats["nearestNeighbour"]
    cover = stats["coverDistance"]
    parts = [
        _plot(
            plots,
            "nearest",
            histogram_figure(nearest["histogram"], "distance to the nearest other member", "distance"),
        ),
        _plot(
            plots,
            "cover",
            histogram_figure(cover["histogram"], "distance of each input sample to the set", "distance"),
        ),
    ]
    rows = [
        (f"{which}: nearest neighbour median / min", f"{values.get('median')} / {values.get('min')}")
        for which, values in nearest["sets"].items()
    ] + [
        (f"{which}: radius to cover the input", values.get("max")) for which, values in cover["sets"].items()
    ]
    return _facts(rows) + f'<div class="plots">{"".join(parts)}</div>'


def _map(report: Mapping[str, Any], urls: Mapping[str, str], plots: dict[str, Any]) -> str:
    block = report.get("embeddingMap") or {}
    if not block:
        return _empty("too few samples or no embeddings for a map")
    return _plot(plots, "map", map_figure(block, urls))


def _examples(report: Mapping[str, Any], urls: Mapping[str, str]) -> str:
    examples = report.get("examples") or []
    if not examples:
        return _empty("no examples: nothing was removed, or the run has no embeddings")
    cards = []
    for example in examples:
        pictures = "".join(
            f'<img src="{urls[name]}" alt="{html.escape(name)}">'
            if name in urls
            else "<span>(no picture)</span>"
            for name in (example["selected"], example["closestRemoved"])
        )
        cards.append(
            f'<div class="pair">{pictures}<div class="names">selected: {html.escape(example["selected"])}<br>'
            f"closest removed: {html.escape(example['closestRemoved'])}<br>"
            f"distance {example['distance']:.4f}</div></div>"
        )
    return f'<div class="pairs">{"".join(cards)}</div>'


def _fields(report: Mapping[str, Any], key: str, plots: dict[str, Any], prefix: str = "") -> str:
    blocks = report.get(key) or {}
    if not blocks:
        return _empty("nothing to show for this run")
    titles = (
        {
            str(
                strategy.get("index")
            ): f"strategies[{strategy.get('index')}]: {strategy.get('strategy')} on {strategy.get('input')}"
            for strategy in (report.get("selection") or {}).get("strategies", [])
        }
        if prefix
        else {}
    )
    parts = []
    for position, (name, block) in enumerate(list(blocks.items())[:MAX_FIELD_PLOTS]):
        title = titles.get(name, f"{prefix}{name}]" if prefix else name)
        plot_key = f"{key}-{position}"
        if block["kind"] == "numeric":
            parts.append(_plot(plots, plot_key, histogram_figure(block["histogram"], title, "value")))
        else:
            parts.append(_plot(plots, plot_key, category_figure(block["categories"], block["counts"], title)))
    return f'<div class="plots">{"".join(parts)}</div>'


def _predictions(report: Mapping[str, Any], plots: dict[str, Any]) -> str:
    tasks = report.get("predictionDistributions") or {}
    if not tasks:
        return _empty("the run read no predictions")
    parts, notes = [], []
    for position, (task, block) in enumerate(tasks.items()):
        categories = block["categories"]
        objects = block.get("objectsPerSample") or {}
        if block.get("taskType") != "classification" and objects:
            means = ", ".join(
                f"{which} {summary_block['mean']:.2f}"
                for which, summary_block in objects.items()
                if summary_block.get("count")
            )
            notes.append(f'<p class="objects">{html.escape(task)}: objects per sample (mean): {means}</p>')
        parts.append(
            _plot(
                plots,
                f"classes-{position}",
                category_figure(categories["categories"], categories["counts"], f"{task}: classes"),
            )
        )
        parts.append(
            _plot(
                plots,
                f"scores-{position}",
                histogram_figure(block["scores"], f"{task}: {block['scoreOf']}", "score"),
            )
        )
    return f'{"".join(notes)}<div class="plots">{"".join(parts)}</div>'


def _videos(report: Mapping[str, Any], plots: dict[str, Any]) -> str:
    timelines = report.get("videoTimelines") or []
    if not timelines:
        return _empty("the run has no videos")
    return _plot(plots, "timeline", timeline_figure(timelines))


def _training(report: Mapping[str, Any], plots: dict[str, Any]) -> str:
    training = report.get("training") or {}
    epochs = training.get("epochs") or []
    if not epochs:
        return _empty("the run embedded with the model as configured (worker_config.enable_training is off)")
    losses = [epoch["loss"] for epoch in epochs if epoch.get("loss") is not None]
    rows = [
        ("epochs", len(epochs)),
        ("loss, first and last epoch", f"{losses[0]:.4f} -> {losses[-1]:.4f}" if losses else "-"),
        ("workers", f"{training.get('workers')} ({training.get('device')})"),
        ("seconds", training.get("seconds")),
        ("checkpoint", training.get("checkpoint")),
    ]
    return _facts(rows) + _plot(plots, "loss", loss_figure(epochs))


def _timings(report: Mapping[str, Any], plots: dict[str, Any]) -> str:
    timings = report.get("stageTimings") or {}
    if not timings:
        return _empty("no stage timings")
    throughput = report.get("throughput") or {}
    rows = [(key, value) for key, value in throughput.items()]
    return _facts(rows) + _plot(plots, "timings", timings_figure(timings))


__all__ = ["render_report"]
