"""Contexts: named API endpoints with their token and default organization.

The file is YAML at `$STONEAGE_CONFIG`, else `config.yaml` in the user's config directory (platformdirs),
written with mode 0600 in a directory created with mode 0700, because it holds tokens.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs
import yaml

from stoneage.cli.errors import ConfigProblem, UsageProblem

CONFIG_ENV = "STONEAGE_CONFIG"


def config_path() -> Path:
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser()
    return platformdirs.user_config_path("stoneage") / "config.yaml"


def mask(token: str | None) -> str:
    """Enough of a token to tell it apart (`sat_<prefix>_…`), never its secret part."""
    if not token:
        return ""
    parts = token.split("_")
    if len(parts) >= 3 and parts[0] == "sat":
        return f"sat_{parts[1]}_…"
    return token[:4] + "…"


@dataclass
class Context:
    name: str
    url: str
    token: str = ""
    org: str = ""

    def as_row(self, current: bool) -> dict:
        return {
            "current": "*" if current else "",
            "name": self.name,
            "url": self.url,
            "org": self.org,
            "token": mask(self.token),
        }


@dataclass
class Config:
    path: Path
    current: str = ""
    contexts: dict[str, Context] = field(default_factory=dict)

    @classmethod
    def load(cls) -> Config:
        path = config_path()
        if not path.exists():
            return cls(path=path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigProblem(f"Cannot read the configuration file {path}: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigProblem(f"The configuration file {path} is not a mapping.")
        contexts = {}
        for name, values in (data.get("contexts") or {}).items():
            values = values if isinstance(values, dict) else {}
            contexts[str(name)] = Context(
                name=str(name),
                url=str(values.get("url") or ""),
                token=str(values.get("token") or ""),
                org=str(values.get("org") or ""),
            )
        return cls(path=path, current=str(data.get("current") or ""), contexts=contexts)

    def get(self, name: str) -> Context:
        try:
            return self.contexts[name]
        except KeyError:
            known = ", ".join(sorted(self.contexts)) or "none yet; add one with `stoneage context add`"
            raise UsageProblem(f"No context named {name!r} (known: {known}).") from None

    def save(self) -> None:
        """Write the file atomically, readable by its owner only."""
        directory = self.path.parent
        if not directory.exists():
            directory.mkdir(mode=0o700, parents=True)
            os.chmod(directory, 0o700)
        data = {
            "current": self.current,
            "contexts": {
                c.name: {k: v for k, v in (("url", c.url), ("token", c.token), ("org", c.org)) if v}
                for c in self.contexts.values()
            },
        }
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".config-", suffix=".tmp")  # created 0600
        try:
            with os.fdopen(fd, "w") as handle:
                yaml.safe_dump(data, handle, sort_keys=False)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
