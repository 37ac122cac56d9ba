"""LocalStore: atomic, idempotent puts; key validation; listing; concurrency."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from diagnostic_operator.store import LocalStore, StoreError, open_store
from diagnostic_operator.store.local import PARTIAL_SUFFIX


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


@pytest.fixture
def src(tmp_path: Path) -> Path:
    d = tmp_path / "src"
    d.mkdir()
    return d


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(PARTIAL_SUFFIX)]


def test_url_and_uri(store: LocalStore, tmp_path: Path) -> None:
    root = (tmp_path / "store").resolve()
    assert store.url == root.as_uri()
    assert store.uri("a/b c.txt") == (root / "a" / "b c.txt").as_uri()


def test_check_creates_and_probes(store: LocalStore) -> None:
    store.check()
    assert store.root.is_dir()
    assert list(store.root.iterdir()) == []


def test_check_fails_on_a_file(tmp_path: Path) -> None:
    f = _write(tmp_path / "plain", b"x")
    with pytest.raises(StoreError, match="plain"):
        LocalStore(f).check()


def test_put_head_get_list(store: LocalStore, src: Path) -> None:
    p = _write(src / "m.json", b'{"a": 1}')
    obj = store.put_file("exec/attempt-1/outputs/m.json", p)
    assert obj.size == 8
    assert obj.uri == store.uri("exec/attempt-1/outputs/m.json")
    assert store.head("exec/attempt-1/outputs/m.json") == obj
    assert store.head("exec/missing") is None
    assert store.get_bytes("exec/attempt-1/outputs/m.json") == b'{"a": 1}'
    store.put_file("exec/attempt-1/out.log", _write(src / "log", b"log"))
    store.put_file("other.txt", _write(src / "o", b"o"))
    assert store.list_keys("exec/") == ["exec/attempt-1/out.log", "exec/attempt-1/outputs/m.json"]
    assert store.list_keys("exec/attempt-1/o") == ["exec/attempt-1/out.log", "exec/attempt-1/outputs/m.json"]
    assert store.list_keys("exec/attempt-1/outputs/") == ["exec/attempt-1/outputs/m.json"]
    assert store.list_keys("") == sorted(["exec/attempt-1/out.log", "exec/attempt-1/outputs/m.json", "other.txt"])
    assert store.list_keys("nothing/") == []
    with pytest.raises(StoreError, match="no object"):
        store.get_bytes("exec/missing")


def test_put_is_idempotent(store: LocalStore, src: Path) -> None:
    p = _write(src / "a.nc", os.urandom(3000))
    first = store.put_file("a.nc", p)
    target = store.root / "a.nc"
    os.utime(target, ns=(1_000_000_000, 1_000_000_000))
    inode = target.stat().st_ino
    again = store.put_file("a.nc", p)
    assert again == first
    assert target.stat().st_ino == inode  # not rewritten
    assert target.stat().st_mtime_ns == 1_000_000_000


def test_changed_content_replaces_atomically(store: LocalStore, src: Path) -> None:
    p = _write(src / "a", b"one")
    store.put_file("k", p)
    p.write_bytes(b"two")  # same size, different content
    obj = store.put_file("k", p)
    assert store.get_bytes("k") == b"two"
    assert store.head("k") == obj
    assert _leftovers(store.root) == []


def test_no_temp_file_left_when_copy_fails(store: LocalStore, src: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = _write(src / "a", b"x" * 10_000)
    store.put_file("k", _write(src / "old", b"old"))

    def boom(a: object, b: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(StoreError, match="No space left") as err:
        store.put_file("k", p)
    assert store.uri("k") in str(err.value)
    monkeypatch.undo()
    assert store.get_bytes("k") == b"old"  # the old object is intact
    assert _leftovers(store.root) == []


def test_partial_files_are_not_listed(store: LocalStore, src: Path) -> None:
    store.put_file("d/a", _write(src / "a", b"a"))
    (store.root / "d" / f".b.xyz{PARTIAL_SUFFIX}").write_bytes(b"half")
    assert store.list_keys("d/") == ["d/a"]


@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "a//b", "a/../../x", "", "a\x00b"])
def test_traversal_keys_rejected(store: LocalStore, src: Path, key: str) -> None:
    p = _write(src / "a", b"a")
    with pytest.raises(StoreError) as err:
        store.put_file(key, p)
    assert repr(key) in str(err.value)
    for op in (store.head, store.get_bytes, store.uri):
        with pytest.raises(StoreError):
            op(key)
    assert not (store.root.parent / "escape").exists()


def test_put_files_rejects_bad_key_before_writing(store: LocalStore, src: Path) -> None:
    p = _write(src / "a", b"a")
    with pytest.raises(StoreError, match=r"'\.\./x'"):
        store.put_files([("ok", p), ("../x", p)])
    assert not (store.root / "ok").exists()


def test_missing_source_is_a_store_error(store: LocalStore, src: Path) -> None:
    with pytest.raises(StoreError, match="nope"):
        store.put_file("k", src / "nope")


def test_put_files_concurrent_order_and_progress(store: LocalStore, src: Path) -> None:
    items = [(f"out/{i:03d}.bin", _write(src / f"{i}.bin", os.urandom(100 + i))) for i in range(120)]
    total = sum(p.stat().st_size for _, p in items)
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()

    def progress(done: int, tot: int) -> None:
        with lock:
            seen.append((done, tot))

    objs = store.put_files(items, concurrency=8, progress=progress)
    assert [o.key for o in objs] == [k for k, _ in items]
    assert [o.size for o in objs] == [p.stat().st_size for _, p in items]
    assert seen[-1] == (total, total)
    assert all(t == total for _, t in seen)
    assert len(store.list_keys("out/")) == 120
    # replay: nothing rewritten, same results
    mtimes = {k: (store.root / k).stat().st_mtime_ns for k, _ in items}
    assert store.put_files(items, concurrency=8) == objs
    assert {k: (store.root / k).stat().st_mtime_ns for k, _ in items} == mtimes
    assert _leftovers(store.root) == []


def test_concurrent_writers_same_key(store: LocalStore, src: Path) -> None:
    """Many threads writing the same key: the result is one of the contents, complete, no temp files."""
    payloads = [bytes([i]) * 200_000 for i in range(6)]
    paths = [_write(src / f"p{i}", data) for i, data in enumerate(payloads)]
    threads = [threading.Thread(target=store.put_file, args=("same", p)) for p in paths * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.get_bytes("same") in payloads
    assert _leftovers(store.root) == []


def test_open_store_file_url_with_spaces(tmp_path: Path, src: Path) -> None:
    root = tmp_path / "with space"
    s = open_store(root.as_uri())
    s.put_file("ü/a b.txt", _write(src / "a", b"a"))
    assert (root / "ü" / "a b.txt").read_bytes() == b"a"
    assert s.list_keys("ü/") == ["ü/a b.txt"]
