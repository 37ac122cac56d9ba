"""Where the runner shim's file is: ``shim.sh`` next to this module (POSIX sh, shipped as package data).

Kept apart from ``shim`` (which reads the exit record's models) so that the Pod's init container, which only
copies the file, imports nothing but the standard library.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

SHIM_RESOURCE = "shim.sh"


def shim_path() -> Path:
    """The installed ``shim.sh`` as a real file (to run it, or to copy it into an image or a ConfigMap)."""
    resource = files("diagnostic_operator.runtime").joinpath(SHIM_RESOURCE)
    path = resource if isinstance(resource, Path) else Path(str(resource))
    if not path.is_file():
        raise FileNotFoundError(f"the runner shim is not installed as a file: {resource}")
    return path
