"""The shared test vectors (tests/vectors/manifest.json) through the Python binding:
`tollgate.verify` on every trusted-usage-license and usage-license case, and license-key
parsing through `LicenseManager.request_usage`. Valid cases must verify with the expected
fields, invalid ones must fail with exactly the expected code.

The host trusts a root, never a list of keys: a usage-license case (written for a host that
trusts a list of vendor keys) runs with the reference root and the root's certificate of the
reference vendor key; the three about which keys such a list trusts (a rotated key, an unknown
key) have no certificate to stand for them and are left to the trusted-usage-license cases."""

import base64
import zlib
from datetime import datetime, timezone

import pytest

import tollgate
from conftest import VECTORS

KINDS = {
    1: tollgate.ComponentKind.MACHINE_ID,
    2: tollgate.ComponentKind.DMI_PRODUCT_UUID,
    3: tollgate.ComponentKind.MAC,
    4: tollgate.ComponentKind.ROOT_DISK,
    5: tollgate.ComponentKind.HOSTNAME,
    6: tollgate.ComponentKind.WORKLOAD,
    7: tollgate.ComponentKind.CLOUD_INSTANCE,
    8: tollgate.ComponentKind.OPERATOR,
}


def load_manifest():
    import json

    return json.loads((VECTORS / "manifest.json").read_text(encoding="utf-8"))


MANIFEST = load_manifest()


def about_the_key_list(c):
    if "vendor_public_keys" not in c["inputs"]:
        return False
    if c["expect"]["result"] == "error":
        return c["expect"]["error"] == "UnknownKeyId"
    return c["expect"]["fields"]["key_id"] != REFERENCE_KEY_ID


REFERENCE = next(c for c in MANIFEST["cases"] if c["name"] == "key_certificate")
REFERENCE_KEY_ID = REFERENCE["expect"]["fields"]["key_id"]


def cases(*artifacts):
    return [pytest.param(c, id=c["name"]) for c in MANIFEST["cases"]
            if c["artifact"] in artifacts and c["text"] is not None
            and not about_the_key_list(c)]


def armor(prefix, hex_bytes):
    """The armored text of an artifact (core/SPEC.md §3): base64url of the bytes and their
    CRC-32 (little-endian), no padding."""
    raw = bytes.fromhex(hex_bytes)
    raw += zlib.crc32(raw).to_bytes(4, "little")
    return f"{prefix}:" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def text(case):
    # Read exactly: some cases contain deliberate whitespace.
    with open(VECTORS / case["text"], encoding="utf-8", newline="") as f:
        return f.read()


def iso(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def reference_host():
    """The reference host: its salt, and for each kind its raw identifier and digest."""
    case = next(c for c in MANIFEST["cases"] if c["artifact"] == "fingerprint")
    salt = bytes.fromhex(case["inputs"]["salt"]).decode("utf-8")
    digests = {c["kind"]: c["digest"] for c in case["expect"]["fields"]["components"]}
    raw = {c["kind"]: bytes.fromhex(c["raw"]) for c in case["inputs"]["components"]}
    return salt, {k: (raw[k], digests[k]) for k in raw}


def case_config(inputs):
    """A configuration for the case's host. Its fingerprint is given as digests; the raw
    identifiers are known for the reference host's only. A component whose digest is not the
    reference one cannot match the license either way, so leaving it out gives the same match
    (matched / licensed / required) as the case describes."""
    salt, ref = reference_host()
    components = []
    for c in inputs["host_fingerprint"]:
        raw, digest = ref.get(c["kind"], (None, None))
        if digest == c["digest"]:
            components.append(tollgate.FingerprintComponent(kind=KINDS[c["kind"]], value=raw))
    if "root_public_key" in inputs:
        root = bytes.fromhex(inputs["root_public_key"])
        certificates = [armor("TGKC", c) for c in inputs["certificates"]]
    else:
        root = bytes.fromhex(REFERENCE["inputs"]["root_public_key"])
        certificates = [(VECTORS / REFERENCE["text"]).read_text(encoding="utf-8").strip()]
    key_list = armor("TGKL", inputs["key_list"]) if inputs.get("key_list") else None
    return tollgate.HostConfig(
        product=inputs["product"], product_version="4.2.0", fingerprint_salt=salt,
        vendor_root=root, key_certificates=certificates, key_list=key_list, probes=False,
        allow_override=True, components=components)


def test_there_are_vectors():
    assert len(cases("usage-license")) == 37 and len(cases("trusted-usage-license")) == 10
    assert len(cases("license-key")) >= 5


@pytest.mark.parametrize("case", cases("usage-license", "trusted-usage-license"))
def test_usage_license(case):
    inputs, expect = case["inputs"], case["expect"]
    cfg = case_config(inputs)
    if expect["result"] == "error":
        with pytest.raises(tollgate.TollgateError) as e:
            tollgate.verify(cfg, text(case), inputs["now"])
        assert e.value.code == expect["code"], e.value
        assert e.value.name == expect["error"]
        assert isinstance(e.value, tollgate.TollgateError.Rejected)
        return
    info = tollgate.verify(cfg, text(case), inputs["now"])
    fields = expect["fields"]
    terms, grant = fields["terms"], fields["terms"]["grant"]
    assert info.license_id == grant["license_id"]
    assert info.revision == grant["revision"]
    assert info.customer == grant["customer"] and info.product == grant["product"]
    assert info.activation_id == terms["activation_id"]
    assert info.deployment_model == terms["model"]
    assert info.issued_at == iso(terms["issued_at"])
    assert info.refresh_deadline == (iso(terms["refresh_deadline"])
                                     if terms["refresh_deadline"] is not None else None)
    assert info.vendor_key_id == fields["key_id"]
    assert info.valid_from == (iso(fields["valid_from"]) if fields["valid_from"] else None)
    assert info.valid_until == (iso(fields["valid_until"])
                                if fields["valid_until"] is not None else None)
    # The same times as Unix seconds, carried without a text round trip.
    assert info.issued_at_secs == terms["issued_at"]
    assert info.installed_at_secs is None
    assert info.refresh_deadline_secs == terms["refresh_deadline"]
    assert info.valid_from_secs == (fields["valid_from"] or None)
    assert info.valid_until_secs == fields["valid_until"]
    fm = fields["fingerprint_match"]
    assert (info.fingerprint.matched, info.fingerprint.licensed, info.fingerprint.required) == (
        fm["matched"], fm["licensed"], fm["required"])
    assert info.fingerprint.ok
    assert [f.name for f in info.features] == [f["name"] for f in grant["features"]]
    for ours, theirs in zip(info.features, grant["features"]):
        assert ours.kind == theirs["kind"]
        assert ours.expires_at == (iso(theirs["expires_at"]) if "expires_at" in theirs else None)
        assert ours.expires_at_secs == theirs.get("expires_at")
        assert ours.quota == theirs.get("quota") and ours.period == theirs.get("period")
    assert [f.name for f in info.features if f.active] == fields["active_features"]


@pytest.mark.parametrize("case", cases("license-key"))
def test_license_key(case, tmp_path):
    """A key is parsed by `request_usage`: a typo is refused before anything is stored."""
    ref = next(c for c in MANIFEST["cases"] if c["name"] == "usage_license_offline")
    host = tollgate.LicenseManager.open(case_config(ref["inputs"]), str(tmp_path / "state"))
    try:
        if case["expect"]["result"] == "error":
            with pytest.raises(tollgate.TollgateError.Rejected) as e:
                host.request_usage(text(case))
            assert e.value.code == case["expect"]["code"]
            assert host.status().state == tollgate.LicenseState.UNLICENSED
        else:
            assert host.request_usage(text(case)).startswith("TGRQ:")
            assert host.status().state == tollgate.LicenseState.PENDING
    finally:
        host.release()
