"""Online activation through the Python binding against a real `tollgate-server` serving the
test vendor's ledger on 127.0.0.1: activate, feature check, reactivate, deactivate, the
service's refusals with their own codes, and the service being down."""

import os
import socket
import threading
from pathlib import Path

import pytest

import tollgate
from conftest import MACHINE_A, MACHINE_B, Server, binary, dead_url, machine_config

# One try, short waits: a test against a dead port fails at once instead of after the retries.
ONE_TRY = tollgate.OnlineOptions(attempts=1, connect_timeout_ms=2_000, timeout_ms=10_000)


@pytest.fixture
def service(live_vendor, tmp_path: Path):
    """`tollgate-server` serving the live vendor's directory."""
    env = dict(os.environ, TOLLGATE_DATA_DIR=str(live_vendor.home / live_vendor.name),
               TOLLGATE_LISTEN="127.0.0.1:0", TOLLGATE_LOG_FORMAT="text",
               TOLLGATE_ADMIN_TOKEN="python-online-test-admin-token", NO_COLOR="1")
    server = Server([binary("TOLLGATE_SERVER", "tollgate-server", "tollgate-server")], env,
                    tmp_path / "server.log")
    yield server
    server.stop()


@pytest.fixture
def managers(live_vendor, tmp_path: Path):
    """Opens managers on the system clock (the service signs at the real time)."""
    opened = []

    def open_(name: str, machine: dict = MACHINE_A) -> tollgate.LicenseManager:
        m = tollgate.LicenseManager.open(machine_config(live_vendor, machine),
                                         str(tmp_path / f"host-{name}"))
        opened.append(m)
        return m

    yield open_
    for m in opened:
        m.release()


def test_activate_reactivate_deactivate(live_vendor, service, managers):
    issued = live_vendor.issue("mqtt-server", models="online")
    m = managers("a")
    with pytest.raises(tollgate.TollgateError.Runtime) as e:
        tollgate.OnlineClient("ftp://example.com")
    assert (e.value.code, e.value.name) == (211, "InvalidArgument")
    online = tollgate.OnlineClient(service.url)
    assert online.server() == service.url
    with pytest.raises(tollgate.TollgateError.Runtime) as e:
        online.reactivate(m)
    assert e.value.code == 200
    assert not m.has_feature("mqtt-server")

    status = online.activate(m, issued.key)
    assert status.state == tollgate.LicenseState.ACTIVE
    lic = status.license
    assert lic.license_id == issued.license_id
    assert lic.deployment_model == "online"
    assert lic.refresh_deadline is not None
    assert m.has_feature("mqtt-server")
    assert m.status().state == tollgate.LicenseState.ACTIVE

    again = online.reactivate(m)
    assert again.state == tollgate.LicenseState.ACTIVE
    assert again.license.activation_id == lic.activation_id
    assert m.has_feature("mqtt-server")

    done = online.deactivate(m)
    assert done.code.startswith("TGDC:") and not done.already_freed
    assert m.last_deactivation_code() == done.code
    assert not m.has_feature("mqtt-server")
    # A code the service already processed counts as delivered.
    assert online.send_deactivation(done.code) == tollgate.Deactivation(code=done.code,
                                                                        already_freed=True)
    # The seat is free: another machine takes it.
    b = managers("b", MACHINE_B)
    assert online.activate(b, issued.key).state == tollgate.LicenseState.ACTIVE


def test_refusals_carry_the_service_code(live_vendor, customer_vendor, service, managers):
    issued = live_vendor.issue("mqtt-server", models="online")
    online = tollgate.OnlineClient(service.url)
    a, b = managers("a"), managers("b", MACHINE_B)
    online.activate(a, issued.key)

    # The only seat is taken: 303, as the service's own code.
    with pytest.raises(tollgate.TollgateError.Service) as e:
        online.activate(b, issued.key)
    assert (e.value.code, e.value.name) == (303, "SeatsExhausted")
    assert "(code 303, SeatsExhausted)" in str(e.value)
    assert isinstance(e.value, tollgate.TollgateError)
    assert not b.has_feature("mqtt-server")
    assert b.status().state != tollgate.LicenseState.ACTIVE

    # A key this vendor never issued (the customer's own "vendor" minted it): 300.
    foreign = customer_vendor.issue("mqtt-server", models="online")
    c = managers("c", {**MACHINE_B, tollgate.ComponentKind.MACHINE_ID: b"c"})
    with pytest.raises(tollgate.TollgateError.Service) as e:
        online.activate(c, foreign.key)
    assert (e.value.code, e.value.name) == (300, "UnknownKey")

    # A typo never leaves the host.
    with pytest.raises(tollgate.TollgateError.Rejected) as e:
        online.activate(c, issued.key[:3] + ("A" if issued.key[3] != "A" else "B")
                        + issued.key[4:])
    assert e.value.code == 118


def test_service_down(live_vendor, service, managers):
    issued = live_vendor.issue("mqtt-server", models="online")
    m = managers("a")
    dead = tollgate.OnlineClient(dead_url(), ONE_TRY)
    live = tollgate.OnlineClient(service.url)
    with pytest.raises(tollgate.TollgateError.Service) as e:
        dead.activate(m, issued.key)
    assert (e.value.code, e.value.name) == (230, "ServiceUnreachable")
    assert not m.has_feature("mqtt-server")

    live.activate(m, issued.key)
    with pytest.raises(tollgate.TollgateError.Service) as e:
        dead.reactivate(m)
    assert e.value.code == 230
    assert m.has_feature("mqtt-server")

    # The host is deactivated even though the service is down; the code goes later.
    with pytest.raises(tollgate.TollgateError.Service) as e:
        dead.deactivate(m)
    assert e.value.code == 230
    assert not m.has_feature("mqtt-server")
    code = m.last_deactivation_code()
    assert code.startswith("TGDC:")
    assert live.send_deactivation(code) == tollgate.Deactivation(code=code, already_freed=False)


def test_bad_options():
    with pytest.raises(tollgate.TollgateError.Runtime) as e:
        tollgate.OnlineClient("http://127.0.0.1:1", tollgate.OnlineOptions(attempts=0))
    assert e.value.code == 211
    pem = b"-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n"
    with pytest.raises(tollgate.TollgateError.Runtime) as e:
        tollgate.OnlineClient("https://127.0.0.1:1", tollgate.OnlineOptions(root_certs_pem=pem))
    assert e.value.code == 211


def test_has_feature_answers_while_a_call_waits_for_the_service(live_vendor, service, managers):
    """A call in flight releases the GIL and `has_feature` takes no lock: it answers while the
    service has not answered yet. The "service" here accepts the connection and says nothing
    until the test closes it."""
    issued = live_vendor.issue("mqtt-server", models="online")
    m = managers("a")
    tollgate.OnlineClient(service.url).activate(m, issued.key)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        silent.settimeout(60)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        client = tollgate.OnlineClient(url, tollgate.OnlineOptions(attempts=1, timeout_ms=120_000))
        outcome = []

        def reactivate():
            try:
                client.reactivate(m)
                outcome.append("answered")
            except tollgate.TollgateError as e:
                outcome.append(e)

        t = threading.Thread(target=reactivate)
        t.start()
        conn, _ = silent.accept()
        try:
            # The request is on its way and nobody answers: the call cannot have returned, and
            # it holds no lock on the manager.
            assert m.has_feature("mqtt-server")
            assert m.status().state == tollgate.LicenseState.ACTIVE
            assert outcome == []
        finally:
            conn.close()
        t.join(timeout=120)
    assert not t.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], tollgate.TollgateError.Service)
    assert outcome[0].code == 230
    assert m.has_feature("mqtt-server")


def _silent_call(m, call):
    """Runs `call(client)` on a thread against a service that accepts and never answers;
    returns (client, thread, outcome, silent socket, its accepted connection) once the request
    has arrived."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    silent.settimeout(60)
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    # One try with a timeout far beyond the test's bound: only cancelling ends the call.
    client = tollgate.OnlineClient(url, tollgate.OnlineOptions(attempts=1, timeout_ms=600_000))
    outcome = []

    def run():
        try:
            call(client)
            outcome.append("answered")
        except tollgate.TollgateError as e:
            outcome.append(e)

    t = threading.Thread(target=run)
    t.start()
    conn, _ = silent.accept()
    return client, t, outcome, silent, conn


def test_cancel_ends_a_call_in_flight_and_changes_nothing(live_vendor, managers):
    issued = live_vendor.issue("mqtt-server", models="online")
    m = managers("a")
    client, t, outcome, silent, conn = _silent_call(m, lambda c: c.activate(m, issued.key))
    try:
        # Nobody answers; the manager answers meanwhile (the request is pending).
        assert m.status().state == tollgate.LicenseState.PENDING
        assert not m.has_feature("mqtt-server")
        assert outcome == []
        client.cancel()
        t.join(timeout=60)
    finally:
        conn.close()
        silent.close()
    assert not t.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], tollgate.TollgateError.Runtime)
    assert (outcome[0].code, outcome[0].name) == (240, "Cancelled")
    # A cancelled activation leaves the host as it was, not pending.
    status = m.status()
    assert status.state == tollgate.LicenseState.UNLICENSED and not status.pending_request
    assert m.pending_request() is None


def test_release_ends_the_calls_on_its_manager(live_vendor, managers):
    issued = live_vendor.issue("mqtt-server", models="online")
    m = managers("a")
    _client, t, outcome, silent, conn = _silent_call(m, lambda c: c.activate(m, issued.key))
    try:
        # release() cancels the call and returns once it has ended (never waits for the
        # network: the call's timeout is ten minutes).
        m.release()
        t.join(timeout=60)
    finally:
        conn.close()
        silent.close()
    assert not t.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], tollgate.TollgateError.Runtime)
    assert outcome[0].code == 240
    assert not m.has_feature("mqtt-server")
