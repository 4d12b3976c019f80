"""What to run: one YAML per deployment, validated into :class:`Config`.

``demo.yaml`` ships inside the package as the embedded default.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from configs.schema import Config

__all__ = ["Config", "ConfigError", "DEMO_CONFIG", "load_config", "parse_config"]

DEMO_CONFIG = Path(str(resources.files("configs") / "demo.yaml"))


class ConfigError(ValueError):
    """A config that cannot be used; the message names each offending key path."""


def _key_path(loc: tuple) -> str:
    parts = [str(p) for p in loc if not str(p).startswith("function-after")]
    return ".".join(parts) or "(top level)"


def _describe(error: dict) -> str:
    where = _key_path(error["loc"])
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown key"
    if error["type"] == "missing":
        return f"{where}: required key is missing"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "value_error" and isinstance(error.get("input"), dict):
        # a rule across several keys: its message names them
        return message if where == "(top level)" else f"{where}: {message}"
    got = error.get("input")
    return f"{where}: {message} (got {got!r})"


def _absolute_sqlite(uri: str | None, base: Path) -> str | None:
    prefix = "sqlite:///"
    if uri and uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + str((base / uri[len(prefix):]).resolve())
    return uri


def _resolve_paths(config: Config, base: Path) -> Config:
    """Relative paths resolve against the working directory at load time, once."""

    def absolute(path: Path | str | None) -> Path | str | None:
        return path if path is None or isinstance(path, str) else (base / path).resolve()  # a URL (text) stays as written

    return config.model_copy(
        update={
            "workspace": absolute(config.workspace),
            "source": config.source.model_copy(update={"path": absolute(config.source.path)}),
            "sink": config.sink.model_copy(update={"path": absolute(config.sink.path)}),
            "mlflow": config.mlflow.model_copy(update={"tracking_uri": _absolute_sqlite(config.mlflow.tracking_uri, base)}),
        }
    )


def parse_config(raw: object, origin: str = "<config>", base: Path | None = None) -> Config:
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: expected a mapping of keys at the top level, got {type(raw).__name__}")
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        lines = "\n".join(f"  - {_describe(err)}" for err in exc.errors())
        raise ConfigError(f"{origin}: invalid configuration\n{lines}") from None
    return _resolve_paths(config, base or Path.cwd())


def load_config(path: str | Path | None = None) -> Config:
    """Load and validate a YAML config (the embedded demo config when ``path`` is None)."""
    path = Path(path) if path is not None else DEMO_CONFIG
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_config(raw, origin=str(path))
