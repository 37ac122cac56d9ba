"""Secret redaction in store errors must hide secrets without mangling the message."""

from diagnostic_operator.store.s3 import S3Store


def test_short_secret_does_not_mangle_messages() -> None:
    store = S3Store("no-such-bucket", "x", endpoint_url="http://127.0.0.1:9",
                    env={"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_DEFAULT_REGION": "us-east-1"})
    assert store._redact("bucket no-such-bucket is missing") == "bucket no-such-bucket is missing"


def test_real_secret_is_hidden() -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    store = S3Store("b", "", endpoint_url="http://127.0.0.1:9",
                    env={"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": secret,
                         "AWS_DEFAULT_REGION": "us-east-1"})
    assert secret not in store._redact(f"signature mismatch for {secret}")
