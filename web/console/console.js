// <tollgate-console>: the vendor's support console over tollgate-server's admin API (issue 14).
//
// A plain JavaScript module, no build step. The operator enters the admin token once (kept in
// sessionStorage for the tab, sent as `Authorization: Bearer`). Find a license by id, key or
// customer; see its activations and audit log; fulfil a pasted usage request; verify a pasted
// deactivation code (which frees its seat); restore a lost activation; upgrade; issue.

const STYLE = `
:host { --tg-font: system-ui, sans-serif; --tg-fg: #1d2430; --tg-bg: #fff; --tg-muted: #5b6472;
  --tg-accent: #0b5cad; --tg-border: #c9d1dc; --tg-error-bg: #fde8e8; --tg-error-fg: #8a1111;
  --tg-ok-bg: #e3f4e8; --tg-radius: 6px; --tg-focus: 3px solid #ffb000;
  display: block; font-family: var(--tg-font); color: var(--tg-fg); background: var(--tg-bg); padding: 1rem; }
h1 { font-size: 1.4rem; margin: 0 0 1rem; } h2 { font-size: 1.1rem; margin: 1.25rem 0 .5rem; }
section { border: 1px solid var(--tg-border); border-radius: var(--tg-radius); padding: .75rem 1rem; margin-bottom: 1rem; }
label { display: block; font-weight: 600; margin: .5rem 0 .2rem; }
input, textarea, select { font: inherit; width: 100%; box-sizing: border-box; padding: .4rem; border: 1px solid var(--tg-border); border-radius: var(--tg-radius); }
textarea { font-family: ui-monospace, monospace; min-height: 5rem; word-break: break-all; }
button { font: inherit; margin-top: .5rem; padding: .4rem .9rem; border-radius: var(--tg-radius); border: 1px solid var(--tg-accent); background: var(--tg-accent); color: #fff; cursor: pointer; }
button.secondary { background: var(--tg-bg); color: var(--tg-accent); }
:focus-visible { outline: var(--tg-focus); outline-offset: 2px; }
.row { display: grid; grid-template-columns: repeat(auto-fit, minmax(14rem, 1fr)); gap: 0 1rem; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { text-align: left; padding: .3rem .4rem; border-bottom: 1px solid var(--tg-border); vertical-align: top; }
.msg { padding: .5rem .75rem; border-radius: var(--tg-radius); margin: .5rem 0; word-break: break-all; }
.error { background: var(--tg-error-bg); color: var(--tg-error-fg); } .ok { background: var(--tg-ok-bg); }
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

const when = (secs) => (secs ? new Date(secs * 1000).toISOString().replace(".000", "") : "—");

function field(id, label, input) {
  return [h("label", { for: id, text: label }), input];
}

export class TollgateConsole extends HTMLElement {
  constructor() {
    super();
    this.root = this.attachShadow({ mode: "open" });
    this.token = sessionStorage.getItem("tollgate-console-token") || "";
  }

  connectedCallback() {
    this.render();
  }

  url(path) {
    return new URL(path.replace(/^\//, ""), new URL(this.getAttribute("api") || "../", document.baseURI));
  }

  async call(method, path, body) {
    const headers = { Accept: "application/json", Authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let res;
    try {
      res = await fetch(this.url(path), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch {
      throw { code: 0, message: "the activation service cannot be reached" };
    }
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw data.error ?? { code: res.status, message: res.statusText };
    return data;
  }

  say(id, text, ok = true, code) {
    const box = this.root.getElementById(id);
    box.replaceChildren(h("div", { class: `msg ${ok ? "ok" : "error"}`, role: ok ? "status" : "alert",
      "data-code": code === undefined ? false : String(code), text }));
  }

  async run(out, fn) {
    try {
      await fn();
    } catch (e) {
      this.say(out, e.code ? `${e.message} (code ${e.code}${e.name ? ` ${e.name}` : ""})` : e.message, false, e.code ?? 0);
    }
  }

  val(id) {
    return this.root.getElementById(id).value.trim();
  }

  render() {
    const r = this.root;
    r.replaceChildren(h("style", { text: STYLE }), h("h1", { text: "Support console" }),
      h("section", { "aria-labelledby": "t-token" }, h("h2", { id: "t-token", text: "Admin token" }),
        ...field("token", "Admin token", h("input", { id: "token", type: "password", autocomplete: "off", value: this.token })),
        h("button", { id: "save-token", type: "button", text: "Use token", onclick: () => {
          this.token = this.val("token");
          sessionStorage.setItem("tollgate-console-token", this.token);
          this.say("token-out", "Token set for this tab.");
        } }), h("div", { id: "token-out" })),
      h("section", { "aria-labelledby": "t-find" }, h("h2", { id: "t-find", text: "Find a license" }),
        h("div", { class: "row" },
          h("div", {}, ...field("find-id", "License ID", h("input", { id: "find-id", inputmode: "numeric" })),
            h("button", { id: "by-id", type: "button", text: "Open", onclick: () => this.run("find-out", async () => this.show(await this.call("GET", `v1/admin/licenses/${encodeURIComponent(this.val("find-id"))}`))) })),
          h("div", {}, ...field("find-key", "License key", h("input", { id: "find-key", autocomplete: "off", spellcheck: "false" })),
            h("button", { id: "by-key", type: "button", text: "Look up", onclick: () => this.run("find-out", async () => {
              const lic = await this.call("POST", "v1/admin/lookup", { key: this.val("find-key") });
              this.root.getElementById("find-key").value = "";
              this.show(lic);
            }) })),
          h("div", {}, ...field("find-customer", "Customer", h("input", { id: "find-customer" })),
            h("button", { id: "by-customer", type: "button", text: "Search", onclick: () => this.run("find-out", async () => {
              const q = this.val("find-customer").toLowerCase();
              const all = await this.call("GET", "v1/admin/licenses");
              this.list(all.filter((l) => l.customer.toLowerCase().includes(q)));
            }) }))),
        h("div", { id: "find-out" }), h("div", { id: "license" })),
      h("section", { "aria-labelledby": "t-fulfil" }, h("h2", { id: "t-fulfil", text: "Fulfil an offline usage request" }),
        ...field("request", "Usage request (TGRQ:…)", h("textarea", { id: "request", spellcheck: "false" })),
        h("button", { id: "fulfil", type: "button", text: "Fulfil", onclick: () => this.run("fulfil-out", async () => {
          const r = await this.call("POST", "v1/offline/fulfil", { request: this.val("request") });
          const out = this.root.getElementById("fulfil-out");
          out.replaceChildren(h("div", { class: "msg ok", role: "status", text: `Usage license for license ${r.license_id ?? ""}, activation ${r.activation_id ?? ""}:` }),
            h("label", { for: "usage-license", text: "Usage license (send it to the customer)" }),
            h("textarea", { id: "usage-license", readonly: true, text: r.usage_license }),
            h("button", { type: "button", class: "secondary", text: "Copy", onclick: () => navigator.clipboard?.writeText(r.usage_license) }),
            " ", h("button", { type: "button", class: "secondary", text: "Download", onclick: () => download("usage-license.txt", r.usage_license) }));
        }) }), h("div", { id: "fulfil-out" })),
      h("section", { "aria-labelledby": "t-deact" }, h("h2", { id: "t-deact", text: "Verify a deactivation code" }),
        ...field("code", "Deactivation code (TGDC:…)", h("textarea", { id: "code", spellcheck: "false" })),
        h("button", { id: "verify", type: "button", text: "Verify and free the seat", onclick: () => this.run("deact-out", async () => {
          const r = await this.call("POST", "v1/deactivate", { code: this.val("code") });
          this.say("deact-out", `Verified: license ${r.license_id}, activation ${r.activation_id} freed.`);
        }) }), h("div", { id: "deact-out" })),
      h("section", { "aria-labelledby": "t-issue" }, h("h2", { id: "t-issue", text: "Issue a license" }),
        h("div", { class: "row" },
          h("div", {}, ...field("issue-product", "Product", h("input", { id: "issue-product" }))),
          h("div", {}, ...field("issue-customer", "Customer", h("input", { id: "issue-customer" }))),
          h("div", {}, ...field("issue-features", "Features (name, name:metered:QUOTA/PERIOD, name:until:UNIX)", h("input", { id: "issue-features", value: "mqtt-server" }))),
          h("div", {}, ...field("issue-models", "Models", h("input", { id: "issue-models", value: "online,offline" }))),
          h("div", {}, ...field("issue-activations", "Activations", h("input", { id: "issue-activations", value: "1", inputmode: "numeric" })))),
        h("button", { id: "issue", type: "button", text: "Issue", onclick: () => this.run("issue-out", async () => {
          const r = await this.call("POST", "v1/admin/licenses", {
            product: this.val("issue-product"), customer: this.val("issue-customer"),
            features: parseFeatures(this.val("issue-features")),
            models: this.val("issue-models").split(",").map((m) => m.trim()).filter(Boolean),
            max_activations: Number(this.val("issue-activations")),
          });
          this.say("issue-out", `License ${r.license_id} issued. Key (shown once): ${r.key}`);
        }) }), h("div", { id: "issue-out" })),
      h("section", { "aria-labelledby": "t-usage" }, h("h2", { id: "t-usage", text: "Metered usage" }),
        ...field("journal", "Usage journal of an offline host (TGUR:… lines)", h("textarea", { id: "journal", spellcheck: "false" })),
        h("button", { id: "import-usage", type: "button", text: "Import journal", onclick: () => this.run("usage-out", async () => {
          const r = await this.call("POST", "v1/admin/usage/import", { journal: this.root.getElementById("journal").value });
          this.usageResults(r);
        }) }),
        h("div", { class: "row" },
          h("div", {}, ...field("usage-lic", "License ID (empty: all)", h("input", { id: "usage-lic", inputmode: "numeric" }))),
          h("div", {}, ...field("usage-period", "Period (YYYY-MM or YYYY, empty: all)", h("input", { id: "usage-period" })))),
        h("button", { id: "show-usage", type: "button", class: "secondary", text: "Show usage", onclick: () => this.run("usage-out", async () => {
          const q = new URLSearchParams();
          if (this.val("usage-lic")) q.set("license", this.val("usage-lic"));
          if (this.val("usage-period")) q.set("period", this.val("usage-period"));
          this.usageTotals(await this.call("GET", `v1/admin/usage?${q}`));
        }) }), h("div", { id: "usage-out" })));
  }

  usageResults(r) {
    const flagged = r.flagged > 0;
    this.root.getElementById("usage-out").replaceChildren(
      h("div", { class: `msg ${flagged ? "error" : "ok"}`, role: flagged ? "alert" : "status",
        text: `${r.results.length} report(s) imported, ${r.flagged} flagged (not merged).` }),
      h("table", { id: "usage-results" },
        h("thead", {}, h("tr", {}, ["License", "Device", "Seq", "Verdict"].map((c) => h("th", { scope: "col", text: c })))),
        h("tbody", {}, ...r.results.map((x) => h("tr", {}, h("td", { text: String(x.license_id) }),
          h("td", { text: x.device_key.slice(0, 16) }), h("td", { text: String(x.seq) }), h("td", { text: x.verdict }))))));
  }

  usageTotals(u) {
    const rows = u.totals.map((t) => h("tr", {}, h("td", { text: String(t.license_id) }), h("td", { text: t.feature }),
      h("td", { text: t.period }), h("td", { text: when(t.period_start) }), h("td", { text: String(t.units) })));
    const flags = u.flags.map((f) => h("li", { text: `license ${f.license_id}, device ${f.device_key.slice(0, 16)}, seq ${f.seq}: ${f.verdict}${f.resolved_at ? ` (${f.resolution || "resolved"})` : ""}` }));
    const m = u.meter_events || { unbillable: 0, expired: 0 };
    this.root.getElementById("usage-out").replaceChildren(
      h("table", { id: "usage-totals" },
        h("thead", {}, h("tr", {}, ["License", "Feature", "Period", "Start", "Units"].map((c) => h("th", { scope: "col", text: c })))),
        h("tbody", {}, ...(rows.length ? rows : [h("tr", {}, h("td", { colspan: "5", text: "No usage merged." }))]))),
      h("p", { text: `${u.unsent_meter_events} meter event(s) not yet accepted by Stripe; ${m.unbillable} unbillable (no billing customer), ${m.expired} expired (older than Stripe takes), never sent.` }),
      flags.length ? h("ul", { id: "usage-flags" }, ...flags) : h("p", { text: "No flagged reports." }));
  }

  list(items) {
    const box = this.root.getElementById("license");
    if (!items.length) return this.say("find-out", "No license matches.", false);
    this.root.getElementById("find-out").replaceChildren();
    box.replaceChildren(h("table", { id: "results" },
      h("thead", {}, h("tr", {}, ["ID", "Customer", "Product", "Status", ""].map((c) => h("th", { scope: "col", text: c })))),
      h("tbody", {}, items.map((l) => h("tr", { "data-license": String(l.id) },
        h("td", { text: String(l.id) }), h("td", { text: l.customer }), h("td", { text: l.product }), h("td", { text: l.status ?? "" }),
        h("td", {}, h("button", { type: "button", class: "secondary", text: "Open", onclick: () => this.run("find-out", async () => this.show(await this.call("GET", `v1/admin/licenses/${l.id}`))) })))))));
  }

  async show(lic) {
    this.root.getElementById("find-out").replaceChildren();
    const audit = await this.call("GET", `v1/admin/audit?license_id=${lic.id}&limit=50`);
    const box = this.root.getElementById("license");
    box.replaceChildren(
      h("h2", { id: "license-title", tabindex: "-1", text: `License ${lic.id}: ${lic.customer}` }),
      h("p", { id: "license-summary", text: `${lic.product}, revision ${lic.revision}, ${lic.models.join("/")}, ${lic.max_activations} activation(s), features: ${lic.features.map((f) => f.name).join(", ")}` }),
      h("h2", { text: "Activations" }),
      h("table", { id: "activations" },
        h("thead", {}, h("tr", {}, ["ID", "Status", "Model", "Created", "Last fulfilled", ""].map((c) => h("th", { scope: "col", text: c })))),
        h("tbody", {}, (lic.activations ?? []).map((a) => h("tr", { "data-activation": String(a.id), "data-status": a.status },
          h("td", { text: String(a.id) }), h("td", { text: a.status }), h("td", { text: a.model }),
          h("td", { text: when(a.created_at) }), h("td", { text: when(a.last_fulfilled_at) }),
          h("td", {}, a.status === "active" ? h("button", { type: "button", class: "secondary", "data-restore": String(a.id), text: "Restore (free seat)",
            onclick: () => this.run("license-out", async () => {
              const reason = prompt("Why is this activation restored (freed)?", "server destroyed without deactivation");
              if (!reason) return;
              await this.call("POST", `v1/admin/licenses/${lic.id}/activations/${a.id}/restore`, { reason, operator: "support-console" });
              await this.show(await this.call("GET", `v1/admin/licenses/${lic.id}`));
              this.say("license-out", `Activation ${a.id} restored: its seat is free.`);
            }) }) : null))))),
      h("h2", { text: "Upgrade" }),
      ...field("upgrade-features", "Add features (same syntax as issue)", h("input", { id: "upgrade-features" })),
      ...field("upgrade-activations", "New activation count (optional)", h("input", { id: "upgrade-activations", inputmode: "numeric" })),
      h("button", { id: "upgrade", type: "button", text: "Upgrade", onclick: () => this.run("license-out", async () => {
        const body = { add_features: parseFeatures(this.val("upgrade-features")) };
        if (this.val("upgrade-activations")) body.max_activations = Number(this.val("upgrade-activations"));
        const r = await this.call("POST", `v1/admin/licenses/${lic.id}/upgrade`, body);
        await this.show(await this.call("GET", `v1/admin/licenses/${lic.id}`));
        this.say("license-out", `Upgraded to revision ${r.revision}.`);
      }) }),
      h("div", { id: "license-out" }),
      h("h2", { text: "Audit log" }),
      h("table", { id: "audit" },
        h("thead", {}, h("tr", {}, ["When", "Actor", "Action", "Activation", "Detail"].map((c) => h("th", { scope: "col", text: c })))),
        h("tbody", {}, audit.map((e) => h("tr", { "data-action": e.action },
          h("td", { text: when(e.at) }), h("td", { text: e.actor }), h("td", { text: e.action }),
          h("td", { text: e.activation_id ?? "" }), h("td", { text: JSON.stringify(e.detail) }))))));
    this.root.getElementById("license-title").focus();
  }
}

function parseFeatures(text) {
  return text.split(",").map((t) => t.trim()).filter(Boolean).map((t) => {
    const [name, kind, arg] = t.split(":");
    if (kind === "metered") {
      const [quota, period] = (arg ?? "").split("/");
      return { name, kind: "metered", quota: Number(quota), period: period || "month" };
    }
    if (kind === "until") return { name, kind: "subscription", expires_at: Number(arg) };
    return { name, kind: "perpetual" };
  });
}

function download(filename, text) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text + "\n"], { type: "text/plain" }));
  a.download = filename;
  document.body.append(a); a.click(); a.remove();
}

if (!customElements.get("tollgate-console")) customElements.define("tollgate-console", TollgateConsole);
