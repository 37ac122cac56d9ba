"""The ``DiagnosticExecution`` document: spec and status as pydantic models.

This is the one source of truth: the local ``run`` reads manifests with these models, the operator
validates objects with them, and the CRD's OpenAPI schema is generated from them.
Field names are camelCase, as in every Kubernetes API.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from diagnostic_operator.quantities import (
    DURATION_PATTERN,
    QUANTITY_PATTERN,
    QuantityError,
    cpu_millicores,
    memory_bytes,
    parse_duration,
    quantity_text,
)

API_GROUP = "diagnostic-operator.io"
API_VERSION = "v1alpha1"
KIND = "DiagnosticExecution"
PLURAL = "diagnosticexecutions"
FULL_API_VERSION = f"{API_GROUP}/{API_VERSION}"

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
ENV_NAME_PATTERN = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
RESERVED_ENV = frozenset({"DIAGNOSTIC_OUTPUT_DIR"})
#: Free text that ends up in argv, the environment or a database text column: anything but NUL (neither a
#: C string nor PostgreSQL's text can hold it). Python's and Go's (RE2, the API server's) regexes agree on it.
TEXT_PATTERN = r"^[^\x00]*$"
NONEMPTY_TEXT_PATTERN = r"^[^\x00]+$"
#: The product's own folders in the runner's container (the shim, its output folder, the writable /tmp) and
#: the kernel's: a spec's mount path or results folder never lands on or under one of them.
RESERVED_MOUNT_ROOTS = ("/do", "/tmp", "/dev", "/proc", "/sys")

#: Upper bounds of one attempt's resources: far above any real node (the largest have 24-32 TiB and
#: ~900 CPUs) and any diagnostic, low enough that a typo (``1Ei``, ``1e9``, ``100y``) is refused at once
#: instead of leaving a Pod Pending forever. The CRD carries the same bounds as CEL rules.
MAX_MEMORY = "32Ti"
MAX_CPU = "1024"
MAX_DURATION = "30d"
MAX_DURATION_SECONDS = 30 * 86400


def _check_quantity(kind: str) -> Any:
    limit = memory_bytes(MAX_MEMORY) if kind == "memory" else cpu_millicores(MAX_CPU)
    limit_text = MAX_MEMORY if kind == "memory" else f"{MAX_CPU} CPUs"

    def check(value: str) -> str:
        try:
            amount = (memory_bytes(value, kind) if kind == "memory" else cpu_millicores(value, kind))
        except QuantityError as exc:
            raise ValueError(str(exc)) from None
        if amount <= 0:
            raise ValueError(f"{value!r} must be greater than zero")
        if amount > limit:
            raise ValueError(f"{value!r} is more than the limit of {limit_text}")
        return value

    return AfterValidator(check)


def _check_duration(value: str) -> str:
    try:
        seconds = parse_duration(value)
    except QuantityError as exc:
        raise ValueError(str(exc)) from None
    if seconds <= 0:
        raise ValueError(f"{value!r} must be longer than zero")
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"{value!r} is longer than the limit of {MAX_DURATION}")
    return value


class _SchemaPattern:
    """Publishes ``pattern`` in the JSON schema (and so the CRD) without pydantic enforcing it: the models
    check the value with the product's message instead of quoting the regex."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
                                     ) -> JsonSchemaValue:
        out = handler(schema)
        out["pattern"] = self.pattern
        return out


def _matching(pattern: str, explain: Callable[[str], str]) -> Any:
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not regex.match(value):
            raise ValueError(explain(value))
        return value

    return AfterValidator(check)


#: The JSON schema of a quantity: int-or-string, as Kubernetes' own resource fields (crd.py keeps it so).
_INT_OR_STRING = WithJsonSchema({"anyOf": [{"type": "integer"}, {"type": "string"}],
                                 "x-kubernetes-int-or-string": True, "pattern": QUANTITY_PATTERN, "maxLength": 32})
MemoryQuantity = Annotated[
    str, BeforeValidator(quantity_text), StringConstraints(max_length=32), _check_quantity("memory"), _INT_OR_STRING
]
CpuQuantity = Annotated[
    str, BeforeValidator(quantity_text), StringConstraints(max_length=32), _check_quantity("cpu"), _INT_OR_STRING
]
Duration = Annotated[
    str, StringConstraints(max_length=32), AfterValidator(_check_duration), _SchemaPattern(DURATION_PATTERN)
]
DnsLabel = Annotated[str, StringConstraints(min_length=1, max_length=63), _matching(
    DNS_LABEL_PATTERN, lambda v: f"{v!r} is not a DNS label: lower-case letters, digits and '-', starting and "
                                 "ending with a letter or digit (e.g. global-mean-bias)"),
    _SchemaPattern(DNS_LABEL_PATTERN)]
EnvName = Annotated[str, StringConstraints(min_length=1, max_length=255), _matching(
    ENV_NAME_PATTERN, lambda v: f"{v!r} is not an environment variable name: letters, digits, '_', '-' and '.', "
                                "not starting with a digit"),
    _SchemaPattern(ENV_NAME_PATTERN)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=253)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Diagnostic(_Model):
    """Which diagnostic this is: provider, slug and version identify it across runs."""

    provider: DnsLabel = Field(
        description="The provider of the diagnostic, e.g. `esmvaltool`, `pmp`, `example`.")
    slug: DnsLabel = Field(
        description="The diagnostic's name within its provider.")
    version: Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=NONEMPTY_TEXT_PATTERN)] = Field(
        default="1", description="The diagnostic's version.")


class EnvVar(_Model):
    """A plain environment variable for the diagnostic. Secrets belong in the operator's configuration."""

    name: EnvName = Field(
        description="Variable name. `DIAGNOSTIC_OUTPUT_DIR` is reserved.")
    value: Annotated[str, StringConstraints(max_length=32768, pattern=TEXT_PATTERN)] = Field(
        default="", description="Value.")


class ResourceHint(_Model):
    """What one attempt needs. Becomes the runner container's requests/limits and deadlines."""

    memory: MemoryQuantity = Field(default="4Gi", description="Memory request and limit, e.g. 4Gi.")
    cpu: CpuQuantity = Field(default="1", description="CPU request, e.g. 1 or 500m.")
    cpu_limit: CpuQuantity | None = Field(
        default=None, alias="cpuLimit", description="CPU limit; none unless asked for."
    )
    wall_clock: Duration = Field(
        default="6h", alias="wallClock", description="Deadline of the diagnostic, from its start."
    )
    queue: DnsLabel | None = (
        Field(default=None, description="Routing: a Kueue LocalQueue or a queue of the operator's config.")
    )
    gpu: Annotated[int, Field(ge=0, le=16)] = Field(default=0, description="GPUs (extended resource).")

    @property
    def memory_bytes(self) -> int:
        return memory_bytes(self.memory)

    @property
    def cpu_millicores(self) -> int:
        return cpu_millicores(self.cpu)

    @property
    def wall_clock_seconds(self) -> float:
        return parse_duration(self.wall_clock)


class Backoff(_Model):
    """Exponential backoff between attempts: initial × factor^(n-1), at most max."""

    initial: Duration = Field(default="10s", description="Wait before the first retry.")
    max: Duration = Field(default="10m", description="Longest wait between attempts.")
    factor: Annotated[float, Field(ge=1.0, le=10.0)] = Field(default=2.0, description="Growth per retry.")


class RetryPolicy(_Model):
    """How many attempts, and how an attempt grows after running out of memory or time."""

    max_attempts: Annotated[int, Field(ge=1, le=100)] = Field(
        default=3, alias="maxAttempts",
        description="Attempts charged to the user's budget (every failure class except Infrastructure).")
    backoff: Backoff = Field(default_factory=Backoff, description="Exponential backoff between attempts.")
    memory_growth: Annotated[float, Field(ge=1.0, le=16.0)] = Field(
        default=1.5, alias="memoryGrowth", description="After an OOM, the next attempt's memory is this × the last.")
    max_memory: MemoryQuantity = Field(default="64Gi", alias="maxMemory",
                                       description="Memory never grows beyond this; an OOM at the cap gives up.")
    wall_clock_growth: Annotated[float, Field(ge=1.0, le=16.0)] = Field(
        default=1.0, alias="wallClockGrowth",
        description="After a timeout, the next attempt's wall clock is this × the last; "
                    "1.0 = timeouts are not retried.")
    max_wall_clock: Duration | None = Field(default=None, alias="maxWallClock",
                                            description="The wall clock never grows beyond this.")
    retryable_exit_codes: list[Annotated[int, Field(ge=1, le=255)]] = Field(
        default_factory=list, alias="retryableExitCodes", max_length=255,
        description="Exit codes of the diagnostic that are worth another attempt (otherwise a non-zero exit gives up).")
    infrastructure_retries: Annotated[int, Field(ge=0, le=100)] = Field(
        default=5, alias="infrastructureRetries",
        description="Retries after infrastructure failures (evictions, lost nodes, unreachable store), "
                    "on their own budget.")


class VocabularyMode(StrEnum):
    OFF = "off"
    WARN = "warn"
    FAIL = "fail"


def inside(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or below it (both absolute and normalised)."""
    folder = folder.rstrip("/")
    return path == folder or path.startswith(folder + "/") or folder == ""


def check_mount_path(value: str) -> str:
    """An absolute, normalised folder outside the product's own folders (``RESERVED_MOUNT_ROOTS``)."""
    if not value.startswith("/") or value == "/":
        raise ValueError(f"{value!r} must be an absolute folder other than /")
    parts = value.split("/")[1:]
    if value.endswith("/") or "" in parts or any(part in (".", "..") for part in parts):
        raise ValueError(f"{value!r} must be normalised: no trailing /, no //, no . or .. component")
    for root in RESERVED_MOUNT_ROOTS:
        if inside(value, root):
            raise ValueError(f"{value!r} is inside {root}, one of the product's own folders "
                             f"({', '.join(RESERVED_MOUNT_ROOTS)})")
    return value


MountPath = Annotated[str, StringConstraints(min_length=2, max_length=1024, pattern=r"^/[^\x00]*$"),
                      AfterValidator(check_mount_path)]


class CompatMode(StrEnum):
    """Which producers' dialect of the result formats is read (docs/climate-ref-compat.md)."""

    NONE = "none"
    CLIMATE_REF = "climate-ref"


RelativeFile = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class ResultFiles(_Model):
    """Where the diagnostic writes its result files: relative to `directory`, by default DIAGNOSTIC_OUTPUT_DIR."""

    directory: MountPath | None = Field(
        default=None,
        description="An absolute folder inside a writable mounted volume where the diagnostic writes its bundles "
                    "and the files they name (e.g. Climate-REF's output folder); the diagnostic owns it. Empty: "
                    "DIAGNOSTIC_OUTPUT_DIR. The runner shim's log and exit record stay in DIAGNOSTIC_OUTPUT_DIR.")

    metric_bundle: RelativeFile = Field(default="diagnostic.json", alias="metricBundle",
                                        description="The CMEC metric bundle (scalar values).")
    output_bundle: RelativeFile = Field(default="output.json", alias="outputBundle",
                                        description="The CMEC output bundle (plots, data, html files).")
    series: RelativeFile | None = Field(default="series.json", description="The series file; optional.")
    controlled_vocabulary: VocabularyMode = Field(
        default=VocabularyMode.WARN, alias="controlledVocabulary",
        description="Controlled-vocabulary checking of dimension values: off, warn or fail.")
    compat: CompatMode = Field(
        default=CompatMode.NONE,
        description="Dialect of the result files: none (the strict reader) or climate-ref (accept what "
                    "Climate-REF 0.20.2 accepts, with its meaning, counting what is dropped or stored as "
                    "missing in status.ingested.dropped; refuse what it refuses).")

    @model_validator(mode="after")
    def _relative(self) -> ResultFiles:
        for field, value in (("metricBundle", self.metric_bundle), ("outputBundle", self.output_bundle),
                             ("series", self.series)):
            if value is None:
                continue
            if value.startswith("/") or "\\" in value or "\x00" in value or _escapes(value):
                raise ValueError(f"{field}: {value!r} must be a relative path inside the output folder")
        return self


class VolumeMount(_Model):
    """A volume of the site (the operator's configuration names them), mounted into the diagnostic's container."""

    name: DnsLabel = Field(
        description="The name of a volume of the site's configuration (`volumes`).")
    mount_path: MountPath = Field(alias="mountPath", description="Where the diagnostic sees it: an absolute folder "
                                  "outside the product's folders (/do, /tmp, /dev, /proc, /sys).")
    read_only: bool = Field(default=False, alias="readOnly",
                            description="Mount it read-only (a volume the site mounts read-only always is).")
    sub_path: Annotated[str, StringConstraints(min_length=1, max_length=1024)] | None = Field(
        default=None, alias="subPath", description="A folder inside the volume to mount instead of its root.")

    @model_validator(mode="after")
    def _relative_sub_path(self) -> VolumeMount:
        value = self.sub_path
        if value is not None and (value.startswith("/") or "\\" in value or "\x00" in value or _escapes(value)):
            raise ValueError(f"subPath: {value!r} must be a relative path inside the volume")
        return self


def _escapes(path: str) -> bool:
    depth = 0
    for part in path.split("/"):
        if part in ("", "."):
            continue
        depth += -1 if part == ".." else 1
        if depth < 0:
            return True
    return depth <= 0


class OutputLocation(_Model):
    """Where outputs are published. Empty means the operator's (or `run`'s) default store."""

    store: Annotated[str, StringConstraints(
        max_length=1024,
        pattern=r"^(s3://[a-z0-9][a-z0-9.-]{1,62}(/[^\x00]*)?|file://[^\x00]+|/[^\x00]+)$")] | None = Field(
        default=None, description="`s3://bucket/prefix`, or a folder; empty = the default store.")


class Runtime(_Model):
    """How the diagnostic runs inside its container."""

    shim: bool = Field(
        default=True,
        description="Wrap the command in the runner shim (needs /bin/sh in the image). Without it the Pod runs "
                    "the bare command: no exit record or out.log, and the outcome is read from the Pod status.")


class DiagnosticExecutionSpec(_Model):
    """One request to run a diagnostic on one execution group."""

    diagnostic: Diagnostic = Field(description="Which diagnostic runs.")
    group_key: Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=NONEMPTY_TEXT_PATTERN)] = Field(
        alias="groupKey", description="The execution group: one diagnostic applied to one set of inputs.")
    dataset_hash: Annotated[str, StringConstraints(
        min_length=1, max_length=256, pattern=NONEMPTY_TEXT_PATTERN)] | None = Field(
        default=None, alias="datasetHash", description="Hash of the input datasets this execution runs on.")
    image: Annotated[str, StringConstraints(min_length=1, max_length=512, pattern=r"^[^\s\x00]+$")] = Field(
        description="The diagnostic's container image (the local transport runs the command on the host).")
    command: Annotated[list[Annotated[str, StringConstraints(max_length=4096, pattern=TEXT_PATTERN)]],
                       Field(min_length=1, max_length=256)] = Field(
        description="The command; the runner shim wraps it.")
    args: Annotated[list[Annotated[str, StringConstraints(max_length=4096, pattern=TEXT_PATTERN)]],
                    Field(max_length=1024)] = Field(
        default_factory=list, description="Arguments appended to the command.")
    env: Annotated[list[EnvVar], Field(max_length=256)] = Field(
        default_factory=list, description="Environment variables for the diagnostic.")
    env_sources: Annotated[list[DnsLabel], Field(max_length=32)] = Field(
        default_factory=list, alias="envSources",
        description="Env sources of the site's configuration (`envSources`) by name: data credentials, given to "
                    "the diagnostic as environment variables by the kubelet.")
    volumes: Annotated[list[VolumeMount], Field(max_length=32)] = Field(
        default_factory=list, description="Volumes of the site's configuration to mount, by name.")
    resources: ResourceHint = Field(default_factory=ResourceHint, description="The ResourceHint of one attempt.")
    retry: RetryPolicy = Field(default_factory=RetryPolicy, description="Retry policy.")
    pending_timeout: Duration = Field(
        default="10m", alias="pendingTimeout",
        description="A Pod that cannot start (image or configuration error) fails after this long.")
    results: ResultFiles = Field(default_factory=ResultFiles, description="The result files.")
    output: OutputLocation = Field(default_factory=OutputLocation, description="Where outputs are published.")
    runtime: Runtime = Field(default_factory=Runtime, description="How the command runs in its container.")
    cancel: bool = Field(default=False, description="Set to true to stop the execution (recorded as Cancelled).")

    @model_validator(mode="after")
    def _cross_field(self) -> DiagnosticExecutionSpec:
        if self.resources.memory_bytes > memory_bytes(self.retry.max_memory):
            raise ValueError(
                f"resources.memory ({self.resources.memory}) is larger than retry.maxMemory "
                f"({self.retry.max_memory})"
            )
        if parse_duration(self.retry.backoff.initial) > parse_duration(self.retry.backoff.max):
            raise ValueError(
                f"retry.backoff.initial ({self.retry.backoff.initial}) is longer than "
                f"retry.backoff.max ({self.retry.backoff.max})"
            )
        if self.retry.max_wall_clock is not None and (
            self.resources.wall_clock_seconds > parse_duration(self.retry.max_wall_clock)
        ):
            raise ValueError(
                f"resources.wallClock ({self.resources.wall_clock}) is longer than retry.maxWallClock "
                f"({self.retry.max_wall_clock})"
            )
        mounted: set[str] = set()
        for i, mount in enumerate(self.volumes):
            if mount.mount_path in mounted:
                raise ValueError(f"volumes[{i}].mountPath: {mount.mount_path!r} appears twice")
            mounted.add(mount.mount_path)
        for i, source in enumerate(self.env_sources):
            if source in self.env_sources[:i]:
                raise ValueError(f"envSources[{i}]: {source!r} appears twice")
        seen: set[str] = set()
        for i, var in enumerate(self.env):
            if var.name in RESERVED_ENV:
                raise ValueError(f"env[{i}].name: {var.name!r} is set by the runner and cannot be overridden")
            if var.name in seen:
                raise ValueError(f"env[{i}].name: {var.name!r} appears twice")
            seen.add(var.name)
        return self


class ObjectMeta(BaseModel):
    """The part of Kubernetes metadata a manifest needs; other keys are kept but not checked."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    name: DnsLabel
    namespace: DnsLabel | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    uid: str | None = None
    generation: int | None = None


class DiagnosticExecution(BaseModel):
    """A whole ``DiagnosticExecution`` manifest."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    api_version: Literal["diagnostic-operator.io/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["DiagnosticExecution"]
    metadata: ObjectMeta
    spec: DiagnosticExecutionSpec
    status: dict[str, Any] | None = None


# ----------------------------------------------------------------------------------------------
# Status: what `kubectl get dx -o yaml` and `diagnostic-operator executions show --json` both print.


class Phase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    RETRYING = "Retrying"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @property
    def terminal(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED)


class FailureClass(StrEnum):
    """The lifecycle's failure classes (lifecycle.md); ``Success`` is the absence of failure."""

    SUCCESS = "Success"
    OUT_OF_MEMORY = "OutOfMemory"
    TIMED_OUT = "TimedOut"
    INFRASTRUCTURE = "Infrastructure"
    CONFIGURATION = "Configuration"
    DIAGNOSTIC_ERROR = "DiagnosticError"
    CANCELLED = "Cancelled"


class Decision(StrEnum):
    SUCCESS = "SUCCESS"
    RETRY = "RETRY"
    GIVE_UP = "GIVE_UP"
    CANCEL = "CANCEL"


class Condition(BaseModel):
    """A kstatus-compatible condition."""

    model_config = ConfigDict(populate_by_name=True)

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str = ""
    message: str = ""
    last_transition_time: str | None = Field(default=None, alias="lastTransitionTime")
    observed_generation: int | None = Field(default=None, alias="observedGeneration")


class AttemptResources(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    memory: str
    cpu: str
    wall_clock: str = Field(alias="wallClock")


class AttemptTelemetry(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    duration_seconds: float | None = Field(default=None, alias="durationSeconds")
    cpu_seconds: float | None = Field(default=None, alias="cpuSeconds")
    peak_memory_bytes: int | None = Field(default=None, alias="peakMemoryBytes")
    peak_memory_source: str | None = Field(default=None, alias="peakMemorySource")
    memory_limit_bytes: int | None = Field(default=None, alias="memoryLimitBytes")
    queue_seconds: float | None = Field(default=None, alias="queueSeconds")


class AttemptStatus(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    number: int
    job: str | None = None
    pod: str | None = None
    node: str | None = None
    start_time: str | None = Field(default=None, alias="startTime")
    end_time: str | None = Field(default=None, alias="endTime")
    exit_code: int | None = Field(default=None, alias="exitCode")
    signal: int | None = None
    reason: str | None = None
    message: str | None = None
    failure_class: FailureClass | None = Field(default=None, alias="failureClass")
    decision: Decision | None = None
    resources: AttemptResources | None = None
    telemetry: AttemptTelemetry = Field(default_factory=AttemptTelemetry)
    log_location: str | None = Field(default=None, alias="logLocation")
    partial_files: int | None = Field(
        default=None, alias="partialFiles",
        description="Files of the results folder a failed or timed-out attempt left behind, published under "
                    "its partial/ prefix and never ingested as values (absent when there were none).")


class IngestCounts(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    outputs: int = 0
    scalar_values: int = Field(default=0, alias="scalarValues")
    series_values: int = Field(default=0, alias="seriesValues")
    dropped: int = Field(default=0, description="Items of the result files not stored as written: dropped "
                                                "or stored as missing values (only with results.compat).")


MAX_ATTEMPT_HISTORY = 20


class DiagnosticExecutionStatus(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    phase: Phase = Phase.PENDING
    observed_generation: int | None = Field(default=None, alias="observedGeneration")
    conditions: list[Condition] = Field(default_factory=list)
    attempt: int = 0
    attempts: list[AttemptStatus] = Field(default_factory=list, max_length=MAX_ATTEMPT_HISTORY)
    failure_class: FailureClass | None = Field(default=None, alias="failureClass")
    reason: str | None = None
    message: str | None = None
    output_location: str | None = Field(default=None, alias="outputLocation")
    ingested: IngestCounts = Field(default_factory=IngestCounts)
    database_execution_id: int | None = Field(default=None, alias="databaseExecutionId")
    start_time: str | None = Field(default=None, alias="startTime")
    completion_time: str | None = Field(default=None, alias="completionTime")
    duration: str | None = Field(default=None, description="Start to end (or to now), e.g. 4m12s.")


_CAMEL = re.compile(r"_([a-z])")


def camel(name: str) -> str:
    return _CAMEL.sub(lambda m: m.group(1).upper(), name)
