"""KafkaSettings -> aiokafka options: security settings reach the client as documented."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from mrtfeed.sink.kafka import KafkaSettings, KafkaSinkError


def test_plaintext_has_no_security_options() -> None:
    options = KafkaSettings(bootstrap_servers=("k1:9092", "k2:9092")).connection_options()
    assert options["bootstrap_servers"] == ["k1:9092", "k2:9092"]
    assert options["security_protocol"] == "PLAINTEXT"
    assert "sasl_mechanism" not in options and "ssl_context" not in options


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_mechanisms_pass_credentials(mechanism: str) -> None:
    options = KafkaSettings(
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism=mechanism,
        sasl_username="mrtfeed",
        sasl_password="s3cret",
    ).connection_options()
    assert options["sasl_mechanism"] == mechanism
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "mrtfeed",
        "s3cret",
    )


def test_sasl_ssl_builds_a_verifying_tls_context() -> None:
    ca = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")
    options = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        tls_ca_file=str(ca),
    ).connection_options()
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_the_password_is_not_in_the_repr() -> None:
    assert "s3cret" not in repr(KafkaSettings(sasl_password="s3cret"))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (KafkaSettings(compression="brotli"), "compression"),
        (KafkaSettings(security_protocol="TLS"), "security_protocol"),
        (KafkaSettings(security_protocol="SASL_SSL", sasl_mechanism="GSSAPI"), "mechanism"),
    ],
)
def test_bad_values_are_named(settings: KafkaSettings, message: str) -> None:
    with pytest.raises(KafkaSinkError, match=message):
        settings.connection_options()
