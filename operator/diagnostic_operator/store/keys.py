"""Object keys: validation, safe joining and the deterministic per-execution layout.

Keys are ``/``-separated paths relative to a store's base URL. A valid key is non-empty, is not absolute,
has no empty segments (``a//b``, a trailing ``/``), no ``.`` or ``..`` segments, no backslash and no NUL
or other control character. Validation is the same for every store, so a key that works locally also
works on S3 and cannot escape a local root.
"""

from __future__ import annotations

from .base import StoreError

EXECUTIONS_ROOT = "executions"
LOG_NAME = "out.log"
EXIT_RECORD_NAME = "exit.json"
OUTPUTS_DIR = "outputs"
PARTIAL_DIR = "partial"
UID_CHARS = 8


def _bad_char(text: str) -> str | None:
    for ch in text:
        if ch == "\x00":
            return "NUL"
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            return f"control character {ch!r}"
        if ch == "\\":
            return "backslash"
    return None


def validate_key(key: str) -> str:
    """Return ``key`` unchanged if it is a valid relative key, else raise StoreError naming it."""
    if not isinstance(key, str) or key == "":
        raise StoreError(f"invalid object key {key!r}: empty")
    bad = _bad_char(key)
    if bad is not None:
        raise StoreError(f"invalid object key {key!r}: contains a {bad}")
    if key.startswith("/"):
        raise StoreError(f"invalid object key {key!r}: absolute (starts with '/')")
    for segment in key.split("/"):
        if segment == "":
            raise StoreError(f"invalid object key {key!r}: empty path segment")
        if segment in (".", ".."):
            raise StoreError(f"invalid object key {key!r}: '{segment}' segment")
    return key


def validate_prefix(prefix: str) -> str:
    """A listing prefix: empty, or a key-like string that may end with ``/``."""
    if prefix == "":
        return prefix
    validate_key(prefix[:-1] if prefix.endswith("/") and len(prefix) > 1 else prefix)
    return prefix


def object_key(*parts: str) -> str:
    """Join key parts with ``/``. Each part may itself contain ``/``; leading and trailing slashes of a
    part are dropped (``object_key("a/", "/b")`` is ``"a/b"``), empty parts are skipped. The result is
    validated, so ``..``, empty segments inside a part, NUL and the like raise StoreError."""
    pieces = [p.strip("/") for p in parts]
    joined = "/".join(p for p in pieces if p)
    return validate_key(joined)


def _segment(kind: str, value: str) -> str:
    if value == "" or "/" in value:
        raise StoreError(f"invalid {kind} {value!r} for an object key: must be one non-empty segment")
    validate_key(value)
    return value


def execution_prefix(namespace: str, name: str, uid: str) -> str:
    """``executions/<namespace>/<name>-<uid[:8]>``: stable for one execution, distinct across a deleted and
    re-created execution of the same name (different uid)."""
    ns = _segment("namespace", namespace)
    nm = _segment("name", name)
    short = uid.replace("-", "")[:UID_CHARS]
    if short == "":
        raise StoreError(f"invalid uid {uid!r} for an object key: empty")
    return object_key(EXECUTIONS_ROOT, ns, _segment("name", f"{nm}-{short}"))


def attempt_prefix(namespace: str, name: str, uid: str, attempt: int) -> str:
    """``executions/<namespace>/<name>-<uid[:8]>/attempt-<n>`` (``n`` ≥ 1)."""
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise StoreError(f"invalid attempt number {attempt!r}: must be an integer ≥ 1")
    return object_key(execution_prefix(namespace, name, uid), f"attempt-{attempt}")


def log_key(prefix: str) -> str:
    """``<attempt prefix>/out.log``."""
    return object_key(prefix, LOG_NAME)


def exit_record_key(prefix: str) -> str:
    """``<attempt prefix>/exit.json``."""
    return object_key(prefix, EXIT_RECORD_NAME)


def _relative(relative: str, what: str) -> str:
    """``relative`` as a key part: a path inside a folder, ``/``-separated; a leading ``./`` is dropped; one
    that escapes the folder (absolute, ``..``) or cannot be a key raises StoreError."""
    rel = relative
    while rel.startswith("./"):
        rel = rel[2:]
    if rel.startswith("/"):
        raise StoreError(f"{what} path {relative!r} is absolute: it must be relative to the {what} folder")
    try:
        validate_key(rel)
    except StoreError as exc:
        raise StoreError(
            f"{what} path {relative!r} is not a plain path inside the {what} folder: {exc}"
        ) from None
    return rel


def output_key(prefix: str, relative: str) -> str:
    """``<attempt prefix>/outputs/<relative filename>``. ``relative`` is a path inside the output folder
    (``/``-separated, as the output bundle names it); one that escapes it (absolute, ``..``) raises
    StoreError. A leading ``./`` is accepted and dropped."""
    return object_key(prefix, OUTPUTS_DIR, _relative(relative, "output"))


def partial_key(prefix: str, relative: str) -> str:
    """``<attempt prefix>/partial/<relative path>``: a file a failed or timed-out attempt left in its results
    folder. Paths are checked like ``output_key``'s."""
    return object_key(prefix, PARTIAL_DIR, _relative(relative, "results"))
