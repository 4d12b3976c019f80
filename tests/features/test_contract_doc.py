"""docs/input-contract.md cannot drift from features/contract.py: every table and column is there,
in a table of its own section, with its type and whether it is required."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from features.contract import TABLES
from features.validation import _kind

DOC = Path(__file__).parents[2] / "docs" / "input-contract.md"


def column_rows(markdown: str, table: str) -> dict[str, tuple[str, str]]:
    """column -> (type, required) from the rows of the table under `### `<table>``."""
    match = re.search(rf"^### `{table}`.*?$(.*?)(?=^#{{1,3}} |\Z)", markdown, re.MULTILINE | re.DOTALL)
    assert match, f"no '### `{table}`' section"
    rows = re.findall(r"^\|\s*`([^`]+)`\s*\|\s*([^|]+?)\s*\|\s*(yes|no)\s*\|", match.group(1), re.MULTILINE)
    return {name: (kind, required) for name, kind, required in rows}


def test_the_reader_finds_rows_only_in_its_own_section():
    markdown = "### `a`\n| `x` | text | yes | |\n### `b`\n| `y` | number | no | |\n"
    assert column_rows(markdown, "a") == {"x": ("text", "yes")}
    with pytest.raises(AssertionError, match="no '### `c`' section"):
        column_rows(markdown, "c")


@pytest.mark.parametrize("table", list(TABLES))
def test_every_contract_column_is_documented_with_its_type_and_whether_required(table):
    documented = column_rows(DOC.read_text(), table)
    expected = {c.name: (_kind(c.dtype), "yes" if c.required else "no") for c in TABLES[table].columns}
    assert documented == expected


def test_the_doc_names_every_table_as_required_or_optional():
    text = DOC.read_text()
    required = [name for name, spec in TABLES.items() if spec.required]
    assert f"`{required[0]}` and `{required[1]}` are **required**" in text and len(required) == 2
