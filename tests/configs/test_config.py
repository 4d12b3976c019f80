"""The typed config: defaults, key-path errors, secrets from the environment, path resolution."""

from pathlib import Path

import pytest
import yaml

from configs import DEMO_CONFIG, ConfigError, load_config, parse_config


def demo_raw() -> dict:
    return yaml.safe_load(DEMO_CONFIG.read_text())


def test_demo_config_loads_with_contract_names():
    config = load_config()
    assert config.name == "demo"
    assert config.source.kind == "files"
    assert config.sink.kind == "duckdb"
    assert config.registered_model_name == "quietchurn-demo"
    assert config.experiment_name == "quietchurn-demo"
    assert config.survey.dissatisfied_cut == 6.0


def test_example_postgres_config_loads():
    config = load_config(Path(__file__).parents[2] / "configs" / "example-postgres.yaml")
    assert config.source.kind == "postgres"
    assert config.source.dsn_env == "QUIETCHURN_SOURCE_DSN"
    assert config.scoring.capacity_for(10_000) == 200


def test_relative_paths_resolve_against_the_working_directory(tmp_path):
    config = parse_config(demo_raw(), base=tmp_path)
    assert config.workspace == tmp_path / ".quietchurn" / "demo"
    assert config.source.path == tmp_path / ".quietchurn" / "demo" / "data"
    assert config.tracking_uri == f"sqlite:///{tmp_path}/.quietchurn/demo/mlflow.db"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r["source"].__setitem__("kind", "xml"), "source.kind"),
        (lambda r: r["sink"].__setitem__("colour", "red"), "sink.colour: unknown key"),
        (lambda r: r.__setitem__("nmae", "typo"), "nmae: unknown key"),
        (lambda r: r["churn"].__setitem__("horizon_days", 0), "churn.horizon_days"),
        (lambda r: r["schedule"].__setitem__("timezone", "Mars/Olympus"), "schedule.timezone: unknown time zone"),
        (lambda r: r["schedule"].__setitem__("cron", "every night"), "schedule.cron"),
        (lambda r: r["scoring"].__setitem__("capacity", 12.5), "scoring.capacity"),
        (lambda r: r["survey"].__setitem__("dissatisfied_max_score", 11), "survey.dissatisfied_max_score"),
        (lambda r: r["training"].__setitem__("step_days", 20), "training.step_days (20) must be >= churn.horizon_days"),
        (lambda r: r["source"].pop("path"), "source.path is required"),
        (lambda r: r.pop("sink"), "sink: required key is missing"),
        (lambda r: r["source"].__setitem__("tables", {"tickts": "x"}), "source.tables.tickts"),
        (lambda r: r["monitoring"].__setitem__("max_staleness_hours", 0), "monitoring.max_staleness_hours"),
        (lambda r: r["monitoring"].__setitem__("max_staleness_hours", "two days"), "monitoring.max_staleness_hours"),
    ],
)
def test_bad_config_names_the_key_path(mutate, expected):
    raw = demo_raw()
    mutate(raw)
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    assert expected in str(err.value)


def test_valid_config_is_accepted_when_step_covers_horizon_and_grace():
    raw = demo_raw()
    raw["churn"]["grace_days"] = 7
    raw["training"]["step_days"] = 37
    assert parse_config(raw).training.step_days == 37


def test_secrets_come_from_the_environment_only(monkeypatch):
    raw = demo_raw()
    raw["source"] = {"kind": "postgres", "dsn_env": "QC_TEST_DSN"}
    config = parse_config(raw)
    monkeypatch.delenv("QC_TEST_DSN", raising=False)
    with pytest.raises(ValueError, match="QC_TEST_DSN"):
        config.source.dsn()
    monkeypatch.setenv("QC_TEST_DSN", "postgresql://u:secret@h/db")
    assert config.source.dsn() == "postgresql://u:secret@h/db"
    assert "secret" not in str(config.dry_dict())


def test_a_dsn_key_in_yaml_is_refused():
    raw = demo_raw()
    raw["source"]["dsn"] = "postgresql://u:pw@h/db"
    with pytest.raises(ConfigError, match="source.dsn: unknown key"):
        parse_config(raw)


def test_max_staleness_hours_defaults_to_48_and_is_read_from_yaml():
    raw = demo_raw()
    assert parse_config(raw).monitoring.max_staleness_hours == 48
    raw["monitoring"] = {"max_staleness_hours": 72}
    assert parse_config(raw).monitoring.max_staleness_hours == 72
    raw.pop("monitoring")
    assert parse_config(raw).monitoring.max_staleness_hours == 48


def test_capacity_share_and_count():
    raw = demo_raw()
    raw["scoring"]["capacity"] = 0.05
    assert parse_config(raw).scoring.capacity_for(20_000) == 1000
    raw["scoring"]["capacity"] = 500
    assert parse_config(raw).scoring.capacity_for(20_000) == 500


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
