"""S3 and S3-compatible object storage (``s3://bucket/prefix``) with boto3.

* Credentials come from the usual AWS chain (environment, shared config/credentials files, profile, instance
  or pod identity). The endpoint comes from ``DIAGNOSTIC_OPERATOR_S3_ENDPOINT_URL``, then
  ``AWS_ENDPOINT_URL_S3``, then ``AWS_ENDPOINT_URL``; with a custom endpoint, addressing is path-style
  unless ``DIAGNOSTIC_OPERATOR_S3_ADDRESSING_STYLE`` says otherwise (see docs/object-store.md).
* Uploads go through the boto3 transfer manager (multipart above ``multipart_threshold``). Each object
  carries its sha256 as user metadata (``x-amz-meta-sha256``); single-part uploads also send it as the
  S3 checksum (``x-amz-checksum-sha256``) so the server verifies the bytes with the hash we computed anyway.
* A put of content already present under the key (same size and sha256) transfers nothing: ``put_files``
  lists the batch's common prefix once and only ``head``s keys that exist with the same size.
* Retries: botocore's *standard* mode, bounded (``max_attempts``, default 5). A final failure is a
  StoreError naming the object's URL, the endpoint and the cause, never credentials.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import urlsplit, urlunsplit

import boto3
import boto3.s3.transfer
from boto3.exceptions import S3UploadFailedError
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError
from botocore.exceptions import ConnectionError as BotoConnectionError

from ._io import Progress, file_sha256
from .base import ProgressCallback, StoredObject, StoreError
from .keys import validate_key, validate_prefix

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

ENV_ENDPOINT = "DIAGNOSTIC_OPERATOR_S3_ENDPOINT_URL"
ENV_ADDRESSING = "DIAGNOSTIC_OPERATOR_S3_ADDRESSING_STYLE"
ENV_MAX_ATTEMPTS = "DIAGNOSTIC_OPERATOR_S3_MAX_ATTEMPTS"
ENV_CONNECT_TIMEOUT = "DIAGNOSTIC_OPERATOR_S3_CONNECT_TIMEOUT"
ENV_READ_TIMEOUT = "DIAGNOSTIC_OPERATOR_S3_READ_TIMEOUT"

AddressingStyle = Literal["auto", "virtual", "path"]
META_SHA256 = "sha256"  # sent as x-amz-meta-sha256
MiB = 1 << 20
DEFAULT_MULTIPART_THRESHOLD = 8 * MiB
DEFAULT_MULTIPART_CHUNKSIZE = 8 * MiB
LIST_MIN_ITEMS = 8  # put_files lists the common prefix instead of one head per key from this many items

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_NO_BUCKET = {"NoSuchBucket"}
_DENIED = {"403", "AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch",
           "ExpiredToken", "InvalidToken", "AllAccessDisabled"}


def _strip_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _env_number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise StoreError(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise StoreError(f"{name}={raw!r} must be positive")
    return value


def _common_folder(keys: Sequence[str]) -> str:
    """The deepest folder (``a/b/``) containing every key, or ``""``."""
    split = [k.split("/")[:-1] for k in keys]
    common: list[str] = []
    for segments in zip(*split, strict=False):
        if any(s != segments[0] for s in segments):
            break
        common.append(segments[0])
    return "/".join(common) + "/" if common else ""


def _error_code(exc: ClientError) -> str:
    err: Any = exc.response.get("Error", {})
    return str(err.get("Code", "")) if isinstance(err, dict) else ""


def _status(exc: ClientError) -> int:
    meta: Any = exc.response.get("ResponseMetadata", {})
    return int(meta.get("HTTPStatusCode", 0)) if isinstance(meta, dict) else 0


class S3Store:
    """An ObjectStore over ``s3://bucket/prefix`` (AWS or any S3-compatible endpoint).

    ``client`` may be given (tests, benchmarks); otherwise one is built from ``env`` (default: os.environ)
    and the keyword arguments, which win over the environment. One client is shared by all threads.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        client: S3Client | None = None,
        env: Mapping[str, str] | None = None,
        skip_existing: bool = True,
        max_attempts: int | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        addressing_style: str | None = None,
        max_connections: int = 32,
        multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
        multipart_chunksize: int = DEFAULT_MULTIPART_CHUNKSIZE,
    ) -> None:
        if not bucket or "/" in bucket:
            raise StoreError(f"invalid S3 bucket name {bucket!r}")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            validate_key(self.prefix)
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.skip_existing = skip_existing
        self.max_connections = max(1, max_connections)
        self.multipart_threshold = multipart_threshold
        self.multipart_chunksize = multipart_chunksize

        environ: Mapping[str, str] = os.environ if env is None else env
        self._secrets = tuple(
            s for s in (environ.get("AWS_SECRET_ACCESS_KEY"), environ.get("AWS_SESSION_TOKEN")) if s
        )
        if client is not None:
            self._client = client
            self.endpoint_url: str | None = client.meta.endpoint_url
        else:
            self.endpoint_url = (
                endpoint_url
                or environ.get(ENV_ENDPOINT)
                or environ.get("AWS_ENDPOINT_URL_S3")
                or environ.get("AWS_ENDPOINT_URL")
                or None
            )
            default_style = "path" if self.endpoint_url else "auto"
            style = addressing_style or environ.get(ENV_ADDRESSING) or default_style
            if style not in ("path", "virtual", "auto"):
                raise StoreError(f"{ENV_ADDRESSING}={style!r}: expected path, virtual or auto")
            attempts = int(max_attempts if max_attempts is not None
                           else _env_number(environ, ENV_MAX_ATTEMPTS, 5))
            config = Config(
                retries={"mode": "standard", "max_attempts": max(1, attempts)},
                max_pool_connections=self.max_connections + 4,
                connect_timeout=connect_timeout if connect_timeout is not None
                else _env_number(environ, ENV_CONNECT_TIMEOUT, 10.0),
                read_timeout=read_timeout if read_timeout is not None
                else _env_number(environ, ENV_READ_TIMEOUT, 60.0),
                s3={"addressing_style": cast(AddressingStyle, style)},
                user_agent_extra="diagnostic-operator",
            )
            try:
                if env is None:
                    session = boto3.session.Session(region_name=region)
                else:
                    session = boto3.session.Session(
                        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
                        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
                        aws_session_token=env.get("AWS_SESSION_TOKEN"),
                        region_name=region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
                        profile_name=env.get("AWS_PROFILE"),
                    )
                self._client = session.client("s3", endpoint_url=self.endpoint_url, config=config)
            except (BotoCoreError, ValueError) as exc:
                raise StoreError(f"cannot configure the S3 client for {self.url}{self._where()}: "
                                 f"{self._redact(str(exc))}") from None
        self._send_checksum = getattr(self._client.meta.config, "request_checksum_calculation",
                                      "when_supported") == "when_supported"
        self._small_config = boto3.s3.transfer.TransferConfig(
            multipart_threshold=multipart_threshold, multipart_chunksize=multipart_chunksize,
            use_threads=False,
        )
        self._configs: dict[int, boto3.s3.transfer.TransferConfig] = {}
        self._configs_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3Store({self.url!r}, endpoint={self.endpoint_url!r})"

    @property
    def client(self) -> S3Client:
        return self._client

    # -- helpers -----------------------------------------------------------------------------------
    def _full(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _rel(self, full_key: str) -> str:
        return full_key[len(self.prefix) + 1:] if self.prefix else full_key

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full(key)}"

    def _where(self) -> str:
        return f" (endpoint {_strip_userinfo(self.endpoint_url)})" if self.endpoint_url else ""

    def _redact(self, text: str) -> str:
        # Secrets shorter than 4 characters are not replaced: that would mangle every message (a secret
        # key "s" would turn each "s" into "***") while hiding nothing worth hiding.
        for secret in self._secrets:
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        return text

    def _error(self, action: str, target: str, exc: BaseException) -> StoreError:
        cause = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, ClientError):
            code = _error_code(exc)
            if code in _NO_BUCKET:
                cause = f"bucket {self.bucket!r} does not exist ({exc})"
            elif code in _DENIED:
                cause = f"access denied: check the credentials and the bucket policy ({exc})"
        elif isinstance(exc, NoCredentialsError | PartialCredentialsError):
            cause = (f"no usable AWS credentials ({exc}); set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                     "AWS_PROFILE or a role")
        elif isinstance(exc, BotoConnectionError):
            cause = f"endpoint unreachable ({exc})"
        elif isinstance(exc, S3UploadFailedError) and "NoSuchBucket" in str(exc):
            cause = f"bucket {self.bucket!r} does not exist ({exc})"
        return StoreError(self._redact(f"S3 {action} {target}{self._where()} failed: {cause}"))

    def _transfer_config(self, part_threads: int) -> boto3.s3.transfer.TransferConfig:
        with self._configs_lock:
            cfg = self._configs.get(part_threads)
            if cfg is None:
                cfg = boto3.s3.transfer.TransferConfig(
                    multipart_threshold=self.multipart_threshold,
                    multipart_chunksize=self.multipart_chunksize,
                    max_concurrency=part_threads, use_threads=True,
                )
                self._configs[part_threads] = cfg
            return cfg

    # -- protocol ----------------------------------------------------------------------------------
    def check(self) -> None:
        """A cheap reachability and permission probe: ``HeadBucket``. It proves the bucket exists and the
        credentials are accepted; it does not write."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code, status = _error_code(exc), _status(exc)
            if code in _NO_BUCKET or status == 404 or code == "404":
                msg = f"bucket {self.bucket!r} does not exist"
            elif code in _DENIED or status == 403:
                msg = "access denied: check the credentials and the bucket policy"
            elif status in (301, 307, 400) or code in ("301", "PermanentRedirect",
                                                       "AuthorizationHeaderMalformed"):
                msg = f"the bucket is in another region or the endpoint is wrong ({exc})"
            else:
                msg = str(exc)
            where = f"{self.url}{self._where()}"
            raise StoreError(self._redact(f"S3 store {where} is not usable: {msg}")) from None
        except (BotoCoreError, OSError) as exc:
            raise self._error("check of", self.url, exc) from None

    def put_file(self, key: str, path: Path) -> StoredObject:
        return self._put(key, Path(path), None, part_threads=10, known=None)

    def put_files(self, items: Sequence[tuple[str, Path]], *, concurrency: int = 8,
                  progress: ProgressCallback | None = None) -> list[StoredObject]:
        """Upload ``items`` with ``concurrency`` files in flight on the shared client. Each file is hashed
        in its worker; with ``skip_existing`` (default) the batch's common prefix is listed once and only
        keys already present with the same size get a ``head``. Fails with the first error (others in
        flight finish first)."""
        pairs = [(self._full(k), k, Path(p)) for k, p in items]
        if not pairs:
            return []
        total = 0
        if progress is not None:
            for _, key, path in pairs:
                try:
                    total += path.stat().st_size
                except OSError as exc:
                    raise self._error("upload of", f"{path} to {self.uri(key)}", exc) from None
        counter = Progress(total, progress)
        known: dict[str, int] | None = None
        if self.skip_existing and len(pairs) >= LIST_MIN_ITEMS:
            known = self._listing([full for full, _, _ in pairs])
        workers = max(1, min(concurrency, len(pairs)))
        part_threads = max(1, min(8, self.max_connections // workers))
        if workers == 1:
            return [self._put(k, p, counter, part_threads=part_threads, known=known) for _, k, p in pairs]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="s3-store") as pool:
            futures = [pool.submit(self._put, k, p, counter, part_threads=part_threads, known=known)
                       for _, k, p in pairs]
            return [f.result() for f in futures]

    def head(self, key: str) -> StoredObject | None:
        full = self._full(key)
        try:
            resp = self._client.head_object(Bucket=self.bucket, Key=full)
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND or _status(exc) == 404:
                return None
            raise self._error("head of", self.uri(key), exc) from None
        except (BotoCoreError, OSError) as exc:
            raise self._error("head of", self.uri(key), exc) from None
        meta = resp.get("Metadata") or {}
        return StoredObject(key=key, size=int(resp.get("ContentLength", 0)),
                            sha256=meta.get(META_SHA256, ""), uri=self.uri(key))

    def get_bytes(self, key: str) -> bytes:
        full = self._full(key)
        try:
            resp = self._client.get_object(Bucket=self.bucket, Key=full)
            return resp["Body"].read()
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                raise StoreError(f"no object {self.uri(key)}{self._where()}") from None
            raise self._error("download of", self.uri(key), exc) from None
        except (BotoCoreError, OSError) as exc:
            raise self._error("download of", self.uri(key), exc) from None

    def list_keys(self, prefix: str) -> list[str]:
        """Keys (relative to the store) starting with ``prefix``, sorted."""
        validate_prefix(prefix)
        full = f"{self.prefix}/{prefix}" if self.prefix else prefix
        if self.prefix and not prefix:
            full = self.prefix + "/"
        keys: list[str] = []
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full)
            for page in pages:
                keys.extend(self._rel(obj["Key"]) for obj in page.get("Contents", []) if "Key" in obj)
        except (ClientError, BotoCoreError, OSError) as exc:
            raise self._error("listing of", f"s3://{self.bucket}/{full}", exc) from None
        keys.sort()
        return keys

    # -- internals ---------------------------------------------------------------------------------
    def _listing(self, full_keys: list[str]) -> dict[str, int] | None:
        """{full key: size} of what already exists under the batch's common folder, or None when the
        listing would be much larger than the batch (then each key gets its own head)."""
        folder = _common_folder(full_keys)  # "" or ends with "/"
        cap = 4 * len(full_keys) + 1000
        found: dict[str, int] = {}
        wanted = set(full_keys)
        listed = 0
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=folder)
            for page in pages:
                for obj in page.get("Contents", []):
                    listed += 1
                    k = obj.get("Key")
                    if k in wanted:
                        found[k] = int(obj.get("Size", -1))
                if len(found) == len(wanted):
                    break
                if listed > cap:
                    return None
        except ClientError as exc:
            if _error_code(exc) in _NO_BUCKET:
                raise self._error("listing of", f"s3://{self.bucket}/{folder}", exc) from None
            return None  # e.g. no ListBucket permission: fall back to one head per key
        except (BotoCoreError, OSError) as exc:
            raise self._error("listing of", f"s3://{self.bucket}/{folder}", exc) from None
        return found

    def _head_for_skip(self, key: str) -> StoredObject | None:
        """head(), except that 403 counts as "not known": without s3:ListBucket, S3 answers 403 for a
        missing key, and the upload itself may still be allowed."""
        try:
            return self.head(key)
        except StoreError as exc:
            cause = exc.__context__
            if isinstance(cause, ClientError) and (_status(cause) == 403 or _error_code(cause) in _DENIED):
                return None
            raise

    def _put(self, key: str, path: Path, counter: Progress | None, *, part_threads: int,
             known: dict[str, int] | None) -> StoredObject:
        full = self._full(key)
        uri = f"s3://{self.bucket}/{full}"
        try:
            sha, size = file_sha256(path)
        except OSError as exc:
            raise self._error("upload of", f"{path} to {uri}", exc) from None
        if self.skip_existing:
            existing = True if known is None else known.get(full) == size
            if existing:
                current = self._head_for_skip(key)
                if current is not None and current.size == size and current.sha256 == sha:
                    if counter is not None:
                        counter.add(size)
                    return StoredObject(key=key, size=size, sha256=sha, uri=uri)
        extra: dict[str, Any] = {"Metadata": {META_SHA256: sha}}
        if size < self.multipart_threshold:
            config = self._small_config
            if self._send_checksum:
                extra["ChecksumSHA256"] = base64.b64encode(bytes.fromhex(sha)).decode("ascii")
        else:
            config = self._transfer_config(part_threads)
        callback = counter.add if counter is not None and counter.total else None
        try:
            self._client.upload_file(str(path), self.bucket, full, ExtraArgs=extra, Callback=callback,
                                     Config=config)
        except (ClientError, BotoCoreError, S3UploadFailedError, OSError) as exc:
            raise self._error("upload of", f"{path} to {uri}", exc) from None
        return StoredObject(key=key, size=size, sha256=sha, uri=uri)
