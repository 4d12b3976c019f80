"""The monitor's keys: monitoring.drift {warn, fail} (PSI) and monitoring.min_realised_pr_auc_ratio."""

import pytest
import yaml

from configs import DEMO_CONFIG, ConfigError, parse_config


def with_monitoring(**monitoring) -> dict:
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    raw["monitoring"] = {**raw["monitoring"], **monitoring}
    return raw


def test_defaults_are_the_psi_rule_of_thumb_and_four_fifths():
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    raw.pop("monitoring")
    monitoring = parse_config(raw).monitoring
    assert (monitoring.drift.warn, monitoring.drift.fail, monitoring.min_realised_pr_auc_ratio) == (0.1, 0.25, 0.8)


@pytest.mark.parametrize(
    ("monitoring", "read"),
    [
        ({"drift": {"warn": 0.2, "fail": 0.5}}, (0.2, 0.5, 0.8)),
        ({"drift": {"warn": 0.3, "fail": 0.3}}, (0.3, 0.3, 0.8)),  # equal levels: every warn is a fail
        ({"drift": {"fail": 0.4}}, (0.1, 0.4, 0.8)),  # a missing level keeps its default
        ({"min_realised_pr_auc_ratio": 0}, (0.1, 0.25, 0.0)),  # 0 turns the realised check off
        ({"min_realised_pr_auc_ratio": 1}, (0.1, 0.25, 1.0)),
    ],
)
def test_good_values_are_read(monitoring, read):
    m = parse_config(with_monitoring(**monitoring)).monitoring
    assert (m.drift.warn, m.drift.fail, m.min_realised_pr_auc_ratio) == read


@pytest.mark.parametrize(
    ("monitoring", "expected"),
    [
        ({"drift": {"warn": 0.3, "fail": 0.2}}, "monitoring.drift: monitoring.drift.warn (0.3) must be <= monitoring.drift.fail (0.2)"),
        ({"drift": {"warn": 0, "fail": 0.25}}, "monitoring.drift.warn: Input should be greater than 0"),
        ({"drift": {"warn": 0.1, "fail": -1}}, "monitoring.drift.fail: Input should be greater than 0"),
        ({"drift": {"warn": "high", "fail": 0.25}}, "monitoring.drift.warn"),
        ({"drift": {"metric": "ks"}}, "monitoring.drift.metric: unknown key"),
        ({"drift": 0.25}, "monitoring.drift"),
        ({"min_realised_pr_auc_ratio": 1.5}, "monitoring.min_realised_pr_auc_ratio: Input should be less than or equal to 1"),
        ({"min_realised_pr_auc_ratio": -0.1}, "monitoring.min_realised_pr_auc_ratio"),
    ],
)
def test_bad_values_name_the_key(monitoring, expected):
    with pytest.raises(ConfigError) as error:
        parse_config(with_monitoring(**monitoring))
    assert expected in str(error.value)
