"""The Kubernetes transport: one Job per attempt (docs/pod-layout.md).

This package's builder is pure: ``build_job`` turns a spec, an attempt's ResourceHint and the operator's
configuration into a Job dict; it needs no Kubernetes client, database or store.
"""

from __future__ import annotations

from .config import CONFIG_ENV, ConfigurationError, OperatorConfig, PodDefaults, load_config
from .job import build_job, job_resources
from .names import attempt_labels, job_name, label_value, selector

__all__ = [
    "CONFIG_ENV",
    "ConfigurationError",
    "OperatorConfig",
    "PodDefaults",
    "attempt_labels",
    "build_job",
    "job_name",
    "job_resources",
    "label_value",
    "load_config",
    "selector",
]
