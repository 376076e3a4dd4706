"""The ConfigMap's mrtfeed config: accepted by `mrtfeed check-config`, and free
of Kafka credentials, which reach the pod from Secrets only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helm.conftest import SCENARIOS
from tests.support.helm import Helm, one

MRTFEED = Path(sys.executable).parent / "mrtfeed"
TLS_DIR = "/etc/mrtfeed/tls"


def configmap(docs: list[dict[str, Any]]) -> dict[str, Any]:
    [found] = [d for d in docs if d["kind"] == "ConfigMap" and "config.yaml" in d["data"]]
    return found


def rendered_config(docs: list[dict[str, Any]]) -> dict[str, Any]:
    text = configmap(docs)["data"]["config.yaml"]
    config: dict[str, Any] = yaml.safe_load(text)
    return config


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    [main] = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return dict(main)


def pod_environment(docs: list[dict[str, Any]]) -> dict[str, str]:
    """The container's environment, with a stand-in for each Secret value."""
    env = {}
    for item in container(docs).get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = f"from-{ref['name']}-{ref['key']}"
    return env


def check_config(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MRTFEED), "check-config", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", **env},
    )


def test_check_config_accepts_the_rendered_config(
    helm: Helm, scenario: Path, tmp_path: Path
) -> None:
    """What `mrtfeed run` in the pod loads: the ConfigMap plus the pod's MRTFEED_* env."""
    docs = helm.template([scenario])
    path = tmp_path / "config.yaml"
    path.write_text(configmap(docs)["data"]["config.yaml"])
    done = check_config(path, pod_environment(docs))
    assert done.returncode == 0, f"{scenario.name}: {done.stdout}{done.stderr}"


def test_check_config_refuses_a_broken_config(tmp_path: Path) -> None:
    """The check above can fail: an unknown key is an error."""
    path = tmp_path / "config.yaml"
    path.write_text("config_version: 1\nworker: 2\n")
    assert check_config(path, {}).returncode != 0


def test_config_mirrors_the_values(helm: Helm) -> None:
    docs = helm.template([SCENARIOS["replicas"]])
    config = rendered_config(docs)
    assert config["config_version"] == 1
    assert config["scale_out"] == {"enabled": True, "group_id": "mrtfeed-prod"}
    assert config["collectors"]["include"] == ["route-views2", "route-views.linx", "rrc00", "rrc01"]
    # Numbers keep their form through helm (no 1.048576e+06).
    assert config["sink"]["kafka"]["max_batch_size"] == 1048576
    assert config["workers"] == 2


def test_sasl_and_tls_come_from_secrets(helm: Helm) -> None:
    docs = helm.template([SCENARIOS["sasl-tls"]])
    configmap_text = configmap(docs)["data"]["config.yaml"]
    kafka = rendered_config(docs)["sink"]["kafka"]
    assert kafka["security_protocol"] == "SASL_SSL"
    assert kafka["sasl"] == {"mechanism": "SCRAM-SHA-512"}
    assert "username" not in configmap_text and "password" not in configmap_text
    assert kafka["tls"] == {
        "ca_file": f"{TLS_DIR}/ca.crt",
        "cert_file": f"{TLS_DIR}/tls.crt",
        "key_file": f"{TLS_DIR}/tls.key",
    }

    main = container(docs)
    env = {item["name"]: item for item in main["env"]}
    for var, key in (("USERNAME", "username"), ("PASSWORD", "password")):
        item = env[f"MRTFEED_SINK__KAFKA__SASL__{var}"]
        assert "value" not in item
        assert item["valueFrom"]["secretKeyRef"] == {"name": "mrtfeed-kafka-sasl", "key": key}

    [mount] = [m for m in main["volumeMounts"] if m["mountPath"] == TLS_DIR]
    assert mount["readOnly"] is True
    volumes = one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]
    [tls] = [v for v in volumes if v["name"] == mount["name"]]
    assert tls["secret"]["secretName"] == "mrtfeed-kafka-tls"
    assert not [doc for doc in docs if doc["kind"] == "Secret"]


def test_server_only_tls_leaves_the_client_files_empty(helm: Helm) -> None:
    docs = helm.template(
        sets=[
            "kafka.tls.existingSecret=kafka-ca",
            "config.sink.kafka.security_protocol=SSL",
        ]
    )
    tls = rendered_config(docs)["sink"]["kafka"]["tls"]
    assert tls == {"ca_file": f"{TLS_DIR}/ca.crt", "cert_file": "", "key_file": ""}
    assert "env" not in container(docs)


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["config.sink.kafka.sasl.password=hunter2"], "kafka.sasl.existingSecret"),
        (["config.sink.kafka.sasl.username=mrtfeed"], "kafka.sasl.existingSecret"),
        (["kafka.sasl.existingSecret=s"], "must be SASL_SSL or SASL_PLAINTEXT"),
        (["kafka.tls.existingSecret=s"], "must be SSL or SASL_SSL"),
        (["config.sink.kafka.tls.ca_file=/ca.pem"], "set kafka.tls.existingSecret"),
        (
            [
                "kafka.tls.existingSecret=s",
                "config.sink.kafka.security_protocol=SSL",
                "kafka.tls.certKey=tls.crt",
            ],
            "certKey and kafka.tls.keyKey go together",
        ),
    ],
)
def test_credentials_in_values_are_refused(helm: Helm, sets: list[str], message: str) -> None:
    assert message in helm.template_error(sets=sets)


def test_config_change_restarts_the_pods(helm: Helm) -> None:
    def checksum(docs: list[dict[str, Any]]) -> str:
        annotations = one(docs, "Deployment")["spec"]["template"]["metadata"]["annotations"]
        value: str = annotations["checksum/config"]
        return value

    default = checksum(helm.template())
    assert checksum(helm.template(sets=["config.log.level=debug"])) != default
    assert checksum(helm.template(sets=["replicaCount=1"])) == default
