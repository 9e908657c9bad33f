// <tollgate-license-page>: the License page a host embeds (issue 14).
//
// A framework-free web component: a plain JavaScript module, no build step. It talks to the
// License page's JSON API (tollgate-page; OpenAPI at api/openapi.json) under the URL in its
// `base` attribute (default: the directory of the document). Style it from outside with the
// CSS custom properties listed in STYLE below (--tg-accent, --tg-font, …).
//
// Wizard: Getting Started → Activation Method (Online / Offline / Floating) → Additional
// Details → Activation → Complete, then the status page with Reactivate, Upgrade License and
// Deactivate. The license key is sent once and never shown again.

const STEPS = ["Getting Started", "Activation Method", "Additional Details", "Activation", "Complete"];

const STYLE = `
:host {
  --tg-font: system-ui, sans-serif;
  --tg-fg: #1d2430;
  --tg-bg: #ffffff;
  --tg-muted: #5b6472;
  --tg-accent: #0b5cad;
  --tg-accent-fg: #ffffff;
  --tg-border: #c9d1dc;
  --tg-warn-bg: #fff4d6;
  --tg-warn-fg: #6b4e00;
  --tg-error-bg: #fde8e8;
  --tg-error-fg: #8a1111;
  --tg-ok: #1d7a35;
  --tg-radius: 6px;
  --tg-focus: 3px solid #ffb000;
  display: block; font-family: var(--tg-font); color: var(--tg-fg); background: var(--tg-bg);
  max-width: 56rem; padding: 1rem;
}
h2 { margin: 0 0 .75rem; font-size: 1.35rem; }
h3 { font-size: 1.05rem; margin: 1rem 0 .5rem; }
ol.steps { display: flex; gap: .25rem; list-style: none; padding: 0; margin: 0 0 1rem; flex-wrap: wrap; }
ol.steps li { flex: 1; min-width: 8rem; padding: .4rem .5rem; border-bottom: 3px solid var(--tg-border); color: var(--tg-muted); font-size: .9rem; }
ol.steps li.done { border-color: var(--tg-ok); color: var(--tg-fg); }
ol.steps li[aria-current="step"] { border-color: var(--tg-accent); color: var(--tg-fg); font-weight: 600; }
button, .button { font: inherit; padding: .45rem .9rem; border-radius: var(--tg-radius); border: 1px solid var(--tg-accent);
  background: var(--tg-bg); color: var(--tg-accent); cursor: pointer; text-transform: uppercase; letter-spacing: .03em; font-size: .85rem; text-decoration: none; display: inline-block; }
button.primary { background: var(--tg-accent); color: var(--tg-accent-fg); }
button:disabled { opacity: .5; cursor: not-allowed; }
button:focus-visible, input:focus-visible, textarea:focus-visible, select:focus-visible, .button:focus-visible, [tabindex]:focus-visible { outline: var(--tg-focus); outline-offset: 2px; }
.nav { display: flex; justify-content: space-between; margin-top: 1rem; gap: .5rem; }
fieldset { border: 1px solid var(--tg-border); border-radius: var(--tg-radius); padding: .75rem; }
fieldset label { display: block; padding: .35rem 0; }
label.field { display: block; font-weight: 600; margin: .75rem 0 .25rem; }
input[type=text], input[type=url], select, textarea { font: inherit; width: 100%; box-sizing: border-box; padding: .45rem;
  border: 1px solid var(--tg-border); border-radius: var(--tg-radius); background: var(--tg-bg); color: var(--tg-fg); }
textarea { font-family: ui-monospace, monospace; font-size: .85rem; min-height: 7rem; word-break: break-all; }
.drop { border: 2px dashed var(--tg-border); border-radius: var(--tg-radius); padding: .75rem; }
.drop.over { border-color: var(--tg-accent); background: color-mix(in srgb, var(--tg-accent) 8%, transparent); }
.drop p { margin: 0 0 .5rem; color: var(--tg-muted); }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.banner { padding: .6rem .8rem; border-radius: var(--tg-radius); margin: .5rem 0; }
.warn { background: var(--tg-warn-bg); color: var(--tg-warn-fg); }
.error { background: var(--tg-error-bg); color: var(--tg-error-fg); }
.info { background: color-mix(in srgb, var(--tg-accent) 10%, var(--tg-bg)); }
.row { display: flex; gap: .5rem; align-items: flex-start; }
.row textarea { flex: 1; }
.tools { display: flex; flex-direction: column; gap: .4rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; margin: 0; }
dt { color: var(--tg-muted); } dd { margin: 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--tg-border); }
.state { display: inline-block; padding: .15rem .6rem; border-radius: 999px; font-weight: 600; background: var(--tg-error-bg); color: var(--tg-error-fg); }
.state.active { background: color-mix(in srgb, var(--tg-ok) 15%, var(--tg-bg)); color: var(--tg-ok); }
.actions { display: flex; gap: .5rem; flex-wrap: wrap; margin-top: 1rem; }
dialog { border: 1px solid var(--tg-border); border-radius: var(--tg-radius); max-width: 40rem; width: 90%; color: var(--tg-fg); background: var(--tg-bg); }
meter { width: 8rem; }
`;

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

let uid = 0;
const nextId = (p) => `${p}-${++uid}`;

export class TollgateLicensePage extends HTMLElement {
  constructor() {
    super();
    this.root = this.attachShadow({ mode: "open" });
    this.wizard = { step: 0, method: null, offline: "request", server: "", set: "" };
    this.session = null;
    this.view = null;
    this.busy = false;
  }

  connectedCallback() {
    const m = /(?:^|[#&])token=([^&]+)/.exec(location.hash);
    if (m) {
      sessionStorage.setItem("tollgate-page-token", decodeURIComponent(m[1]));
      history.replaceState(null, "", location.pathname + location.search);
    }
    this.token = sessionStorage.getItem("tollgate-page-token");
    this.start();
  }

  url(path) {
    const base = new URL(this.getAttribute("base") || "./", document.baseURI);
    return new URL(path.replace(/^\//, ""), base);
  }

  async call(method, path, body) {
    const headers = { Accept: "application/json" };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (method === "POST") {
      headers["Content-Type"] = "application/json";
      headers["X-Tollgate-Csrf"] = this.session?.csrf_token ?? "";
    }
    let res;
    try {
      res = await fetch(this.url(path), {
        method, headers, credentials: "same-origin",
        body: method === "POST" ? JSON.stringify(body ?? {}) : undefined,
      });
    } catch (e) {
      throw { code: 0, name: "Network", message: "the License page's server cannot be reached" };
    }
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw data.error ?? { code: res.status, name: "HTTP", message: res.statusText };
    return data;
  }

  async start() {
    try {
      this.session = await this.call("GET", "/api/session");
      this.wizard.server = this.session.floating_server ?? "";
      this.wizard.set = this.session.feature_sets[0]?.name ?? "";
      await this.refresh();
    } catch (e) {
      this.renderFatal(e);
    }
  }

  async refresh() {
    this.view = await this.call("GET", "/api/status");
    this.render();
  }

  licensed() {
    const v = this.view;
    return v && (v.floating || (v.status.license && v.status.state !== "unlicensed"));
  }

  // ---------------------------------------------------------------------------------------
  render(focus = true) {
    const frame = [h("style", { text: STYLE })];
    if (this.licensed() && this.wizard.step !== 4) frame.push(this.renderStatus());
    else if (this.wizard.step === 4) frame.push(this.renderComplete());
    else frame.push(this.renderWizard());
    this.root.replaceChildren(...frame);
    if (focus) this.root.querySelector("[data-focus]")?.focus();
  }

  renderFatal(e) {
    this.root.replaceChildren(h("style", { text: STYLE }),
      h("div", { class: "banner error", role: "alert", text: `The License page cannot start: ${describe(e)}` }));
  }

  alertBox() {
    return h("div", { class: "alert", role: "alert", "aria-live": "assertive", id: "alert" });
  }

  showError(e) {
    const box = this.root.getElementById("alert");
    if (!box) return;
    box.replaceChildren(h("div", { class: "banner error", "data-code": String(e.code ?? 0), text: describe(e) }));
  }

  stepper(step) {
    return h("ol", { class: "steps", "aria-label": "Progress" },
      STEPS.map((s, i) => h("li", {
        class: i < step ? "done" : "", "aria-current": i === step ? "step" : false,
        text: `${i + 1}. ${s}`,
      })));
  }

  nav({ back = true, next = "Next", disabled = false, onnext }) {
    return h("div", { class: "nav" },
      back ? h("button", { type: "button", onclick: () => this.go(this.wizard.step - 1), text: "Back" }) : h("span"),
      h("button", { type: "submit", class: "primary", disabled, text: next, onclick: onnext }));
  }

  go(step) {
    this.wizard.step = Math.max(0, step);
    this.render();
  }

  async act(fn) {
    if (this.busy) return;
    this.busy = true;
    this.root.querySelectorAll("button").forEach((b) => (b.disabled = true));
    try {
      await fn();
    } catch (e) {
      this.busy = false;
      this.root.querySelectorAll("button").forEach((b) => (b.disabled = false));
      this.showError(e);
      return;
    }
    this.busy = false;
  }

  renderWizard() {
    const w = this.wizard;
    const s = this.session;
    const body = [];
    const title = h("h2", { tabindex: "-1", "data-focus": true, id: "step-title" });
    if (w.step === 0) {
      title.textContent = "License";
      body.push(h("p", { text: `${s.product} is not licensed on this server yet. Activate it with the license key you received.` }));
      if (this.view?.deactivation_code) body.push(this.codeBox("Last deactivation code",
        `Send this deactivation code to ${s.vendor} with your License ID to free the activation.`,
        this.view.deactivation_code, "deactivation-code.txt", "deactivation"));
      if (this.view?.usage_request) body.push(h("div", { class: "banner info", text: "A usage request is waiting for its usage license: choose Offline, then Upload Usage License." }));
      if (s.upgrade_url) body.push(h("p", {}, h("a", { class: "button", href: s.upgrade_url, target: "_blank", rel: "noopener", id: "purchase", text: "I need to purchase a license" })));
      body.push(this.nav({ back: false, onnext: () => this.go(1) }));
    } else if (w.step === 1) {
      title.textContent = "Activation Method";
      const methods = [
        ["online", "Online", "This server reaches the licensing service over the internet.", !s.online],
        ["offline", "Offline", `No internet: exchange a usage request and a usage license with ${s.vendor}.`, false],
        ["floating", "Floating", "Check a feature set out from a floating license server in your network.", s.feature_sets.length === 0],
      ];
      body.push(h("fieldset", {}, h("legend", { text: "How will this server be licensed?" }),
        methods.map(([value, label, hint, off]) => {
          const id = nextId("m");
          return h("label", { for: id },
            h("input", { type: "radio", name: "method", id, value, checked: w.method === value, disabled: off,
              onchange: () => { w.method = value; this.root.querySelector("button.primary").disabled = false; } }),
            ` ${label}`, h("small", { text: ` — ${hint}${off ? " (not configured on this server)" : ""}` }));
        })));
      body.push(this.nav({ disabled: !w.method, onnext: () => w.method && this.go(2) }));
    } else if (w.step === 2) {
      title.textContent = "Additional Details";
      if (w.method === "online") {
        body.push(h("p", { text: "Provide the license key you received: drag and drop the file, paste the key, or upload the file." }));
        body.push(this.dropField({ id: "key", label: "License Key", multiline: false, placeholder: "XXXXX-XXXXX-XXXXX-XXXXX-XXXXX" }));
        body.push(this.nav({ onnext: () => {
          const key = this.root.getElementById("key").value.trim();
          if (!key) return this.showError({ message: "Enter the license key." });
          this.pendingKey = key;
          this.go(3);
        } }));
      } else if (w.method === "offline") {
        body.push(h("fieldset", {}, h("legend", { text: "Which step of the offline round trip?" }),
          [["request", "Generate Usage Request"], ["upload", "Upload Usage License"]].map(([value, label]) => {
            const id = nextId("o");
            return h("label", { for: id }, h("input", { type: "radio", name: "offline", id, value, checked: w.offline === value,
              onchange: () => (w.offline = value) }), ` ${label}`);
          })));
        body.push(this.nav({ onnext: () => this.go(3) }));
      } else {
        const urlId = nextId("u"), setId = nextId("s");
        body.push(h("label", { class: "field", for: urlId, text: "Floating license server URL" }),
          h("input", { type: "url", id: urlId, name: "server", value: w.server, placeholder: "https://licenses.plant.local:8444",
            required: true, oninput: (e) => (w.server = e.target.value) }),
          h("label", { class: "field", for: setId, text: "Feature set" }),
          h("select", { id: setId, name: "feature-set", onchange: (e) => (w.set = e.target.value) },
            s.feature_sets.map((f) => h("option", { value: f.name, selected: f.name === w.set, text: `${f.name} (${f.features.join(", ")})` }))));
        body.push(this.nav({ onnext: () => {
          if (!w.server.trim()) return this.showError({ message: "Enter the floating license server's URL." });
          this.go(3);
        } }));
      }
    } else if (w.step === 3) {
      title.textContent = "Activation";
      if (w.method === "online") {
        body.push(h("p", { text: "This server will send a usage request (never the key itself) to the licensing service and install the usage license it answers." }));
        body.push(this.nav({ next: "Finish", onnext: () => this.act(async () => {
          const key = this.pendingKey;
          this.pendingKey = null;
          try {
            await this.call("POST", "/api/online/activate", { key });
          } catch (e) {
            this.wizard.step = 2; this.render(); throw e;
          }
          await this.complete();
        }) }));
      } else if (w.method === "offline" && w.offline === "request") {
        body.push(h("div", { class: "banner warn", role: "note", id: "invalidate-warning",
          text: "⚠ Only do this ONCE: each new usage request invalidates the previous one." }));
        body.push(this.dropField({ id: "key", label: "License Key", multiline: false, placeholder: "XXXXX-XXXXX-XXXXX-XXXXX-XXXXX" }));
        body.push(this.nav({ onnext: () => this.act(async () => {
          const input = this.root.getElementById("key");
          const key = input.value.trim();
          if (!key) throw { message: "Enter the license key." };
          const r = await this.call("POST", "/api/offline/request", { key });
          input.value = "";
          await this.refresh();
          this.requestDialog(r.usage_request);
        }) }));
      } else if (w.method === "offline") {
        body.push(h("div", { class: "banner info", text: `Drag and drop or manually enter the usage license from ${s.vendor}.` }));
        body.push(this.dropField({ id: "usage-license", label: "Usage License", multiline: true, placeholder: "TGUL:…" }));
        body.push(this.nav({ next: "Finish", onnext: () => this.act(async () => {
          const text = this.root.getElementById("usage-license").value.trim();
          if (!text) throw { message: "Enter the usage license." };
          await this.call("POST", "/api/offline/install", { usage_license: text });
          await this.complete();
        }) }));
      } else {
        const set = s.feature_sets.find((f) => f.name === w.set);
        body.push(h("dl", {}, h("dt", { text: "Server" }), h("dd", { text: w.server }),
          h("dt", { text: "Feature set" }), h("dd", { text: `${w.set} (${set?.features.join(", ") ?? ""})` })));
        body.push(this.nav({ next: "Finish", onnext: () => this.act(async () => {
          await this.call("POST", "/api/floating/checkout", { server: w.server, feature_set: w.set });
          await this.complete();
        }) }));
      }
    }
    const form = h("form", { novalidate: true, "aria-labelledby": "step-title", onsubmit: (e) => e.preventDefault() },
      title, this.alertBox(), body);
    return h("section", { class: "wizard", "data-step": String(w.step) }, this.stepper(w.step), form);
  }

  async complete() {
    this.wizard.step = 4;
    await this.refresh();
  }

  renderComplete() {
    return h("section", { class: "wizard", "data-step": "4" }, this.stepper(4),
      h("h2", { tabindex: "-1", "data-focus": true, text: "Complete" }),
      h("p", { class: "banner info", role: "status", text: "The license is activated on this server." }),
      h("div", { class: "nav" }, h("span"), h("button", { type: "button", class: "primary", text: "Show license status",
        onclick: () => { this.wizard = { ...this.wizard, step: 0, method: null }; this.render(); } })));
  }

  // -- input: drag and drop, paste, file ----------------------------------------------------
  dropField({ id, label, multiline, placeholder }) {
    const fileId = `${id}-file`;
    const input = multiline
      ? h("textarea", { id, name: id, placeholder, spellcheck: "false", autocomplete: "off", "aria-describedby": `${id}-hint` })
      : h("input", { type: "text", id, name: id, placeholder, spellcheck: "false", autocomplete: "off", "aria-describedby": `${id}-hint` });
    const zone = h("div", { class: "drop", "data-drop": id },
      h("p", { id: `${id}-hint`, text: "Drag and drop a file here, paste, or upload a file." }),
      h("label", { class: "field", for: id, text: label }), input,
      h("p", {}, h("button", { type: "button", "aria-controls": fileId, text: "Upload file",
        onclick: () => this.root.getElementById(fileId).click() }),
        h("input", { type: "file", id: fileId, class: "visually-hidden", accept: ".txt,.key,.lic,.tgul,text/plain", tabindex: "-1",
          "aria-label": `${label} file`,
          onchange: async (e) => { const f = e.target.files[0]; if (f) input.value = (await f.text()).trim(); e.target.value = ""; } })));
    zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", async (e) => {
      e.preventDefault();
      zone.classList.remove("over");
      const f = e.dataTransfer?.files?.[0];
      const text = f ? await f.text() : e.dataTransfer?.getData("text/plain") ?? "";
      input.value = text.trim();
      input.focus();
    });
    return zone;
  }

  // -- copy / download ----------------------------------------------------------------------
  codeBox(title, text, value, filename, name) {
    const id = nextId(name);
    return h("div", { class: "code-box", "data-code-box": name },
      h("h3", { text: title }),
      h("div", { class: "banner warn", text }),
      h("div", { class: "row" },
        h("label", { class: "visually-hidden", for: id, text: title }),
        h("textarea", { id, readonly: true, "data-value": name, text: value }),
        h("div", { class: "tools" },
          h("button", { type: "button", "data-copy": name, text: "Copy", onclick: (e) => copy(value, e.target) }),
          h("button", { type: "button", "data-download": name, text: "Download", onclick: () => download(filename, value) }))));
  }

  requestDialog(request) {
    const dlg = h("dialog", { "aria-labelledby": "dlg-title", id: "request-dialog" },
      h("h2", { id: "dlg-title", text: "Offline Activation" }),
      this.codeBox("Usage request", `Please contact ${this.session.vendor} with the following usage request to get a usage license. Only do this once: each new usage request invalidates the previous one.`,
        request, "usage-request.txt", "usage-request"),
      h("div", { class: "nav" }, h("span"), h("button", { type: "button", class: "primary", text: "Close",
        onclick: () => { dlg.close(); } })));
    dlg.addEventListener("close", () => { dlg.remove(); this.wizard.offline = "upload"; this.go(0); });
    this.root.append(dlg);
    dlg.showModal();
  }

  // -- the status page ----------------------------------------------------------------------
  renderStatus() {
    const v = this.view, st = v.status, lic = st.license, s = this.session;
    const model = v.floating ? "floating" : lic?.deployment_model;
    const state = v.floating ? "active" : st.state;
    const out = h("section", { class: "status", "aria-labelledby": "status-title" },
      h("h2", { id: "status-title", tabindex: "-1", "data-focus": true, text: "License status" }), this.alertBox(),
      h("p", {}, "State: ", h("span", { class: `state ${state === "active" ? "active" : ""}`, id: "state", text: state.replace(/_/g, " ") })));
    for (const w of st.warnings) out.append(h("div", { class: "banner warn", "data-warning": true, text: w }));
    if (st.error && !v.floating) out.append(h("div", { class: "banner error", text: `${st.error.message} (code ${st.error.code})` }));
    if (v.floating) {
      const f = v.floating;
      out.append(h("dl", { id: "details" },
        h("dt", { text: "Deployment" }), h("dd", { text: "floating" }),
        h("dt", { text: "Server" }), h("dd", { text: f.server }),
        h("dt", { text: "Feature set" }), h("dd", { text: f.feature_set }),
        h("dt", { text: "Lease" }), h("dd", { text: String(f.lease_id) }),
        h("dt", { text: "Lease expires" }), h("dd", { text: f.expires_at ?? "—" })));
      out.append(h("h3", { text: "Features" }), h("table", { id: "features" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Feature" }), h("th", { scope: "col", text: "Active" }))),
        h("tbody", {}, f.features.map((x) => h("tr", { "data-feature": x.name }, h("td", { text: x.name }), h("td", { text: x.active ? "yes" : "no" }))))));
    } else if (lic) {
      const rows = [["License ID", lic.license_id], ["Customer", lic.customer], ["Product", lic.product],
        ["Deployment", lic.deployment_model], ["Activation", lic.activation_id], ["Revision", lic.revision],
        ["Issued", lic.issued_at], ["Installed", lic.installed_at], ["Valid until", lic.valid_until ?? "no end"],
        ["Refresh before", lic.refresh_deadline]];
      out.append(h("dl", { id: "details" }, rows.filter((r) => r[1] !== null && r[1] !== undefined)
        .flatMap(([k, val]) => [h("dt", { text: k }), h("dd", { "data-field": k, text: String(val) })])));
      out.append(h("h3", { text: "Features" }), h("table", { id: "features" },
        h("thead", {}, h("tr", {}, ["Feature", "Kind", "Active", "Details"].map((c) => h("th", { scope: "col", text: c })))),
        h("tbody", {}, lic.features.map((f) => h("tr", { "data-feature": f.name },
          h("td", { text: f.name }), h("td", { text: f.kind }), h("td", { text: f.active ? "yes" : "no" }),
          h("td", {}, featureDetail(f)))))));
    }
    if (v.usage_request) {
      out.append(this.codeBox("Pending usage request", `Send this usage request to ${s.vendor}; install the usage license they answer below. Each new usage request invalidates the previous one.`,
        v.usage_request, "usage-request.txt", "usage-request"));
      out.append(this.dropField({ id: "usage-license", label: "Usage License", multiline: true, placeholder: "TGUL:…" }),
        h("p", {}, h("button", { type: "button", class: "primary", id: "install", text: "Install usage license",
          onclick: () => this.act(async () => {
            const text = this.root.getElementById("usage-license").value.trim();
            if (!text) throw { message: "Enter the usage license." };
            await this.call("POST", "/api/offline/install", { usage_license: text });
            await this.refresh();
          }) })));
    }
    const actions = h("div", { class: "actions" });
    if (model === "online") actions.append(h("button", { type: "button", id: "reactivate", text: "Reactivate",
      onclick: () => this.act(async () => { await this.call("POST", "/api/online/reactivate"); await this.refresh(); this.note("The license was reactivated."); }) }));
    if (model === "offline") actions.append(h("button", { type: "button", id: "upgrade", text: "Upgrade License",
      onclick: () => this.act(async () => {
        if (!confirm("Generate a new usage request for this server? Each new usage request invalidates the previous one.")) return;
        const r = await this.call("POST", "/api/offline/renew");
        await this.refresh();
        this.requestDialogStatus(r.usage_request);
      }) }));
    else if (s.upgrade_url) actions.append(h("a", { class: "button", id: "upgrade", href: s.upgrade_url, target: "_blank", rel: "noopener", text: "Upgrade License" }));
    actions.append(h("button", { type: "button", id: "deactivate", text: "Deactivate",
      onclick: () => this.act(async () => {
        if (!confirm("Deactivate the license on this server?")) return;
        if (model === "floating") await this.call("POST", "/api/floating/release");
        else if (model === "online") await this.call("POST", "/api/online/deactivate");
        else await this.call("POST", "/api/offline/deactivate");
        this.wizard = { ...this.wizard, step: 0, method: null };
        await this.refresh();
      }) }));
    out.append(actions);
    return out;
  }

  requestDialogStatus(request) {
    const dlg = h("dialog", { "aria-labelledby": "dlg-title", id: "request-dialog" },
      h("h2", { id: "dlg-title", text: "Offline Activation" }),
      this.codeBox("Usage request", `Please contact ${this.session.vendor} with the following usage request to get a usage license.`, request, "usage-request.txt", "usage-request"),
      h("div", { class: "nav" }, h("span"), h("button", { type: "button", class: "primary", text: "Close", onclick: () => dlg.close() })));
    dlg.addEventListener("close", () => dlg.remove());
    this.root.append(dlg);
    dlg.showModal();
  }

  note(text) {
    const box = this.root.getElementById("alert");
    box?.replaceChildren(h("div", { class: "banner info", role: "status", text }));
  }
}

function featureDetail(f) {
  if (f.kind === "metered") {
    const used = f.used ?? 0;
    return h("span", { "data-usage": `${used}/${f.quota}` },
      h("meter", { min: "0", max: String(f.quota), value: String(used), "aria-label": `${f.name} usage` }),
      ` ${used} of ${f.quota} per ${f.period}`);
  }
  if (f.kind === "subscription") return `until ${f.expires_at}`;
  return "perpetual";
}

function describe(e) {
  if (!e) return "unknown error";
  return e.code ? `${e.message} (code ${e.code}${e.name ? ` ${e.name}` : ""})` : e.message ?? String(e);
}

async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const t = document.createElement("textarea");
    t.value = text; document.body.append(t); t.select(); document.execCommand("copy"); t.remove();
  }
  const old = button.textContent;
  button.textContent = "Copied";
  setTimeout(() => (button.textContent = old), 1500);
}

function download(filename, text) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text + "\n"], { type: "text/plain" }));
  a.download = filename;
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

if (!customElements.get("tollgate-license-page")) customElements.define("tollgate-license-page", TollgateLicensePage);
