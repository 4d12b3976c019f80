"""Alerts (docs/monitoring.md#alerts): a breach — stale data, drift fail, realised performance below its
threshold, no champion — sends one short message to the URL held by the environment variable that
`monitoring.alert_url_env` names, and then the run fails, so Prefect automations can act on it too.

The URL is a secret: it is read from the environment when sending and never logged. A delivery that
fails is logged and never hides the breach: the run fails all the same.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from datetime import date

from configs import Config
from flows.tasks import PipelineError, uncached_task

ALERT_KEY = "monitoring.alert_url_env"
# plain webhooks get Apprise's JSON POST: {"version", "title", "message", "type", ...}
WEBHOOK_SCHEMES = {"http://": "json://", "https://": "jsons://"}


class AlertConfigError(PipelineError):
    """`monitoring.alert_url_env` names an environment variable that is not set (or not a URL Apprise knows)."""


@dataclass(frozen=True)
class Breach:
    """One reason to alert: ``kind`` (data_stale, drift_fail, realised_performance, no_champion), the
    table / feature / model it is about, one sentence on what happened, and where to look."""

    kind: str
    as_of: date | None
    subject: str
    detail: str
    where: str

    def as_json(self) -> dict:
        """The breach as score_runs.drift_summary records it."""
        return {**asdict(self), "as_of": None if self.as_of is None else self.as_of.isoformat()}

    @classmethod
    def from_json(cls, row: dict) -> Breach:
        return cls(**{**row, "as_of": date.fromisoformat(row["as_of"]) if row.get("as_of") else None})


def webhook_url(url: str) -> str:
    """The Apprise URL for ``url``: a plain http(s) webhook becomes json(s)://, any other scheme is Apprise's own."""
    for plain, apprise_scheme in WEBHOOK_SCHEMES.items():
        if url.lower().startswith(plain):
            return apprise_scheme + url[len(plain):]
    return url


def alert_url(config: Config) -> str | None:
    """The configured alert URL (None: alerts are off); a named variable that is unset is an error that names the key."""
    env = config.monitoring.alert_url_env
    if not env:
        return None
    url = os.environ.get(env, "").strip()
    if not url:
        raise AlertConfigError(
            f"environment variable {env} (named by {ALERT_KEY}) is not set: export it with the alert URL (an Apprise URL, or an "
            f"http(s) webhook), or set {ALERT_KEY}: null to run without alerts"
        )
    return url


def require_alert_url(config: Config) -> None:
    """Refuse a run before any work when alerts are configured but cannot be sent (unset variable, unknown URL)."""
    url = alert_url(config)
    if url is not None and _apprise_for(url) is None:
        raise AlertConfigError(
            f"the URL in environment variable {config.monitoring.alert_url_env} (named by {ALERT_KEY}) is not one Apprise can send to: "
            "use an http(s) webhook or an Apprise URL (https://github.com/caronc/apprise/wiki)"
        )


@uncached_task(name="check-alert-url")
def check_alert_url(config: Config) -> None:
    """The run's first check: alerts configured but not sendable fail it before any work."""
    require_alert_url(config)


def _apprise_for(url: str):
    import apprise

    logging.getLogger("apprise").setLevel(logging.CRITICAL)  # its messages may carry the URL (a secret); ours say what happened
    sender = apprise.Apprise()
    return sender if sender.add(webhook_url(url)) else None


def alert_text(config_name: str, breaches: list[Breach]) -> tuple[str, str]:
    """(title, body): what broke, on which date, about which table / feature / model, and where to look."""
    dates = sorted({b.as_of for b in breaches if b.as_of is not None})
    when = f" as of {dates[-1]}" if dates else ""
    kinds = ", ".join(dict.fromkeys(b.kind.replace("_", " ") for b in breaches))
    title = f"quietchurn {config_name}: {kinds}{when}"
    lines = [f"- {b.kind.replace('_', ' ')}: {b.subject}: {b.detail}" for b in breaches]
    lines += ["", "Where to look:", *[f"- {where}" for where in dict.fromkeys(b.where for b in breaches)]]
    return title, "\n".join(lines)


def send(config: Config, breaches: list[Breach], logger: logging.Logger | logging.LoggerAdapter) -> bool:
    """Send one alert for ``breaches``; True when delivered. Never raises for a delivery problem: the
    caller fails the run on the breach itself."""
    if not breaches:
        return False
    try:
        url = alert_url(config)
    except AlertConfigError as exc:  # checked at the run's start; unset since: the breach still fails the run
        logger.error("alert not sent: %s", exc)
        return False
    if url is None:
        logger.info("no alert sent (%s is null)", ALERT_KEY)
        return False
    title, body = alert_text(config.name, breaches)
    try:
        sender = _apprise_for(url)
        delivered = sender is not None and bool(sender.notify(title=title, body=body))
    except Exception as exc:  # noqa: BLE001 - a broken alert channel must not hide the breach
        logger.error("alert delivery failed (%s): %s", type(exc).__name__, ALERT_KEY)
        return False
    if delivered:
        logger.info("alert sent to the URL in $%s (%s): %s", config.monitoring.alert_url_env, ALERT_KEY, title)
    else:
        logger.error(
            "alert could NOT be delivered to the URL in $%s (%s); the run fails on the breach all the same: %s",
            config.monitoring.alert_url_env, ALERT_KEY, title,
        )
    return delivered
