"""Where the database and the object store are: flags, then environment, then the embedded defaults.

Embedded defaults (no server needed): a SQLite file and a local folder under
``$DIAGNOSTIC_OPERATOR_HOME`` (default ``$XDG_DATA_HOME/diagnostic-operator``, i.e.
``~/.local/share/diagnostic-operator``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DATABASE_ENV = "DIAGNOSTIC_OPERATOR_DATABASE_URL"
STORE_ENV = "DIAGNOSTIC_OPERATOR_STORE_URL"
HOME_ENV = "DIAGNOSTIC_OPERATOR_HOME"


def home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get(HOME_ENV):
        return Path(env[HOME_ENV]).expanduser().resolve()
    base = Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return (base / "diagnostic-operator").resolve()


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    store_url: str
    scratch_dir: Path

    @classmethod
    def resolve(cls, database: str | None = None, store: str | None = None,
                env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        root = home(env)
        database_url = database or env.get(DATABASE_ENV) or f"sqlite:///{root / 'diagnostic-operator.db'}"
        store_url = store or env.get(STORE_ENV) or (root / "store").as_uri()
        return cls(database_url, store_url, root / "scratch")


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***, for messages and logs."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, _, host = rest.rpartition("@")
    if ":" in creds:
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url
