"""Marketplace mode through the Python binding (issue 17): a real `tollgate-server` trusting the
TEST "AWS" certificate of `tests/fixtures/marketplace/`, and Amazon's `amazon-ec2-metadata-mock`
(built by scripts/setup.sh into target/tools/bin) serving an identity document signed with its
key, as in the service's own marketplace test."""

import base64
import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

import tollgate
from conftest import MACHINE_A, REPO, Server, binary, dead_url, machine_config

FIXTURES = REPO / "tests" / "fixtures" / "marketplace"
AWS_CODE = "4i20ezfza3p7xx2kt2g8weu2u"
ONE_TRY = tollgate.OnlineOptions(attempts=1, connect_timeout_ms=2_000, timeout_ms=10_000)


def mock_binary() -> Path:
    p = Path(os.environ.get("TOLLGATE_EC2_METADATA_MOCK",
                            REPO / "target" / "tools" / "bin" / "ec2-metadata-mock"))
    if not p.exists():
        pytest.fail(f"{p} is missing: run scripts/setup.sh")
    return p


class Imds:
    """`ec2-metadata-mock` (IMDSv2 only) on a loopback port serving `doc` with `signature`."""

    def __init__(self, doc: dict, signature: str, tmp: Path):
        cfg = tmp / "aemm.json"
        cfg.write_text(json.dumps({"dynamic": {"values": {
            "instance-identity-document": doc, "instance-identity-signature": signature}}}))
        self.port = int(dead_url().rsplit(":", 1)[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([str(mock_binary()), "-n", "127.0.0.1", "-p",
                                      str(self.port), "-I", "-c", str(cfg)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(400):
            try:
                self.get("/latest/dynamic/instance-identity/document")
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        pytest.fail("ec2-metadata-mock did not start")

    def get(self, path: str) -> str:
        token = urllib.request.urlopen(urllib.request.Request(
            self.url + "/latest/api/token", method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"}), timeout=5).read()
        return urllib.request.urlopen(urllib.request.Request(
            self.url + path, headers={"X-aws-ec2-metadata-token": token.decode()}),
            timeout=5).read().decode()

    def stop(self):
        self.proc.kill()
        self.proc.wait(timeout=10)


def signed_imds(doc: dict, key: str, tmp: Path) -> Imds:
    """The mock serving `doc` signed (RSA-SHA256, as AWS signs) with fixture key `key`: started
    once to learn the exact bytes it serves, which are then signed."""
    probe = Imds(doc, "unsigned", tmp)
    served = probe.get("/latest/dynamic/instance-identity/document")
    probe.stop()
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(FIXTURES / key)],
                         input=served.encode(), capture_output=True, check=True).stdout
    return Imds(doc, base64.b64encode(sig).decode(), tmp)


def document(instance: str, codes: list) -> dict:
    return {"accountId": "0123456789", "imageId": "ami-0b69ea66ff7391e80",
            "availabilityZone": "us-east-1f", "marketplaceProductCodes": codes,
            "version": "2017-09-30", "privateIp": "10.0.7.10", "instanceId": instance,
            "pendingTime": "2019-10-31T07:02:24Z", "architecture": "x86_64",
            "instanceType": "m4.xlarge", "region": "us-east-1"}


def test_marketplace_start(live_vendor, tmp_path: Path):
    with pytest.raises(tollgate.TollgateError.Runtime) as e:
        tollgate.MarketplaceClient("gcp", "http://127.0.0.1:1")
    assert (e.value.code, e.value.name) == (211, "InvalidArgument")

    issued = live_vendor.issue("mqtt-server", models="online", activations=2,
                               customer="AWS Marketplace listing")
    config = tmp_path / "server.toml"
    config.write_text(
        f'[marketplace]\naws_certificates = ["{FIXTURES / "aws-cert.pem"}"]\n'
        f'[[marketplace.products]]\ncloud = "aws"\ncode = "{AWS_CODE}"\n'
        f'license_id = {issued.license_id}\n')
    env = dict(os.environ, TOLLGATE_DATA_DIR=str(live_vendor.home / live_vendor.name),
               TOLLGATE_LISTEN="127.0.0.1:0", TOLLGATE_LOG_FORMAT="text",
               TOLLGATE_CONFIG=str(config),
               TOLLGATE_ADMIN_TOKEN="python-marketplace-test-admin-token", NO_COLOR="1")
    service = Server([binary("TOLLGATE_SERVER", "tollgate-server", "tollgate-server")], env,
                     tmp_path / "server.log")
    m = tollgate.LicenseManager.open(machine_config(live_vendor, MACHINE_A),
                                     str(tmp_path / "host"))
    try:
        # No metadata service: Service 260, nothing installed.
        closed = tollgate.MarketplaceClient("aws", service.url, metadata_url=dead_url(),
                                            options=ONE_TRY)
        assert closed.cloud() == "aws"
        with pytest.raises(tollgate.TollgateError.Service) as e:
            closed.start(m)
        assert (e.value.code, e.value.name) == (260, "MetadataUnreachable")
        assert not m.has_feature("mqtt-server")

        # Signed by a key that is not the configured certificate's: the service's 381.
        forged = signed_imds(document("i-0aaaaaaaaaaaaaaa1", [AWS_CODE]), "forger-key.pem",
                             tmp_path)
        try:
            with pytest.raises(tollgate.TollgateError.Service) as e:
                tollgate.MarketplaceClient("aws", service.url, metadata_url=forged.url,
                                           options=ONE_TRY).start(m)
            assert (e.value.code, e.value.name) == (381, "IdentityForged")
        finally:
            forged.stop()
        assert not m.has_feature("mqtt-server")

        # The genuine instance comes licensed; the next start refreshes the same seat.
        imds = signed_imds(document("i-0aaaaaaaaaaaaaaa1", [AWS_CODE]), "aws-key.pem",
                           tmp_path)
        try:
            client = tollgate.MarketplaceClient("aws", service.url, metadata_url=imds.url,
                                                options=ONE_TRY)
            status = client.start(m)
            assert status.state == tollgate.LicenseState.ACTIVE
            assert status.license.license_id == issued.license_id
            assert status.license.deployment_model == "marketplace"
            assert m.has_feature("mqtt-server")
            again = client.start(m)
            assert again.license.activation_id == status.license.activation_id
        finally:
            imds.stop()
    finally:
        m.release()
        service.stop()
