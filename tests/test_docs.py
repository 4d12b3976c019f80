"""docs/ cannot drift from the code: every output column and every config key is documented, the
reference's complete example is a valid config, and links between pages resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from configs import parse_config
from configs.schema import Config
from sinks.schema import LATEST_SCORES_VIEW, TABLES

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
ROW_KEY = re.compile(r"^\|\s*`([^`]+)`\s*\|", re.MULTILINE)  # the first cell of a table row, in backticks
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def section(markdown: str, heading: str) -> str:
    """The text under `## heading` up to the next heading of level 2 or higher."""
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^#{{1,2}} |\Z)", markdown, re.MULTILINE | re.DOTALL)
    assert match, f"no '## {heading}' section"
    return match.group(1)


def documented_keys(markdown: str) -> set[str]:
    """The names in the first column of the page's tables, e.g. `churn_probability` or `source.kind`."""
    return set(ROW_KEY.findall(markdown))


def key_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every key a config file may hold, as dotted paths through nested sections (aliases as written in YAML)."""
    paths = set()
    for name, field in model.model_fields.items():
        path = prefix + (field.alias or name)
        paths.add(path)
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            paths |= key_paths(field.annotation, path + ".")
    return paths


def yaml_paths(raw: dict, prefix: str = "", leaves: frozenset[str] = frozenset()) -> set[str]:
    """Dotted key paths of a YAML mapping; the paths in `leaves` are maps of user data, not sections."""
    paths = set()
    for key, value in raw.items():
        path = prefix + key
        paths.add(path)
        if isinstance(value, dict) and path not in leaves:
            paths |= yaml_paths(value, path + ".", leaves)
    return paths


# --- the checkers themselves: they find what is there and miss what is not -------------------------


def test_section_and_keys_read_only_their_own_table():
    page = "## one\n| `a` | x |\n| b | y |\n## two\n| `c` | z |\n"
    assert documented_keys(section(page, "one")) == {"a"}
    assert documented_keys(section(page, "two")) == {"c"}
    with pytest.raises(AssertionError, match="no '## three' section"):
        section(page, "three")


def test_key_paths_walk_nested_sections_by_alias():
    paths = key_paths(Config)
    assert {"source.schema", "sink.schema", "training.gate.metric", "monitoring.max_reject_share"} <= paths
    assert "source.schema_" not in paths  # the Python name is not what a user writes
    assert "training.gate.metric.x" not in paths


# --- output tables -----------------------------------------------------------------------------------


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_column_of_every_output_table_is_documented(table):
    page = (DOCS / "output-tables.md").read_text()
    documented = documented_keys(section(page, table))
    missing = [name for name in TABLES[table].names if name not in documented]
    assert not missing, f"docs/output-tables.md, section '{table}', lacks column(s) {missing}"


@pytest.mark.parametrize("table", sorted(TABLES))
def test_no_documented_column_that_the_table_does_not_have(table):
    page = (DOCS / "output-tables.md").read_text()
    stale = sorted(documented_keys(section(page, table)) - set(TABLES[table].names))
    assert not stale, f"docs/output-tables.md, section '{table}', documents column(s) {stale} that sinks/schema.py lacks"


def test_the_latest_scores_view_has_its_section():
    assert "churn_scores" in section((DOCS / "output-tables.md").read_text(), LATEST_SCORES_VIEW)


# --- configuration -----------------------------------------------------------------------------------


def documented_config_keys() -> set[str]:
    """Key paths in the reference's tables (environment variables, in capitals, are not keys)."""
    return {key for key in documented_keys((DOCS / "configuration.md").read_text()) if re.fullmatch(r"[a-z][a-z0-9_.]*", key)}


def test_every_config_key_is_documented():
    missing = sorted(key_paths(Config) - documented_config_keys())
    assert not missing, f"docs/configuration.md lacks key(s) {missing}"


def test_no_documented_config_key_that_the_schema_rejects():
    stale = sorted(documented_config_keys() - key_paths(Config))
    assert not stale, f"docs/configuration.md documents key(s) {stale} that configs/schema.py does not accept"


def _complete_example() -> dict:
    blocks = re.findall(r"```yaml\n(.*?)```", section((DOCS / "configuration.md").read_text(), "A complete example"), re.DOTALL)
    assert len(blocks) == 1
    return yaml.safe_load(blocks[0])


def test_the_complete_example_is_a_valid_config(tmp_path):
    config = parse_config(_complete_example(), origin="docs/configuration.md", base=tmp_path)
    assert config.source.kind == "postgres"
    assert config.survey.dissatisfied_cut == 2.0


def test_the_complete_example_sets_every_key():
    user_maps = frozenset({"source.tables", "source.columns", "source.pii", "source.exclude", "training.lightgbm"})
    written = yaml_paths(_complete_example(), leaves=user_maps)
    assert key_paths(Config) - written == set()


# --- links and references ----------------------------------------------------------------------------

PAGES = sorted([ROOT / "README.md", *DOCS.glob("*.md")])


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    targets = [t for t in LINK.findall(page.read_text()) if "://" not in t]
    broken = [t for t in targets if not (page.parent / t).exists()]
    assert not broken, f"{page.relative_to(ROOT)} links to missing {broken}"


MARKDOWN_FILE = re.compile(r"[\w./-]*\w\.md\b")


def _in_repository(path: Path) -> bool:
    return path.exists() and path.resolve().is_relative_to(ROOT.resolve())


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_user_pages_point_into_the_repository_only(page):
    """A user can open only what the repository holds: every Markdown file a page names, linked or
    not, is a file of the repository (beside the page, at its root or in docs/)."""
    named = set(MARKDOWN_FILE.findall(page.read_text()))
    outside = sorted(m for m in named if not any(_in_repository(folder / m) for folder in (page.parent, ROOT, DOCS)))
    assert not outside, f"{page.relative_to(ROOT)} names files the repository does not hold: {outside}"


def test_the_docs_index_lists_every_page():
    index = (DOCS / "README.md").read_text()
    pages = {p.name for p in DOCS.glob("*.md")} - {"README.md"}
    assert pages, "docs/ holds no pages"
    assert sorted(p for p in pages if f"({p})" not in index) == []
