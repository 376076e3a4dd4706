"""helm lint, helm template and schema validation of every rendered object.

Built-in kinds are checked with kubernetes-validate (strict: unknown fields
are errors) against its bundled schemas; the Prometheus Operator kinds
against the CRDs' openAPIV3Schema from shared/fixtures, made strict the way
the API server's field validation is (unknown fields are errors unless the
schema preserves them).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.helm.conftest import SCENARIOS
from tests.support.helm import REPO, Helm, by_kind

CRD_DIR = REPO.parent / "shared" / "fixtures" / "k8s" / "crds"
KUBERNETES_VERSION = "1.37.0"

# Kinds each scenario must render (more may appear).
EXPECTED_KINDS = {
    "default": {"ServiceAccount", "ConfigMap", "PersistentVolumeClaim", "Service", "Deployment"},
    "metallb": {"ServiceAccount", "ConfigMap", "Service", "Deployment", "NetworkPolicy"},
    "monitoring": {"ConfigMap", "Service", "Deployment", "ServiceMonitor", "PrometheusRule"},
    "sasl-tls": {"ConfigMap", "Service", "Deployment"},
    "replicas": {"ConfigMap", "Service", "Deployment", "PodDisruptionBudget"},
}


def _strict(schema: Any) -> Any:
    """Forbid fields a structural schema does not name, as the API server does."""
    if isinstance(schema, dict):
        out = {key: _strict(value) for key, value in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@cache
def crd_validators() -> dict[tuple[str, str], jsonschema.Draft7Validator]:
    """(apiVersion, kind) -> validator, for every served version of every CRD."""
    validators = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        [crd] = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("served", True):
                schema = _strict(version["schema"]["openAPIV3Schema"])
                validators[(f"{group}/{version['name']}", kind)] = jsonschema.Draft7Validator(
                    schema
                )
    return validators


def validate_object(obj: dict[str, Any]) -> None:
    """Raise for an object that a cluster with these CRDs would refuse."""
    validator = crd_validators().get((obj["apiVersion"], obj["kind"]))
    if validator is not None:
        errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
        return
    # SchemaNotFoundError (an unknown kind) propagates and fails the test.
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_every_scenario_is_there() -> None:
    assert set(SCENARIOS) == set(EXPECTED_KINDS)


def test_crd_fixtures_are_loaded() -> None:
    kinds = {kind for _, kind in crd_validators()}
    assert {"ServiceMonitor", "PrometheusRule", "IPAddressPool"} <= kinds


def test_lint_strict(helm: Helm, scenario: Path) -> None:
    done = helm.run("lint", "--strict", str(helm.chart), "--values", str(scenario))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout


def test_rendered_objects_validate(helm: Helm, scenario: Path) -> None:
    docs = helm.template([scenario])
    name = scenario.name.removesuffix("-values.yaml")
    assert EXPECTED_KINDS[name] <= {doc["kind"] for doc in docs}
    for doc in docs:
        try:
            validate_object(doc)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {list(e.path)}: {e.message}")
        assert doc["metadata"]["namespace"] == "bgp", doc["metadata"]["name"]


def test_validation_catches_a_bad_object(helm: Helm) -> None:
    """The validators are strict enough to refuse a misspelt field."""
    docs = helm.template([SCENARIOS["monitoring"]])
    deployment = dict(by_kind(docs, "Deployment")[0])
    deployment["spec"] = {**deployment["spec"], "replica": 1}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_object(deployment)
    monitor = dict(by_kind(docs, "ServiceMonitor")[0])
    monitor["spec"] = {**monitor["spec"], "endpoint": []}
    with pytest.raises(AssertionError, match="endpoint"):
        validate_object(monitor)


def test_unknown_kinds_are_not_waved_through() -> None:
    with pytest.raises(kubernetes_validate.utils.SchemaNotFoundError):
        validate_object({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {}})


def test_values_outside_the_schema_are_refused(helm: Helm) -> None:
    assert "additional properties 'worker' not allowed" in helm.template_error(
        sets=["config.worker=2"]
    )
    assert "metrics/service/type" in helm.template_error(sets=["metrics.service.type=External"])
