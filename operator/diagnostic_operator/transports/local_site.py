"""What ``diagnostic-operator run`` makes of the site's configuration (``site.Site``): pure, no I/O.

Locally a volume is its ``local`` host folder, shown to the diagnostic at the spec's mount path
(``local_mounts``), and an env source's keys come from ``run``'s own environment. ``problems`` extends the
site's check (``site.problems(..., cluster=False)``) with what only a local run can see: an env source's key
missing from that environment, and a mount path that would hide the run's own folders. A spec with
problems ends at once as Failed, class Configuration, before anything is spawned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from diagnostic_operator import site as site_rules
from diagnostic_operator.spec import DiagnosticExecutionSpec, inside

#: The reason recorded with class Configuration when a local run cannot start as the spec asks.
CONFIGURATION_REASON = "Configuration"


@dataclass(frozen=True, slots=True)
class Bind:
    """One host folder (or file) the diagnostic sees at ``path``."""

    field: str      # the spec's or the site's field that asks for it: ``volumes[0]``, ``mounts[1]``
    volume: str     # the site volume's name
    path: str       # where the diagnostic sees it (the mount path)
    host: str       # the host folder: the volume's ``local`` folder, plus the mount's subPath
    read_only: bool


def binds(spec: DiagnosticExecutionSpec, site: site_rules.Site) -> list[Bind]:
    """Every mount of the site (``mounts``) and of the spec (``volumes``) with a ``local`` folder, parents
    before the mounts inside them (so a mount inside another one lands on top of it)."""
    found: list[Bind] = []
    site_mounts = len(site.mounts)
    for i, (mount, volume) in enumerate(site_rules.mount_items(spec, site)):
        if volume.local is None:
            continue
        field = f"mounts[{i}]" if i < site_mounts else f"volumes[{i - site_mounts}]"
        host = volume.local.rstrip("/") or "/"
        if mount.sub_path:
            host = f"{host.rstrip('/')}/{mount.sub_path}"
        found.append(Bind(field, mount.name, mount.mount_path, host, site_rules.read_only(mount, volume)))
    return sorted(found, key=lambda b: b.path.split("/"))


def host_path(path: str, mounted: Sequence[Bind]) -> str:
    """Where ``path``, as the diagnostic sees it, is on the host: through the deepest of ``mounted`` that
    holds it, or ``path`` itself when none does."""
    holders = [b for b in mounted if inside(path, b.path)]
    if not holders:
        return path
    deepest = max(holders, key=lambda b: len(b.path))
    rest = path[len(deepest.path):]
    return deepest.host.rstrip("/") + rest if rest else deepest.host


def mount_points(planned: Sequence[Bind]) -> list[tuple[Bind, str]]:
    """Each bind (in order) with where its mount point is on the host when it is mounted: through the
    binds before it (a mount inside another volume's folder needs its mount point in that folder)."""
    return [(bind, host_path(bind.path, planned[:i])) for i, bind in enumerate(planned)]


def results_folder(spec: DiagnosticExecutionSpec, site: site_rules.Site) -> str | None:
    """The host folder holding ``results.directory`` (None when the spec sets none): the publish step,
    which runs outside the mount namespace, reads the bundles there."""
    directory = spec.results.directory
    return None if directory is None else host_path(directory, binds(spec, site))


def source_env(spec: DiagnosticExecutionSpec, site: site_rules.Site,
               environ: Mapping[str, str]) -> dict[str, str]:
    """The variables the spec's env sources give the diagnostic, from ``environ`` (``problems`` must be
    empty). The values are secrets: they go into the diagnostic's environment and nowhere else."""
    return {key: environ[key] for name in spec.env_sources for key in site.env_sources[name].keys}


def _in_field_order(found: list[str], unset: list[tuple[int, str]]) -> list[str]:
    """``found`` (the site's problems, in field order) with ``unset`` (envSources problems, by index) among
    the other envSources problems, so that the message reads in the spec's order."""
    if not unset:
        return found
    first = next((i for i, text in enumerate(found) if text.startswith("envSources[")), None)
    if first is None:
        first = next((i for i, text in enumerate(found) if text.startswith("results.")), len(found))
    env = [(int(text[len("envSources["):text.index("]")]), text) for text in found if text.startswith("envSources[")]
    merged = [text for _, text in sorted(env + unset, key=lambda item: item[0])]
    rest = [text for text in found if not text.startswith("envSources[")]
    return rest[:first] + merged + rest[first:]


def problems(spec: DiagnosticExecutionSpec, site: site_rules.Site, environ: Mapping[str, str],
             own_folders: Mapping[str, str]) -> list[str]:
    """What keeps a local run from giving the diagnostic what ``spec`` asks for, each naming the field.

    ``environ`` is ``run``'s environment (where env sources' keys come from); ``own_folders`` maps a
    description to a folder the runner itself needs to see inside the mount namespace (the attempt's
    output folder, the shim): a mount path at or above one of them would hide it."""
    found = site_rules.problems(spec, site, cluster=False)
    unset: list[tuple[int, str]] = []
    for i, name in enumerate(spec.env_sources):
        source = site.env_sources.get(name)
        if source is None:
            continue  # reported by site.problems
        missing = [key for key in source.keys if key not in environ]
        if missing:
            verb = "is" if len(missing) == 1 else "are"
            unset.append((i, f"envSources[{i}]: env source {name!r} takes {', '.join(missing)} from the environment "
                             f"of `diagnostic-operator run`, where {'it' if len(missing) == 1 else 'they'} {verb} "
                             "not set"))
    found = _in_field_order(found, unset)
    if found:  # binds() needs every named volume to exist
        return found
    for bind in binds(spec, site):
        for what, folder in own_folders.items():
            if inside(folder, bind.path):
                found.append(f"{bind.field}.mountPath: {bind.path!r} would hide {what} ({folder}) from the "
                             "runner on this machine")
    return found


__all__ = ["CONFIGURATION_REASON", "Bind", "binds", "host_path", "mount_points", "problems", "results_folder",
           "source_env"]
