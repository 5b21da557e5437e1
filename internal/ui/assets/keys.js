// <keys-manager>: a customer's page for their API keys, talking only to the
// account endpoints of github.com/keyward/keys/httpadapter.
//
// Plain JavaScript, no build step, no third-party code. It is written to run
// under a strict Content-Security-Policy (script-src 'self'; style-src
// 'self'): no inline script, no inline style attribute, no eval; its styles
// are a constructed stylesheet adopted by its shadow root, and its DOM is
// built with createElement and textContent, never parsed from strings, so nothing an
// API returns is parsed as markup.
//
// Attributes:
//   base-path  what precedes /account/… (the adapter's Options.BasePath);
//              default "".
// Properties:
//   getToken   optional async () => string: a session token sent as
//              "Authorization: Bearer …". Without it the element calls the
//              endpoints same-origin with the browser's cookies (hosts using
//              Options.SessionFromRequest); the browser's own Sec-Fetch-Site
//              and Origin headers satisfy the adapter's cross-origin check.
// Events:
//   keys-error    detail {code, message}   an API call failed
//   keys-changed  detail {action, id}      a key was created, revoked or reissued
//   keys-rendered detail {dataAt}          the page was drawn (dataAt: when its data had arrived)
const CSS = `
:host{display:block;font:15px/1.45 system-ui,sans-serif;color:var(--fg);background:var(--bg);
--fg:#1b1f24;--bg:#fff;--mute:#57606a;--line:#d0d7de;--card:#f6f8fa;--acc:#0b57d0;--acc-fg:#fff;
--bad:#b3261e;--ok:#1a7f37;--warn:#8a5300;--focus:#0b57d0}
@media (prefers-color-scheme:dark){:host{--fg:#e6edf3;--bg:#0d1117;--mute:#9ea7b3;--line:#3d444d;
--card:#161b22;--acc:#7cacf8;--acc-fg:#0d1117;--bad:#ff8a80;--ok:#56d364;--warn:#e3b341;--focus:#7cacf8}}
*{box-sizing:border-box}
h2{font-size:1.35em;margin:0 0 .6em}h3{font-size:1.1em;margin:1.2em 0 .5em}
button{font:inherit;border:1px solid var(--line);background:var(--card);color:var(--fg);
border-radius:6px;padding:.4em .9em;cursor:pointer;min-height:2.4em}
button.primary{background:var(--acc);color:var(--acc-fg);border-color:var(--acc)}
button.danger{color:var(--bad);border-color:var(--bad)}
button:disabled{opacity:.6;cursor:default}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
.bar{display:flex;gap:.6em;flex-wrap:wrap;align-items:center;justify-content:space-between}
.card{border:1px solid var(--line);border-radius:8px;padding:.8em 1em;margin:.6em 0;background:var(--bg)}
.card.off{opacity:.75}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.15em 1em;margin:.5em 0}
dt{color:var(--mute)}dd{margin:0;overflow-wrap:anywhere}
code{font:.92em ui-monospace,monospace}
.st{font-size:.85em;border-radius:99px;padding:.05em .6em;border:1px solid currentColor}
.st.active{color:var(--ok)}.st.retiring{color:var(--warn)}.st.revoked,.st.expired{color:var(--bad)}
meter{width:100%;height:.9em}
.usage{margin:.3em 0 .2em}.mute{color:var(--mute);font-size:.9em}
.err{border:1px solid var(--bad);color:var(--bad);border-radius:6px;padding:.6em .8em;margin:.6em 0}
dialog{border:1px solid var(--line);border-radius:10px;background:var(--bg);color:var(--fg);
width:min(34em,calc(100vw - 2em));padding:1.2em}
dialog::backdrop{background:#0008}
label{display:block;margin:.7em 0 .2em;font-weight:600}
input,select,textarea{font:inherit;width:100%;padding:.4em .5em;border:1px solid var(--line);
border-radius:6px;background:var(--bg);color:var(--fg)}
.hint{color:var(--mute);font-size:.85em;margin:.15em 0 0}
.row{display:flex;gap:.6em;justify-content:flex-end;flex-wrap:wrap;margin-top:1em}
.secret{display:flex;gap:.5em;align-items:center;margin:.6em 0}
.secret code{flex:1;padding:.5em;border:1px solid var(--line);border-radius:6px;background:var(--card);word-break:break-all}
.warn{color:var(--warn);font-weight:600}
@media (max-width:600px){:host{font-size:14px}dl{grid-template-columns:1fr}dt{margin-top:.3em}.row button{flex:1}}
`;

const SENTENCES = {
  missing_credentials: "You are not signed in. Sign in again and reload this page.",
  invalid_session: "Your session has expired. Sign in again and reload this page.",
  invalid_api_key: "The key used for this page is not valid.",
  key_revoked: "The key used for this page has been revoked.",
  key_expired: "The key used for this page has expired.",
  rate_limited: "Too many requests right now. Wait {retry} and try again.",
  quota_exceeded: "This account has used its monthly quota.",
  email_not_verified: "Verify your email address before creating or reissuing keys.",
  child_key_forbidden: "This page needs your account's session or root key; a child key cannot manage keys.",
  root_key_retired: "This root key has been replaced and is in its grace period; use the new root key.",
  insufficient_scope: "You do not have permission to do this.",
  ip_not_allowed: "Your network address is not allowed to use this key.",
  cross_origin_request: "This request was blocked because it came from another site.",
  no_active_key: "The account has no active root key. Create one first.",
  root_key_changed: "The root key changed in the meantime. Reload the page and try again.",
  key_not_found: "That key no longer exists.",
  invalid_request: "The request was not accepted: {message}",
  request_too_large: "The request was too large.",
  internal_error: "Something went wrong on our side. Try again in a moment.",
  network: "The server could not be reached. Check your connection and try again.",
};

const GRACES = [
  [0, "None: the old key stops now"],
  [3600, "1 hour"],
  [86400, "24 hours"],
  [604800, "7 days"],
];

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of kids.flat()) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

export class APIError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
  // sentence is what a person reads: a whole sentence, never a bare code.
  get sentence() {
    let s = SENTENCES[this.code];
    if (!s) return this.status >= 500 ? SENTENCES.internal_error : "The request failed: " + this.message;
    const secs = Number(this.retryAfter) || 0;
    const wait = secs > 1 ? secs + " seconds" : "a second";
    return s.replace("{retry}", wait).replace("{message}", this.message || "");
  }
}

let uid = 0;

export class KeysManager extends HTMLElement {
  constructor() {
    super();
    // A host may set getToken before the element is upgraded; keep it.
    const early = Object.getOwnPropertyDescriptor(this, "getToken");
    if (early) delete this.getToken;
    this._getToken = early ? early.value : null;
    this._root = this.attachShadow({ mode: "open" });
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    this._root.adoptedStyleSheets = [sheet];
    this._fmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
    this._day = new Intl.DateTimeFormat(undefined, { dateStyle: "long" });
    this._num = new Intl.NumberFormat();
  }

  // getToken supplies the session token; setting it reloads the page's data.
  get getToken() { return this._getToken; }
  set getToken(fn) {
    this._getToken = fn;
    if (this.isConnected) this.refresh();
  }

  static get observedAttributes() { return ["base-path"]; }
  attributeChangedCallback() { if (this.isConnected) this.refresh(); }
  connectedCallback() { this.refresh(); }

  get basePath() { return (this.getAttribute("base-path") || "").replace(/\/+$/, ""); }

  // api calls one account endpoint and returns its JSON body, or throws an
  // APIError whose sentence can be shown.
  async api(method, path, body) {
    const headers = { Accept: "application/json" };
    const init = { method, headers, credentials: "same-origin", cache: "no-store" };
    if (typeof this.getToken === "function") {
      const t = await this.getToken();
      if (t) headers.Authorization = "Bearer " + t;
    }
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(this.basePath + "/account/" + path, init);
    } catch (e) {
      throw new APIError(0, "network", String(e));
    }
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      const err = (data && data.error) || {};
      throw new APIError(res.status, err.code || "http_" + res.status, err.message || res.statusText,
        res.headers.get("Retry-After"));
    }
    return data;
  }

  async refresh() {
    const gen = (this._gen = (this._gen || 0) + 1);
    let root = null, list = [], usage = null, error = null;
    try {
      // The three reads go out together; only further pages of a long
      // list wait for the one before.
      const [r, u, first] = await Promise.all([
        this.api("GET", "key").catch((e) => { if (e.code === "no_active_key") return null; throw e; }),
        this.api("GET", "usage"),
        this.api("GET", "keys?limit=100"),
      ]);
      root = r && r.key;
      usage = u;
      list = first.keys || [];
      for (let cursor = first.next_cursor; cursor;) {
        const page = await this.api("GET", "keys?limit=100&cursor=" + encodeURIComponent(cursor));
        list = list.concat(page.keys || []);
        cursor = page.next_cursor;
      }
    } catch (e) {
      error = e;
    }
    if (gen !== this._gen) return; // a newer refresh is under way
    const dataAt = performance.now();
    this._state = { root, list, usage, error };
    this.render();
    this.dispatchEvent(new CustomEvent("keys-rendered", { bubbles: true, composed: true, detail: { dataAt } }));
  }

  time(s) { return s ? this._fmt.format(new Date(s)) : "never"; }

  status(k) {
    const now = Date.now();
    if (k.revoked_at && Date.parse(k.revoked_at) <= now) return ["revoked", "Revoked"];
    if (!k.is_active || (k.expires_at && Date.parse(k.expires_at) <= now)) return ["expired", "Expired"];
    if (k.revoked_at) return ["retiring", "Retiring: stops " + this.time(k.revoked_at)];
    return ["active", "Active"];
  }

  usageOf(id) {
    const u = this._state.usage;
    return u && (u.keys || []).find((e) => e.id === id);
  }

  meter(label, used, quota) {
    const id = "m" + ++uid;
    return el("div", { class: "usage" },
      el("div", { id, class: "mute", text: label + ": " + this._num.format(used) + " of " + this._num.format(quota) + " requests this month" }),
      el("meter", { min: "0", max: String(Math.max(quota, 1)), value: String(Math.min(used, quota)),
        high: String(quota * 0.8), optimum: "0", "aria-labelledby": id }));
  }

  render() {
    const { root, list, usage, error } = this._state;
    const r = this._root;
    r.replaceChildren();
    const main = el("section", { "aria-labelledby": "kh" });
    main.append(el("div", { class: "bar" },
      el("h2", { id: "kh", text: "API keys" }),
      el("button", { class: "primary", id: "create", onclick: (e) => this.createDialog(e.currentTarget), disabled: !root, text: "Create key" })));
    this._alert = el("div", { role: "alert", "aria-live": "assertive" });
    main.append(this._alert);
    if (error) this.showError(error);
    if (usage && usage.account) {
      const a = usage.account;
      main.append(this.meter("Account", a.requests, a.quota),
        el("p", { class: "mute", text: this._num.format(a.remaining) + " remaining · resets " + this._day.format(new Date(usage.resets_at)) }));
    }
    main.append(el("h3", { text: "Root key" }));
    if (root) main.append(this.card(root, true));
    else if (!error) main.append(el("p", { text: "This account has no root key yet." }));
    main.append(el("div", { class: "row" },
      el("button", { id: "reissue", onclick: (e) => this.reissueDialog(e.currentTarget, root), text: root ? "Reissue root key" : "Create root key" })));
    const children = list.filter((k) => !k.is_root_key);
    const oldRoots = list.filter((k) => k.is_root_key && (!root || k.id !== root.id));
    main.append(el("h3", { text: "Child keys" }));
    if (!children.length && !error) main.append(el("p", { class: "mute", text: "No child keys." }));
    for (const k of children) main.append(this.card(k, false));
    if (oldRoots.length) {
      main.append(el("h3", { text: "Previous root keys" }));
      for (const k of oldRoots) main.append(this.card(k, true));
    }
    r.append(main);
  }

  card(k, isRoot) {
    const [cls, label] = this.status(k);
    const title = isRoot ? "Root key" : k.name || "Unnamed key";
    const rows = [
      ["Prefix", el("code", { text: k.key_prefix })],
      ["ID", el("code", { text: k.id })],
      ["Created", this.time(k.created_at)],
      ["Last used", this.time(k.last_used_at)],
    ];
    if (!isRoot) {
      rows.push(["Scopes", k.scopes ? k.scopes.join(", ") : "All"]);
      rows.push(["Limits", this._num.format(k.effective_rate_requests_per_minute) + " per minute, " +
        this._num.format(k.effective_quota_requests_per_month) + " per month"]);
      rows.push(["Expires", k.expires_at ? this.time(k.expires_at) : "never"]);
      if (k.allowed_networks) rows.push(["Networks", k.allowed_networks.join(", ")]);
    }
    const dl = el("dl");
    for (const [t, d] of rows) dl.append(el("dt", { text: t }), el("dd", {}, d));
    const u = this.usageOf(k.id);
    const card = el("article", { class: "card" + (cls === "active" || cls === "retiring" ? "" : " off"), "aria-label": title, "data-id": k.id },
      el("div", { class: "bar" }, el("strong", { text: title }), el("span", { class: "st " + cls, text: label })),
      dl, u ? this.meter("This key", u.requests, u.quota) : null);
    if (!isRoot && cls !== "revoked") {
      card.append(el("div", { class: "row" }, el("button", { class: "danger", "data-action": "revoke",
        "aria-label": "Revoke " + title, onclick: (e) => this.revokeDialog(e.currentTarget, k), text: "Revoke" })));
    }
    return card;
  }

  showError(e, where) {
    const target = where || this._alert;
    target.replaceChildren(el("p", { class: "err", text: e.sentence || String(e) }));
    this.dispatchEvent(new CustomEvent("keys-error", { bubbles: true, composed: true, detail: { code: e.code, message: e.sentence } }));
  }

  // dialog opens a modal <dialog>; focus goes to its first field and back to
  // the opener when it closes (Escape closes it, as the platform does).
  dialog(title, opener, build) {
    const id = "d" + ++uid;
    const d = el("dialog", { "aria-labelledby": id });
    const err = el("div", { role: "alert" });
    d.append(el("h2", { id, text: title }), err);
    build(d, err);
    d.addEventListener("close", () => { d.remove(); if (opener && opener.isConnected) opener.focus(); else this._root.querySelector("#create,#reissue")?.focus(); });
    this._root.append(d);
    d.showModal();
    const first = d.querySelector("input,select,textarea,button.primary");
    if (first) first.focus();
    return d;
  }

  field(label, input, hint) {
    const id = "f" + ++uid;
    input.id = id;
    const hid = hint ? id + "h" : null;
    if (hid) input.setAttribute("aria-describedby", hid);
    return [el("label", { for: id, text: label }), input, hint ? el("p", { class: "hint", id: hid, text: hint }) : null];
  }

  createDialog(opener) {
    this.dialog("Create a key", opener, (d, err) => {
      const name = el("input", { name: "name", maxlength: "200", autocomplete: "off" });
      const exp = el("select", { name: "expires" },
        ...[["", "Never"], ["7", "In 7 days"], ["30", "In 30 days"], ["90", "In 90 days"], ["365", "In a year"]]
          .map(([v, t]) => el("option", { value: v, text: t })));
      const scopes = el("input", { name: "scopes", autocomplete: "off", placeholder: "prices:read orders:write" });
      const rpm = el("input", { name: "rpm", type: "number", min: "1", inputmode: "numeric" });
      const quota = el("input", { name: "quota", type: "number", min: "1", inputmode: "numeric" });
      const nets = el("input", { name: "networks", autocomplete: "off", placeholder: "203.0.113.0/24 2001:db8::/32" });
      const submit = el("button", { class: "primary", type: "submit", text: "Create key" });
      const form = el("form", { method: "dialog", novalidate: true },
        this.field("Name", name),
        this.field("Expires", exp),
        this.field("Scopes", scopes, "Separated by spaces or commas. Leave empty for a key that may do everything."),
        this.field("Requests per minute", rpm, "Leave empty for the account's limit."),
        this.field("Requests per month", quota, "Leave empty for the account's quota."),
        this.field("Allowed networks", nets, "CIDR ranges separated by spaces or commas. Leave empty to allow any address."),
        el("div", { class: "row" }, el("button", { type: "button", onclick: () => d.close(), text: "Cancel" }), submit));
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const split = (s) => s.split(/[\s,]+/).filter(Boolean);
        const body = {};
        if (name.value.trim()) body.name = name.value.trim();
        if (exp.value) body.expires_at = new Date(Date.now() + Number(exp.value) * 86400e3).toISOString().replace(/\.\d+Z$/, "Z");
        if (split(scopes.value).length) body.scopes = split(scopes.value);
        if (rpm.value) body.rate_requests_per_minute_override = Number(rpm.value);
        if (quota.value) body.quota_requests_per_month_override = Number(quota.value);
        if (split(nets.value).length) body.allowed_networks = split(nets.value);
        submit.disabled = true;
        try {
          const res = await this.api("POST", "keys", body);
          d.close();
          this.secretDialog("Your new key", res.key, res.id);
          this.changed("created", res.id);
        } catch (e) {
          submit.disabled = false;
          this.showError(e, err);
        }
      });
      d.append(form);
    });
  }

  // secretDialog shows a plaintext key once. Closing the dialog removes it
  // from the page; nothing keeps a copy.
  secretDialog(title, secret, id) {
    const opener = this._root.querySelector("#create");
    this.dialog(title, opener, (d) => {
      const code = el("code", { class: "secret-value", text: secret });
      const copy = el("button", { type: "button", text: "Copy" });
      const done = el("button", { class: "primary", type: "button", text: "I have stored it", onclick: () => d.close() });
      copy.addEventListener("click", async () => {
        try { await navigator.clipboard.writeText(code.textContent); copy.textContent = "Copied"; }
        catch (e) { copy.textContent = "Select and copy it"; }
      });
      d.append(el("p", { class: "warn", text: "Store this key securely now. It will not be shown again." }),
        el("div", { class: "secret" }, code, copy),
        el("p", { class: "mute", text: "Key ID " + id }),
        el("div", { class: "row" }, done));
      d.addEventListener("close", () => { code.textContent = ""; this.refresh(); });
      setTimeout(() => done.focus(), 0);
    });
  }

  revokeDialog(opener, k) {
    const title = k.name || "this key";
    this.dialog("Revoke " + title + "?", opener, (d, err) => {
      const go = el("button", { class: "danger", type: "button", text: "Revoke key" });
      go.addEventListener("click", async () => {
        go.disabled = true;
        try {
          await this.api("DELETE", "keys/" + encodeURIComponent(k.id));
          d.close();
          this.changed("revoked", k.id);
          this.refresh();
        } catch (e) { go.disabled = false; this.showError(e, err); }
      });
      d.append(el("p", { text: "Requests with " + title + " will be refused at once. This cannot be undone." }),
        el("div", { class: "row" }, el("button", { type: "button", text: "Cancel", onclick: () => d.close() }), go));
      setTimeout(() => go.focus(), 0);
    });
  }

  reissueDialog(opener, root) {
    this.dialog(root ? "Reissue the root key?" : "Create the root key?", opener, (d, err) => {
      const grace = el("select", { name: "grace" }, ...GRACES.map(([v, t]) => el("option", { value: String(v), text: t })));
      const what = el("p", { class: "warn" });
      const explain = () => {
        const g = Number(grace.value);
        what.textContent = !root ? "A root key will be created and shown once."
          : g === 0 ? "The current root key and every child key stop working now."
          : "The current root key and every child key keep working for " + GRACES.find((x) => x[0] === g)[1] + ", then stop.";
      };
      grace.addEventListener("change", explain);
      explain();
      const go = el("button", { class: root ? "danger" : "primary", type: "button", text: root ? "Reissue" : "Create" });
      go.addEventListener("click", async () => {
        go.disabled = true;
        const body = root ? { grace_period_seconds: Number(grace.value), if_root_key_id: root.id } : { if_root_key_id: "none" };
        try {
          const res = await this.api("POST", "key/reissue", body);
          d.close();
          this.changed("reissued", res.id);
          this.secretDialog("Your new root key", res.key, res.id);
        } catch (e) { go.disabled = false; this.showError(e, err); }
      });
      if (root) d.append(...this.field("Grace period", grace, "How long the current keys keep working."));
      d.append(what, el("div", { class: "row" }, el("button", { type: "button", text: "Cancel", onclick: () => d.close() }), go));
    });
  }

  changed(action, id) {
    this.dispatchEvent(new CustomEvent("keys-changed", { bubbles: true, composed: true, detail: { action, id } }));
  }
}

if (!customElements.get("keys-manager")) customElements.define("keys-manager", KeysManager);
