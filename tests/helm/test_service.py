"""The metrics Service: ClusterIP by default, MetalLB LoadBalancer on request."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helm.conftest import SCENARIOS
from tests.support.helm import Helm, one


def test_default_is_a_plain_cluster_ip(helm: Helm) -> None:
    service = one(helm.template(), "Service")
    spec = service["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["ports"] == [
        {"name": "http", "port": 9180, "targetPort": "http", "protocol": "TCP"}
    ]
    for key in ("loadBalancerClass", "loadBalancerSourceRanges", "externalTrafficPolicy"):
        assert key not in spec
    assert "annotations" not in service["metadata"]
    # Not-ready pods stay scrapeable: a pod waiting for Kafka still reports why.
    assert spec["publishNotReadyAddresses"] is True


def test_metallb_load_balancer(helm: Helm) -> None:
    docs = helm.template([SCENARIOS["metallb"]])
    service = one(docs, "Service")
    assert service["metadata"]["annotations"] == {
        "metallb.io/address-pool": "monitoring",
        "metallb.io/loadBalancerIPs": "198.51.100.20",
        "metallb.io/allow-shared-ip": "mrtfeed-metrics",
        "example.com/owner": "bgp-team",
    }
    spec = service["spec"]
    assert spec["type"] == "LoadBalancer"
    assert spec["externalTrafficPolicy"] == "Local"
    assert spec["loadBalancerSourceRanges"] == ["192.0.2.0/24"]
    # An empty class leaves the Service to MetalLB, which ignores classed Services.
    assert "loadBalancerClass" not in spec
    assert "loadBalancerIP" not in spec
    assert not any(k.startswith("metallb.universe.tf/") for k in service["metadata"]["annotations"])
    deployment = one(docs, "Deployment")
    assert spec["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_several_fixed_ips_and_a_class(helm: Helm) -> None:
    service = one(
        helm.template(
            sets=[
                "metrics.service.type=LoadBalancer",
                "metrics.service.metallb.loadBalancerIPs={198.51.100.20,2001:db8::20}",
                "metrics.service.loadBalancerClass=metallb.io/metallb",
                "metrics.service.nodePort=31180",
            ]
        ),
        "Service",
    )
    assert service["metadata"]["annotations"] == {
        "metallb.io/loadBalancerIPs": "198.51.100.20,2001:db8::20"
    }
    assert service["spec"]["loadBalancerClass"] == "metallb.io/metallb"
    assert service["spec"]["externalTrafficPolicy"] == "Cluster"
    assert service["spec"]["ports"][0]["nodePort"] == 31180


def test_node_port(helm: Helm) -> None:
    spec = one(helm.template(sets=["metrics.service.type=NodePort"]), "Service")["spec"]
    assert spec["type"] == "NodePort"
    assert spec["externalTrafficPolicy"] == "Cluster"
    assert "nodePort" not in spec["ports"][0]


@pytest.mark.parametrize(
    "setting",
    [
        "metrics.service.metallb.addressPool=monitoring",
        "metrics.service.metallb.allowSharedIP=key",
        "metrics.service.loadBalancerClass=metallb.io/metallb",
        "metrics.service.loadBalancerSourceRanges={10.0.0.0/8}",
    ],
)
def test_load_balancer_settings_need_a_load_balancer(helm: Helm, setting: str) -> None:
    assert "apply to metrics.service.type=LoadBalancer only" in helm.template_error(sets=[setting])


def test_notes_show_how_to_get_the_external_ip(helm: Helm, tmp_path: Path) -> None:
    notes = helm.notes([SCENARIOS["metallb"]], tmp_path)
    assert "kubectl get svc --namespace bgp -w mrtfeed-metrics" in notes
    assert "may take a while" in notes
    assert ".status.loadBalancer.ingress[0].ip" in notes
    assert "MetalLB address pool monitoring" in notes
    assert "curl http://$SERVICE_IP:9180/metrics" in notes


def test_notes_for_cluster_ip_port_forward(helm: Helm, tmp_path: Path) -> None:
    notes = helm.notes([SCENARIOS["default"]], tmp_path)
    assert "kubectl port-forward --namespace bgp svc/mrtfeed-metrics 9180:9180" in notes
    assert "LoadBalancer" not in notes
