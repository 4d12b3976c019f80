"""Rich renderings of the output tables for the terminal."""

from __future__ import annotations

import polars as pl
from rich.console import Console
from rich.table import Table

SCORE_COLUMNS = [
    ("risk_rank", "rank"),
    ("customer_id", "customer"),
    ("churn_probability", "P(churn)"),
    ("risk_tier", "tier"),
    ("dissatisfaction_probability", "P(dissatisfied)"),
    ("survey_status", "survey"),
    ("silent_rank", "silent rank"),
    ("value_at_risk", "value at risk"),
    ("reason_1", "top reasons"),
]


def _cell(column: str, value) -> str:
    if value is None:
        return "-"
    if column in ("churn_probability", "dissatisfaction_probability"):
        return f"{value:.1%}"
    if column == "value_at_risk":
        return f"{value:,.2f}"
    return str(value)


def scores_table(scores: pl.DataFrame, title: str) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for _, header in SCORE_COLUMNS:
        table.add_column(header, overflow="fold")
    for row in scores.iter_rows(named=True):
        cells = [_cell(col, row.get(col)) for col, _ in SCORE_COLUMNS[:-1]]
        reasons = "; ".join(r for r in (row.get("reason_1"), row.get("reason_2"), row.get("reason_3")) if r)
        source = f" [{row['reason_source']}]" if row.get("reason_source") and reasons else ""
        table.add_row(*cells, (reasons or "-") + source)
    return table


def print_scores(console: Console, scores: pl.DataFrame, top: int, silent_only: bool) -> None:
    if scores.height == 0:
        console.print("No scores for that date.")
        return
    as_of = scores["as_of"][0]
    if silent_only:
        chosen = scores.filter(pl.col("silent_dissatisfied")).sort("silent_rank").head(top)
        title = f"Silent-dissatisfied customers as of {as_of} (top {chosen.height} of {scores['silent_dissatisfied'].sum():,})"
    else:
        chosen = scores.sort("risk_rank").head(top)
        title = f"Customers most at risk as of {as_of} (top {chosen.height} of {scores.height:,})"
    console.print(scores_table(chosen, title))
