"""render_kubernetes: the in-cluster balancer's HAProxy configuration (pods found
through headless Services and the cluster DNS), and ``crunch haproxy-config
--kube-service ...``, which the balancer pod's init container runs
(tests/packaging/test_balancer.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from app.balancer.haproxy import (
    HOLD_LUA,
    HOLD_SCRIPT,
    BalancerConfigError,
    BalancerSettings,
    Instance,
    KubeBackend,
    kube_maxconn,
    main,
    parse_kube_backend,
    render,
    render_kubernetes,
)

FQDN = "crunch-{}-pods.crunch.svc.cluster.local"


def backends(workers: int = 2, slots: int = 4) -> list[KubeBackend]:
    return [
        KubeBackend("web", "/", FQDN.format("web"), 8080, workers, slots),
        KubeBackend("hello", "/hello", FQDN.format("hello"), 8080, workers, slots),
        KubeBackend("world", "/world", FQDN.format("world"), 8080, workers, slots),
    ]


def test_pods_come_from_dns_with_one_slot_each_capped_at_their_workers() -> None:
    text = render_kubernetes(backends(workers=2, slots=6))
    assert "resolvers dns\n    parse-resolv-conf\n" in text
    line = f"server-template web 6 {FQDN.format('web')}:8080 resolvers dns init-addr none maxconn 2"
    assert f"    {line}\n" in text
    assert text.count("    balance leastconn\n") == 3
    assert "    bind 0.0.0.0:8080\n" in text


def test_routes_like_the_ingress() -> None:
    text = render_kubernetes(backends())
    assert "    acl route_hello path /hello or path_beg /hello/\n" in text
    assert "    use_backend world if route_world\n" in text
    assert "    default_backend web\n" in text
    only_api = [KubeBackend("api", "/api/", FQDN.format("api"), 8080, 1, 1)]
    text = render_kubernetes(only_api)
    assert "    acl route_api path /api or path_beg /api/\n" in text
    assert "default_backend" not in text and "http-request return status 404" in text


@pytest.mark.parametrize(
    ("workers", "replicas", "expected"), [(2, 1, 2), (2, 2, 1), (4, 3, 1), (1, 3, 1), (6, 2, 3)]
)
def test_maxconn_is_divided_among_balancer_replicas(
    workers: int, replicas: int, expected: int
) -> None:
    assert kube_maxconn(workers, replicas) == expected
    text = render_kubernetes(backends(workers=workers), replicas=replicas)
    assert text.count(f" init-addr none maxconn {expected}\n") == 3


def test_shares_timeouts_checks_and_errors_with_the_local_balancer() -> None:
    settings = BalancerSettings(host="0.0.0.0", port=8080, queue_timeout=3, retry_after=2)
    kube = render_kubernetes(backends(), settings)
    local = render([Instance("a", "127.0.0.1", 9001, 2)], settings)
    defaults = local[local.index("defaults\n") : local.index("frontend crunch")]
    assert defaults in kube
    head = local[local.index("    balance leastconn") : local.index("    server a ")]
    assert head in kube
    assert "timeout of 3s; retry later\"}' hdr Retry-After 2" in kube


def test_roundrobin_mode_has_no_maxconn() -> None:
    text = render_kubernetes(backends(), BalancerSettings(host="0.0.0.0", mode="roundrobin"))
    assert "maxconn 2\n" not in text and "balance roundrobin" in text


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: render_kubernetes([]), "no services"),
        (lambda: render_kubernetes(backends(), replicas=0), "replicas"),
        (lambda: render_kubernetes(backends() + backends()[:1]), "used twice"),
        (lambda: KubeBackend("web", "x", "a.b", 8080, 1, 1), "path"),
        (lambda: KubeBackend("web", "/", "a b", 8080, 1, 1), "not a host"),
        (lambda: KubeBackend("web", "/", "a.b", 8080, 0, 1), "out of range"),
    ],
)
def test_bad_descriptions_are_refused(make: Callable[[], object], message: str) -> None:
    with pytest.raises(BalancerConfigError, match=message):
        make()


@pytest.mark.haproxy
def test_passes_haproxy_check(haproxy_bin: str, tmp_path: Path) -> None:
    path = tmp_path / "haproxy.cfg"
    settings = BalancerSettings(host="0.0.0.0", port=8080, stats_port=8404, access_log=True)
    path.write_text(render_kubernetes(backends(), settings, replicas=2))
    done = subprocess.run(
        [haproxy_bin, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.haproxy
def test_written_to_a_file_it_holds_requests_while_no_pod_is_up(
    haproxy_bin: str, tmp_path: Path
) -> None:
    """What the balancer's init container does: the configuration and, beside it, the
    Lua hold every backend runs while it has no server (scale from zero)."""
    path = tmp_path / "haproxy.cfg"
    args = [f"--kube-service={b.name}={b.path}@{b.fqdn}:{b.port}/{b.workers}/{b.slots}"
            for b in backends()]  # fmt: skip
    assert main([*args, "--queue-timeout=20", "--output", str(path)]) == 0
    text = path.read_text()
    script = tmp_path / HOLD_SCRIPT
    assert script.read_text() == HOLD_LUA
    assert f"    lua-load {script}\n" in text
    assert text.count("    http-request lua.crunch_hold 20000 if { nbsrv() eq 0 }\n") == 3
    done = subprocess.run(
        [haproxy_bin, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_printed_it_has_no_hold(capsys: pytest.CaptureFixture[str]) -> None:
    spec = f"--kube-service=web=/@{FQDN.format('web')}:8080/1/2"
    assert main([spec]) == 0
    out = capsys.readouterr().out
    assert "lua" not in out


def test_kube_service_spec_is_parsed() -> None:
    spec = "hello=/hello@crunch-hello-pods.ns.svc.cluster.local:8080/2/10"
    assert parse_kube_backend(spec) == KubeBackend(
        "hello", "/hello", "crunch-hello-pods.ns.svc.cluster.local", 8080, 2, 10
    )


@pytest.mark.parametrize(
    "spec", ["hello=/hello@host:8080/2", "hello=hello@host:8080/2/10", "=/@host:1/1/1", "x"]
)
def test_bad_kube_service_spec_is_refused(spec: str) -> None:
    with pytest.raises(BalancerConfigError):
        parse_kube_backend(spec)


def test_command_line_renders_the_in_cluster_config(capsys: pytest.CaptureFixture[str]) -> None:
    args = [f"--kube-service={b.name}={b.path}@{b.fqdn}:{b.port}/{b.workers}/{b.slots}"
            for b in backends()]  # fmt: skip
    argv = [*args, "--balancer-replicas=2", "--host=0.0.0.0", "--port=8080", "--stats-port=8404",
            "--task-timeout=12.5", "--queue-timeout=2.5", "--queue-slack=1"]  # fmt: skip
    assert main(argv) == 0
    settings = BalancerSettings(
        host="0.0.0.0", port=8080, stats_port=8404, task_timeout=12.5, queue_timeout=2.5,
        queue_slack=1,
    )  # fmt: skip
    assert capsys.readouterr().out == render_kubernetes(backends(), settings, replicas=2)


def test_command_line_refuses_a_bad_service(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--kube-service=nope"]) == 2
    assert "expected NAME=PATH@HOST:PORT/WORKERS/SLOTS" in capsys.readouterr().err
