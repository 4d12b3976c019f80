"""The morning report's plots: matplotlib figures embedded as SVG data URIs, so the page needs no network
and no script to show them (docs/report.md). Each function takes frames and returns the ``data:`` URI."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

TIER_COLOURS = {"high": "#c0392b", "medium": "#e67e22", "low": "#95a5a6"}
STATUS_COLOURS = {"ok": "#2e7d32", "warn": "#e67e22", "fail": "#c0392b"}
KIND_STYLES = {"estimated": {"linestyle": "--", "marker": "o", "markerfacecolor": "white"}, "realised": {"linestyle": "-", "marker": "s"}}
# the performance panels, in order: the metric and its label
PERFORMANCE_METRICS = {"pr_auc": "PR-AUC", "roc_auc": "ROC-AUC", "precision_at_capacity": "precision at capacity"}
_STYLE = {
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e6e6e6",
    "svg.hashsalt": "quietchurn",  # stable ids: the same data gives the same page
    "svg.fonttype": "none",  # text as text, drawn in the viewer's sans-serif: half the size of glyph paths, and faster
}


def svg_data_uri(fig: Figure) -> str:
    """The figure as an ``<img>``-ready SVG data URI; closes it.

    An ``<img>`` isolates each SVG, so the ids of several inline plots can never collide."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _dates_axis(ax: Axes, days: list) -> None:
    """Few, short date labels however many dates there are."""
    if len(set(days)) < 2:  # one date: nothing for a locator to divide
        ax.set_xticks(sorted(set(days)), [d.isoformat() for d in sorted(set(days))])
        return
    locator = AutoDateLocator(maxticks=7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def risk_histogram(scores: pl.DataFrame) -> str:
    """Customers by churn probability, one colour per risk tier (log count axis: the high tier is a thin tail)."""
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(10, 3.2))
        top = max(float(scores["churn_probability"].max() or 0.0), 0.01)
        bins = np.linspace(0.0, top, 51)
        for tier in ("low", "medium", "high"):  # tiers are rank ranges: their probabilities barely overlap
            values = scores.filter(pl.col("risk_tier") == tier)["churn_probability"].to_numpy()
            if len(values):
                ax.hist(values, bins=bins, color=TIER_COLOURS[tier], label=f"{tier} risk ({len(values):,})", log=True)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylim(bottom=0.8)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
        ax.set_xlabel("calibrated probability of churning within the horizon")
        ax.set_ylabel("customers (log scale)")
        ax.legend(frameon=False)
        return svg_data_uri(fig)


def survey_scores_over_time(runs: pl.DataFrame, scale_label: str) -> str:
    """Respondents' mean score against the non-response-corrected estimate for everyone, and the response rate."""
    with plt.rc_context(_STYLE):
        fig, (score_ax, rate_ax) = plt.subplots(1, 2, figsize=(10, 3.0), gridspec_kw={"width_ratios": [3, 2]})
        days = runs["as_of"].to_list()
        score_ax.plot(days, runs["respondent_score"].to_numpy(), "o-", color="#1f77b4", label="respondents' mean")
        score_ax.plot(days, runs["estimated_population_score"].to_numpy(), "s--", color="#9467bd", label="estimated, all customers")
        score_ax.set_ylabel(f"mean {scale_label} score")
        score_ax.legend(frameon=False)
        rates = 100 * runs["survey_response_rate"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
        rate_ax.plot(days, rates, "o-", color="#555555")
        rate_ax.set_ylabel("survey response rate (%)")
        highest = float(np.nanmax(rates)) if np.isfinite(rates).any() else 1.0
        rate_ax.set_ylim(0, max(highest, 1.0) * 1.12)  # room above the highest point: markers are not clipped
        for ax in (score_ax, rate_ax):
            _dates_axis(ax, days)
        fig.tight_layout()
        return svg_data_uri(fig)


def drift_bars(drift: pl.DataFrame, warn: float, fail: float) -> str:
    """PSI of the given rows (top first), coloured by status, with the warn and fail levels."""
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(10, max(2.0, 0.28 * drift.height + 0.9)))
        labels = drift["label"].to_list()[::-1]
        values = drift["value"].to_numpy()[::-1]
        colours = [STATUS_COLOURS.get(s, "#777777") for s in drift["status"].to_list()[::-1]]
        ax.barh(labels, values, color=colours)
        # the scale follows the data and the warn level; a fail level far beyond both is named, not drawn
        upper = max(warn * 1.15, float(values.max()) * 1.1 if len(values) else 0.0)
        ax.axvline(warn, color=STATUS_COLOURS["warn"], linestyle=":", label=f"warn {warn:g}")
        if fail <= upper:
            ax.axvline(fail, color=STATUS_COLOURS["fail"], linestyle="--", label=f"fail {fail:g}")
        else:
            ax.plot([], [], color=STATUS_COLOURS["fail"], linestyle="--", label=f"fail {fail:g} (off the scale)")
        ax.set_xlim(0, upper)
        ax.set_xlabel("PSI against the model's training reference")
        ax.grid(axis="y", visible=False)
        ax.legend(frameon=False, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2)
        return svg_data_uri(fig)


def performance_over_time(performance: pl.DataFrame) -> str:
    """Estimated (before outcomes) and realised (after the horizon) performance per scored date."""
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, len(PERFORMANCE_METRICS), figsize=(10, 3.0))
        for ax, (metric, label) in zip(axes, PERFORMANCE_METRICS.items(), strict=True):
            rows = performance.filter(pl.col("metric") == metric)
            for kind, style in KIND_STYLES.items():
                part = rows.filter(pl.col("kind") == kind).sort("as_of")
                if part.height:
                    ax.plot(part["as_of"].to_list(), part["value"].to_numpy(), label=kind, color="#1f77b4" if kind == "realised" else "#7f7f7f", **style)
            ax.set_title(label)
            ax.set_ylim(0, 1.02)
            _dates_axis(ax, performance["as_of"].to_list())
        axes[0].legend(frameon=False)
        fig.tight_layout()
        return svg_data_uri(fig)
