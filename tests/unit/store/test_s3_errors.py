"""S3Store error mapping without a server (botocore's Stubber answers; nothing is sent)."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.stub import Stubber

from diagnostic_operator.store import S3Store, StoreError

ENV = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "very-secret-value", "AWS_REGION": "us-east-1",
       "DIAGNOSTIC_OPERATOR_S3_ENDPOINT_URL": "http://127.0.0.1:9"}


@pytest.fixture(scope="module")
def store() -> S3Store:
    return S3Store("bucket", "pre", env=ENV, max_attempts=1)


def test_check_access_denied(store: S3Store) -> None:
    with Stubber(store.client) as stub:
        stub.add_client_error("head_bucket", service_error_code="403", http_status_code=403)
        with pytest.raises(StoreError, match="access denied") as err:
            store.check()
    assert "s3://bucket/pre" in str(err.value)
    assert "very-secret-value" not in str(err.value)


def test_head_access_denied_is_an_error(store: S3Store) -> None:
    with Stubber(store.client) as stub:
        stub.add_client_error("head_object", service_error_code="403", http_status_code=403)
        with pytest.raises(StoreError, match="access denied") as err:
            store.head("k")
    assert "s3://bucket/pre/k" in str(err.value)


def test_put_proceeds_when_head_is_forbidden(store: S3Store, tmp_path: Path) -> None:
    """Without s3:ListBucket, S3 answers 403 to HEAD of a missing key; the upload must still be tried."""
    p = tmp_path / "f"
    p.write_bytes(b"data")
    with Stubber(store.client) as stub:
        stub.add_client_error("head_object", service_error_code="403", http_status_code=403)
        stub.add_response("put_object", {"ETag": '"x"'})
        obj = store.put_file("k", p)
        stub.assert_no_pending_responses()
    assert obj.size == 4 and obj.uri == "s3://bucket/pre/k"


def test_secrets_are_redacted(store: S3Store) -> None:
    with Stubber(store.client) as stub:
        stub.add_client_error("get_object", service_error_code="InternalError",
                              service_message="oops very-secret-value leaked", http_status_code=500)
        with pytest.raises(StoreError) as err:
            store.get_bytes("k")
    assert "very-secret-value" not in str(err.value)
    assert "***" in str(err.value)


def test_unknown_profile_is_a_store_error() -> None:
    env = {"AWS_PROFILE": "no-such-profile-xyz-4711"}
    with pytest.raises(StoreError, match="cannot configure the S3 client for s3://bucket"):
        S3Store("bucket", "", env=env)
