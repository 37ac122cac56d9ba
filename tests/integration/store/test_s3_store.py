"""S3Store against moto's real HTTP server (a separate process), over the network on 127.0.0.1."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from diagnostic_operator.store import S3Store, StoreError, open_store
from tests.helpers import free_port
from tests.services.s3 import S3Server, S3Target

pytestmark = pytest.mark.integration

MiB = 1 << 20


def _store(target: S3Target, **kwargs: Any) -> S3Store:
    store = S3Store(target.bucket, target.prefix, env=target.env, **kwargs)
    return store


def _count_calls(store: S3Store) -> Counter[str]:
    """Count the API operations the store's client sends (botocore event hook; nothing is patched)."""
    calls: Counter[str] = Counter()
    lock = threading.Lock()

    def hook(model: Any, **_: Any) -> None:
        with lock:
            calls[model.name] += 1

    store.client.meta.events.register("before-call.s3", hook)
    return calls


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_open_store_put_head_get_list(s3_store_url: S3Target, tmp_path: Path) -> None:
    store = open_store(s3_store_url.url, s3_store_url.env)
    assert isinstance(store, S3Store)
    assert store.url == s3_store_url.url
    store.check()
    p = _write(tmp_path / "m.json", b'{"ecs": 3.1}')
    obj = store.put_file("a/outputs/m.json", p)
    assert obj.uri == f"{s3_store_url.url}/a/outputs/m.json"
    assert obj.size == p.stat().st_size
    assert store.head("a/outputs/m.json") == obj
    assert store.head("a/outputs/missing") is None
    assert store.get_bytes("a/outputs/m.json") == b'{"ecs": 3.1}'
    store.put_file("a/out.log", _write(tmp_path / "log", b"log\n"))
    store.put_file("b/x", _write(tmp_path / "x", b""))  # empty file
    assert store.get_bytes("b/x") == b""
    assert store.list_keys("a/") == ["a/out.log", "a/outputs/m.json"]
    assert store.list_keys("") == ["a/out.log", "a/outputs/m.json", "b/x"]
    assert store.list_keys("zzz/") == []
    # the sha256 is stored as x-amz-meta-sha256 and the object lives under the prefix
    raw = s3_store_url.server.client().head_object(Bucket=s3_store_url.bucket,
                                                   Key=f"{s3_store_url.prefix}/a/outputs/m.json")
    assert raw["Metadata"]["sha256"] == obj.sha256
    with pytest.raises(StoreError, match="no object"):
        store.get_bytes("a/outputs/missing")


def test_replay_does_not_reupload(s3_store_url: S3Target, tmp_path: Path) -> None:
    store = _store(s3_store_url)
    calls = _count_calls(store)
    p = _write(tmp_path / "data.nc", os.urandom(50_000))
    first = store.put_file("o/data.nc", p)
    raw = s3_store_url.server.client()
    key = f"{s3_store_url.prefix}/o/data.nc"
    before = raw.head_object(Bucket=s3_store_url.bucket, Key=key)
    assert calls["PutObject"] == 1
    time.sleep(1.1)  # LastModified has one-second resolution
    again = store.put_file("o/data.nc", p)
    after = raw.head_object(Bucket=s3_store_url.bucket, Key=key)
    assert again == first
    assert calls["PutObject"] == 1  # no second upload
    assert (after["ETag"], after["LastModified"]) == (before["ETag"], before["LastModified"])
    # changed content under the same key is uploaded
    p.write_bytes(os.urandom(50_000))
    changed = store.put_file("o/data.nc", p)
    assert calls["PutObject"] == 2
    assert changed.sha256 != first.sha256
    assert store.get_bytes("o/data.nc") == p.read_bytes()


def test_skip_existing_false_always_uploads(s3_store_url: S3Target, tmp_path: Path) -> None:
    store = _store(s3_store_url, skip_existing=False)
    calls = _count_calls(store)
    p = _write(tmp_path / "f", b"same")
    store.put_file("k", p)
    store.put_file("k", p)
    assert calls["PutObject"] == 2
    assert calls["HeadObject"] == 0


def test_batch_replay_lists_once_and_uploads_only_changes(s3_store_url: S3Target, tmp_path: Path) -> None:
    store = _store(s3_store_url)
    items = [(f"att/outputs/{i:02d}.json", _write(tmp_path / f"{i}.json", os.urandom(500))) for i in range(20)]
    calls = _count_calls(store)
    store.put_files(items, concurrency=4)
    assert calls["PutObject"] == 20
    assert calls["HeadObject"] == 0  # first publish: the listing showed nothing, so no heads
    assert calls["ListObjectsV2"] == 1
    items[3][1].write_bytes(os.urandom(500))  # same size, new content
    items[7][1].write_bytes(os.urandom(501))  # new size: no head needed
    calls.clear()
    objs = store.put_files(items, concurrency=4)
    assert calls["PutObject"] == 2
    assert calls["HeadObject"] == 19  # everything with an unchanged size
    assert [o.key for o in objs] == [k for k, _ in items]
    assert store.get_bytes(items[3][0]) == items[3][1].read_bytes()


def test_big_file_goes_multipart(s3_store_url: S3Target, tmp_path: Path) -> None:
    store = _store(s3_store_url)
    calls = _count_calls(store)
    data = os.urandom(20 * MiB)
    p = _write(tmp_path / "big.bin", data)
    obj = store.put_file("big/big.bin", p)
    assert calls["CreateMultipartUpload"] == 1
    assert calls["UploadPart"] == 3  # 8 MiB parts
    assert calls["CompleteMultipartUpload"] == 1
    raw = s3_store_url.server.client().head_object(Bucket=s3_store_url.bucket,
                                                   Key=f"{s3_store_url.prefix}/big/big.bin")
    assert raw["ETag"].strip('"').endswith("-3")
    assert raw["Metadata"]["sha256"] == obj.sha256
    assert store.head("big/big.bin") == obj
    assert store.get_bytes("big/big.bin") == data
    calls.clear()
    assert store.put_file("big/big.bin", p) == obj
    assert calls["CreateMultipartUpload"] == 0 and calls["UploadPart"] == 0


def test_200_small_files_concurrently(s3_store_url: S3Target, tmp_path: Path) -> None:
    store = _store(s3_store_url)
    items = [(f"many/{i:03d}.txt", _write(tmp_path / "many" / f"{i}.txt", f"file {i}\n".encode() * (i + 1)))
             for i in range(200)]
    total = sum(p.stat().st_size for _, p in items)
    seen: list[int] = []
    lock = threading.Lock()

    def progress(done: int, tot: int) -> None:
        assert tot == total
        with lock:
            seen.append(done)

    threads_before = threading.active_count()
    objs = store.put_files(items, concurrency=16, progress=progress)
    assert [o.key for o in objs] == [k for k, _ in items]
    assert max(seen) == total
    assert store.list_keys("many/") == sorted(k for k, _ in items)
    for i in (0, 57, 199):
        assert store.get_bytes(items[i][0]) == items[i][1].read_bytes()
    assert threading.active_count() <= threads_before + 1  # the pool is gone


def test_keys_with_spaces_and_unicode(s3_store_url: S3Target, tmp_path: Path) -> None:
    store = _store(s3_store_url)
    keys = ["with space/a b.txt", "ünïcødé/ファイル.nc", "odd/+plus&amp;=eq?.json", "pct/100%.txt"]
    for i, key in enumerate(keys):
        obj = store.put_file(key, _write(tmp_path / f"k{i}", key.encode()))
        assert store.head(key) == obj
        assert store.get_bytes(key) == key.encode()
    assert store.list_keys("") == sorted(keys)


def test_missing_bucket_is_a_clear_error(s3_server: S3Server, tmp_path: Path) -> None:
    env = s3_server.env
    store = open_store("s3://no-such-bucket-here/pre", env)
    with pytest.raises(StoreError) as err:
        store.check()
    msg = str(err.value)
    assert "s3://no-such-bucket-here/pre" in msg and "does not exist" in msg
    assert s3_server.endpoint_url in msg
    assert env["AWS_SECRET_ACCESS_KEY"] not in msg
    with pytest.raises(StoreError) as err:
        store.put_file("k/a.txt", _write(tmp_path / "a", b"a"))
    msg = str(err.value)
    assert "s3://no-such-bucket-here/pre/k/a.txt" in msg and "does not exist" in msg
    assert env["AWS_SECRET_ACCESS_KEY"] not in msg
    with pytest.raises(StoreError, match="does not exist"):
        store.put_files([(f"k/{i}", _write(tmp_path / f"f{i}", b"x")) for i in range(10)])


def test_endpoint_down_fails_within_bounded_time(tmp_path: Path, s3_server: S3Server) -> None:
    port = free_port()  # nothing listens here
    env = {**s3_server.env, "DIAGNOSTIC_OPERATOR_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    store = S3Store("bucket", "pre", env=env, max_attempts=2, connect_timeout=1, read_timeout=2)
    t0 = time.monotonic()
    with pytest.raises(StoreError) as err:
        store.check()
    assert time.monotonic() - t0 < 15
    msg = str(err.value)
    assert f"127.0.0.1:{port}" in msg and "unreachable" in msg
    t0 = time.monotonic()
    with pytest.raises(StoreError) as err:
        store.put_file("k", _write(tmp_path / "a", b"a"))
    assert time.monotonic() - t0 < 15
    assert "s3://bucket/pre/k" in str(err.value)
    assert env["AWS_SECRET_ACCESS_KEY"] not in str(err.value)


def test_env_variables_configure_the_store(s3_store_url: S3Target, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """With no env mapping, the process environment is used (the usual AWS way)."""
    for k in list(os.environ):
        if k.startswith("AWS_") or k.startswith("DIAGNOSTIC_OPERATOR_S3_"):
            monkeypatch.delenv(k)
    for k, v in s3_store_url.env.items():
        monkeypatch.setenv(k, v)
    store = open_store(s3_store_url.url)
    store.check()
    store.put_file("e", _write(tmp_path / "e", b"env"))
    assert store.get_bytes("e") == b"env"
