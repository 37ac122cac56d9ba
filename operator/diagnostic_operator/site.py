"""What a site gives its diagnostics: named volumes and named env sources, and the check that a spec asks only
for what the site has.

A spec never brings its own volume source or names a Secret: it picks a site's volume by name (with a mount
path) and a site's env source by name. The operator's service account creates the Pods, so a spec gets no
more than the site allows. The same names work locally: a volume's ``local`` folder is what ``run`` shows the
diagnostic at the spec's mount path, and an env source's keys come from ``run``'s own environment.

Pure: no I/O. ``problems`` is the one place that decides whether the site covers a spec; a spec it does not
cover ends at once as Failed, class Configuration (``lifecycle.plan``), naming the field and what is
configured.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from diagnostic_operator.quantities import QuantityError, memory_bytes
from diagnostic_operator.spec import (
    DNS_LABEL_PATTERN,
    ENV_NAME_PATTERN,
    RESERVED_ENV,
    DiagnosticExecutionSpec,
    VolumeMount,
    check_mount_path,
    inside,
)

DnsLabel = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DnsSubdomain = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]
EnvName = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=ENV_NAME_PATTERN)]
AbsolutePath = Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^/[^\x00]*$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class ClaimSource(_Model):
    claim_name: DnsSubdomain = Field(alias="claimName", description="The PersistentVolumeClaim's name.")
    read_only: bool = Field(default=False, alias="readOnly", description="Mount it read-only in every Pod.")


class NfsSource(_Model):
    server: Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=r"^[^\s\x00]+$")] = Field(
        description="The NFS server's host name or address.")
    path: AbsolutePath = Field(description="The exported path.")
    read_only: bool = Field(default=False, alias="readOnly", description="Mount it read-only in every Pod.")


class ConfigMapSource(_Model):
    name: DnsSubdomain = Field(description="The ConfigMap's name (always mounted read-only).")


class SecretSource(_Model):
    secret_name: DnsSubdomain = Field(alias="secretName", description="The Secret's name (always read-only).")


def _size_limit(value: str | None) -> str | None:
    if value is not None:
        try:
            memory_bytes(value)
        except QuantityError as exc:
            raise ValueError(str(exc)) from None
    return value


class EmptyDirSource(_Model):
    size_limit: Annotated[str, StringConstraints(max_length=32)] | None = Field(
        default=None, alias="sizeLimit", description="The folder's size limit, e.g. 20Gi.")

    @model_validator(mode="after")
    def _check(self) -> EmptyDirSource:
        _size_limit(self.size_limit)
        return self


class SiteVolume(_Model):
    """One named volume of the site: exactly one source, and optionally the host folder ``run`` uses."""

    persistent_volume_claim: ClaimSource | None = Field(default=None, alias="persistentVolumeClaim")
    nfs: NfsSource | None = None
    config_map: ConfigMapSource | None = Field(default=None, alias="configMap")
    secret: SecretSource | None = None
    empty_dir: EmptyDirSource | None = Field(default=None, alias="emptyDir")
    local: AbsolutePath | None = Field(
        default=None, description="The host folder that `diagnostic-operator run` shows at the mount path.")

    @model_validator(mode="after")
    def _one_source(self) -> SiteVolume:
        sources = [name for name, value in (
            ("persistentVolumeClaim", self.persistent_volume_claim), ("nfs", self.nfs),
            ("configMap", self.config_map), ("secret", self.secret), ("emptyDir", self.empty_dir)) if value]
        if len(sources) > 1:
            raise ValueError(f"a volume has one source, this one has {len(sources)}: {', '.join(sources)}")
        if not sources and self.local is None:
            raise ValueError("a volume needs a source: persistentVolumeClaim, nfs, configMap, secret, emptyDir "
                             "(or only `local`, for `diagnostic-operator run`)")
        return self

    @property
    def read_only(self) -> bool:
        """The site mounts it read-only whatever the spec asks (ConfigMaps and Secrets always are)."""
        if self.persistent_volume_claim is not None:
            return self.persistent_volume_claim.read_only
        if self.nfs is not None:
            return self.nfs.read_only
        return self.config_map is not None or self.secret is not None

    @property
    def in_cluster(self) -> bool:
        return any((self.persistent_volume_claim, self.nfs, self.config_map, self.secret, self.empty_dir))

    def pod_volume(self, name: str) -> dict[str, Any]:
        """The Pod's ``volumes[]`` item named ``name``."""
        if self.persistent_volume_claim is not None:
            claim: dict[str, Any] = {"claimName": self.persistent_volume_claim.claim_name}
            if self.persistent_volume_claim.read_only:
                claim["readOnly"] = True
            return {"name": name, "persistentVolumeClaim": claim}
        if self.nfs is not None:
            nfs: dict[str, Any] = {"server": self.nfs.server, "path": self.nfs.path}
            if self.nfs.read_only:
                nfs["readOnly"] = True
            return {"name": name, "nfs": nfs}
        if self.config_map is not None:
            return {"name": name, "configMap": {"name": self.config_map.name}}
        if self.secret is not None:
            return {"name": name, "secret": {"secretName": self.secret.secret_name}}
        empty: dict[str, Any] = {}
        if self.empty_dir is not None and self.empty_dir.size_limit is not None:
            empty["sizeLimit"] = self.empty_dir.size_limit
        return {"name": name, "emptyDir": empty}


class EnvSource(_Model):
    """Named data credentials: keys of a Secret or a ConfigMap that become the diagnostic's environment.
    The operator never reads the Secret; the kubelet does, when it starts the Pod."""

    secret: DnsSubdomain | None = Field(default=None, description="The Secret holding the keys.")
    config_map: DnsSubdomain | None = Field(default=None, alias="configMap", description="Or a ConfigMap.")
    keys: Annotated[list[EnvName], Field(min_length=1, max_length=64)] = Field(
        description="The keys it exposes; each becomes an environment variable of the same name.")

    @model_validator(mode="after")
    def _one_object(self) -> EnvSource:
        if (self.secret is None) == (self.config_map is None):
            raise ValueError("an env source names exactly one of secret or configMap")
        if len(set(self.keys)) != len(self.keys):
            raise ValueError("keys: a key appears twice")
        return self

    def env(self) -> list[dict[str, Any]]:
        """The runner's ``env`` items: each key from the object, by reference (no value is ever copied)."""
        kind, ref = ("secretKeyRef", self.secret) if self.secret else ("configMapKeyRef", self.config_map)
        return [{"name": key, "valueFrom": {kind: {"name": ref, "key": key}}} for key in self.keys]


class SiteMount(VolumeMount):
    """A volume the site mounts into every execution Pod."""


class Site(_Model):
    """The part of a site's configuration that diagnostics see: its volumes and env sources."""

    volumes: dict[DnsLabel, SiteVolume] = Field(
        default_factory=dict, description="Named volume sources that specs (and `mounts`) pick by name.")
    mounts: Annotated[list[SiteMount], Field(max_length=64)] = Field(
        default_factory=list, description="Volumes mounted into every execution Pod's runner.")
    env_sources: dict[DnsLabel, EnvSource] = Field(
        default_factory=dict, alias="envSources", description="Named env sources that specs pick by name.")

    @model_validator(mode="after")
    def _mounts_known(self) -> Site:
        seen: set[str] = set()
        for i, mount in enumerate(self.mounts):
            if mount.name not in self.volumes:
                raise ValueError(f"mounts[{i}].name: unknown volume {mount.name!r} ({_known(self.volumes)})")
            if mount.mount_path in seen:
                raise ValueError(f"mounts[{i}].mountPath: {mount.mount_path!r} is mounted twice")
            seen.add(mount.mount_path)
        return self


#: How an execution that asks for what the site does not have ends (class Configuration), in the cluster and
#: locally alike: this, then the ``problems`` joined by "; ".
NOT_COVERED = "The site's configuration does not cover this spec: "


def not_covered(found: Iterable[str]) -> str:
    """The message of an execution the site does not cover: ``NOT_COVERED`` and each problem."""
    return NOT_COVERED + "; ".join(found)


def _known(names: Iterable[str]) -> str:
    listed = ", ".join(sorted(names))
    return f"configured: {listed}" if listed else "none are configured"


def problems(spec: DiagnosticExecutionSpec, site: Site, *, cluster: bool = True) -> list[str]:
    """What ``spec`` asks for that ``site`` does not have, each naming the spec's field and what is configured.
    Empty when the site covers the spec. ``cluster=False``: the local run's view (each volume needs its
    ``local`` folder; env sources are read from ``run``'s environment)."""
    found: list[str] = []
    mounts: list[tuple[str, VolumeMount, bool]] = [
        (f"mounts[{i}]", m, site.volumes[m.name].read_only or m.read_only) for i, m in enumerate(site.mounts)]
    for i, mount in enumerate(spec.volumes):
        volume = site.volumes.get(mount.name)
        field = f"volumes[{i}].name"
        if volume is None:
            found.append(f"{field}: unknown volume {mount.name!r} ({_known(site.volumes)})")
            continue
        if cluster and not volume.in_cluster:
            found.append(f"{field}: volume {mount.name!r} has only a local folder, no source in the cluster")
        if not cluster and volume.local is None:
            found.append(f"{field}: volume {mount.name!r} has no `local` folder for `diagnostic-operator run`")
        for where, other, _ in mounts:
            if other.mount_path == mount.mount_path:
                found.append(f"volumes[{i}].mountPath: {mount.mount_path!r} is the site's {where} already")
        mounts.append((f"volumes[{i}]", mount, volume.read_only or mount.read_only))
    plain = {var.name for var in spec.env} | set(RESERVED_ENV) | {"HOME", "DIAGNOSTIC_RESULTS_DIR"}
    for i, name in enumerate(spec.env_sources):
        source = site.env_sources.get(name)
        if source is None:
            found.append(f"envSources[{i}]: unknown env source {name!r} ({_known(site.env_sources)})")
            continue
        clash = sorted(plain & set(source.keys))
        if clash:
            found.append(f"envSources[{i}]: env source {name!r} sets {', '.join(clash)}, which the spec's env or "
                         "the runner sets already")
    directory = spec.results.directory
    if directory is not None:
        holder = innermost(directory, mounts, lambda h: h[1].mount_path)
        if holder is None:
            found.append(f"results.directory: {directory!r} is not inside a mounted volume "
                         f"(mount paths: {', '.join(m.mount_path for _, m, _ in mounts) or 'none'})")
        elif holder[2]:
            where, mount, _ = holder
            found.append(f"results.directory: {directory!r} is inside {where} ({mount.name!r} at "
                         f"{mount.mount_path!r}), which is read-only")
    return found


_Mount = TypeVar("_Mount")


def innermost(path: str, mounts: Iterable[_Mount], mount_path: Callable[[_Mount], str]) -> _Mount | None:
    """Of the mounts whose folder holds ``path``, the innermost (the one ``path`` is on), or None."""
    return max((m for m in mounts if inside(path, mount_path(m))), key=lambda m: len(mount_path(m)), default=None)


def env_names(spec: DiagnosticExecutionSpec, site: Site) -> dict[str, str]:
    """Each environment variable an env source gives, with the source's name (for collisions)."""
    names: dict[str, str] = {}
    for name in spec.env_sources:
        for key in site.env_sources[name].keys:
            names.setdefault(key, name)
    return names


def references(spec: DiagnosticExecutionSpec, site: Site) -> dict[str, str]:
    """The Kubernetes objects the spec's env sources refer to, each with the spec field that picked it, so a
    kubelet's "secret \"x\" not found" can be told in the spec's terms."""
    named: dict[str, str] = {}
    for i, name in enumerate(spec.env_sources):
        source = site.env_sources.get(name)
        if source is not None:
            kind, obj = ("Secret", source.secret) if source.secret else ("ConfigMap", source.config_map)
            named.setdefault(str(obj), f"envSources[{i}] ({name!r}: {kind} {obj!r})")
    return named


def mount_items(spec: DiagnosticExecutionSpec, site: Site) -> list[tuple[VolumeMount, SiteVolume]]:
    """The site's mounts, then the spec's, each with its site volume (``problems`` must be empty)."""
    return [(m, site.volumes[m.name]) for m in (*site.mounts, *spec.volumes)]


def read_only(mount: VolumeMount, volume: SiteVolume) -> bool:
    return mount.read_only or volume.read_only


def local_folders(spec: DiagnosticExecutionSpec, site: Site) -> Mapping[str, tuple[str, bool]]:
    """For ``run``: mount path → (host folder, read-only), for every mount of the spec and the site that has
    a ``local`` folder."""
    folders: dict[str, tuple[str, bool]] = {}
    for mount, volume in mount_items(spec, site):
        if volume.local is None:
            continue
        host = volume.local.rstrip("/") or "/"
        if mount.sub_path:
            host = f"{host}/{mount.sub_path}"
        folders[mount.mount_path] = (host, read_only(mount, volume))
    return folders


__all__ = ["NOT_COVERED", "EnvSource", "Site", "SiteMount", "SiteVolume", "check_mount_path", "env_names",
           "local_folders", "mount_items", "not_covered", "problems", "read_only", "references"]
