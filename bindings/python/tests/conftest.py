"""Fixtures of the Python binding's tests.

The vendor is played by the `tollgate` command (`tollgate --json vendor …`) in a temporary
directory, at a fixed time (`TOLLGATE_NOW`), holding the published DEVELOPMENT root
(`tests/fixtures/dev-root.seed`); hosts are `tollgate.LicenseManager`s on manual clocks set to
the same time, with fixed fingerprint components (no probes), so every run is the same. The
hosts trust `VENDOR_ROOT`, the development root's public key, the way an application compiles
its vendor's root in.

The online and floating tests run a real `tollgate-server` and `tollgate-floating` on
127.0.0.1 (`Server`), with a vendor at the real time (`live_vendor`): the servers use the
system clock.

`bindings/python/test.sh` builds the `tollgate` wheel, installs it in a virtual environment and
runs these tests with it, with `TOLLGATE_CLI`, `TOLLGATE_SERVER` and `TOLLGATE_FLOATING`
pointing at the binaries.
"""

import json
import os
import re
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import tollgate

REPO = Path(__file__).resolve().parents[3]
VECTORS = REPO / "tests" / "vectors"
DEV_ROOT_SEED = REPO / "tests" / "fixtures" / "dev-root.seed"

# The vendor's root public key, as an application compiles it in (`tollgate vendor export-root
# --format hex`): here the published development root, whose seed the test vendor imports.
VENDOR_ROOT = bytes.fromhex("43a72e714401762df66b68c26dfbdf2682aaec9f2474eca4613e424a0fbafd3c")

# 2026-01-01T09:00:00Z: the vendor's and the hosts' "now".
T0 = 1_767_258_000
DAY = 86_400

# Two simulated machines, as in scripts/demo.sh: disjoint identifiers.
MACHINE_A = {
    tollgate.ComponentKind.MACHINE_ID: b"7f3a-broker-a",
    tollgate.ComponentKind.MAC: b"02:42:ac:11:00:02",
    tollgate.ComponentKind.ROOT_DISK: b"WD-WX11A1234567",
    tollgate.ComponentKind.HOSTNAME: b"broker-a.plant.local",
    tollgate.ComponentKind.DMI_PRODUCT_UUID: b"4c4c4544-a",
}
MACHINE_B = {
    tollgate.ComponentKind.MACHINE_ID: b"91bc-broker-b",
    tollgate.ComponentKind.MAC: b"02:42:ac:11:00:03",
    tollgate.ComponentKind.ROOT_DISK: b"WD-WX22B7654321",
    tollgate.ComponentKind.HOSTNAME: b"broker-b.plant.local",
    tollgate.ComponentKind.DMI_PRODUCT_UUID: b"4c4c4544-b",
}


def binary(variable: str, name: str, package: str) -> Path:
    """The binary `name` of the crate `package`: the environment variable `variable`, else
    target/debug."""
    path = Path(os.environ.get(variable, REPO / "target" / "debug" / name))
    if not path.is_file():
        pytest.fail(f"{name} is not built: {path} (cargo build -p {package})")
    return path


def cli_path() -> Path:
    return binary("TOLLGATE_CLI", "tollgate", "tollgate-cli")


# The address a server logs once it listens (never the configured port 0).
LISTENING = re.compile(rb"127\.0\.0\.1:[1-9][0-9]*")


class Server:
    """A server process on 127.0.0.1 (port 0: the system picks one), stopped by `stop()`."""

    def __init__(self, args: list, env: dict, log: Path):
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen([str(a) for a in args], env=env, stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.url = None
        for _ in range(600):
            m = LISTENING.search(log.read_bytes())
            if m:
                self.url = "http://" + m.group().decode()
                return
            if self.proc.poll() is not None:
                pytest.fail(f"{args[0]} exited: {log.read_text(errors='replace')}")
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"{args[0]} did not start: {log.read_text(errors='replace')}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def dead_url() -> str:
    """The URL of a port on 127.0.0.1 that nobody listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class VendorRefused(Exception):
    """`tollgate vendor …` failed: its exit code and the JSON error it printed."""

    def __init__(self, exit_code: int, error: dict):
        super().__init__(f"exit {exit_code}: {error}")
        self.exit_code = exit_code
        self.error = error


@dataclass
class Issued:
    license_id: int
    key: str


class Vendor:
    """The vendor's side, through the `tollgate` command."""

    def __init__(self, cli: Path, home: Path, now: int, name: str = "vendor"):
        self.cli = cli
        self.home = home
        self.now = now
        self.name = name

    def run(self, *args: str) -> dict:
        env = dict(os.environ, TOLLGATE_VENDOR_DIR=str(self.home / self.name),
                   TOLLGATE_NOW=str(self.now))
        p = subprocess.run([str(self.cli), "--json", "vendor", *args], env=env,
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            try:
                error = json.loads(p.stderr)["error"]
            except (ValueError, KeyError):
                error = {"message": p.stderr}
            raise VendorRefused(p.returncode, error)
        return json.loads(p.stdout) if p.stdout.strip() else {}

    def host_config_json(self) -> str:
        path = self.home / f"{self.name}-host.json"
        self.run("host-config", "--product", "chariot", "--product-version", "4.2.0",
                 "--salt", "chariot/fingerprint/2026", "--out", str(path))
        return path.read_text()

    def issue(self, *features: str, activations: int = 1, customer: str = "ACME Industrial",
              models: str = "offline,online", floating_seats: int = 0) -> Issued:
        args = ["issue", "--product", "chariot", "--customer", customer,
                "--models", models, "--activations", str(activations)]
        if floating_seats:
            args += ["--floating-seats", str(floating_seats)]
        for f in features:
            args += ["--feature", f]
        out = self.run(*args)
        return Issued(out["license_id"], out["key"])

    def fulfil(self, request: str, model: str = None) -> str:
        model_args = ["--model", model] if model else []
        return self.run("fulfil", *model_args, request)["usage_license"]

    def deactivate(self, code: str) -> dict:
        return self.run("deactivate", code)

    def upgrade(self, license_id: int, *args: str) -> dict:
        return self.run("upgrade", "--license", str(license_id), *args)


@pytest.fixture
def vendor(tmp_path: Path) -> Vendor:
    v = Vendor(cli_path(), tmp_path, T0)
    v.run("init", "--import-root", str(DEV_ROOT_SEED))
    return v


@pytest.fixture
def customer_vendor(tmp_path: Path) -> Vendor:
    """A vendor the CUSTOMER runs (`tollgate vendor init`: a fresh root and signing key of
    their own), to mint licenses the real vendor never issued."""
    v = Vendor(cli_path(), tmp_path, T0, name="customer-vendor")
    v.run("init")
    return v


@pytest.fixture
def live_vendor(tmp_path: Path) -> Vendor:
    """A vendor with the development root at the real time, for the servers (which use the
    system clock); its directory is `home / name`, what `tollgate-server` serves."""
    v = Vendor(cli_path(), tmp_path, int(time.time()), name="live-vendor")
    v.run("init", "--import-root", str(DEV_ROOT_SEED))
    return v


@pytest.fixture
def clock() -> tollgate.ManualClock:
    return tollgate.ManualClock(T0)


def machine_config(vendor: Vendor, machine: dict) -> tollgate.HostConfig:
    """The vendor's host configuration, on a machine made of fixed identifiers (kinds the probes
    read, so the override is allowed explicitly: this is a test)."""
    cfg = tollgate.host_config_from_json(vendor.host_config_json(), VENDOR_ROOT)
    cfg.probes = False
    cfg.allow_override = True
    cfg.components = [tollgate.FingerprintComponent(kind=k, value=v) for k, v in machine.items()]
    return cfg


class Hosts:
    """Opens `LicenseManager`s on the simulated machines, and releases them after the test."""

    def __init__(self, vendor: Vendor, clock: tollgate.ManualClock, root: Path):
        self.vendor = vendor
        self.clock = clock
        self.root = root
        self.opened = []

    def config(self, machine: dict = MACHINE_A) -> tollgate.HostConfig:
        return machine_config(self.vendor, machine)

    def open(self, name: str = "a", machine: dict = MACHINE_A) -> tollgate.LicenseManager:
        m = tollgate.LicenseManager.open_with_clock(
            self.config(machine), str(self.root / f"state-{name}"), self.clock)
        self.opened.append(m)
        return m

    def release(self):
        for m in self.opened:
            m.release()


@pytest.fixture
def hosts(vendor: Vendor, clock: tollgate.ManualClock, tmp_path: Path):
    h = Hosts(vendor, clock, tmp_path)
    yield h
    h.release()


@pytest.fixture
def manifest() -> dict:
    return json.loads((VECTORS / "manifest.json").read_text(encoding="utf-8"))
