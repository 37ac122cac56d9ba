"""Hostile result folders: paths that escape, symlinks, devices, FIFOs, sockets, huge and very many files.

Each case is read the way the publisher reads it (``load_results``). An unsafe name is a ``BundleError`` that
names the file, the JSON pointer of the entry and the offending value; nothing outside the output folder is
opened. (The same cases through publish + ingest, with the database and the store checked: tests/integration/
hostile/test_publish_hostile.py.)
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from diagnostic_operator.results import BundleError, ParseOptions
from diagnostic_operator.spec import VocabularyMode

from .bundles import NO_CV, entry, load, write_bundle

GiB = 1024**3


@pytest.fixture
def out(tmp_path: Path) -> Path:
    (tmp_path / "secret.txt").write_text("outside the output folder")
    out = tmp_path / "out"
    (out / "plots").mkdir(parents=True)
    (out / "plots" / "a.png").write_bytes(b"png")
    return out


def rejected(out: Path, filename: str, problem: str, options: ParseOptions = NO_CV) -> BundleError:
    write_bundle(out, {"p": entry(filename)})
    with pytest.raises(BundleError) as info:
        load(out, options)
    error = info.value
    assert error.file == "output.json"
    assert error.where == "/plots/p/filename"
    assert problem in error.problem, error.problem
    assert "plots entry 'p'" in str(error) or "NUL" in problem
    return error


@pytest.mark.parametrize(
    ("filename", "problem"),
    [
        ("../secret.txt", "escapes the output folder"),
        ("plots/../../secret.txt", "escapes the output folder"),
        ("plots/../plots/a.png", "'..' component"),  # stays inside once cleaned: still refused
        ("./plots/./../plots/a.png", "'..' component"),
        ("/etc/passwd", "absolute path outside"),
        ("/dev/zero", "absolute path outside"),
        ("plots\\a.png", "backslash"),
        ("C:/plots/a.png", "drive prefix"),
        ("", "empty path"),
        (".", "output folder itself"),
        ("plots", "a directory"),
        ("plots/a.png\x00.txt", "NUL character"),  # refused when the JSON is read
        ("plots/a\x1fb.png", "control character"),  # legal on POSIX, not in an object key
        ("plots/a\nb.png", "control character"),
    ],
)
def test_unsafe_names_are_refused_with_the_value(out: Path, filename: str, problem: str) -> None:
    error = rejected(out, filename, problem)
    if filename and "\x00" not in filename:
        assert repr(filename)[:40].rstrip("'") in str(error)  # the value itself is named


def test_absolute_paths(out: Path, tmp_path: Path) -> None:
    rejected(out, str(tmp_path / "secret.txt"), "absolute path outside")
    rejected(out, f"{out}/../secret.txt", "absolute path outside")
    rejected(out, f"{out}/plots/../plots/a.png", "'..' component")
    write_bundle(out, {"p": entry(str(out / "plots" / "a.png"))})
    assert [o.filename for o in load(out).outputs] == ["plots/a.png"]  # inside: made relative


def test_symlinks_out_of_the_folder_are_refused(out: Path, tmp_path: Path) -> None:
    (out / "link-file").symlink_to(tmp_path / "secret.txt")
    rejected(out, "link-file", "through a symlink")
    (out / "link-dir").symlink_to(tmp_path)
    rejected(out, "link-dir/secret.txt", "through a symlink")
    (out / "link-abs-root").symlink_to("/")
    rejected(out, "link-abs-root/etc/passwd", "through a symlink")
    (out / "dangling").symlink_to(tmp_path / "nothing-here")
    rejected(out, "dangling", "through a symlink")
    (out / "loop").symlink_to(out / "loop")
    with pytest.raises(BundleError, match="loop"):
        write_bundle(out, {"p": entry("loop")})
        load(out)


def test_symlinks_inside_the_folder_are_followed(out: Path) -> None:
    (out / "plots" / "alias.png").symlink_to("a.png")
    (out / "plots-alias").symlink_to("plots")
    write_bundle(out, {"p": entry("plots/alias.png"), "q": entry("plots-alias/a.png")})
    assert [o.filename for o in load(out).outputs] == ["plots/alias.png", "plots-alias/a.png"]


def test_the_result_files_themselves_cannot_be_symlinks_out(out: Path, tmp_path: Path) -> None:
    (tmp_path / "evil.json").write_text('{"DIMENSIONS": {"json_structure": []}, "RESULTS": {}}')
    (out / "diagnostic.json").symlink_to(tmp_path / "evil.json")
    write_bundle(out)
    with pytest.raises(BundleError) as info:
        load(out)
    assert info.value.file == "diagnostic.json" and "through a symlink" in str(info.value)


def test_fifo_is_refused_without_blocking(out: Path) -> None:
    os.mkfifo(out / "plots" / "fifo.png")
    rejected(out, "plots/fifo.png", "a FIFO")
    (out / "series.json").unlink()
    os.mkfifo(out / "series.json")  # a FIFO as a result file: opened non-blocking, refused, never read
    write_bundle(out)
    started = time.monotonic()
    with pytest.raises(BundleError, match="FIFO"):
        load(out)
    assert time.monotonic() - started < 5


def test_socket_is_refused(out: Path) -> None:
    path = out / "plots" / "s.png"
    with contextlib.closing(socket.socket(socket.AF_UNIX)) as sock:
        try:
            sock.bind(str(path))
        except OSError as exc:  # e.g. a path too long for sun_path
            pytest.skip(f"cannot bind a UNIX socket here: {exc}")
        rejected(out, "plots/s.png", "a socket")


def test_device_files_are_refused(out: Path) -> None:
    try:
        os.mknod(out / "plots" / "zero.png", stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero
    except PermissionError:
        pytest.skip("mknod needs root (CAP_MKNOD)")
    rejected(out, "plots/zero.png", "a device")
    (out / "plots" / "null.png").symlink_to("/dev/null")  # and a link to one, which is also outside
    rejected(out, "plots/null.png", "through a symlink")


@contextlib.contextmanager
def sparse(path: Path, size: int) -> Iterator[Path]:
    """A file of apparent size ``size`` that takes no disk space."""
    with path.open("wb") as fh:
        fh.truncate(size)
    try:
        if path.stat().st_blocks * 512 > 1024 * 1024:
            pytest.skip("the file system does not keep sparse files sparse")
        yield path
    finally:
        path.unlink()


def test_a_huge_output_file_is_refused_without_reading_it(out: Path) -> None:
    with sparse(out / "plots" / "huge.nc", 65 * GiB):
        started = time.monotonic()
        error = rejected(out, "plots/huge.nc", "more than the limit of")
        assert str(65 * GiB) in error.problem and str(64 * GiB) in error.problem
        assert time.monotonic() - started < 5  # stat only, never read


def test_outputs_adding_up_beyond_the_total_limit_are_refused(out: Path) -> None:
    options = ParseOptions(vocabulary_mode=VocabularyMode.OFF, max_output_file_bytes=GiB,
                           max_output_total_bytes=2 * GiB)
    with sparse(out / "plots" / "a.nc", GiB), sparse(out / "plots" / "b.nc", GiB), \
            sparse(out / "plots" / "c.nc", GiB):
        write_bundle(out, {"a": entry("plots/a.nc"), "b": entry("plots/b.nc"), "a-again": entry("plots/a.nc")})
        assert len(load(out, options).outputs) == 3  # 2 GiB: at the limit (the same file counts once)
        write_bundle(out, {"a": entry("plots/a.nc"), "b": entry("plots/b.nc"), "c": entry("plots/c.nc")})
        with pytest.raises(BundleError, match="add up to more than the limit") as info:
            load(out, options)
        assert info.value.where == "/plots/c/filename"


def test_huge_result_files_are_refused_before_reading(out: Path) -> None:
    write_bundle(out)
    (out / "diagnostic.json").unlink()
    with sparse(out / "diagnostic.json", 65 * 1024**2):
        with pytest.raises(BundleError, match="larger than the limit") as info:
            load(out)
        assert info.value.file == "diagnostic.json"


def test_very_many_files_are_accepted_quickly(out: Path) -> None:
    many = out / "many"
    many.mkdir()
    plots = {}
    for i in range(5000):
        (many / f"{i}.png").write_bytes(b"x")
        plots[f"plot {i}"] = entry(f"many/{i}.png")
    write_bundle(out, plots)
    started = time.monotonic()
    assert len(load(out).outputs) == 5000
    assert time.monotonic() - started < 30  # ~0.3 s here; generous for a loaded CI box


def test_more_entries_than_the_limit_are_refused(out: Path) -> None:
    plots = {f"p{i}": entry("plots/a.png") for i in range(11)}
    write_bundle(out, plots)
    with pytest.raises(BundleError, match="more than the limit of 10 output entries"):
        load(out, ParseOptions(vocabulary_mode=VocabularyMode.OFF, max_outputs=10))


def test_long_names_at_and_beyond_the_limits(out: Path) -> None:
    long_dir = out / ("d" * 255)
    long_dir.mkdir()
    (long_dir / ("f" * 250)).write_bytes(b"x")
    at_limit = f"{'d' * 255}/{'f' * 250}"  # 506 bytes: a real file with 255-byte components
    write_bundle(out, {"s" * 512: entry(at_limit)})
    rows = load(out).outputs
    assert rows[0].filename == at_limit and rows[0].short_name == "s" * 512

    write_bundle(out, {"s" * 513: entry(at_limit)})
    with pytest.raises(BundleError, match="short name is 513 characters long, more than the limit of 512"):
        load(out)
    too_long = "é" * 257  # 514 bytes in UTF-8
    error = rejected(out, too_long, "longer than the limit of 512 bytes")
    assert len(str(error)) < 600  # the value is shown clipped, not in full
    rejected(out, "x/" * 300 + "y", "longer than the limit of 512 bytes")


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ('{"DIMENSIONS": {"json_structure": ["m"], "m": {"a\\u0000b": {}}}, "RESULTS": {"a\\u0000b": 1}}',
         "/RESULTS"),
        ('{"DIMENSIONS": {"json_structure": ["m"], "m": {"a": {}}}, "RESULTS": {"a": 1}, "NOTES": {"n": "\\u0000"}}',
         "/NOTES/n"),
    ],
)
def test_nul_in_a_result_file_is_refused_with_its_location(out: Path, doc: str, where: str) -> None:
    write_bundle(out, metric=doc)
    with pytest.raises(BundleError) as info:
        load(out)
    assert (info.value.file, info.value.where) == ("diagnostic.json", where)
    assert "NUL" in info.value.problem and "\\x00" in info.value.problem
