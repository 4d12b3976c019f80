"""Every sink.kind the config accepts has a Sink class in the registry (sinks/__init__.py), built from its config."""

from __future__ import annotations

import typing

import pytest

import sinks
from configs.schema import SinkConfig


def test_the_registry_holds_exactly_the_configurable_kinds():
    assert set(sinks.SINKS) == set(typing.get_args(SinkConfig.model_fields["kind"].annotation))


@pytest.mark.parametrize("kind", ["duckdb", "parquet"])
def test_a_file_sink_is_the_registered_class_at_the_configured_path(kind, tmp_path):
    sink = sinks.open_sink(SinkConfig(kind=kind, path=tmp_path / "out"), lock_timeout_s=1.5)
    assert type(sink).__name__ == sinks.SINKS[kind][1] and sink.path == tmp_path / "out"
    assert getattr(sink, "lock_timeout_s", 1.5) == 1.5


def test_an_unknown_kind_names_the_key_and_the_known_kinds(tmp_path):
    config = SinkConfig(kind="duckdb", path=tmp_path / "x").model_copy(update={"kind": "csv"})
    with pytest.raises(ValueError, match=r"sink.kind: unknown sink 'csv' \(expected duckdb, parquet, postgres\)"):
        sinks.open_sink(config)
