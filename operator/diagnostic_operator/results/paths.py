"""Path safety for files named by result bundles (section 3.5 of the result-formats spec).

Every name is checked lexically *before* any filesystem access, then resolved (symlinks followed)
and checked again against the resolved root, and must name a regular file. ``open_inside`` opens
the resolved path one component at a time with ``O_NOFOLLOW`` so a symlink swapped in after the
check cannot redirect the open.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
from pathlib import Path
from typing import BinaryIO

_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x01-\x1f\x7f]")


class UnsafePathError(ValueError):
    """A path that is not a safe reference to a regular file inside the root."""


def clean_relative(root: str | os.PathLike[str] | None, name: str) -> str:
    """Lexical checks only: return ``name`` cleaned and made relative to ``root``.

    With ``root`` None every absolute path is rejected.

    Rejects empty names, NUL and other control characters, backslashes and drive prefixes; accepts an
    absolute path only when it lies inside ``root`` (as given, or with symlinks in ``root`` itself
    resolved); rejects anything that cleans to ``.``, ``..`` or ``../…``, and any ``..`` component even
    when the cleaned path stays inside (``a/../b``). Containment is decided with ``commonpath``, never
    with a string prefix.
    """
    if not isinstance(name, str) or name == "":
        raise UnsafePathError("empty path")
    if "\x00" in name:
        raise UnsafePathError("path contains a NUL character")
    if _CONTROL.search(name):
        # Legal in a POSIX file name, but not in an object key (store.keys.validate_key): refused here, as the
        # diagnostic's fault, instead of failing the upload as if the store were broken.
        raise UnsafePathError("path contains a control character")
    if "\\" in name:
        raise UnsafePathError("path contains a backslash")
    if _DRIVE.match(name):
        raise UnsafePathError("path has a drive prefix")
    if name.startswith("/"):
        cleaned = posixpath.normpath("/" + name.lstrip("/"))
        rel: str | None = None
        for base in _root_forms(root) if root is not None else []:
            if posixpath.commonpath([base, cleaned]) == base:
                rel = posixpath.relpath(cleaned, base)
                break
        if rel is None:
            raise UnsafePathError("absolute path outside the output folder")
    else:
        rel = posixpath.normpath(name)
    if rel == ".":
        raise UnsafePathError("path names the output folder itself")
    if rel == ".." or rel.startswith("../"):
        raise UnsafePathError("path escapes the output folder")
    if ".." in name.split("/"):
        # Even when it stays inside after cleaning: ``a/../b`` means something else to the kernel when
        # ``a`` is a symlink, and a bundle has no reason to write it.
        raise UnsafePathError("path has a '..' component")
    return rel


def _root_forms(root: str | os.PathLike[str]) -> list[str]:
    lexical = posixpath.normpath(os.path.abspath(os.fspath(root)))
    real = os.path.realpath(lexical)
    return [lexical] if real == lexical else [lexical, real]


def resolve_inside(root: str | os.PathLike[str], name: str) -> tuple[str, Path]:
    """Full check of one name: lexical rules, then symlinks resolved and containment checked against
    the resolved root, then a regular file is required.

    Returns ``(relative cleaned name, resolved absolute path)``. Raises ``UnsafePathError``;
    ``FileNotFoundError`` (a subclass of ``OSError``) when the file does not exist.
    """
    rel = clean_relative(root, name)
    real_root = os.path.realpath(os.fspath(root))
    target = os.path.realpath(os.path.join(real_root, rel))
    if posixpath.commonpath([real_root, target]) != real_root or target == real_root:
        raise UnsafePathError("path resolves (through a symlink) outside the output folder")
    try:
        st = os.stat(target)
    except FileNotFoundError:
        raise FileNotFoundError(f"{rel}: file does not exist") from None
    except OSError as exc:
        raise UnsafePathError(f"cannot stat: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePathError(f"not a regular file ({_file_kind(st.st_mode)})")
    return rel, Path(target)


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def open_inside(root: str | os.PathLike[str], name: str) -> BinaryIO:
    """Open ``name`` (relative to ``root``) for binary reading, safely.

    The name is checked with ``resolve_inside``; the resolved path is then opened component by
    component from the resolved root with ``O_NOFOLLOW`` (and ``O_NONBLOCK``, so a FIFO swapped in
    cannot block), and the opened descriptor must be a regular file. Raises ``UnsafePathError`` or
    ``FileNotFoundError``.
    """
    _, target = resolve_inside(root, name)
    real_root = os.path.realpath(os.fspath(root))
    parts = posixpath.relpath(os.fspath(target), real_root).split("/")
    dir_fd = os.open(real_root, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    try:
        for part in parts[:-1]:
            try:
                next_fd = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=dir_fd)
            except OSError as exc:
                raise UnsafePathError(f"path changed while opening: {exc.strerror}") from None
            os.close(dir_fd)
            dir_fd = next_fd
        try:
            fd = os.open(parts[-1], os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC, dir_fd=dir_fd)
        except FileNotFoundError:
            raise FileNotFoundError(f"{name}: file does not exist") from None
        except OSError as exc:
            raise UnsafePathError(f"path changed while opening: {exc.strerror}") from None
    finally:
        os.close(dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePathError(f"not a regular file ({_file_kind(st.st_mode)})")
        if _NONBLOCK:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
