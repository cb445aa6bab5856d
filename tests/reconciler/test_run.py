"""`fabric-intent run`: its options and errors, the Lease namespace, and a real process stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import Run, console_script
from fakeapi import FakeApiServer
from loop_support import SimFabric, wait_for
from memcluster import sample_objects
from run_support import free_port, holder

from reconciler.leader import ClusterAccessError
from reconciler.run import ClusterAccess, connect, lease_namespace


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        server.load(sample_objects())
        yield server


@pytest.fixture
def sim(tmp_path: Path) -> SimFabric:
    return SimFabric.create(tmp_path)


def test_outside_a_pod_a_kubeconfig_is_required(cli: Run, sim: SimFabric, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    result = cli("run", "--fabric", sim.inventory_file)
    assert result.code == 1 and "not running in a Kubernetes pod: give --kubeconfig FILE" in result.err


def test_a_missing_or_broken_kubeconfig_is_named(cli: Run, sim: SimFabric, tmp_path: Path) -> None:
    result = cli("run", "--fabric", sim.inventory_file, "--kubeconfig", tmp_path / "absent")
    assert result.code == 1 and "absent: no such file" in result.err
    broken = tmp_path / "broken"
    broken.write_text("apiVersion: v1\nkind: Config\nclusters: []\n", encoding="utf-8")
    result = cli("run", "--fabric", sim.inventory_file, "--kubeconfig", broken)
    assert result.code == 1 and "not a usable kubeconfig" in result.err


def test_a_bad_mode_or_setting_is_refused(cli: Run, sim: SimFabric, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "'fast' is not one of observe, plan, apply" in cli("run", "--fabric", sim.inventory_file,
                                                              "--mode", "fast").err
    monkeypatch.setenv("FABRIC_INTENT_LEASE_RENEW_DEADLINE", "30")
    result = cli("run", "--fabric", sim.inventory_file)
    assert result.code == 1 and "renew_deadline (30.0) < duration (15.0)" in result.err


def test_outside_a_pod_the_lease_namespace_is_created(api: FakeApiServer, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    access = connect(api.write_kubeconfig(tmp_path / "kubeconfig"))
    assert access.pod_namespace is None
    assert lease_namespace(access, None) == "fabric-intent"
    assert "fabric-intent" in {n["metadata"]["name"] for n in api.objects("Namespace")}


def test_a_namespace_rbac_forbids_creating_is_a_clear_error(api: FakeApiServer, cli: Run, sim: SimFabric,
                                                             tmp_path: Path) -> None:
    api.forbid("create", "namespaces")
    api.forbid("get", "namespaces")
    with pytest.raises(ClusterAccessError, match="may not create it"):
        lease_namespace(connect(api.write_kubeconfig(tmp_path / "k")), None)
    result = cli("run", "--fabric", sim.inventory_file, "--kubeconfig", tmp_path / "k")
    assert result.code == 1 and "--lease-namespace" in result.err
    assert not sim.state_file.exists()


def test_in_a_pod_the_lease_lives_in_the_pods_namespace(api: FakeApiServer, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("not used: the kubeconfig is given", encoding="utf-8")
    (account / "namespace").write_text("netops\n", encoding="utf-8")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    access = connect(api.write_kubeconfig(tmp_path / "kubeconfig"), account)
    assert access.pod_namespace == "netops"
    assert lease_namespace(access, None) == "netops"
    assert lease_namespace(ClusterAccess(access.api, "netops"), "elsewhere") == "elsewhere"
    assert "netops" not in {n["metadata"]["name"] for n in api.objects("Namespace")}  # never created from a pod


def test_the_process_converges_and_exits_0_on_sigterm_releasing_the_lease(api: FakeApiServer,
                                                                         sim: SimFabric) -> None:
    env = {**os.environ, "FABRIC_INTENT_LEASE_IDENTITY": "replica-proc", "FABRIC_INTENT_LEASE_DURATION": "3",
           "FABRIC_INTENT_LEASE_RENEW_DEADLINE": "2", "FABRIC_INTENT_LEASE_RETRY_PERIOD": "0.2",
           "FABRIC_INTENT_METRICS_ADDRESS": "127.0.0.1"}
    kubeconfig = api.write_kubeconfig(sim.folder / "kubeconfig")
    args = [console_script(), "run", "--kubeconfig", str(kubeconfig), "--fabric", str(sim.inventory_file),
            "--metrics-port", str(free_port())]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: len(sim.owned()) == 16 or proc.poll() is not None, timeout=30, what="convergence")
        assert proc.poll() is None, proc.communicate()[1]
        assert holder(api) == "replica-proc"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert holder(api) in ("", None)
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert {"started", "stopped"} <= {line["msg"] for line in lines}
    assert api.token not in err
