"""The executor's settings: the ``[executor.config]`` table of Climate-REF's ref.toml.

Climate-REF passes that table to the executor's constructor as keyword arguments; this model validates it
once, so a typo in ref.toml stops ``ref solve`` before any DiagnosticExecution is created. Quantities and
durations use the operator's own types, so what is accepted here is what the operator accepts.
"""

from __future__ import annotations

from typing import Annotated

from diagnostic_operator.spec import (
    DNS_LABEL_PATTERN,
    CpuQuantity,
    Duration,
    MemoryQuantity,
    MountPath,
)
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

DnsLabel = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class SiteVolume(_Settings):
    """A volume of the operator's site configuration and the absolute path it has on the solve host.

    Execution Pods mount it at that same path, so every path in a definition (datasets, output folder)
    means the same file in the Pod as on the host that ran ``ref solve``.
    """

    name: DnsLabel
    path: MountPath


class Sizing(_Settings):
    """The resources of one attempt (the DiagnosticExecution's ``spec.resources``)."""

    memory: MemoryQuantity = "4Gi"
    cpu: CpuQuantity = "1"
    wall_clock: Duration = Field(default="6h", alias="wallClock")


class Learning(_Settings):
    """Sizing that learns from earlier solves (sizing.py): where a diagnostic without an explicit setting
    starts."""

    enabled: bool = True
    memory_margin: Annotated[float, Field(ge=1.0, le=4.0)] = Field(
        default=1.3, alias="memoryMargin", description="Multiplier of the p95 peak memory Climate-REF recorded.")
    wall_clock_margin: Annotated[float, Field(ge=1.0, le=10.0)] = Field(
        default=2.0, alias="wallClockMargin", description="Multiplier of the p95 wall time Climate-REF recorded.")
    min_wall_clock: Duration = Field(default="10m", alias="minWallClock",
                                     description="The shortest learned wall clock.")


class Retry(_Settings):
    """The retry policy every DiagnosticExecution gets (``spec.retry``); the exit codes are the entry point's."""

    max_attempts: Annotated[int, Field(ge=1, le=100)] = Field(default=3, alias="maxAttempts")
    memory_growth: Annotated[float, Field(ge=1.0, le=16.0)] = Field(default=1.5, alias="memoryGrowth")
    max_memory: MemoryQuantity = Field(default="64Gi", alias="maxMemory")
    wall_clock_growth: Annotated[float, Field(ge=1.0, le=16.0)] = Field(default=1.0, alias="wallClockGrowth")
    max_wall_clock: Duration | None = Field(default=None, alias="maxWallClock")
    infrastructure_retries: Annotated[int, Field(ge=0, le=100)] = Field(default=5, alias="infrastructureRetries")


class ExecutorSettings(_Settings):
    """Everything ``[executor.config]`` may hold."""

    namespace: DnsLabel = "default"
    name_prefix: Annotated[str, StringConstraints(min_length=1, max_length=20, pattern=DNS_LABEL_PATTERN)] = Field(
        default="ref", alias="namePrefix",
        description="Start of every DiagnosticExecution's name; one per Climate-REF database sharing a namespace.")
    images: dict[str, str] = Field(default_factory=dict, description="Image per provider slug.")
    default_image: str | None = Field(default=None, alias="defaultImage",
                                      description="Image of providers that `images` does not name.")
    python: str = Field(default="python", description="The Python of the image that has this package.")
    data_volumes: list[SiteVolume] = Field(default_factory=list, alias="dataVolumes",
                                           description="Read-only site volumes holding the input datasets.")
    scratch_volume: SiteVolume = Field(alias="scratchVolume",
                                       description="The writable site volume holding Climate-REF's scratch folder.")
    env: dict[str, str] = Field(default_factory=dict, description="Plain environment of the Pods (e.g. REF_*).")
    env_sources: list[DnsLabel] = Field(default_factory=list, alias="envSources")
    sizing: Sizing = Field(default_factory=Sizing, description="Resources of a diagnostic not in `diagnostics`.")
    diagnostics: dict[str, Sizing] = Field(
        default_factory=dict, description="Resources per diagnostic, keyed `provider/slug`.")
    learning: Learning = Field(default_factory=Learning)
    retry: Retry = Field(default_factory=Retry)
    poll_seconds: Annotated[float, Field(gt=0, le=600)] = Field(default=10.0, alias="pollSeconds")

    @model_validator(mode="after")
    def _distinct_paths(self) -> ExecutorSettings:
        seen: set[str] = set()
        for volume in [*self.data_volumes, self.scratch_volume]:
            if volume.path in seen or volume.name in seen:
                raise ValueError(f"volume {volume.name!r} at {volume.path!r}: its name or path appears twice")
            seen.update((volume.path, volume.name))
        return self

    def image_for(self, provider: str) -> str:
        image = self.images.get(provider, self.default_image)
        if image is None:
            raise ValueError(f"no image for provider {provider!r}: set images.{provider} or defaultImage")
        return image
