"""Partial outputs of a failed attempt: which files, under which keys, in which batches, within which time
(pure, table-tested), the folder listing, and the upload + record step against a local store."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from diagnostic_operator.db.errors import DatabaseError
from diagnostic_operator.runtime import partial as pt
from diagnostic_operator.runtime.partial import FolderEntry, PartialFile, PartialLimits
from diagnostic_operator.runtime.retry import RetrySettings
from diagnostic_operator.store import LocalStore
from diagnostic_operator.store.base import StoredObject, StoreError

P = "executions/ns/run-0f1e2d3c/attempt-2"
BIG = PartialLimits(max_files=100, max_file_bytes=10**9, max_total_bytes=10**12, max_path_bytes=512)
NO_SLEEP = RetrySettings(attempts=2, sleep=lambda _: None)


def f(path: str, size: int = 1) -> FolderEntry:
    return FolderEntry(path, "file", size)


def key(path: str) -> str:
    return f"{P}/partial/{path}"


# ------------------------------------------------------------------------------------------ plan_partial

PLAN_CASES = [
    # (entries, limits, exclude, published paths, skipped by reason)
    pytest.param([f("a.nc", 5), f("plots/b.png", 7)], BIG, (), ["a.nc", "plots/b.png"], {}, id="files-keep-paths"),
    pytest.param([f("out.log"), f(".diagnostic-operator/exit.json"), f(".diagnostic-operator/heartbeat"),
                  f("x.nc")], BIG, ("out.log", ".diagnostic-operator"), ["x.nc"], {}, id="shim-files-not-twice"),
    pytest.param([f("out.log.1"), f(".diagnostic-operator-not/x")], BIG, ("out.log", ".diagnostic-operator"),
                 ["out.log.1", ".diagnostic-operator-not/x"], {}, id="exclusion-is-by-path-not-by-prefix"),
    pytest.param([f("run/out.log"), f("run/.diagnostic-operator/exit.json"), f("r.nc")], BIG,
                 ("run/out.log", "run/.diagnostic-operator"), ["r.nc"], {}, id="shim-files-in-a-subfolder"),
    pytest.param([FolderEntry("link.nc", "symlink"), FolderEntry("fifo", "special"),
                  FolderEntry("secret", "unreadable", 3), f("ok")], BIG, (), ["ok"],
                 {pt.SYMLINK: 1, pt.NOT_REGULAR: 1, pt.UNREADABLE: 1}, id="only-regular-readable-files"),
    pytest.param([f("a\\b"), f("tab\there"), f("bad\udcff.nc"), f("../up"), f("x" * 513), f("fine")], BIG, (),
                 ["fine"], {pt.BAD_NAME: 5}, id="names-that-cannot-be-keys"),
    pytest.param([f("./lead.nc")], BIG, (), ["./lead.nc"], {}, id="leading-dot-slash"),
    pytest.param([f("a"), f("b"), f("c")], PartialLimits(2, 10, 100, 512), (), ["a", "b"], {pt.TOO_MANY: 1},
                 id="file-count-cap"),
    pytest.param([f("small", 10), f("huge", 11)], PartialLimits(10, 10, 100, 512), (), ["small"],
                 {pt.TOO_LARGE: 1}, id="file-size-cap-is-inclusive"),
    pytest.param([f("a", 6), f("b", 6), f("c", 4)], PartialLimits(10, 10, 10, 512), (), ["a", "c"],
                 {pt.OVER_TOTAL: 1}, id="total-cap-a-smaller-file-still-fits"),
    pytest.param([f("empty", 0)], BIG, (), ["empty"], {}, id="empty-file"),
    pytest.param([], BIG, (), [], {}, id="empty-folder"),
]


@pytest.mark.parametrize(("entries", "limits", "exclude", "published", "skipped"), PLAN_CASES)
def test_plan_partial(entries: list[FolderEntry], limits: PartialLimits, exclude: tuple[str, ...],
                      published: list[str], skipped: dict[str, int]) -> None:
    plan = pt.plan_partial(entries, P, limits, exclude)
    assert [(p.path, p.key) for p in plan.files] == [(p, key(p.removeprefix("./"))) for p in published]
    assert plan.skipped == skipped
    sizes = {e.path: e.size for e in entries}
    assert plan.total_bytes == sum(sizes[p] for p in published)


def test_a_key_over_s3s_limit_is_a_bad_name() -> None:
    long_prefix = "executions/" + "n" * 700  # + "/partial/" + 400: over 1,024 bytes
    plan = pt.plan_partial([f("d" * 400)], long_prefix, BIG)
    assert plan.files == () and plan.skipped == {pt.BAD_NAME: 1}


def test_plan_partial_reads_a_generator_once() -> None:
    entries = (f(f"f{i}") for i in range(5))
    assert len(pt.plan_partial(entries, P, BIG).files) == 5


@pytest.mark.parametrize(("results", "output", "excluded"), [
    ("/do/output", "/do/output", ("out.log", ".diagnostic-operator")),
    ("/do/results", "/do/output", ()),  # a separate results folder holds none of the shim's files
    ("/do", "/do/output", ("output/out.log", "output/.diagnostic-operator")),
    ("/do/output/results", "/do/output", ()),
    ("/do/output/.diagnostic-operator", "/do/output", ()),
])
def test_excluded_paths(results: str, output: str, excluded: tuple[str, ...]) -> None:
    assert pt.excluded_paths(results, output) == excluded


# ------------------------------------------------------------------------------------------ batches, budget

def pf(path: str, size: int) -> PartialFile:
    return PartialFile(path, key(path), size)


@pytest.mark.parametrize(("files", "max_files", "max_bytes", "expected"), [
    ([pf("b", 5), pf("a", 5), pf("c", 1)], 2, 100, [["c", "a"], ["b"]]),  # smallest first, then by path
    ([pf("a", 60), pf("b", 50), pf("c", 10)], 10, 100, [["c", "b"], ["a"]]),
    ([pf("huge", 500), pf("t", 1)], 10, 100, [["t"], ["huge"]]),  # a file over the batch bytes is alone
    ([], 10, 100, []),
])
def test_batches(files: list[PartialFile], max_files: int, max_bytes: int, expected: list[list[str]]) -> None:
    assert [[x.path for x in b] for b in pt.batches(files, max_files, max_bytes)] == expected


MiB = 1024 * 1024


@pytest.mark.parametrize(("batch", "done", "busy", "left", "fits"), [
    (10**12, 0, 0.0, math.inf, True),  # no budget: everything fits
    (0, 0, 0.0, 0.0, False),  # nothing left: not even an empty batch starts
    (1, 0, 0.0, -5.0, False),
    (160 * MiB, 0, 0.0, 10.0, True),  # nothing measured: the assumed 16 MiB/s
    (161 * MiB, 0, 0.0, 10.0, False),
    (100 * MiB, 4 * MiB, 100.0, 10.0, True),  # too little measured (latency): still the assumed rate
    (100 * MiB, 10 * MiB, 10.0, 60.0, False),  # measured 1 MiB/s: 100 s > 60 s
    (50 * MiB, 10 * MiB, 10.0, 60.0, True),
    (1000 * MiB, 1000 * MiB, 1.0, 2.0, True),  # a fast store
])
def test_fits_budget(batch: int, done: int, busy: float, left: float, fits: bool) -> None:
    assert pt.fits_budget(batch, done, busy, left) is fits


# ------------------------------------------------------------------------------------------ list_folder

def test_list_folder_never_follows_a_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    root = tmp_path / "results"
    (root / "plots").mkdir(parents=True)
    (root / "plots" / "a.png").write_bytes(b"png")
    (root / "b.nc").write_bytes(b"12345")
    (root / "link.txt").symlink_to(outside / "secret.txt")
    (root / "linked-dir").symlink_to(outside)
    (root / "dangling").symlink_to(tmp_path / "nothing")
    os.mkfifo(root / "pipe")
    entries = list(pt.list_folder(root))
    assert entries == [FolderEntry("b.nc", "file", 5), FolderEntry("dangling", "symlink"),
                       FolderEntry("link.txt", "symlink"), FolderEntry("linked-dir", "symlink"),
                       FolderEntry("pipe", "special"), FolderEntry("plots/a.png", "file", 3)]


def test_list_folder_of_a_missing_or_symlinked_root(tmp_path: Path) -> None:
    assert list(pt.list_folder(tmp_path / "none")) == []
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "x").write_text("x")
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    assert list(pt.list_folder(tmp_path / "alias")) == [FolderEntry(".", "symlink")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_list_folder_reports_unreadable_entries(tmp_path: Path) -> None:
    (tmp_path / "closed").mkdir()
    (tmp_path / "secret").write_text("s")
    (tmp_path / "secret").chmod(0)
    (tmp_path / "closed").chmod(0)
    try:
        assert list(pt.list_folder(tmp_path)) == [FolderEntry("closed", "unreadable"),
                                                  FolderEntry("secret", "unreadable", 1)]
    finally:
        (tmp_path / "closed").chmod(0o755)


# ------------------------------------------------------------------------------------------ publish_partial

class Recorder:
    def __init__(self, fail: int = 0) -> None:
        self.rows: dict[str, StoredObject] = {}
        self.fail = fail

    def __call__(self, pairs: Sequence[tuple[str, StoredObject]]) -> None:
        if self.fail:
            self.fail -= 1
            raise DatabaseError("database unreachable")
        for path, obj in pairs:
            self.rows.setdefault(path, obj)


def results_folder(root: Path) -> Path:
    out = root / "out"
    (out / "plots").mkdir(parents=True)
    (out / ".diagnostic-operator").mkdir()
    (out / "out.log").write_text("log\n")
    (out / ".diagnostic-operator" / "exit.json").write_text("{}")
    (out / "plots" / "a.png").write_bytes(b"png")
    (out / "diagnostic.json").write_text('{"half": ')
    (out / "data.nc").write_bytes(b"x" * 1000)
    (out / "link").symlink_to(root / "elsewhere")
    return out


EXCLUDE = ("out.log", ".diagnostic-operator")


def test_publish_partial_uploads_records_and_is_idempotent(tmp_path: Path) -> None:
    out = results_folder(tmp_path)
    store = LocalStore(tmp_path / "store")
    record = Recorder()
    outcome = pt.publish_partial(out, P, store, record, limits=BIG, exclude=EXCLUDE, retry=NO_SLEEP)
    assert (outcome.files, outcome.bytes, dict(outcome.skipped), outcome.error) == (3, 1012, {pt.SYMLINK: 1}, None)
    assert store.list_keys(f"{P}/") == [key("data.nc"), key("diagnostic.json"), key("plots/a.png")]
    assert sorted(record.rows) == ["data.nc", "diagnostic.json", "plots/a.png"]
    assert record.rows["plots/a.png"].uri == store.uri(key("plots/a.png"))
    stored = tmp_path / "store" / key("data.nc")
    before = stored.stat()
    again = pt.publish_partial(out, P, store, record, limits=BIG, exclude=EXCLUDE, retry=NO_SLEEP)
    assert (again.files, again.skipped_count) == (3, 1)
    after = stored.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), "identical: not rewritten"


def test_publish_partial_stops_when_the_budget_is_spent(tmp_path: Path) -> None:
    out = results_folder(tmp_path)
    store = LocalStore(tmp_path / "store")
    outcome = pt.publish_partial(out, P, store, Recorder(), limits=BIG, exclude=EXCLUDE, retry=NO_SLEEP,
                                 seconds_left=lambda: 0.0)
    assert outcome.files == 0 and outcome.skipped == {pt.SYMLINK: 1, pt.OUT_OF_TIME: 3}
    assert store.list_keys(f"{P}/") == []


def test_publish_partial_stops_an_upload_in_flight_when_time_runs_out(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))  # three 1 MiB chunks: progress in between
    clock = iter([10.0, 0.0])  # enough when the batch starts, none left at the first progress report
    outcome = pt.publish_partial(out, P, LocalStore(tmp_path / "store"), Recorder(), limits=BIG, retry=NO_SLEEP,
                                 seconds_left=lambda: next(clock, 0.0))
    assert outcome.files == 0 and outcome.skipped == {pt.OUT_OF_TIME: 1}
    assert not list((tmp_path / "store").rglob("*.bin")), "no half-written object"


def test_a_store_or_database_failure_is_reported_not_raised(tmp_path: Path) -> None:
    out = results_folder(tmp_path)
    outcome = pt.publish_partial(out, P, LocalStore(tmp_path / "store"), Recorder(fail=2), limits=BIG,
                                 exclude=EXCLUDE, retry=NO_SLEEP)
    assert outcome.files == 0 and outcome.skipped[pt.FAILED] == 3
    assert outcome.error == "database unreachable"
    assert "database unreachable" in outcome.describe()

    class Broken(LocalStore):
        def put_files(self, *args: object, **kwargs: object) -> list[StoredObject]:
            raise StoreError("store unreachable")

    outcome = pt.publish_partial(out, P, Broken(tmp_path / "s2"), Recorder(), limits=BIG, exclude=EXCLUDE,
                                 retry=NO_SLEEP)
    assert outcome.files == 0 and outcome.error == "store unreachable"
