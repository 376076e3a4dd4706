"""The Deployment: agreement with the image, security defaults, state design."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.docker.image import image
from tests.helm.conftest import SCENARIOS
from tests.support.helm import Helm, by_kind, one


def pod_spec(docs: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = one(docs, "Deployment")["spec"]["template"]["spec"]
    return spec


def main_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    [main] = pod_spec(docs)["containers"]
    return dict(main)


def mounts(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """mountPath -> the volume mounted there."""
    volumes = {v["name"]: v for v in pod_spec(docs)["volumes"]}
    return {m["mountPath"]: volumes[m["name"]] for m in main_container(docs)["volumeMounts"]}


def test_pod_agrees_with_the_image(helm: Helm, scenario: Path) -> None:
    docs = helm.template([scenario])
    spec, main = pod_spec(docs), main_container(docs)
    img = image()
    # User: the Dockerfile's numeric USER, enforced by the pod too.
    assert spec["securityContext"]["runAsUser"] == img.uid
    assert spec["securityContext"]["runAsGroup"] == img.gid
    assert spec["securityContext"]["fsGroup"] == img.gid
    assert main["securityContext"]["runAsUser"] == img.uid
    # Port: EXPOSE, the container port and the config's server.port.
    [port] = main["ports"]
    assert port == {"name": "http", "containerPort": img.port, "protocol": "TCP"}
    # Command: the image's ENTRYPOINT (tini -- mrtfeed) is kept; the args are its CMD.
    assert "command" not in main
    assert main["args"] == img.cmd
    assert img.config_file in mounts(docs)
    # Probes: liveness on the HEALTHCHECK's path, readiness on /readyz, all on that port.
    health = urlsplit(img.healthcheck_url)
    assert health.port == img.port
    assert main["livenessProbe"]["httpGet"] == {"path": health.path, "port": "http"}
    assert main["startupProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}


def test_config_server_port_moves_the_container_port(helm: Helm) -> None:
    docs = helm.template(sets=["config.server.port=9300"])
    assert main_container(docs)["ports"][0]["containerPort"] == 9300
    assert one(docs, "Service")["spec"]["ports"][0]["targetPort"] == "http"


def test_security_defaults(helm: Helm) -> None:
    docs = helm.template()
    spec, main = pod_spec(docs), main_container(docs)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    ctx = main["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    assert one(docs, "ServiceAccount")["automountServiceAccountToken"] is False
    # The read-only root needs a writable /tmp.
    assert "emptyDir" in mounts(docs)["/tmp"]
    assert main["resources"]["limits"]["memory"] and main["resources"]["requests"]["cpu"]
    assert main["image"] == "mrtfeed:0.1.0"


def test_no_service_links_reach_the_config(helm: Helm) -> None:
    """With the release named mrtfeed, Kubernetes' service links for the chart's own
    Service (MRTFEED_METRICS_SERVICE_HOST, MRTFEED_METRICS_PORT, ...) were taken for
    config overrides: the pod exited 1 on "no config key metrics_port"."""
    docs = helm.template()  # release "mrtfeed", as the README installs it
    service = one(docs, "Service")["metadata"]["name"]
    assert service.upper().replace("-", "_").startswith("MRTFEED_")
    assert pod_spec(docs)["enableServiceLinks"] is False


def test_image_digest_wins_over_the_tag(helm: Helm) -> None:
    digest = "sha256:" + "ab" * 32
    docs = helm.template(sets=[f"image.digest={digest}", "image.tag=9.9.9"])
    assert main_container(docs)["image"] == f"mrtfeed@{digest}"


def test_single_replica_keeps_state_on_a_pvc_and_recreates(helm: Helm) -> None:
    docs = helm.template()
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pvc = one(docs, "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    state = mounts(docs)["/var/lib/mrtfeed"]
    assert state["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]


def test_existing_claim_is_used_as_is(helm: Helm) -> None:
    docs = helm.template(sets=["persistence.existingClaim=mrtfeed-old-state"])
    assert not by_kind(docs, "PersistentVolumeClaim")
    state = mounts(docs)["/var/lib/mrtfeed"]
    assert state["persistentVolumeClaim"]["claimName"] == "mrtfeed-old-state"


#: The largest archive file there is: a RIS rrc00 bview (docs/DOMAIN.md, 1.1).
LARGEST_ARCHIVE_FILE = 1.5e9


@pytest.mark.parametrize("persistence", ["true", "false"])
def test_the_state_volume_holds_the_downloads_in_flight(helm: Helm, persistence: str) -> None:
    """Downloads go to the state dir, whole, up to queues.files at a time, beside the
    quarantine; with the 2Gi default, two bviews at once filled the PVC (or evicted the
    pod)."""
    from mrtfeed.config import parse_config
    from tests.helm.test_config import rendered_config

    docs = helm.template(sets=[f"persistence.enabled={persistence}"])
    config = parse_config(rendered_config(docs), {})
    if persistence == "true":
        size = one(docs, "PersistentVolumeClaim")["spec"]["resources"]["requests"]["storage"]
    else:
        size = mounts(docs)[str(config.state.path)]["emptyDir"]["sizeLimit"]
    assert size.endswith("Gi")
    needed = config.queues.files * LARGEST_ARCHIVE_FILE + config.state.quarantine_max_bytes
    assert int(size[:-2]) * 2**30 >= needed + 2**30


def test_state_dir_follows_the_config(helm: Helm) -> None:
    docs = helm.template(sets=["config.state.dir=/data"])
    assert "persistentVolumeClaim" in mounts(docs)["/data"]


def test_replicas_share_work_through_kafka(helm: Helm) -> None:
    docs = helm.template([SCENARIOS["replicas"]])
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"] == {"type": "RollingUpdate"}
    assert not by_kind(docs, "PersistentVolumeClaim")
    assert "emptyDir" in mounts(docs)["/var/lib/mrtfeed"]
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["replicaCount=2"], "needs config.scale_out.enabled=true"),
        (
            ["replicaCount=2", "config.scale_out.enabled=true"],
            "needs persistence.enabled=false",
        ),
        (
            ["config.scale_out.enabled=true", "config.sink.type=jsonl"],
            "needs config.sink.type=kafka",
        ),
        (["updateStrategy=RollingUpdate"], "ReadWriteOnce volume"),
        (["pdb.enabled=true", "pdb.minAvailable=1"], "not both"),
    ],
)
def test_unsafe_combinations_are_refused(helm: Helm, sets: list[str], message: str) -> None:
    assert message in helm.template_error(sets=sets)


def test_pdb_is_off_by_default(helm: Helm) -> None:
    assert not by_kind(helm.template(), "PodDisruptionBudget")
    docs = helm.template(sets=["pdb.enabled=true", "pdb.minAvailable=1", "pdb.maxUnavailable=null"])
    assert one(docs, "PodDisruptionBudget")["spec"] == {
        "minAvailable": 1,
        "selector": one(docs, "Deployment")["spec"]["selector"],
    }


def test_network_policy_opens_only_what_mrtfeed_uses(helm: Helm) -> None:
    assert not by_kind(helm.template(), "NetworkPolicy")
    policy = one(helm.template([SCENARIOS["metallb"]]), "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    [ingress] = policy["ingress"]
    assert ingress["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert ingress["from"] == [{"ipBlock": {"cidr": "192.0.2.0/24"}}]
    egress_ports = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
    assert egress_ports == {53, 9092, 9093, 80, 443}


def test_network_policy_opens_the_ports_of_the_bootstrap_servers(helm: Helm) -> None:
    """Brokers on 9094 (SASL over TLS) were shut out unless kafkaPorts was changed too."""
    docs = helm.template([SCENARIOS["sasl-tls"]], sets=["networkPolicy.enabled=true"])
    policy = one(docs, "NetworkPolicy")["spec"]
    ports = [[p["port"] for p in rule["ports"]] for rule in policy["egress"]]
    assert [9092, 9093, 9094] in ports


def test_probes_can_be_turned_off_and_startup_allows_five_minutes(helm: Helm) -> None:
    main = main_container(helm.template())
    startup = main["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    assert "initialDelaySeconds" not in startup
    main = main_container(helm.template(sets=["livenessProbe.enabled=false"]))
    assert "livenessProbe" not in main
    assert {"startupProbe", "readinessProbe"} <= main.keys()
