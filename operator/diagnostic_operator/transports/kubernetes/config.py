"""The operator's configuration: one YAML file (camelCase keys), named by ``$DIAGNOSTIC_OPERATOR_CONFIG``.

It holds what a site decides and a spec never does: the product image, the publish grace, queue routing,
what every execution Pod gets (tolerations, node selector, service account, pull secrets, host network),
the Secret with the database URL and store credentials. Kubernetes sub-objects (tolerations,
securityContext, ...) are kept as plain dicts and passed through; they are checked only lightly here and
fully by the API server.

Example::

    image: registry.example.org/diagnostic-operator:0.1.0
    databaseSecret: diagnostic-operator-db
    defaultStore: s3://diagnostics/results
    queues:
      batch: {kueue: {localQueue: batch}}
      gpu: {nodeSelector: {gpu: "true"}, priorityClassName: low,
            tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]}
    podDefaults:
      tolerations: [{key: dedicated, operator: Equal, value: science, effect: NoSchedule}]
      hostNetwork: false
    volumes:                      # named volume sources; a spec picks them by name (docs/data.md)
      cmip6: {persistentVolumeClaim: {claimName: cmip6-archive, readOnly: true}}
      scratch: {nfs: {server: nfs.example.org, path: /export/ref/scratch}}
    mounts:                       # mounted into every execution Pod
      - {name: cmip6, mountPath: /data/cmip6, readOnly: true}
    envSources:                   # data credentials; a spec picks them by name
      esgf: {secret: esgf-credentials, keys: [ESGF_USER, ESGF_TOKEN]}
    podSecurity: {runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, supplementalGroups: [5000]}
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from diagnostic_operator.quantities import QuantityError, parse_duration, parse_quantity
from diagnostic_operator.site import Site
from diagnostic_operator.spec import DNS_LABEL_PATTERN, Duration

from .names import PRODUCT_VOLUMES, is_reserved_label

CONFIG_ENV = "DIAGNOSTIC_OPERATOR_CONFIG"
DEFAULT_IMAGE = "diagnostic-operator:0.1.0"

DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DnsLabel = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]
DnsSubdomain = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]
PullPolicy = Literal["Always", "IfNotPresent", "Never"]

_TOLERATION_KEYS = frozenset({"key", "operator", "value", "effect", "tolerationSeconds"})
_RESOURCE_KEYS = frozenset({"requests", "limits", "claims"})


class ConfigurationError(ValueError):
    """The operator's configuration is invalid, or does not cover what a spec asks for (e.g. a queue)."""


def _check_tolerations(value: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for i, toleration in enumerate(value):
        unknown = sorted(set(toleration) - _TOLERATION_KEYS)
        if unknown:
            raise ValueError(f"tolerations[{i}]: unknown key(s) {', '.join(unknown)} "
                             f"(a toleration has {', '.join(sorted(_TOLERATION_KEYS))})")
    return value


Tolerations = Annotated[list[dict[str, Any]], AfterValidator(_check_tolerations)]


def _check_resources(value: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(value) - _RESOURCE_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)} (resources have requests and limits)")
    for part in ("requests", "limits"):
        amounts = value.get(part) or {}
        if not isinstance(amounts, dict):
            raise ValueError(f"{part} must be a mapping of resource name to quantity")
        for resource, amount in amounts.items():
            try:
                parse_quantity(str(amount))
            except QuantityError as exc:
                raise ValueError(f"{part}.{resource}: {exc}") from None
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class KueueQueue(_Model):
    local_queue: DnsLabel = Field(alias="localQueue", description="The Kueue LocalQueue in the execution's namespace.")


class KueueRoute(_Model):
    """Admission by Kueue: the Job is created suspended with the LocalQueue's label."""

    kueue: KueueQueue


class NodeRoute(_Model):
    """Routing by scheduling constraints: a node selector, a priority class and tolerations."""

    node_selector: dict[str, str] = Field(default_factory=dict, alias="nodeSelector")
    priority_class_name: DnsSubdomain | None = Field(default=None, alias="priorityClassName")
    tolerations: Tolerations = Field(default_factory=list)


def _route_kind(value: Any) -> str:
    if isinstance(value, KueueRoute) or (isinstance(value, Mapping) and "kueue" in value):
        return "kueue"
    return "nodes"


QueueRoute = Annotated[
    Annotated[KueueRoute, Tag("kueue")] | Annotated[NodeRoute, Tag("nodes")],
    Discriminator(_route_kind),
]


def _pull_secrets(value: Any) -> Any:
    """Accept ``[name, ...]`` as well as the Kubernetes form ``[{name: ...}, ...]``."""
    if isinstance(value, list):
        return [{"name": item} if isinstance(item, str) else item for item in value]
    return value


class PodDefaults(_Model):
    """What the site adds to every execution Pod, whatever its spec says."""

    tolerations: Tolerations = Field(default_factory=list)
    node_selector: dict[str, str] = Field(default_factory=dict, alias="nodeSelector")
    service_account_name: DnsSubdomain = Field(default="diagnostic-execution", alias="serviceAccountName")
    image_pull_secrets: list[dict[str, str]] = Field(default_factory=list, alias="imagePullSecrets")
    host_network: bool = Field(default=False, alias="hostNetwork")
    priority_class_name: DnsSubdomain | None = Field(default=None, alias="priorityClassName")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    image_pull_policy: PullPolicy = Field(
        default="IfNotPresent", alias="imagePullPolicy", description="Pull policy of the diagnostic's image.")
    runtime_class_name: DnsSubdomain | None = Field(
        default=None, alias="runtimeClassName", description="RuntimeClass of the execution Pods (e.g. gVisor).")

    _normalise_secrets = field_validator("image_pull_secrets", mode="before")(_pull_secrets)

    @field_validator("image_pull_secrets")
    @classmethod
    def _secret_names(cls, value: list[dict[str, str]]) -> list[dict[str, str]]:
        for i, secret in enumerate(value):
            if set(secret) != {"name"} or not secret["name"]:
                raise ValueError(f"imagePullSecrets[{i}]: write a Secret name or {{name: NAME}}")
        return value

    @field_validator("labels")
    @classmethod
    def _own_labels(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = sorted(key for key in value if is_reserved_label(key))
        if reserved:
            raise ValueError(f"label(s) {', '.join(reserved)} are set by the operator")
        return value


class PodSecurity(_Model):
    """Who the execution Pod's processes are: the ``restricted`` Pod Security Standard holds whatever is set here
    (non-root, no privilege escalation, all capabilities dropped, RuntimeDefault seccomp). Set the user and
    groups to match the ownership of an NFS export the diagnostics read or write."""

    run_as_user: Annotated[int, Field(ge=1, le=2**31 - 1)] = Field(
        default=65532, alias="runAsUser", description="UID of every container of the Pod (never root).")
    run_as_group: Annotated[int, Field(ge=0, le=2**31 - 1)] = Field(
        default=65532, alias="runAsGroup", description="Primary GID of every container of the Pod.")
    fs_group: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = Field(
        default=None, alias="fsGroup", description="Group that owns the Pod's volumes that support ownership.")
    supplemental_groups: Annotated[list[Annotated[int, Field(ge=0, le=2**31 - 1)]], Field(max_length=32)] = Field(
        default_factory=list, alias="supplementalGroups", description="More GIDs of every container.")

    def pod_context(self) -> dict[str, Any]:
        context: dict[str, Any] = {"runAsNonRoot": True, "runAsUser": self.run_as_user,
                                   "runAsGroup": self.run_as_group}
        if self.fs_group is not None:
            context["fsGroup"] = self.fs_group
        if self.supplemental_groups:
            context["supplementalGroups"] = list(self.supplemental_groups)
        context["seccompProfile"] = {"type": "RuntimeDefault"}
        return context


def runner_security_context() -> dict[str, Any]:
    """The diagnostic's container: restricted, with a writable root (a diagnostic may write anywhere it is
    allowed to; only the product's own containers have a read-only root)."""
    return {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _restricted() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _sidecar_resources() -> dict[str, Any]:
    return {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}


class OperatorConfig(Site):
    """The operator's configuration (a YAML file; every field optional). Its site part (``volumes``,
    ``mounts``, ``envSources``: what diagnostics see) is the ``Site`` that the local run reads as well."""

    image: Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=r"^\S+$")] = Field(
        default=DEFAULT_IMAGE, description="The product image: the install-shim init container and the sidecar.")
    image_pull_policy: PullPolicy = Field(default="IfNotPresent", alias="imagePullPolicy",
                                          description="Pull policy of the product image.")
    publish_grace: Duration = Field(default="5m", alias="publishGrace",
                                    description="Time after the wall clock for publishing the log and outputs.")
    init_allowance: Duration = Field(default="1m", alias="initAllowance",
                                     description="Time for image pulls and the init container.")
    gpu_resource: Annotated[str, StringConstraints(min_length=1, max_length=253)] = Field(
        default="nvidia.com/gpu", alias="gpuResource", description="The extended resource a GPU is.")
    database_secret: DnsSubdomain | None = Field(
        default=None, alias="databaseSecret",
        description="Secret whose keys become the sidecar's environment (DIAGNOSTIC_OPERATOR_DATABASE_URL, "
                    "AWS_ACCESS_KEY_ID, ...).")
    default_store: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = Field(
        default=None, alias="defaultStore", description="Store URL for specs without output.store.")
    queues: dict[DnsLabel, QueueRoute] = Field(default_factory=dict,
                                                description="Queue name (spec.resources.queue) → routing.")
    pod_defaults: PodDefaults = Field(default_factory=PodDefaults, alias="podDefaults")
    pod_security: PodSecurity = Field(default_factory=PodSecurity, alias="podSecurity")
    security_context: dict[str, Any] = Field(
        default_factory=_restricted, alias="securityContext",
        description="securityContext of the install-shim and ingest containers (not the diagnostic's).")
    sidecar_resources: Annotated[dict[str, Any], AfterValidator(_check_resources)] = Field(
        default_factory=_sidecar_resources, alias="sidecarResources",
        description="Resources of the ingest sidecar (and the install-shim init container).")
    job_ttl_seconds: Annotated[int, Field(ge=0)] | None = Field(
        default=None, alias="jobTTLSeconds", description="ttlSecondsAfterFinished of the attempt Jobs.")
    keep_jobs: bool = Field(
        default=True, alias="keepJobs",
        description="Keep the Jobs (and Pods) of finished attempts until the execution is deleted.")

    @property
    def site(self) -> Site:
        """The volumes and env sources, as the pure coverage check (``site.problems``) reads them."""
        return self

    @model_validator(mode="after")
    def _own_volume_names(self) -> OperatorConfig:
        taken = sorted(set(self.volumes) & PRODUCT_VOLUMES)
        if taken:
            raise ValueError(f"volumes: {', '.join(taken)} is the name of one of the execution Pod's own volumes "
                             f"({', '.join(sorted(PRODUCT_VOLUMES))})")
        return self

    @property
    def publish_grace_seconds(self) -> int:
        return _whole_seconds(self.publish_grace)

    @property
    def init_allowance_seconds(self) -> int:
        return _whole_seconds(self.init_allowance)

    @classmethod
    def from_mapping(cls, data: Any, source: str = "configuration") -> OperatorConfig:
        """Validate a parsed document; errors name the field, e.g. ``podDefaults.hostNetwork``."""
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"{source}: expected a mapping of settings, got {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigurationError(f"{source}: invalid operator configuration:\n{_describe(exc)}") from None

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> OperatorConfig:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"cannot read the operator configuration {path}: {exc.strerror or exc}") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigurationError(f"{path}: not valid YAML: {exc}") from None
        return cls.from_mapping(data, source=str(path))


def load_config(path: str | os.PathLike[str] | None = None,
                env: Mapping[str, str] | None = None) -> OperatorConfig:
    """The configuration from ``path``, else from the file ``$DIAGNOSTIC_OPERATOR_CONFIG``, else defaults."""
    env = os.environ if env is None else env
    chosen = path if path is not None else env.get(CONFIG_ENV) or None
    if chosen is None:
        return OperatorConfig()
    return OperatorConfig.from_yaml(chosen)


def _whole_seconds(duration: str) -> int:
    seconds = parse_duration(duration)
    whole = int(seconds)
    return whole if whole == seconds else whole + 1


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        loc = list(error["loc"])
        if len(loc) >= 3 and loc[0] == "queues" and loc[2] in ("kueue", "nodes"):
            del loc[2]  # the union's tag, not a key of the document
        if loc and loc[-1] == "[key]":
            loc.pop()
            error["msg"] = f"invalid name: {error['msg']}"
        where = ".".join(str(part) for part in loc) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        elif len(loc) == 2 and loc[0] == "queues" and error["type"] in ("model_type", "dict_type"):
            message = ("a queue is {kueue: {localQueue: NAME}} or "
                       "{nodeSelector: {...}, priorityClassName: NAME, tolerations: [...]}")
        lines.append(f"  {where}: {message}")
    return "\n".join(lines)
