"""Survey invitations, who answers, and what they answer.

The response probability falls with dissatisfaction and with recent invitations (fatigue), so
respondents are happier than the population: the non-response bias the pipeline must correct.
Answers reflect satisfaction through a customer's rating style plus the noise of the day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.tables import HOUR_US
from simulator.world import SurveyParams


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def would_score(rng: np.random.Generator, sv: SurveyParams, satisfaction: np.ndarray, rating_style: np.ndarray) -> np.ndarray:
    """NPS 0-10 answer the customer would give if asked now."""
    raw = sv.score_mean + sv.score_satisfaction_slope * satisfaction + rating_style + sv.score_noise_sd * rng.standard_normal(len(satisfaction))
    return np.clip(np.round(raw), 0, 10).astype(np.int8)


@dataclass(frozen=True)
class SurveyBatch:
    responded: np.ndarray  # answered strictly before today
    responded_us: np.ndarray
    score: np.ndarray  # int8 would-be answer for everyone; the written score is null where not responded
    response_probability: np.ndarray


def answer_invitations(
    rng: np.random.Generator,
    sv: SurveyParams,
    sent_us: np.ndarray,
    today_us: int,
    satisfaction: np.ndarray,
    recent_invitations: np.ndarray,
    rating_style: np.ndarray,
    in_app: np.ndarray,
    logit_shift: np.ndarray | float = 0.0,
) -> SurveyBatch:
    """Decide, for invitations aligned with `sent_us`, who answers, when, and with what score.

    `logit_shift` moves the response log-odds of some invitees (customers who have quietly left).
    """
    n = len(sent_us)
    logit = (
        sv.response_logit
        + sv.response_satisfaction_effect * satisfaction
        - sv.response_fatigue_effect * recent_invitations
        + sv.in_app_response_shift * in_app
        + logit_shift
    )
    p = _sigmoid(logit)
    answers = rng.random(n) < p
    delay_hours = np.minimum(np.exp(np.log(sv.response_median_hours) + 1.3 * rng.standard_normal(n)), sv.response_days_max * 24.0)
    responded_us = sent_us + np.maximum((delay_hours * HOUR_US).astype(np.int64), 60_000_000)  # at least a minute
    score = would_score(rng, sv, satisfaction, rating_style)
    return SurveyBatch(
        responded=answers & (responded_us < today_us),
        responded_us=responded_us,
        score=score,
        response_probability=p.astype(np.float32),
    )
