"""deploy/: the Dockerfile passes hadolint and keeps its promises (multi-stage, pinned
base, non-root); the Kubernetes manifests validate against the Kubernetes API schemas
offline and hold what docs/deploy.md says they hold. (Building and running the image
needs a container builder: tests/deploy/test_image.py.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

BIN = Path(sys.executable).parent
KUBE = ROOT / "deploy" / "kubernetes"
MANIFESTS = ["namespace.yaml", "colony.yaml", "join-token-secret.yaml", "agent.yaml"]


def _hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "hadolint"), "--no-color", "--failure-threshold", "info", str(path)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def test_the_dockerfile_passes_hadolint() -> None:
    done = _hadolint(ROOT / "Dockerfile")
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_catches_an_unpinned_root_image(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install coral-mcp\n")
    done = _hadolint(bad)
    assert done.returncode != 0 and "DL3007" in done.stdout  # "latest" is not pinned


def test_the_image_is_multi_stage_pinned_and_runs_unprivileged() -> None:
    text = (ROOT / "Dockerfile").read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", text, re.MULTILINE))
    bases = [
        args.get(m.group(2), "") if m.group(2) else m.group(1)
        for m in re.finditer(r"^FROM (\$\{(\w+)\}|\S+)", text, re.MULTILINE)
    ]  # a build argument's default is what `docker build` uses unless told
    assert len(bases) >= 2
    assert all(re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base) for base in bases), bases
    assert "-r requirements.lock" in text  # the dependencies' versions the tests ran with
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert "COPY --from=build /opt/coral /opt/coral" in text


def _documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((KUBE / name).read_text()) if d]


def test_the_manifests_validate_against_the_kubernetes_schemas() -> None:
    done = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", *(str(KUBE / m) for m in MANIFESTS)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("passed") == 6, done.stdout


def test_the_validator_refuses_a_wrong_manifest(tmp_path: Path) -> None:
    agent = (KUBE / "agent.yaml").read_text().replace("hostPID: true", "hostPID: yes-please")
    (tmp_path / "agent.yaml").write_text(agent)
    done = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", str(tmp_path / "agent.yaml")],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode != 0 and "hostPID" in done.stdout + done.stderr


def test_the_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    assert kustomization["resources"] == MANIFESTS
    on_disk = {p.name for p in KUBE.glob("*.yaml")} - {"kustomization.yaml"}
    assert on_disk == set(MANIFESTS)


def test_the_colony_is_a_statefulset_with_a_claim_behind_a_cluster_ip_service() -> None:
    kinds = {d["kind"]: d for d in _documents("colony.yaml")}
    service, colony = kinds["Service"], kinds["StatefulSet"]
    assert service["spec"]["type"] == "ClusterIP"
    assert {p["port"] for p in service["spec"]["ports"]} == {9001, 9002, 9010}
    claims = colony["spec"]["volumeClaimTemplates"]
    pod = colony["spec"]["template"]["spec"]
    mounts = pod["containers"][0]["volumeMounts"]
    assert claims[0]["metadata"]["name"] == "data"
    assert {"name": "data", "mountPath": "/var/lib/coral"} in mounts
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_the_agent_daemonset_sees_the_host_read_only_with_two_capabilities() -> None:
    agent = next(d for d in _documents("agent.yaml") if d["kind"] == "DaemonSet")
    pod = agent["spec"]["template"]["spec"]
    assert pod["hostPID"] is True and pod["hostNetwork"] is True
    container = pod["containers"][0]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["proc"]["readOnly"] is True and mounts["sys"]["readOnly"] is True
    paths = {v["name"]: v.get("hostPath", {}).get("path") for v in pod["volumes"]}
    assert paths["proc"] == "/proc" and paths["sys"] == "/sys"
    caps = container["securityContext"]["capabilities"]
    assert caps["drop"] == ["ALL"] and set(caps["add"]) == {"SYS_PTRACE", "DAC_READ_SEARCH"}
    token = container["env"][0]["valueFrom"]["secretKeyRef"]
    assert token == {"name": "coral-join-token", "key": "token"}
    assert "$(CORAL_JOIN_TOKEN)" in container["args"]


@pytest.mark.parametrize(
    ("name", "kind"), [("agent.yaml", "DaemonSet"), ("colony.yaml", "StatefulSet")]
)
def test_resources_are_requested_and_limited(name: str, kind: str) -> None:
    workload = next(d for d in _documents(name) if d["kind"] == kind)
    for container in workload["spec"]["template"]["spec"]["containers"]:
        assert set(container["resources"]) == {"requests", "limits"}


def test_the_agent_limit_leaves_room_over_its_measured_footprint() -> None:
    """benchmarks/RESULTS.md: the agent beside 50 processes peaked at 43.5 MiB."""
    agent = next(d for d in _documents("agent.yaml") if d["kind"] == "DaemonSet")
    resources = agent["spec"]["template"]["spec"]["containers"][0]["resources"]
    mib = {"Mi": 1, "Gi": 1024}
    request = int(resources["requests"]["memory"][:-2]) * mib[resources["requests"]["memory"][-2:]]
    limit = int(resources["limits"]["memory"][:-2]) * mib[resources["limits"]["memory"][-2:]]
    assert 43.5 < request <= limit and limit >= 2 * 43.5
