"""``store_uri``: the operator's way to name an execution's location without opening the store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from diagnostic_operator.store import StoreError, open_store, store_uri

ENV = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.mark.parametrize("url", ["s3://bucket", "s3://bucket/", "s3://my-bucket/runs/2026", "/srv/store",
                                 "file:///srv/store", "relative/store"])
def test_same_uri_as_the_opened_store(url: str) -> None:
    key = "executions/ns/gmst-0a1b2c3d"
    assert store_uri(url, key) == open_store(url, env=ENV).uri(key)


@pytest.mark.parametrize(("url", "key", "words"), [
    ("s3://B_ad", "k", "bad bucket name"),
    ("ftp://x", "k", "unsupported store URL"),
    ("", "k", "empty"),
    ("s3://bucket", "../escape", "escape"),
])
def test_bad_urls_and_keys_are_refused(url: str, key: str, words: str) -> None:
    with pytest.raises(StoreError, match=words):
        store_uri(url, key)


def test_no_s3_client_is_built(tmp_path: Path) -> None:
    code = ("import sys; from diagnostic_operator.store import store_uri; "
            "print(store_uri('s3://bucket/p', 'executions/a')); print('boto3' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=tmp_path).stdout.split()
    assert out == ["s3://bucket/p/executions/a", "False"]
