"""Key validation, joining and the deterministic layout; open_store URL parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from diagnostic_operator.store import (
    LocalStore,
    S3Store,
    StoreError,
    attempt_prefix,
    execution_prefix,
    exit_record_key,
    log_key,
    object_key,
    open_store,
    output_key,
    validate_key,
)

BAD_KEYS = ["", "/abs", "a//b", "a/", "../x", "a/../b", "a/./b", ".", "..", "a\x00b", "a\\b", "a\nb"]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_rejected_naming_the_key(key: str) -> None:
    with pytest.raises(StoreError) as err:
        validate_key(key)
    assert repr(key) in str(err.value)


@pytest.mark.parametrize("key", ["a", "a/b.nc", "with space/ünïcode ✓.txt", ".hidden", "a..b", "a/.../b"])
def test_good_keys_accepted(key: str) -> None:
    assert validate_key(key) == key


def test_object_key_joins_and_validates() -> None:
    assert object_key("a/", "/b", "c/d") == "a/b/c/d"
    assert object_key("a", "", "b") == "a/b"
    with pytest.raises(StoreError):
        object_key("a", "..", "b")
    with pytest.raises(StoreError):
        object_key("a", "b//c")
    with pytest.raises(StoreError):
        object_key()


def test_layout_is_deterministic() -> None:
    uid = "3f2a9c1e-7b4d-4e2a-9f00-123456789abc"
    assert execution_prefix("climate", "ecs-run", uid) == "executions/climate/ecs-run-3f2a9c1e"
    p = attempt_prefix("climate", "ecs-run", uid, 2)
    assert p == "executions/climate/ecs-run-3f2a9c1e/attempt-2"
    assert attempt_prefix("climate", "ecs-run", uid, 2) == p
    assert log_key(p) == p + "/out.log"
    assert exit_record_key(p) == p + "/exit.json"
    assert output_key(p, "plots/map.png") == p + "/outputs/plots/map.png"
    assert output_key(p, "./metrics.json") == p + "/outputs/metrics.json"
    # a different uid (deleted and re-created execution) gives a different folder
    assert execution_prefix("climate", "ecs-run", "ffffffff-0000") != execution_prefix("climate", "ecs-run", uid)


@pytest.mark.parametrize("rel", ["../escape.txt", "/etc/passwd", "a/../../b", "", "a//b"])
def test_output_key_rejects_escapes(rel: str) -> None:
    with pytest.raises(StoreError):
        output_key("executions/ns/n-12345678/attempt-1", rel)


@pytest.mark.parametrize("args", [("", "n", "u"), ("ns", "a/b", "u"), ("ns", "..", "u"), ("ns", "n", "")])
def test_execution_prefix_rejects_bad_parts(args: tuple[str, str, str]) -> None:
    with pytest.raises(StoreError):
        execution_prefix(*args)


@pytest.mark.parametrize("attempt", [0, -1, True])
def test_attempt_must_be_positive(attempt: int) -> None:
    with pytest.raises(StoreError):
        attempt_prefix("ns", "n", "uid12345", attempt)


def test_open_store_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = open_store(tmp_path.as_uri())
    assert isinstance(s, LocalStore) and s.url == tmp_path.resolve().as_uri()
    assert open_store(str(tmp_path)).url == tmp_path.resolve().as_uri()
    monkeypatch.chdir(tmp_path)
    assert open_store("rel/dir").url == (tmp_path.resolve() / "rel" / "dir").as_uri()
    env = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_REGION": "us-east-1",
           "DIAGNOSTIC_OPERATOR_S3_ENDPOINT_URL": "http://127.0.0.1:1"}
    s3 = open_store("s3://my-bucket/some/prefix/", env)
    assert isinstance(s3, S3Store)
    assert s3.url == "s3://my-bucket/some/prefix"
    assert s3.endpoint_url == "http://127.0.0.1:1"
    assert s3.uri("a b.txt") == "s3://my-bucket/some/prefix/a b.txt"
    assert open_store("s3://my-bucket", env).url == "s3://my-bucket"


@pytest.mark.parametrize("url", ["", "http://example.com/x", "gs://bucket/x", "s3://", "s3://Bad_Bucket/x",
                                 "s3://b/x", "s3://bucket/a/../b", "file://host/x", "file:relative"])
def test_open_store_rejects(url: str) -> None:
    with pytest.raises(StoreError) as err:
        open_store(url, {})
    assert repr(url) in str(err.value)


def test_open_store_error_lists_accepted_forms() -> None:
    with pytest.raises(StoreError, match=r"s3://bucket\[/prefix\], file:///absolute/path"):
        open_store("ftp://host/x")


def test_endpoint_precedence() -> None:
    base = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_REGION": "us-east-1"}
    ours = S3Store("b", "", env={**base, "AWS_ENDPOINT_URL": "http://127.0.0.1:2",
                                 "DIAGNOSTIC_OPERATOR_S3_ENDPOINT_URL": "http://127.0.0.1:3"})
    assert ours.endpoint_url == "http://127.0.0.1:3"
    assert ours.client.meta.config.s3 == {"addressing_style": "path"}
    theirs = S3Store("b", "", env={**base, "AWS_ENDPOINT_URL": "http://127.0.0.1:2"})
    assert theirs.endpoint_url == "http://127.0.0.1:2"
    with pytest.raises(StoreError):
        S3Store("b", "", env={**base, "DIAGNOSTIC_OPERATOR_S3_MAX_ATTEMPTS": "many"})
