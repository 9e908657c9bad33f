#!/usr/bin/env python3
"""The License page in a real browser (issue 14).

Debian's chromium + chromium-driver (headless), driven by Selenium, against REAL servers on
loopback: `tollgate host ui` (the page), `tollgate-server` (online), `tollgate-floating`
(floating) and the vendor's CLI (`tollgate vendor fulfil / deactivate`) for the offline round
trip. Every wizard path, the status page, and an error path per step. Screenshots of each step go
to $TOLLGATE_SCREENSHOTS (default: a temporary directory).

Run by tests/browser/run.sh (which builds the binaries); every wait is bounded.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "target" / "debug"
WAIT = 30  # seconds, the bound of every wait
TMP = Path(tempfile.mkdtemp(prefix="tollgate-browser-"))
SHOTS = Path(os.environ.get("TOLLGATE_SCREENSHOTS", TMP / "screenshots"))
SHOTS.mkdir(parents=True, exist_ok=True)
PROCS = []
ENV = dict(os.environ)
for k in ("TOLLGATE_NOW", "TOLLGATE_LICENSE_KEY", "TOLLGATE_SERVER", "TOLLGATE_STATE_DIR"):
    ENV.pop(k, None)
ENV.update({
    "TOLLGATE_VENDOR_DIR": str(TMP / "vendor"),
    "TOLLGATE_HOST_CONFIG": str(TMP / "host.json"),
    "TOLLGATE_LOG_FORMAT": "text",
})
ADDR = re.compile(r"127\.0\.0\.1:[0-9]+")


def log(msg):
    print(f"[browser] {msg}", flush=True)


def tollgate(*args, ok=True):
    p = subprocess.run([str(BIN / "tollgate"), "--json", *args], env=ENV, capture_output=True,
                       text=True, timeout=120)
    if ok and p.returncode != 0:
        raise AssertionError(f"tollgate {args}: {p.returncode} {p.stderr}")
    return p


def vendor(*args):
    return json.loads(tollgate("vendor", *args).stdout)


def start(cmd, env=None, pattern=ADDR, name="server"):
    """Starts a server process; returns (process, the first address it prints)."""
    logf = open(TMP / f"{name}.log", "w+")
    p = subprocess.Popen(cmd, env=env or ENV, stdout=logf, stderr=subprocess.STDOUT, text=True)
    PROCS.append(p)
    for _ in range(400):
        logf.seek(0)
        m = pattern.search(logf.read())
        if m:
            return p, m.group(0)
        if p.poll() is not None:
            logf.seek(0)
            raise AssertionError(f"{name} exited: {logf.read()}")
        time.sleep(0.05)
    raise AssertionError(f"{name} did not start")


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def host_ui(name, n, *extra):
    """`tollgate host ui` for broker `n` (its own state and fingerprint)."""
    cmd = [str(BIN / "tollgate"), "host", "--state", str(TMP / f"state-{name}"), "--no-probes",
           "--allow-override", "--component", f"machine-id=machine-{n}", "--component",
           f"mac=02:00:00:00:00:{n:02x}", "--component", f"hostname=broker-{n}", "ui",
           "--listen", "127.0.0.1:0", "--vendor", "Cirrus Link", *extra]
    p, addr = start(cmd, name=f"ui-{name}", pattern=re.compile(r"http://127\.0\.0\.1:[0-9]+/"))
    return p, addr


# -- the browser ---------------------------------------------------------------------------

def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--window-size=1000,760", f"--user-data-dir={TMP / 'chromium-profile'}"):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


class Page:
    def __init__(self, driver, url):
        self.d = driver
        self.url = url
        driver.get(url)
        self.wait(lambda: self.q("section"))

    def root(self):
        return self.d.find_element(By.CSS_SELECTOR, "tollgate-license-page").shadow_root

    def q(self, css):
        found = self.root().find_elements(By.CSS_SELECTOR, css)
        return found[0] if found else None

    def qa(self, css):
        return self.root().find_elements(By.CSS_SELECTOR, css)

    def wait(self, f, what="condition"):
        try:
            # A re-render may replace an element between finding and reading it: look again.
            return WebDriverWait(self.d, WAIT, poll_frequency=0.1,
                                 ignored_exceptions=(StaleElementReferenceException,)
                                 ).until(lambda _: f())
        except TimeoutException:
            self.shot("timeout", full=True)
            raise AssertionError(f"timed out waiting for {what}")

    def css(self, css):
        return self.wait(lambda: self.q(css), css)

    def step(self, n):
        return self.css(f'section.wizard[data-step="{n}"]')

    def click(self, css):
        el = self.css(css)
        self.wait(lambda: el.is_enabled(), f"{css} enabled")
        el.click()

    def next(self):
        self.click("button.primary")

    def error(self):
        """The error banner's code, waiting for one."""
        el = self.css("#alert .banner.error")
        return int(el.get_attribute("data-code")), el.text

    def focused(self):
        """The id of the element focused inside the component (or its text)."""
        return self.d.execute_script("""
            const a = document.querySelector('tollgate-license-page').shadowRoot.activeElement;
            return a ? (a.tagName === 'INPUT' ? a.value : (a.id || a.textContent)) : null;""")

    def keys(self, *keys):
        ActionChains(self.d).send_keys(*keys).perform()

    def shot(self, name, full=False):
        """Saves a screenshot: of the component alone, or of the window (dialogs, failures)."""
        if full or self.q("dialog[open]"):
            self.d.save_screenshot(str(SHOTS / f"{name}.png"))
        else:
            self.d.find_element(By.CSS_SELECTOR, "tollgate-license-page").screenshot(
                str(SHOTS / f"{name}.png"))

    def text(self):
        return self.d.execute_script(
            "return document.querySelector('tollgate-license-page').shadowRoot.innerHTML")

    def accept(self):
        alert = self.wait(lambda: _alert(self.d), "confirm")
        alert.accept()

    def drop(self, zone_id, text, filename="file.txt"):
        """Drops a file on the drop zone, as a user dragging it from the desktop would."""
        self.d.execute_script("""
            const zone = document.querySelector('tollgate-license-page').shadowRoot
                .querySelector(`[data-drop="${arguments[0]}"]`);
            const dt = new DataTransfer();
            dt.items.add(new File([arguments[1]], arguments[2], {type: 'text/plain'}));
            zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));
            zone.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
        """, zone_id, text, filename)
        self.wait(lambda: self.q(f"#{zone_id}").get_attribute("value") == text.strip(), "dropped text")

    def upload(self, input_id, path):
        self.css(f"#{input_id}-file").send_keys(str(path))
        want = Path(path).read_text().strip()
        self.wait(lambda: self.q(f"#{input_id}").get_attribute("value") == want, "uploaded file")

    def type(self, css, text):
        el = self.css(css)
        el.clear()
        el.send_keys(text)

    def status(self):
        self.css("section.status")
        return self.css("#state").text

    def feature_rows(self):
        return {r.get_attribute("data-feature"): r.text for r in self.qa("#features tbody tr")}


def _alert(d):
    try:
        return d.switch_to.alert
    except Exception:
        return None


def wizard_to_details(p, method, shot=None):
    p.step(0)
    p.next()
    p.step(1)
    p.click(f'input[value="{method}"]')
    if shot:
        p.shot(shot)
    p.next()
    p.step(2)


def typo(key):
    c = "A" if key[3] != "A" else "B"
    return key[:3] + c + key[4:]


ADMIN_TOKEN = "browser-test-admin-token-0123456789"


def start_service():
    env = dict(ENV, TOLLGATE_LISTEN="127.0.0.1:0", TOLLGATE_DATA_DIR=str(TMP / "vendor"),
               TOLLGATE_ADMIN_TOKEN=ADMIN_TOKEN)
    server, addr = start([str(BIN / "tollgate-server")], env=env, name="tollgate-server")
    return server, f"http://{addr}"


class Console(Page):
    """The vendor's support console (tollgate-server /console/) in its own tab."""

    def __init__(self, driver, url):
        self.d = driver
        driver.switch_to.new_window("tab")
        driver.get(f"{url}/console/")
        self.wait(lambda: self.q("#token"), "the console")
        self.type("#token", ADMIN_TOKEN)
        self.click("#save-token")
        self.wait(lambda: "Token set" in self.q("#token-out").text, "token set")

    def root(self):
        return self.d.find_element(By.CSS_SELECTOR, "tollgate-console").shadow_root

    def text(self):
        return self.d.execute_script(
            "return document.querySelector('tollgate-console').shadowRoot.innerHTML")

    def shot(self, name, full=False):
        self.d.find_element(By.CSS_SELECTOR, "tollgate-console").screenshot(
            str(SHOTS / f"{name}.png"))

    def close(self):
        self.d.close()
        self.d.switch_to.window(self.d.window_handles[0])

    def fulfil(self, request):
        self.type("#request", request)
        self.click("#fulfil")
        el = self.css("#usage-license")
        self.wait(lambda: el.get_attribute("value").startswith("TGUL:"), "a usage license")
        return el.get_attribute("value")

    def lookup(self, key, lid):
        self.type("#find-key", key)
        self.click("#by-key")
        self.wait(lambda: self.q("#license-title") is not None
                  and f"License {lid}:" in self.q("#license-title").text, "the license")
        assert self.q("#find-key").get_attribute("value") == ""


# -- the scenarios -------------------------------------------------------------------------

def setup_vendor():
    vendor("init", "--import-root", str(ROOT / "tests/fixtures/dev-root.seed"))
    vendor("host-config", "--product", "chariot", "--product-version", "4.2.0",
           "--out", str(TMP / "host.json"))


def online(d):
    log("online: activate (file input), reactivate, no seat left, deactivate, server down")
    key = vendor("issue", "--product", "chariot", "--customer", "ACME Corp", "--feature",
                 "mqtt-server", "--feature", "support:for=1y", "--feature",
                 "snowflake-bridge:1000/month", "--models", "online,offline",
                 "--activations", "1")["key"]
    key_file = TMP / "license-key.txt"
    key_file.write_text(key + "\n")
    env = dict(ENV, TOLLGATE_LISTEN="127.0.0.1:0", TOLLGATE_DATA_DIR=str(TMP / "vendor"),
               TOLLGATE_ADMIN_TOKEN="browser-test-admin-token-0123456789")
    server, addr = start([str(BIN / "tollgate-server")], env=env, name="tollgate-server")
    url = f"http://{addr}"
    ui, page_url = host_ui("online-a", 1, "--server", url)
    ui_b, page_b = host_ui("online-b", 2, "--server", url)

    p = Page(d, page_url)
    p.shot("01-getting-started")
    wizard_to_details(p, "online", "02-activation-method")
    # Step error: a mistyped key is refused by its checksum before anything is sent.
    p.type("#key", typo(key))
    p.shot("03-online-key")
    p.next()
    p.step(3)
    p.next()
    code, text = p.error()
    assert code == 101 or 100 <= code <= 128, (code, text)
    assert "Key" in text, text
    p.shot("err-mistyped-key")
    p.step(2)
    p.upload("key", key_file)
    p.next()
    p.step(3)
    p.shot("04-online-activation")
    p.next()
    p.step(4)
    p.shot("05-complete")
    p.click("section.wizard button.primary")
    assert p.status() == "active"
    rows = p.feature_rows()
    assert set(rows) == {"mqtt-server", "support", "snowflake-bridge"}, rows
    assert p.q('[data-usage="0/1000"]') is not None
    assert "subscription" in rows["support"] and "until" in rows["support"], rows
    assert p.css('[data-field="Deployment"]').text == "online"
    p.shot("06-status-online")
    assert key not in p.text() and key not in d.page_source, "the key is shown again"
    p.click("#reactivate")
    p.wait(lambda: "reactivated" in (p.q("#alert").text or ""), "reactivated note")

    # Another broker: no seat left (the service's 303).
    pb = Page(d, page_b)
    wizard_to_details(pb, "online")
    pb.type("#key", key)
    pb.next()
    pb.step(3)
    pb.next()
    code, text = pb.error()
    assert code == 303, (code, text)
    pb.shot("err-no-seat-online")

    # Online deactivation returns to the wizard.
    p = Page(d, page_url)
    p.status()
    p.click("#deactivate")
    p.accept()
    p.step(0)
    p.shot("07-online-deactivated")

    # The service down.
    stop(server)
    wizard_to_details(p, "online")
    p.type("#key", key)
    p.next()
    p.step(3)
    p.next()
    code, text = p.error()
    assert code == 230, (code, text)
    p.shot("err-server-down")
    stop(ui)
    stop(ui_b)


def offline(d):
    log("offline: request (drag and drop), tampered usage license, install (file), upgrade, deactivate")
    issued = vendor("issue", "--product", "chariot", "--customer", "ACME Corp", "--feature",
                    "mqtt-server", "--models", "offline", "--activations", "1")
    key, lid = issued["key"], issued["license_id"]
    service, service_url = start_service()
    ui, page_url = host_ui("offline", 3)
    p = Page(d, page_url)
    # By keyboard alone: each step's heading takes the focus; Tab reaches the first usable
    # method (Online is not configured here, so disabled), Space picks it, Enter goes on.
    p.step(0)
    p.wait(lambda: p.focused() == "step-title", "focus on the heading")
    p.keys(Keys.TAB)
    assert p.focused() == "Next", p.focused()
    p.keys(Keys.ENTER)
    p.step(1)
    p.wait(lambda: p.focused() == "step-title", "focus on the heading")
    p.keys(Keys.TAB)
    assert p.focused() == "offline", p.focused()
    p.keys(Keys.SPACE, Keys.TAB)
    assert p.focused() == "Back", p.focused()
    p.keys(Keys.TAB)
    assert p.focused() == "Next", p.focused()
    p.keys(Keys.ENTER)
    p.step(2)
    p.click('input[value="request"]')
    p.shot("08-offline-details")
    p.next()
    p.step(3)
    warning = p.css("#invalidate-warning").text
    assert "each new usage request invalidates the previous one" in warning, warning
    p.drop("key", key + "\n", "license-key.txt")
    p.shot("09-offline-key-dropped")
    p.next()
    dialog = p.css("#request-dialog")
    request = p.css('#request-dialog textarea[data-value="usage-request"]').get_attribute("value")
    assert request.startswith("TGRQ:"), request
    assert p.q('#request-dialog [data-copy="usage-request"]') is not None
    assert p.q('#request-dialog [data-download="usage-request"]') is not None
    p.click('#request-dialog [data-copy="usage-request"]')
    p.wait(lambda: p.q('#request-dialog [data-copy="usage-request"]').text == "COPIED"
           or p.q('#request-dialog [data-copy="usage-request"]').text == "Copied", "copied")
    p.shot("10-offline-usage-request")
    p.click("#request-dialog button.primary")
    p.wait(lambda: not dialog.is_displayed() if p.q("#request-dialog") else True, "dialog closed")
    assert key not in p.text(), "the key is shown again"

    # The vendor's support desk: finds the license by the key the customer quoted and
    # fulfils the pasted usage request in the console.
    c = Console(d, service_url)
    c.lookup(key, lid)
    usage = c.fulfil(request)
    c.shot("17-console-fulfil")
    c.close()
    (TMP / "usage.tgul").write_text(usage + "\n")

    wizard_to_details(p, "offline")
    p.click('input[value="upload"]')
    p.next()
    p.step(3)
    i = len(usage) // 2
    tampered = usage[:i] + ("A" if usage[i] != "A" else "B") + usage[i + 1:]
    p.type("#usage-license", tampered)
    p.next()
    code, text = p.error()
    assert 100 <= code <= 128, (code, text)
    p.shot("err-tampered-usage-license")
    p.upload("usage-license", TMP / "usage.tgul")
    p.shot("11-offline-usage-license")
    p.next()
    p.step(4)
    p.click("section.wizard button.primary")
    assert p.status() == "active"
    assert p.css('[data-field="Deployment"]').text == "offline"
    assert p.q("#reactivate") is None
    p.shot("12-status-offline")

    # Upgrade: the vendor adds a feature; a new round trip without the key.
    vendor("upgrade", "--license", str(lid), "--add-feature", "snowflake-bridge:500/month")
    p.click("#upgrade")
    p.accept()
    renew = p.css('#request-dialog textarea[data-value="usage-request"]').get_attribute("value")
    assert renew.startswith("TGRQ:") and renew != request
    p.click("#request-dialog button.primary")
    (TMP / "renew.tgrq").write_text(renew)
    usage2 = vendor("fulfil", str(TMP / "renew.tgrq"))["usage_license"]
    p.drop("usage-license", usage2, "usage2.tgul")
    p.click("#install")
    p.wait(lambda: "snowflake-bridge" in p.feature_rows(), "upgraded features")
    assert p.q('[data-usage="0/500"]') is not None
    p.shot("13-status-offline-upgraded")

    # Offline deactivation shows the code, with copy and download; the vendor verifies it.
    p.click("#deactivate")
    p.accept()
    p.step(0)
    code_text = p.css('textarea[data-value="deactivation"]').get_attribute("value")
    assert code_text.startswith("TGDC:"), code_text
    assert p.q('[data-copy="deactivation"]') and p.q('[data-download="deactivation"]')
    p.shot("14-offline-deactivation-code")
    # The support desk verifies the pasted code in the console, which frees the seat; a
    # replay is refused.
    c = Console(d, service_url)
    c.type("#code", code_text)
    c.click("#verify")
    c.wait(lambda: "freed" in (c.q("#deact-out").text or ""), "the code verified")
    c.click("#verify")
    c.wait(lambda: c.q("#deact-out .msg.error") is not None, "the replay refused")
    c.lookup(key, lid)
    statuses = [r.get_attribute("data-status") for r in c.qa("#activations tbody tr")]
    assert statuses and "active" not in statuses, statuses
    actions = [r.get_attribute("data-action") for r in c.qa("#audit tbody tr")]
    assert any("deactivat" in a for a in actions), actions
    c.shot("18-console-license")
    c.close()
    stop(ui)
    stop(service)


def console(d):
    log("console: issue, find by customer, restore a lost activation, upgrade, metered usage")
    service, url = start_service()
    c = Console(d, url)
    c.type("#issue-product", "chariot")
    c.type("#issue-customer", "Globex Plant 7")
    c.type("#issue-features", "mqtt-server")
    c.type("#issue-models", "offline")
    c.click("#issue")
    out = c.wait(lambda: c.q("#issue-out .msg.ok"), "issued")
    m = re.search(r"License (\d+) issued\. Key \(shown once\): ([A-Z0-9-]+)", out.text)
    assert m, out.text
    lid, key = m.group(1), m.group(2)
    # A broker activates offline (CLI host), through the console's fulfilment.
    host = ["host", "--state", str(TMP / "state-console"), "--no-probes", "--allow-override",
            "--component", "machine-id=machine-9", "--component", "mac=02:00:00:00:00:09",
            "--component", "hostname=broker-9"]
    request = json.loads(tollgate(*host, "request", "--key", key).stdout)["usage_request"]
    usage = c.fulfil(request)
    tollgate(*host, "install", usage)
    # Find it by customer.
    c.type("#find-customer", "globex")
    c.click("#by-customer")
    c.css(f'#results tr[data-license="{lid}"] button').click()
    c.wait(lambda: c.q('#activations tr[data-status="active"]'), "an active activation")
    # The broker was destroyed without deactivating: restore (free) its activation.
    c.click("[data-restore]")
    c.accept()
    c.wait(lambda: "restored" in (c.q("#license-out").text or ""), "restored")
    assert c.q('#activations tr[data-status="active"]') is None
    # Upgrade: add the Snowflake bridge.
    c.type("#upgrade-features", "snowflake-bridge:metered:1000/month")
    c.click("#upgrade")
    c.wait(lambda: "revision 2" in (c.q("#license-out").text or ""), "upgraded")
    assert "snowflake-bridge" in c.css("#license-summary").text
    c.shot("19-console-restored-upgraded")
    # Metered usage: a damaged journal is refused with the core's code, naming the line
    # (nothing imported); the license's usage view (nothing reported yet).
    c.type("#journal", "TGUR:AAAA")
    c.click("#import-usage")
    err = c.wait(lambda: c.q("#usage-out .msg.error"), "journal refused")
    assert 100 <= int(err.get_attribute("data-code")) <= 139, err.text
    assert "usage journal line 1" in err.text, err.text
    c.type("#usage-lic", lid)
    c.click("#show-usage")
    c.wait(lambda: c.q("#usage-totals"), "usage totals")
    assert "No usage merged." in c.q("#usage-totals").text
    assert "No flagged reports." in c.q("#usage-out").text
    assert "0 meter event(s) not yet accepted" in c.q("#usage-out").text
    c.shot("20-console-usage")
    c.close()
    stop(service)


def floating(d):
    log("floating: checkout, no seat left, release, server down")
    key = vendor("issue", "--product", "chariot", "--customer", "ACME Corp", "--feature",
                 "mqtt-server", "--feature", "support:for=1y", "--models", "floating",
                 "--floating-seats", "1")["key"]
    fenv = dict(ENV, TOLLGATE_FLOATING_STATE_DIR=str(TMP / "floating"),
                TOLLGATE_FLOATING_COMPONENTS="operator=browser-floating;workload=bf;cloud-instance=i-bf",
                TOLLGATE_FLOATING_PROBES="0", TOLLGATE_FLOATING_LISTEN="127.0.0.1:0")
    req = subprocess.run([str(BIN / "tollgate-floating"), "request", "--key", key], env=fenv,
                         capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    (TMP / "floating.tgrq").write_text(req)
    usage = vendor("fulfil", "--model", "floating", str(TMP / "floating.tgrq"))["usage_license"]
    (TMP / "floating.tgul").write_text(usage)
    subprocess.run([str(BIN / "tollgate-floating"), "install", str(TMP / "floating.tgul")],
                   env=fenv, capture_output=True, timeout=60, check=True)
    fserver, addr = start([str(BIN / "tollgate-floating"), "serve"], env=fenv, name="floating")
    furl = f"http://{addr}"
    sets = ["--feature-set", "MQTT Server=mqtt-server",
            "--feature-set", "MQTT Server + Support=mqtt-server,support"]
    ui, page_url = host_ui("floating-a", 4, "--floating-server", furl, *sets)
    ui_b, page_b = host_ui("floating-b", 5, "--floating-server", furl, *sets)
    p = Page(d, page_url)
    wizard_to_details(p, "floating")
    assert p.css('input[name="server"]').get_attribute("value") == furl
    sel = p.css('select[name="feature-set"]')
    sel.find_element(By.CSS_SELECTOR, 'option[value="MQTT Server + Support"]').click()
    p.shot("15-floating-details")
    p.next()
    p.step(3)
    p.next()
    p.step(4)
    p.click("section.wizard button.primary")
    assert p.status() == "active"
    rows = p.feature_rows()
    assert set(rows) == {"mqtt-server", "support"} and all("yes" in r for r in rows.values()), rows
    p.shot("16-status-floating")

    pb = Page(d, page_b)
    wizard_to_details(pb, "floating")
    pb.next()
    pb.step(3)
    pb.next()
    code, text = pb.error()
    assert code == 340, (code, text)
    pb.shot("err-no-seat-floating")

    p = Page(d, page_url)
    p.status()
    p.click("#deactivate")
    p.accept()
    p.step(0)
    pb = Page(d, page_b)
    wizard_to_details(pb, "floating")
    pb.next()
    pb.step(3)
    pb.next()
    pb.step(4)
    pb.click("section.wizard button.primary")
    assert pb.status() == "active"
    pb.click("#deactivate")
    pb.accept()
    pb.step(0)

    stop(fserver)
    p = Page(d, page_url)
    wizard_to_details(p, "floating")
    p.next()
    p.step(3)
    p.next()
    code, text = p.error()
    assert code == 230, (code, text)
    stop(ui)
    stop(ui_b)


def main():
    for b in ("tollgate", "tollgate-server", "tollgate-floating"):
        assert (BIN / b).exists(), f"{BIN / b} is missing: run tests/browser/run.sh"
    started = time.monotonic()
    setup_vendor()
    d = browser()
    failed = False
    try:
        for scenario in (online, offline, floating, console):
            scenario(d)
    except Exception:
        failed = True
        raise
    finally:
        d.quit()
        for p in PROCS:
            stop(p)
        log(f"screenshots: {SHOTS}")
        log(f"took {time.monotonic() - started:.1f} s")
        if not failed and "TOLLGATE_KEEP" not in os.environ:
            # Keep only the screenshots (the browser profile alone is tens of MB).
            for entry in TMP.iterdir():
                if entry != SHOTS:
                    if entry.is_dir():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink()
    log("all License page scenarios passed")


if __name__ == "__main__":
    sys.exit(main())
