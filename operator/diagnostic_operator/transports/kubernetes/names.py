"""Names, labels and selectors of the execution Jobs and Pods (docs/pod-layout.md, "Names and labels").

Pure and deterministic: the same execution name and attempt always give the same Job name, so a
replayed dispatch finds the Job it made before instead of making a second one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

MAX_NAME = 63  # a DNS label, and the longest label value
CUT_TO = 52  # a long name is cut to this many characters, then "-" + HASH_CHARS hex are appended
HASH_CHARS = 5

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "diagnostic-operator"
EXECUTION_LABEL = "diagnostic-operator.io/execution"
EXECUTION_UID_LABEL = "diagnostic-operator.io/execution-uid"
ATTEMPT_LABEL = "diagnostic-operator.io/attempt"
RESOURCES_ANNOTATION = "diagnostic-operator.io/resources"
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"

#: Label keys the operator sets itself; a site's ``podDefaults.labels`` may not use them.
RESERVED_LABEL_PREFIXES = ("diagnostic-operator.io/", "kueue.x-k8s.io/")
RESERVED_LABELS = frozenset({MANAGED_BY_LABEL})

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_NOT_DNS = re.compile(r"[^a-z0-9-]")


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8")).hexdigest()[:HASH_CHARS]


def job_name(execution_name: str, attempt: int) -> str:
    """The Job of one attempt: ``<name>-a<N>``, or, when that is longer than 63 characters (or not a DNS
    label, e.g. a name with dots), the name cut to 52 + ``-`` + 5 hex of sha256(name) + ``-a<N>``.

    Always a DNS label of at most 63 characters. (From attempt 1000 on, the cut is shortened so the
    name still fits.)
    """
    if not execution_name:
        raise ValueError("execution name is empty")
    if attempt < 1:
        raise ValueError(f"attempt must be 1 or more, not {attempt}")
    suffix = f"-a{attempt}"
    plain = execution_name + suffix
    if len(plain) <= MAX_NAME and _DNS_LABEL.match(plain):
        return plain
    head = _NOT_DNS.sub("-", execution_name.lower())[: min(CUT_TO, MAX_NAME - len(suffix) - 1 - HASH_CHARS)]
    return f"{head}-{_digest(execution_name)}{suffix}"


def label_value(name: str) -> str:
    """``name`` as a label value: unchanged when it is one (≤ 63 characters), else cut like a Job name
    (52 characters + ``-`` + 5 hex of sha256(name))."""
    if len(name) <= MAX_NAME and _LABEL_VALUE.match(name):
        return name
    head = re.sub(r"[^-A-Za-z0-9_.]", "-", name)[:CUT_TO]
    head = re.sub(r"^[^A-Za-z0-9]+", "", head)
    return f"{head}-{_digest(name)}" if head else _digest(name)


def execution_labels(name: str, uid: str) -> dict[str, str]:
    """The labels every object of one execution carries."""
    return {
        MANAGED_BY_LABEL: MANAGED_BY,
        EXECUTION_LABEL: label_value(name),
        EXECUTION_UID_LABEL: uid,
    }


def attempt_labels(name: str, uid: str, attempt: int) -> dict[str, str]:
    """The labels of one attempt's Job and Pod."""
    return {**execution_labels(name, uid), ATTEMPT_LABEL: str(attempt)}


def selector(uid: str) -> str:
    """Label selector for every Job/Pod of one execution (``kubectl get jobs -l ...``)."""
    return f"{MANAGED_BY_LABEL}={MANAGED_BY},{EXECUTION_UID_LABEL}={uid}"


def attempt_selector(uid: str, attempt: int) -> str:
    """Label selector for the Job/Pod of one attempt."""
    return f"{selector(uid)},{ATTEMPT_LABEL}={attempt}"


def attempt_of(obj: Mapping[str, Any]) -> int | None:
    """The attempt number in a Job's or Pod's labels; None when absent or not a number."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    value = labels.get(ATTEMPT_LABEL)
    if not isinstance(value, str) or not value.isdigit():
        return None
    return int(value)


def is_reserved_label(key: str) -> bool:
    return key in RESERVED_LABELS or key.startswith(RESERVED_LABEL_PREFIXES)


# The execution Pod's own volumes (docs/pod-layout.md): a site volume never takes one of these names.
VOLUME_BIN = "do-bin"
VOLUME_OUTPUT = "do-output"
VOLUME_TMP = "tmp"
VOLUME_HOME = "do-home"
VOLUME_RUNNER_TMP = "do-tmp"
PRODUCT_VOLUMES = frozenset({VOLUME_BIN, VOLUME_OUTPUT, VOLUME_TMP, VOLUME_HOME, VOLUME_RUNNER_TMP})
