"""configs/purchases.yaml: a shop's config validates and says what a non-contractual business needs."""

from pathlib import Path

import pytest
import yaml

from configs import DEMO_CONFIG, ConfigError, load_config, parse_config

PURCHASES = Path(__file__).parents[2] / "configs" / "purchases.yaml"


def purchases_raw() -> dict:
    return yaml.safe_load(PURCHASES.read_text())


def test_purchases_config_loads_as_a_shop():
    config = load_config(PURCHASES)
    assert config.name == "purchases"
    assert config.registered_model_name == "quietchurn-purchases"
    assert (config.churn.definition, config.churn.horizon_days, config.churn.grace_days) == ("inactivity", 90, 0)
    assert config.churn.active_within_days == 365
    assert config.churn.activity_event_types == ["purchase"]
    assert config.features.windows_days == [30, 90, 180, 365]
    assert (config.training.step_days, config.training.snapshots) == (90, 4)
    assert config.scoring.value_column is None
    assert config.survey.scale == "nps"


def test_purchases_config_mirrors_the_demo_structure():
    demo = yaml.safe_load(DEMO_CONFIG.read_text())
    raw = purchases_raw()
    assert list(raw) == list(demo)
    missing = {key: set(demo[key]) - set(raw[key]) for key in demo if isinstance(demo[key], dict)}
    assert not any(missing.values()), missing
    assert set(raw["churn"]) - set(demo["churn"]) == {"active_within_days", "activity_event_types"}


def test_purchases_paths_live_under_their_own_workspace(tmp_path):
    config = parse_config(purchases_raw(), base=tmp_path)
    assert config.workspace == tmp_path / ".quietchurn" / "purchases"
    assert config.source.path == tmp_path / ".quietchurn" / "purchases" / "data"
    assert config.sink.path == tmp_path / ".quietchurn" / "purchases" / "scores.duckdb"
    assert config.tracking_uri == f"sqlite:///{tmp_path}/.quietchurn/purchases/mlflow.db"


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        (("training", "step_days"), 30, "training.step_days (30) must be >= churn.horizon_days"),
        (("churn", "active_within_days"), 400, "churn.active_within_days"),
        (("features", "windows_days"), [30, 1000], "features.windows_days"),
    ],
)
def test_a_broken_purchases_config_names_the_key(key, value, expected):
    raw = purchases_raw()
    raw[key[0]][key[1]] = value
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        parse_config(raw, origin="purchases.yaml")
