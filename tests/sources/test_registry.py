"""Every source.kind the config accepts has a Source class in the registry, and nothing else does."""

from __future__ import annotations

import typing

import pytest

import sources
from configs.schema import SourceConfig
from sources.base import Source


@pytest.mark.parametrize("kind", typing.get_args(SourceConfig.model_fields["kind"].annotation))
def test_each_configurable_kind_opens_its_own_source_class(kind, tmp_path):
    config = SourceConfig(kind=kind, path=None if kind == "postgres" else tmp_path, dsn_env="QC_UNUSED" if kind == "postgres" else None)
    source = sources.open_source(config)
    assert isinstance(source, Source) and type(source).__name__ == sources.SOURCES[kind][1] and source.config is config


def test_the_registry_holds_exactly_the_configurable_kinds():
    assert set(sources.SOURCES) == set(typing.get_args(SourceConfig.model_fields["kind"].annotation))


def test_an_unknown_kind_names_the_key_and_the_known_kinds(tmp_path):
    config = SourceConfig(kind="files", path=tmp_path).model_copy(update={"kind": "ftp"})  # past validation, as a bug would
    with pytest.raises(ValueError, match=r"source.kind: unknown source 'ftp' \(expected files, duckdb, postgres\)"):
        sources.open_source(config)
