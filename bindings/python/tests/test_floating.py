"""The floating license client through the Python binding against a real `tollgate-floating`
with one seat, activated by the test vendor and serving on 127.0.0.1: checkout, feature check,
release, a second client refused while the seat is taken (340, the server's own code), the
checkout token, and the server being down."""

import gc
import os
import subprocess
from pathlib import Path

import pytest

import tollgate
from conftest import MACHINE_A, MACHINE_B, Server, binary, dead_url, machine_config

FEATURES = ["mqtt-server"]
MACHINE_C = {**MACHINE_B, tollgate.ComponentKind.MACHINE_ID: b"machine-c"}


class Floating:
    """A floating license server with one seat of `mqtt-server`, activated by the vendor
    through the offline round trip; `serve()` starts it."""

    def __init__(self, vendor, tmp_path: Path):
        self.tmp = tmp_path
        self.bin = binary("TOLLGATE_FLOATING", "tollgate-floating", "tollgate-floating")
        vendor.host_config_json()
        self.env = dict(os.environ,
                        TOLLGATE_FLOATING_STATE_DIR=str(tmp_path / "floating"),
                        TOLLGATE_HOST_CONFIG=str(vendor.home / f"{vendor.name}-host.json"),
                        TOLLGATE_FLOATING_COMPONENTS=
                        "operator=py-floating-server;workload=py-floating;cloud-instance=i-pf",
                        TOLLGATE_FLOATING_PROBES="0",
                        TOLLGATE_FLOATING_LISTEN="127.0.0.1:0",
                        TOLLGATE_LOG_FORMAT="text", NO_COLOR="1")
        self.env.pop("TOLLGATE_FLOATING_CHECKOUT_TOKEN", None)
        key = vendor.issue("mqtt-server", models="floating", floating_seats=1).key
        request = self.run("request", "--key", key)
        usage = vendor.fulfil(request, model="floating")
        tgul = tmp_path / "floating.tgul"
        tgul.write_text(usage)
        self.run("install", str(tgul))
        self.server = None

    def run(self, *args: str) -> str:
        p = subprocess.run([str(self.bin), *args], env=self.env, capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 0, f"tollgate-floating {args} failed: {p.stderr}"
        return p.stdout.strip()

    def serve(self, checkout_token: str = None) -> str:
        self.stop()
        env = dict(self.env)
        if checkout_token is not None:
            env["TOLLGATE_FLOATING_CHECKOUT_TOKEN"] = checkout_token
        self.server = Server([self.bin, "serve"], env, self.tmp / "floating.log")
        return self.server.url

    def stop(self):
        if self.server is not None:
            self.server.stop()
            self.server = None


@pytest.fixture
def floating(live_vendor, tmp_path: Path):
    f = Floating(live_vendor, tmp_path)
    yield f
    f.stop()


def test_checkout_has_feature_release(live_vendor, floating):
    url = floating.serve()
    config = lambda machine: machine_config(live_vendor, machine)  # noqa: E731
    for server, features in (("ftp://x", FEATURES), (url, [])):
        with pytest.raises(tollgate.TollgateError.Runtime) as e:
            tollgate.FloatingClient(config(MACHINE_A), server, features)
        assert e.value.code == 211
    with pytest.raises(tollgate.TollgateError.Runtime) as e:
        tollgate.FloatingClient(config(MACHINE_A), url, FEATURES,
                                tollgate.FloatingOptions(instance="x" * 129))
    assert e.value.code == 211

    a = tollgate.FloatingClient(config(MACHINE_A), url, FEATURES)
    b = tollgate.FloatingClient(config(MACHINE_B), url, FEATURES)
    assert not a.has_feature("mqtt-server") and a.lease_id() == 0
    a.checkout()
    lease = a.lease_id()
    assert lease != 0
    assert a.has_feature("mqtt-server") and not a.has_feature("support")
    a.checkout()  # a lease already held is kept
    assert a.lease_id() == lease

    # A second instance on a's host is another client: it does not take over a's lease, and
    # the only seat is taken.
    second = tollgate.FloatingClient(config(MACHINE_A), url, FEATURES,
                                     tollgate.FloatingOptions(instance="broker-2"))
    with pytest.raises(tollgate.TollgateError.Service) as e:
        second.checkout()
    assert (e.value.code, e.value.name) == (340, "NoSeat")
    assert a.lease_id() == lease and a.has_feature("mqtt-server")

    del second

    # The server's refusal arrives as its own stable code, 340.
    with pytest.raises(tollgate.TollgateError.Service) as e:
        b.checkout()
    assert (e.value.code, e.value.name) == (340, "NoSeat")
    assert "(code 340, NoSeat)" in e.value.reason
    assert not b.has_feature("mqtt-server") and b.lease_id() == 0

    a.release()
    assert not a.has_feature("mqtt-server") and a.lease_id() == 0
    b.checkout()
    assert b.has_feature("mqtt-server")

    # Dropping the last reference to b gives its seat back.
    c = tollgate.FloatingClient(config(MACHINE_C), url, FEATURES)
    with pytest.raises(tollgate.TollgateError.Service) as e:
        c.checkout()
    assert e.value.code == 340
    del b
    gc.collect()
    c.checkout()
    assert c.has_feature("mqtt-server")
    c.release()


def test_checkout_token(live_vendor, floating):
    token = "plant-7-checkout-token-0123"
    url = floating.serve(checkout_token=token)
    rogue = tollgate.FloatingClient(machine_config(live_vendor, MACHINE_A), url, FEATURES)
    good = tollgate.FloatingClient(machine_config(live_vendor, MACHINE_B), url, FEATURES,
                                   tollgate.FloatingOptions(checkout_token=token))
    # Without the token: refused (401 is not a licensing refusal: 231, with the code in the
    # message), and no seat is taken.
    with pytest.raises(tollgate.TollgateError.Service) as e:
        rogue.checkout()
    assert (e.value.code, e.value.name) == (231, "ServiceRefused")
    assert "code 401, Unauthorized" in e.value.reason
    assert rogue.lease_id() == 0
    good.checkout()
    assert good.has_feature("mqtt-server")
    good.release()
    with pytest.raises(tollgate.TollgateError.Runtime) as e:
        tollgate.FloatingClient(machine_config(live_vendor, MACHINE_A), url, FEATURES,
                                tollgate.FloatingOptions(checkout_token="has space"))
    assert e.value.code == 211


def test_server_down(live_vendor):
    d = tollgate.FloatingClient(machine_config(live_vendor, MACHINE_A), dead_url(), FEATURES)
    with pytest.raises(tollgate.TollgateError.Service) as e:
        d.checkout()
    assert (e.value.code, e.value.name) == (230, "ServiceUnreachable")
    assert not d.has_feature("mqtt-server") and d.lease_id() == 0
