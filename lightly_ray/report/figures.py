"""The plots of report.html, drawn with Bokeh from report.json's blocks.

Bokeh renders in the browser from data embedded in the page (no server, no network), gives
hover tooltips that can hold HTML, so a point of the embedding map shows its picture and name,
and ships its JavaScript for inlining into one file. Every function takes report.json's block
and returns a Bokeh model; the page layout is in `html.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bokeh.models import ColumnDataSource, DataRange1d, FactorRange, HoverTool, Range1d
from bokeh.plotting import figure
from bokeh.transform import dodge

SET_COLORS = {"input": "#868e96", "selected": "#d6336c", "random": "#1c7ed6"}
GROUP_COLORS = {"selected": "#d6336c", "preselected": "#f08c00", "removed": "#adb5bd"}
SET_LABELS = {"input": "input", "selected": "selected", "random": "random (same size)"}
WIDTH = 520
HEIGHT = 300
BLANK_PIXEL = "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw=="


def histogram_figure(block: Mapping[str, Any], title: str, x_label: str) -> Any:
    """Overlaid histograms of report.json's `{"edges", "counts": {set: [...]}}`, as fractions."""
    plot = figure(title=title, width=WIDTH, height=HEIGHT, tools="pan,wheel_zoom,reset,save")
    edges: Sequence[float] = block["edges"]
    for which, counts in block["counts"].items():
        total = sum(counts) or 1
        source = ColumnDataSource(
            {
                "left": list(edges[:-1]),
                "right": list(edges[1:]),
                "top": [count / total for count in counts],
                "count": list(counts),
            }
        )
        plot.quad(
            left="left",
            right="right",
            top="top",
            bottom=0,
            source=source,
            fill_color=SET_COLORS.get(which, "#495057"),
            fill_alpha=0.35,
            line_color=SET_COLORS.get(which, "#495057"),
            legend_label=f"{SET_LABELS.get(which, which)} ({total})",
        )
    plot.add_tools(
        HoverTool(tooltips=[("from", "@left{0.000}"), ("to", "@right{0.000}"), ("samples", "@count")])
    )
    plot.xaxis.axis_label = x_label
    plot.yaxis.axis_label = "fraction of the set"
    plot.legend.click_policy = "hide"
    return plot


def category_figure(categories: Sequence[str], counts: Mapping[str, Sequence[float]], title: str) -> Any:
    """Grouped bars: the fraction of each set in each category."""
    labels = [str(category) for category in categories]
    sets = list(counts)
    plot = figure(
        title=title,
        x_range=FactorRange(factors=labels),
        y_range=DataRange1d(start=0),
        width=max(WIDTH, 40 * len(labels) * max(1, len(sets))),
        height=HEIGHT,
        tools="save,reset",
    )
    width = 0.8 / max(1, len(sets))
    columns: dict[str, list[Any]] = {"category": labels}
    for which in sets:
        total = sum(counts[which]) or 1
        columns[which] = [value / total for value in counts[which]]
    source = ColumnDataSource(columns)
    for position, which in enumerate(sets):
        plot.vbar(
            x=dodge("category", -0.4 + width * (position + 0.5), range=plot.x_range),
            top=which,
            width=width * 0.9,
            source=source,
            fill_color=SET_COLORS.get(which, "#495057"),
            line_color=None,
            legend_label=SET_LABELS.get(which, which),
        )
    plot.xaxis.major_label_orientation = 0.8 if len(labels) > 6 else 0
    plot.yaxis.axis_label = "fraction of the set"
    return plot


def map_figure(block: Mapping[str, Any], thumbnails: Mapping[str, str]) -> Any:
    """The 2-D embedding map; hovering a point shows its picture and name."""
    plot = figure(
        title=f"{block['nPoints']} of {block['nInput']} samples ({block['method']})",
        width=640,
        height=560,
        tools="pan,wheel_zoom,box_zoom,reset,save",
        x_range=Range1d(start=-1.1, end=1.1),
        y_range=Range1d(start=-1.1, end=1.1),
    )
    renderers: list[Any] = []
    for group in ("removed", "preselected", "selected"):
        points = [point for point in block["points"] if point["group"] == group]
        if not points:
            continue
        source = ColumnDataSource(
            {
                "x": [point["x"] for point in points],
                "y": [point["y"] for point in points],
                "name": [point["name"] for point in points],
                "group": [group] * len(points),
                "thumb": [thumbnails.get(point["name"], BLANK_PIXEL) for point in points],
            }
        )
        renderer = plot.scatter(
            "x",
            "y",
            source=source,
            size=5 if group == "removed" else 8,
            color=GROUP_COLORS[group],
            alpha=0.6 if group == "removed" else 0.9,
            legend_label=f"{group} ({len(points)})",
        )
        renderers.append(renderer)
    hover = HoverTool(
        tooltips=(
            '<div style="max-width:180px"><img src="@thumb" style="max-width:112px;max-height:112px"/>'
            '<div style="font-size:11px;word-break:break-all">@name</div>'
            '<div style="font-size:11px;color:#666">@group</div></div>'
        ),
        renderers=renderers,
    )
    plot.add_tools(hover)
    plot.legend.click_policy = "hide"
    return plot


def timeline_figure(timelines: Sequence[Mapping[str, Any]]) -> Any:
    """One row per video: its length as a bar, selected frames as ticks (earlier runs' in orange)."""
    videos = [timeline["video"] for timeline in timelines][::-1]
    plot = figure(
        title="selected frames per video",
        y_range=FactorRange(factors=videos),
        width=760,
        height=max(160, 60 + 26 * len(videos)),
        tools="xpan,xwheel_zoom,reset,save",
    )
    plot.hbar(
        y=videos,
        left=0,
        right=[timelines[len(videos) - 1 - row]["frameCount"] for row in range(len(videos))],
        height=0.5,
        fill_color="#e9ecef",
        line_color="#ced4da",
    )
    for key, color in (("preselected", GROUP_COLORS["preselected"]), ("selected", GROUP_COLORS["selected"])):
        xs = [frame for timeline in timelines for frame in timeline[key]]
        ys = [timeline["video"] for timeline in timelines for _ in timeline[key]]
        if xs:
            source = ColumnDataSource({"frame": xs, "video": ys})
            renderer = plot.scatter(
                "frame",
                "video",
                source=source,
                marker="dash",
                angle=1.5708,
                size=14,
                line_width=2,
                color=color,
                legend_label=key,
            )
            plot.add_tools(
                HoverTool(renderers=[renderer], tooltips=[("video", "@video"), ("frame", "@frame")])
            )
    plot.xaxis.axis_label = "frame index"
    return plot


def timings_figure(timings: Mapping[str, float]) -> Any:
    """Seconds per stage, as horizontal bars in stage order."""
    stages = list(timings)[::-1]
    plot = figure(
        title="seconds per stage",
        y_range=FactorRange(factors=stages),
        x_range=DataRange1d(start=0),
        width=WIDTH,
        height=60 + 24 * len(stages),
        tools="save",
    )
    source = ColumnDataSource({"stage": stages, "seconds": [timings[stage] for stage in stages]})
    plot.hbar(
        y="stage", right="seconds", left=0, height=0.6, source=source, fill_color="#1c7ed6", line_color=None
    )
    plot.add_tools(HoverTool(tooltips=[("stage", "@stage"), ("seconds", "@seconds{0.00}")]))
    return plot


def loss_figure(epochs: Sequence[Mapping[str, Any]]) -> Any:
    """The training loss after every epoch (report.json's `training.epochs`), as a line with points."""
    points = [
        (int(epoch["epoch"]), float(epoch["loss"])) for epoch in epochs if epoch.get("loss") is not None
    ]
    plot = figure(
        title="training loss (NT-Xent) per epoch",
        width=WIDTH,
        height=HEIGHT,
        tools="pan,wheel_zoom,reset,save",
    )
    source = ColumnDataSource({"epoch": [epoch for epoch, _ in points], "loss": [loss for _, loss in points]})
    plot.line("epoch", "loss", source=source, line_width=2, color=SET_COLORS["selected"])
    renderer = plot.scatter("epoch", "loss", source=source, size=6, color=SET_COLORS["selected"])
    plot.add_tools(HoverTool(renderers=[renderer], tooltips=[("epoch", "@epoch"), ("loss", "@loss{0.0000}")]))
    plot.xaxis.axis_label = "epoch"
    plot.yaxis.axis_label = "loss"
    return plot


__all__ = [
    "category_figure",
    "histogram_figure",
    "loss_figure",
    "map_figure",
    "timeline_figure",
    "timings_figure",
]
