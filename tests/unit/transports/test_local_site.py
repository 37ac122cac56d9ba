"""What a local run makes of the site's configuration: tables for the pure functions of local_site."""

from __future__ import annotations

from typing import Any

import pytest

from diagnostic_operator.site import NOT_COVERED, Site, not_covered
from diagnostic_operator.spec import DiagnosticExecutionSpec
from diagnostic_operator.transports.local_site import (
    Bind,
    binds,
    host_path,
    mount_points,
    problems,
    results_folder,
    source_env,
)

SITE = Site.model_validate({
    "volumes": {
        "cmip": {"local": "/srv/cmip", "persistentVolumeClaim": {"claimName": "cmip", "readOnly": True}},
        "scratch": {"local": "/srv/scratch/"},
        "nolocal": {"nfs": {"server": "nfs.example.org", "path": "/export"}},
        "software": {"local": "/opt/sw"},
    },
    "mounts": [{"name": "software", "mountPath": "/sw", "readOnly": True}],
    "envSources": {
        "esgf": {"secret": "esgf", "keys": ["ESGF_USER", "ESGF_TOKEN"]},
        "s3": {"configMap": "s3", "keys": ["S3_ENDPOINT"]},
    },
})


def spec(**extra: Any) -> DiagnosticExecutionSpec:
    return DiagnosticExecutionSpec.model_validate(
        {"diagnostic": {"provider": "p", "slug": "s"}, "groupKey": "g", "image": "i", "command": ["true"], **extra})


def b(field: str, volume: str, path: str, host: str, read_only: bool = False) -> Bind:
    return Bind(field, volume, path, host, read_only)


def test_the_message_is_the_one_the_cluster_uses() -> None:
    assert not_covered(["a", "b"]) == "The site's configuration does not cover this spec: a; b"
    assert not_covered(["a"]).startswith(NOT_COVERED)


@pytest.mark.parametrize(("volumes", "expected"), [
    ([], [b("mounts[0]", "software", "/sw", "/opt/sw", True)]),
    # the site's read-only volume stays read-only whatever the spec says; a trailing / of `local` is dropped
    ([{"name": "cmip", "mountPath": "/data/cmip"}, {"name": "scratch", "mountPath": "/data/out", "subPath": "a/b"}],
     [b("volumes[0]", "cmip", "/data/cmip", "/srv/cmip", True), b("volumes[1]", "scratch", "/data/out", "/srv/scratch/a/b"),
      b("mounts[0]", "software", "/sw", "/opt/sw", True)]),
    # parents first whatever the spec's order, so that a mount inside another lands on top of it
    ([{"name": "scratch", "mountPath": "/data/cmip/out"}, {"name": "cmip", "mountPath": "/data/cmip"},
      {"name": "scratch", "mountPath": "/data-x"}],
     [b("volumes[1]", "cmip", "/data/cmip", "/srv/cmip", True), b("volumes[0]", "scratch", "/data/cmip/out", "/srv/scratch"),
      b("volumes[2]", "scratch", "/data-x", "/srv/scratch"), b("mounts[0]", "software", "/sw", "/opt/sw", True)]),
    # the spec asks read-only of a writable volume
    ([{"name": "scratch", "mountPath": "/s", "readOnly": True}],
     [b("volumes[0]", "scratch", "/s", "/srv/scratch", True), b("mounts[0]", "software", "/sw", "/opt/sw", True)]),
    # a volume without a local folder has no bind (problems() names it)
    ([{"name": "nolocal", "mountPath": "/n"}], [b("mounts[0]", "software", "/sw", "/opt/sw", True)]),
])
def test_binds(volumes: list[dict[str, Any]], expected: list[Bind]) -> None:
    assert binds(spec(volumes=volumes), SITE) == expected


MOUNTED = [b("volumes[0]", "cmip", "/data", "/srv/cmip"), b("volumes[1]", "scratch", "/data/out", "/srv/scratch"),
           b("volumes[2]", "root", "/r", "/")]


@pytest.mark.parametrize(("path", "expected"), [
    ("/data", "/srv/cmip"),
    ("/data/in/x.npy", "/srv/cmip/in/x.npy"),
    ("/data/out", "/srv/scratch"),                 # the deepest mount wins
    ("/data/out/run-1", "/srv/scratch/run-1"),
    ("/data/outside", "/srv/cmip/outside"),        # a sibling with a common prefix is not inside /data/out
    ("/database", "/database"),                    # nor is /database inside /data
    ("/elsewhere/x", "/elsewhere/x"),              # not under any mount: the same path
    ("/r/etc", "/etc"),                            # a host folder of / gives no //
])
def test_host_path(path: str, expected: str) -> None:
    assert host_path(path, MOUNTED) == expected


def test_mount_points_go_through_the_binds_before_them() -> None:
    planned = [b("v0", "a", "/data", "/srv/a"), b("v1", "b", "/data/out", "/srv/b"), b("v2", "c", "/sw", "/opt/sw"),
               b("v3", "d", "/data/out/x", "/srv/d")]
    assert [point for _, point in mount_points(planned)] == ["/data", "/srv/a/out", "/sw", "/srv/b/x"]


@pytest.mark.parametrize(("volumes", "directory", "expected"), [
    ([{"name": "scratch", "mountPath": "/data/out"}], "/data/out/ref", "/srv/scratch/ref"),
    ([{"name": "scratch", "mountPath": "/data/out"}], "/data/out", "/srv/scratch"),
    ([{"name": "scratch", "mountPath": "/data/out", "subPath": "runs"}], "/data/out/1", "/srv/scratch/runs/1"),
    ([{"name": "cmip", "mountPath": "/data"}, {"name": "scratch", "mountPath": "/data/out"}], "/data/out/r",
     "/srv/scratch/r"),
    ([{"name": "scratch", "mountPath": "/data/out"}], None, None),
])
def test_results_folder(volumes: list[dict[str, Any]], directory: str | None, expected: str | None) -> None:
    results = {"directory": directory} if directory else {}
    assert results_folder(spec(volumes=volumes, results=results), SITE) == expected


def test_source_env_takes_each_key_from_the_environment() -> None:
    environ = {"ESGF_USER": "me", "ESGF_TOKEN": "t0k", "S3_ENDPOINT": "http://s3", "OTHER": "x"}
    assert source_env(spec(envSources=["esgf"]), SITE, environ) == {"ESGF_USER": "me", "ESGF_TOKEN": "t0k"}
    assert source_env(spec(envSources=["esgf", "s3"]), SITE, environ) == {
        "ESGF_USER": "me", "ESGF_TOKEN": "t0k", "S3_ENDPOINT": "http://s3"}
    assert source_env(spec(), SITE, environ) == {}


OWN = {"the run's scratch folder": "/home/u/.local/share/diagnostic-operator/scratch/x-1",
       "the runner shim": "/venv/lib/diagnostic_operator/runtime/shim.sh"}
FULL_ENV = {"ESGF_USER": "me", "ESGF_TOKEN": "", "S3_ENDPOINT": "e"}


@pytest.mark.parametrize(("extra", "environ", "expected"), [
    ({"volumes": [{"name": "cmip", "mountPath": "/data"}], "envSources": ["esgf", "s3"]}, FULL_ENV, []),
    # an empty value is set: only a missing key is a problem
    ({"envSources": ["esgf"]}, {"ESGF_USER": "me", "ESGF_TOKEN": ""}, []),
    ({"volumes": [{"name": "nope", "mountPath": "/data"}]}, FULL_ENV,
     ["volumes[0].name: unknown volume 'nope' (configured: cmip, nolocal, scratch, software)"]),
    ({"volumes": [{"name": "nolocal", "mountPath": "/data"}]}, FULL_ENV,
     ["volumes[0].name: volume 'nolocal' has no `local` folder for `diagnostic-operator run`"]),
    ({"envSources": ["s3", "nope"]}, FULL_ENV, ["envSources[1]: unknown env source 'nope' (configured: esgf, s3)"]),
    ({"envSources": ["esgf"]}, {"ESGF_USER": "me"},
     ["envSources[0]: env source 'esgf' takes ESGF_TOKEN from the environment of `diagnostic-operator run`, where "
      "it is not set"]),
    ({"envSources": ["s3", "esgf"]}, {"S3_ENDPOINT": "e"},
     ["envSources[1]: env source 'esgf' takes ESGF_USER, ESGF_TOKEN from the environment of "
      "`diagnostic-operator run`, where they are not set"]),
    # in the spec's order, whoever finds them
    ({"envSources": ["esgf", "nope", "s3"], "volumes": [{"name": "nope", "mountPath": "/x"}],
      "results": {"directory": "/y"}}, {},
     ["volumes[0].name: unknown volume 'nope' (configured: cmip, nolocal, scratch, software)",
      "envSources[0]: env source 'esgf' takes ESGF_USER, ESGF_TOKEN from the environment of `diagnostic-operator run`, "
      "where they are not set",
      "envSources[1]: unknown env source 'nope' (configured: esgf, s3)",
      "envSources[2]: env source 's3' takes S3_ENDPOINT from the environment of `diagnostic-operator run`, where it is "
      "not set",
      "results.directory: '/y' is not inside a mounted volume (mount paths: /sw)"]),
    ({"envSources": ["s3"], "results": {"directory": "/y"}}, {},
     ["envSources[0]: env source 's3' takes S3_ENDPOINT from the environment of `diagnostic-operator run`, where it is "
      "not set",
      "results.directory: '/y' is not inside a mounted volume (mount paths: /sw)"]),
    ({"volumes": [{"name": "scratch", "mountPath": "/home/u"}]}, FULL_ENV,
     ["volumes[0].mountPath: '/home/u' would hide the run's scratch folder "
      "(/home/u/.local/share/diagnostic-operator/scratch/x-1) from the runner on this machine"]),
    ({"volumes": [{"name": "scratch", "mountPath": "/venv/lib"}]}, FULL_ENV,
     ["volumes[0].mountPath: '/venv/lib' would hide the runner shim (/venv/lib/diagnostic_operator/runtime/shim.sh) "
      "from the runner on this machine"]),
    ({"volumes": [{"name": "scratch", "mountPath": "/home/user"}]}, FULL_ENV, []),  # a sibling hides nothing
    ({"results": {"directory": "/data/out"}, "volumes": [{"name": "cmip", "mountPath": "/data"}]}, FULL_ENV,
     ["results.directory: '/data/out' is inside volumes[0] ('cmip' at '/data'), which is read-only"]),
])
def test_problems(extra: dict[str, Any], environ: dict[str, str], expected: list[str]) -> None:
    assert problems(spec(**extra), SITE, environ, OWN) == expected


def test_an_empty_site_covers_a_spec_without_volumes_and_env_sources() -> None:
    assert problems(spec(), Site(), {}, OWN) == []
    assert problems(spec(volumes=[{"name": "cmip", "mountPath": "/data"}]), Site(), {}, OWN) == [
        "volumes[0].name: unknown volume 'cmip' (none are configured)"]
