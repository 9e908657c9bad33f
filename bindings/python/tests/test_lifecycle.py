"""The offline license lifecycle through the Python binding, with the vendor played by the
`tollgate` command: request, install, status, feature checks, meters, upgrade, deactivation,
and the errors a host meets on the way."""

import json
import threading
from datetime import datetime, timezone

import pytest

import tollgate
from conftest import DAY, MACHINE_B, T0, VENDOR_ROOT, VendorRefused

FEATURES = ("mqtt-server", "support:for=1y", "iot-bridge-snowflake:1000/month")


def activate(vendor, host, *features, activations=1):
    """Issues a license and runs the whole round trip on `host`; returns the issued license
    and the usage license."""
    issued = vendor.issue(*(features or FEATURES), activations=activations)
    usage_license = vendor.fulfil(host.request_usage(issued.key))
    host.install(usage_license)
    return issued, usage_license


def test_offline_round_trip(vendor, hosts):
    host = hosts.open()
    status = host.status()
    assert status.state == tollgate.LicenseState.UNLICENSED
    assert (status.product, status.product_version) == ("chariot", "4.2.0")
    assert status.license is None and status.error is None

    issued = vendor.issue(*FEATURES)
    request = host.request_usage(issued.key)
    assert request.startswith("TGRQ:")
    assert host.pending_request() == request
    status = host.status()
    assert status.state == tollgate.LicenseState.PENDING and status.pending_request
    assert not host.has_feature("mqtt-server")
    with pytest.raises(tollgate.TollgateError) as e:
        host.check()
    assert e.value.code == 200 and e.value.name == "NotActivated"

    usage_license = vendor.fulfil(request)
    assert usage_license.startswith("TGUL:")
    status = host.install(usage_license)
    assert status.state == tollgate.LicenseState.ACTIVE
    assert status.error is None and not status.pending_request
    assert host.pending_request() is None
    host.check()

    lic = status.license
    assert lic.license_id == issued.license_id
    assert lic.customer == "ACME Industrial" and lic.product == "chariot"
    assert lic.deployment_model == "offline" and lic.revision == 1
    assert lic.installed_at == status.checked_at == "2026-01-01T09:00:00Z"
    assert lic.installed_at_secs == status.checked_at_secs == T0
    assert lic.issued_at_secs == T0 and lic.valid_until_secs is None
    assert (lic.fingerprint.matched, lic.fingerprint.licensed, lic.fingerprint.required) == (5, 5, 3)
    assert lic.fingerprint.ok
    features = {f.name: f for f in lic.features}
    assert [f.name for f in lic.features] == ["mqtt-server", "support", "iot-bridge-snowflake"]
    assert features["mqtt-server"].kind == "perpetual" and features["mqtt-server"].active
    assert features["support"].kind == "subscription"
    assert features["support"].expires_at.startswith("2027-01-01")
    expires = datetime.strptime(features["support"].expires_at, "%Y-%m-%dT%H:%M:%SZ")
    assert features["support"].expires_at_secs == expires.replace(tzinfo=timezone.utc).timestamp()
    assert features["mqtt-server"].expires_at_secs is None
    bridge = features["iot-bridge-snowflake"]
    assert (bridge.kind, bridge.quota, bridge.period, bridge.used) == ("metered", 1000, "month", 0)

    assert host.has_feature("mqtt-server") and host.has_feature("support")
    assert host.has_feature("iot-bridge-snowflake")
    assert not host.has_feature("mqtt-server-enterprise") and not host.has_feature("")

    doc = json.loads(host.status_json())
    assert doc["state"] == "active"
    assert doc["license"]["license_id"] == issued.license_id
    assert [f["name"] for f in doc["license"]["features"]] == list(features)

    # Installing the installed license again changes nothing.
    assert host.install(usage_license).state == tollgate.LicenseState.ACTIVE

    # The same license verified without state, as a support tool would.
    info = tollgate.verify(hosts.config(), usage_license, hosts.clock.now())
    assert info.license_id == issued.license_id and info.installed_at is None
    assert [f.name for f in info.features if f.active] == list(features)


def test_state_survives_reopening(vendor, hosts):
    host = hosts.open()
    issued, _ = activate(vendor, host)
    host.release()
    again = hosts.open()
    assert again.status().state == tollgate.LicenseState.ACTIVE
    assert again.status().license.license_id == issued.license_id
    assert again.has_feature("mqtt-server")


def test_meters(vendor, hosts):
    host = hosts.open()
    activate(vendor, host)
    reading = host.record_usage("iot-bridge-snowflake", 400)
    assert (reading.used, reading.quota, reading.remaining, reading.period) == (400, 1000, 600, "month")
    assert reading.period_start <= hosts.clock.now() < reading.period_end
    assert host.record_usage("iot-bridge-snowflake", 600).remaining == 0

    with pytest.raises(tollgate.TollgateError.Runtime) as e:
        host.record_usage("iot-bridge-snowflake", 1)
    assert e.value.code == 208 and e.value.name == "QuotaExceeded"
    assert host.meter("iot-bridge-snowflake").used == 1000  # nothing recorded
    features = {f.name: f for f in host.status().license.features}
    assert features["iot-bridge-snowflake"].used == 1000

    with pytest.raises(tollgate.TollgateError) as e:
        host.record_usage("mqtt-server", 1)
    assert e.value.code == 214
    with pytest.raises(tollgate.TollgateError) as e:
        host.meter("no-such-feature")
    assert e.value.code == 209

    # A new month starts from zero; the count is durable.
    hosts.clock.advance(31 * DAY)
    assert host.meter("iot-bridge-snowflake").used == 0
    host.record_usage("iot-bridge-snowflake", 5)
    host.release()
    assert hosts.open().meter("iot-bridge-snowflake").used == 5


def test_typo_in_license_key(vendor, hosts):
    host = hosts.open()
    issued = vendor.issue("mqtt-server")
    key = issued.key
    typo = key[:3] + ("A" if key[3] != "A" else "B") + key[4:]
    with pytest.raises(tollgate.TollgateError.Rejected) as e:
        host.request_usage(typo)
    assert e.value.code == 118 and e.value.name == "KeyChecksum"
    assert "typo" in e.value.reason
    with pytest.raises(tollgate.TollgateError) as e:
        host.request_usage(key[:-1])
    assert e.value.code == 117
    assert host.status().state == tollgate.LicenseState.UNLICENSED
    # As the customer may type it: lower case, without dashes.
    assert host.request_usage(key.replace("-", "").lower()).startswith("TGRQ:")


def test_tampered_usage_license(vendor, hosts):
    host = hosts.open()
    issued = vendor.issue(*FEATURES)
    usage_license = vendor.fulfil(host.request_usage(issued.key))
    body = usage_license.index(":") + 40
    tampered = usage_license[:body] + ("A" if usage_license[body] != "A" else "B") + usage_license[body + 1:]
    with pytest.raises(tollgate.TollgateError.Rejected) as e:
        host.install(tampered)
    assert e.value.code == 102 and e.value.name == "ArmorChecksum"
    with pytest.raises(tollgate.TollgateError.Rejected) as e:
        host.install(usage_license[:-4])
    assert e.value.code in range(100, 112)
    with pytest.raises(tollgate.TollgateError) as e:
        host.install("TGRQ:" + usage_license[5:])
    assert e.value.code in range(100, 121)
    # Nothing changed: the genuine one still installs.
    assert host.status().state == tollgate.LicenseState.PENDING
    assert host.install(usage_license).state == tollgate.LicenseState.ACTIVE


def test_superseded_request_and_upgrade(vendor, hosts):
    host = hosts.open()
    issued = vendor.issue("mqtt-server", "support:for=1y")
    first = vendor.fulfil(host.request_usage(issued.key))
    # The customer makes a second request before installing the answer to the first.
    second_request = host.request_usage(issued.key)
    with pytest.raises(tollgate.TollgateError.Runtime) as e:
        host.install(first)
    assert e.value.code == 202 and e.value.name == "SupersededRequest"
    assert host.install(vendor.fulfil(second_request)).state == tollgate.LicenseState.ACTIVE

    # The offline upgrade: a new round trip without the key; the answer to the old request
    # is refused, the new one brings the new feature.
    vendor.upgrade(issued.license_id, "--add-feature", "iot-bridge-snowflake:1000/month")
    renewal = host.request_renewal()
    assert host.status().state == tollgate.LicenseState.ACTIVE and host.status().pending_request
    upgraded = vendor.fulfil(renewal)
    with pytest.raises(tollgate.TollgateError) as e:
        host.install(first)
    assert e.value.code == 202
    status = host.install(upgraded)
    assert status.license.revision == 2
    assert host.has_feature("iot-bridge-snowflake")


def test_renewal_needs_an_activation(hosts):
    with pytest.raises(tollgate.TollgateError) as e:
        hosts.open().request_renewal()
    assert e.value.code == 200


def test_deactivate_then_seat_moves(vendor, hosts):
    a = hosts.open("a")
    b = hosts.open("b", MACHINE_B)
    issued, usage_license = activate(vendor, a, "mqtt-server")

    # The only seat is taken: the vendor refuses the second machine (ledger refusal: exit 5).
    request_b = b.request_usage(issued.key)
    with pytest.raises(VendorRefused) as refused:
        vendor.fulfil(request_b)
    assert refused.value.exit_code == 5

    code = a.deactivate()
    assert code.startswith("TGDC:")
    assert a.last_deactivation_code() == code
    assert a.status().state == tollgate.LicenseState.UNLICENSED
    assert not a.has_feature("mqtt-server")
    with pytest.raises(tollgate.TollgateError.Runtime) as e:
        a.install(usage_license)
    assert e.value.code == 204 and e.value.name == "Deactivated"
    with pytest.raises(tollgate.TollgateError) as e:
        a.deactivate()
    assert e.value.code == 200

    freed = vendor.deactivate(code)
    assert freed["freed"] and freed["license_id"] == issued.license_id
    with pytest.raises(VendorRefused):
        vendor.deactivate(code)  # a replay is refused

    b.install(vendor.fulfil(b.request_usage(issued.key)))
    assert b.has_feature("mqtt-server")


def test_wrong_machine(vendor, hosts):
    a = hosts.open("a")
    b = hosts.open("b", MACHINE_B)
    issued, usage_license = activate(vendor, a, "mqtt-server", activations=2)
    b.request_usage(issued.key)
    with pytest.raises(tollgate.TollgateError.Rejected) as e:
        b.install(usage_license)
    assert e.value.code == 113 and e.value.name == "FingerprintMismatch"
    with pytest.raises(tollgate.TollgateError) as e:
        tollgate.verify(hosts.config(MACHINE_B), usage_license, hosts.clock.now())
    assert e.value.code == 113
    # Another installation on the same machine (another state directory): 203 WrongDevice.
    c = hosts.open("c")
    c.request_usage(issued.key)
    with pytest.raises(tollgate.TollgateError) as e:
        c.install(usage_license)
    assert e.value.code == 203


def test_time_subscriptions_and_clock_rollback(vendor, hosts):
    host = hosts.open()
    activate(vendor, host, "mqtt-server", "support:for=30d")
    status = host.status()
    assert any("support expires in 30 days" in w for w in status.warnings), status.warnings

    hosts.clock.advance(31 * DAY)
    assert host.has_feature("mqtt-server") and not host.has_feature("support")
    host.refresh()  # records the time seen (so does every change)
    support = [f for f in host.status().license.features if f.name == "support"][0]
    assert not support.active
    assert any("support expired" in w for w in host.status().warnings)

    # The clock is set back by more than the tolerance: nothing is licensed.
    hosts.clock.set(hosts.clock.now() - 10 * DAY)
    status = host.status()
    assert status.state == tollgate.LicenseState.CLOCK_ROLLBACK
    assert status.error.code == 205 and status.error.name == "ClockRollback"
    assert not host.has_feature("mqtt-server")
    with pytest.raises(tollgate.TollgateError) as e:
        host.check()
    assert e.value.code == 205
    hosts.clock.advance(10 * DAY)
    assert host.has_feature("mqtt-server")


def test_one_manager_per_state_directory(hosts):
    host = hosts.open()
    with pytest.raises(tollgate.TollgateError.Runtime) as e:
        hosts.open()
    assert e.value.code == 213 and e.value.name == "StateLocked"
    host.release()
    host.release()  # twice is fine
    assert not host.has_feature("mqtt-server")
    with pytest.raises(tollgate.TollgateError) as e:
        host.status()
    assert e.value.code == 211
    assert hosts.open().status().state == tollgate.LicenseState.UNLICENSED


def test_bad_configuration(hosts, tmp_path):
    for root in (b"", VENDOR_ROOT[:31], VENDOR_ROOT + b"\0"):
        cfg = hosts.config()
        cfg.vendor_root = root
        with pytest.raises(tollgate.TollgateError) as e:
            tollgate.LicenseManager.open(cfg, str(tmp_path / "s"))
        assert e.value.code == 211
        with pytest.raises(tollgate.TollgateError) as e:
            tollgate.host_config_from_json(hosts.vendor.host_config_json(), root)
        assert e.value.code == 211
    cfg = hosts.config()
    cfg.vendor_root = bytes(32)  # not an ed25519 key
    with pytest.raises(tollgate.TollgateError) as e:
        tollgate.LicenseManager.open(cfg, str(tmp_path / "s"))
    assert e.value.code == 119 and e.value.name == "BadPublicKey"
    cfg = hosts.config()
    cfg.allow_override = False  # the machine-id and the others are kinds the probes read
    with pytest.raises(tollgate.TollgateError) as e:
        tollgate.LicenseManager.open(cfg, str(tmp_path / "s"))
    assert e.value.code == 238 and e.value.name == "ComponentOverride"
    cfg = hosts.config()
    cfg.components = []
    with pytest.raises(tollgate.TollgateError) as e:
        tollgate.LicenseManager.open(cfg, str(tmp_path / "s")).request_usage(
            "DSHJN-UY5LB-4FJ3T-UY6NS-STFGU")
    assert e.value.code == 210 and e.value.name == "Fingerprint"
    with pytest.raises(tollgate.TollgateError) as e:
        tollgate.host_config_from_json("{}", VENDOR_ROOT)
    assert e.value.code == 211


def test_the_configuration_file_holds_options_only(vendor):
    """A file that names keys, a root or a security policy is refused, whatever the value."""
    honest = json.loads(vendor.host_config_json())
    for field, value in (("vendor_keys", [VENDOR_ROOT.hex()]), ("vendor_root", VENDOR_ROOT.hex()),
                         ("rollback_tolerance_secs", 10 ** 9)):
        doc = dict(honest, **{field: value})
        with pytest.raises(tollgate.TollgateError) as e:
            tollgate.host_config_from_json(json.dumps(doc), VENDOR_ROOT)
        assert (e.value.code, e.value.name) == (235, "UntrustedConfig")
        assert field in str(e.value)
    cfg = tollgate.host_config_from_json(json.dumps(honest), VENDOR_ROOT)
    assert cfg.vendor_root == VENDOR_ROOT and cfg.product == "chariot"


def test_a_license_minted_by_the_customers_own_vendor_is_refused(vendor, customer_vendor,
                                                                   hosts):
    """Issue 11: the customer runs `tollgate vendor init` in a directory of their own, puts
    that key into the host JSON and mints a usage license with every feature until 2099."""
    mallory_key = customer_vendor.run("key", "list")["keys"][0]["public_key"]
    doc = json.loads(vendor.host_config_json())
    doc["vendor_keys"] = [mallory_key]
    with pytest.raises(tollgate.TollgateError) as e:
        tollgate.host_config_from_json(json.dumps(doc), VENDOR_ROOT)
    assert (e.value.code, e.value.name) == (235, "UntrustedConfig")

    licensed = hosts.open("licensed")
    activate(vendor, licensed, "mqtt-server")
    fresh = hosts.open("fresh", MACHINE_B)
    forged = customer_vendor.issue("mqtt-server", "support:until=2099-12-31",
                                   "iot-bridge-snowflake:999999999/month", activations=99,
                                   customer="Mallory")
    minted = customer_vendor.fulfil(fresh.request_usage(forged.key))
    assert minted.startswith("TGUL:")

    before = (fresh.status_json(), licensed.status_json())
    for host in (fresh, licensed):
        with pytest.raises(tollgate.TollgateError.Rejected) as e:
            host.install(minted)
        assert (e.value.code, e.value.name) == (124, "KeyNotCertified")
    with pytest.raises(tollgate.TollgateError) as e:
        tollgate.verify(hosts.config(MACHINE_B), minted, hosts.clock.now())
    assert e.value.code == 124
    assert (fresh.status_json(), licensed.status_json()) == before
    assert fresh.status().state == tollgate.LicenseState.PENDING
    assert not fresh.has_feature("mqtt-server") and not fresh.has_feature("support")
    assert licensed.has_feature("mqtt-server") and not licensed.has_feature("support")

    # The customer's own host configuration: its certificate is signed by the customer's root,
    # so it counts for nothing.
    cfg = tollgate.host_config_from_json(customer_vendor.host_config_json(), VENDOR_ROOT)
    assert cfg.key_certificates and cfg.key_certificates[0].startswith("TGKC:")
    cfg.probes, cfg.allow_override = False, True
    cfg.components = hosts.config().components
    with pytest.raises(tollgate.TollgateError) as e:
        tollgate.LicenseManager.open(cfg, str(hosts.root / "state-mallory"))
    assert (e.value.code, e.value.name) == (110, "UnknownKeyId")  # a root this host does not know


def test_host_policy_fingerprint_minimum_and_model(vendor, hosts, tmp_path):
    """A request needs at least two component kinds; an ordinary host refuses a floating
    server's usage license."""
    cfg = hosts.config()
    cfg.components = [tollgate.FingerprintComponent(kind=tollgate.ComponentKind.OPERATOR,
                                                    value=b"x")]
    one = tollgate.LicenseManager.open_with_clock(cfg, str(tmp_path / "one"), hosts.clock)
    try:
        with pytest.raises(tollgate.TollgateError) as e:
            one.request_usage(vendor.issue("mqtt-server").key)
        assert (e.value.code, e.value.name) == (237, "TooFewComponents")
        assert one.status().state == tollgate.LicenseState.UNLICENSED
    finally:
        one.release()

    host = hosts.open()
    floating = vendor.issue("mqtt-server", models="floating", floating_seats=1)
    usage_license = vendor.fulfil(host.request_usage(floating.key), model="floating")
    before = host.status_json()
    with pytest.raises(tollgate.TollgateError) as e:
        host.install(usage_license)
    assert (e.value.code, e.value.name) == (239, "WrongModel")
    assert host.status_json() == before and not host.has_feature("mqtt-server")


def test_threads_share_one_manager(vendor, hosts):
    host = hosts.open()
    activate(vendor, host)
    errors = []

    def meter():
        try:
            for _ in range(25):
                host.record_usage("iot-bridge-snowflake", 2)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def check():
        try:
            for _ in range(200):
                assert host.has_feature("mqtt-server")
                assert host.status().state == tollgate.LicenseState.ACTIVE
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=f) for f in (meter, meter, meter, check, check)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert host.meter("iot-bridge-snowflake").used == 3 * 25 * 2


def test_version_and_error_table(manifest):
    assert tollgate.version().count(".") == 2
    table = [(e.code, e.name, e.message) for e in tollgate.all_errors()]
    core = [(e["code"], e["name"], e["message"]) for e in manifest["errors"]]
    assert table[: len(core)] == core
    assert {c for c, _, _ in table} >= {200, 202, 204, 208, 213}
    assert tollgate.error_info(118).name == "KeyChecksum"
    assert tollgate.error_info(999) is None
