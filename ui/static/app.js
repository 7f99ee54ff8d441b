// Murmur dashboard: a client of the agent's HTTP API (docs/http-api.md).
// Plain JavaScript, no build step and no external resources. Everything
// from the cluster is put in the page as text (textContent), never as HTML.
"use strict";

(function () {
  const TOKEN_KEY = "murmur.token";
  const $ = (id) => document.getElementById(id);

  // ---------- helpers ----------

  // h builds an element: h("td", {class: "x"}, "text", child, ...).
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") el.className = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids.flat()) {
      if (kid === undefined || kid === null) continue;
      el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }

  function setRows(tbody, rows, empty, cols) {
    tbody.replaceChildren(...(rows.length ? rows : [h("tr", {}, h("td", { colspan: cols, class: "muted" }, empty))]));
  }

  // age formats a duration in seconds as "3m 12s".
  function age(secs) {
    if (!isFinite(secs)) return "";
    secs = Math.max(0, Math.floor(secs));
    const d = Math.floor(secs / 86400), hr = Math.floor(secs % 86400 / 3600),
      m = Math.floor(secs % 3600 / 60), s = secs % 60;
    if (d) return d + "d " + hr + "h";
    if (hr) return hr + "h " + m + "m";
    if (m) return m + "m " + s + "s";
    return s + "s";
  }

  function ms(secs) {
    if (secs === undefined || secs === null) return "";
    if (Math.abs(secs) < 1) return (secs * 1000).toFixed(secs < 0.01 ? 1 : 0) + " ms";
    return secs.toFixed(2) + " s";
  }

  function badge(state) {
    return h("span", { class: "badge " + state }, state);
  }

  function status(msg, isError) {
    const el = $("status");
    el.textContent = msg || "";
    el.classList.toggle("error", !!isError);
  }

  // ---------- API ----------

  class APIError extends Error {
    constructor(code, message) {
      super(message);
      this.code = code;
    }
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  }

  // authHeaders carries the token in X-Murmur-Token, never in the URL.
  // Every request sends it: with ACLs, reads may need it too.
  function authHeaders() {
    return token() ? { "X-Murmur-Token": token() } : {};
  }

  // api calls the agent and returns {data, index, status}.
  async function api(path, opts) {
    opts = opts || {};
    const headers = authHeaders();
    const method = opts.method || "GET";
    if (opts.body !== undefined) headers["Content-Type"] = "application/octet-stream";
    const resp = await fetch(path, { method, headers, body: opts.body, signal: opts.signal, cache: "no-store" });
    const index = resp.headers.get("X-Murmur-Index");
    if (opts.allow404 && resp.status === 404) return { data: null, index, status: 404 };
    const text = await resp.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!resp.ok) {
      let msg = (data && data.error) || resp.statusText || ("HTTP " + resp.status);
      if (resp.status === 401) msg = "Not allowed without a valid API token: " + msg + ". Enter the token above.";
      if (resp.status === 429) msg = "The agent is busy (too many requests): " + msg;
      if (resp.status === 403) msg = "Forbidden: " + msg;
      throw new APIError(resp.status, msg);
    }
    return { data, index, status: resp.status };
  }

  function keyPath(key) {
    return key.split("/").map(encodeURIComponent).join("/");
  }

  // b64 helpers: KV values travel as base64 in JSON.
  function b64ToBytes(s) {
    const bin = atob(s || "");
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  // ---------- blocking-query loops ----------

  // watchLoop runs fetcher(index) forever; fetcher performs a blocking
  // query and returns the new index. Errors back off and retry.
  function watchLoop(name, fetcher) {
    let index = null;
    let delay = 1000;
    (async function loop() {
      for (;;) {
        try {
          const next = await fetcher(index);
          if (next === null || next === undefined || next === index) {
            // The agent does not block on this path (or nothing changed):
            // wait before asking again rather than spin.
            await sleep(next === null || next === undefined ? 5000 : 0);
          }
          index = next;
          delay = 1000;
          if (status.last === name) { status(""); status.last = ""; }
        } catch (e) {
          const denied = e.code === 401 || e.code === 403;
          status((denied ? "" : "Cannot reach the agent (" + name + "): ") + e.message + " — retrying", true);
          status.last = name;
          await sleep(delay);
          delay = Math.min(delay * 2, 10000);
          index = null;
        }
      }
    })();
  }

  function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

  function blockingQuery(index, wait) {
    return index === null ? "" : "index=" + encodeURIComponent(index) + "&wait=" + wait;
  }

  // ---------- self ----------

  let selfName = "";
  async function loadSelf() {
    try {
      const { data } = await api("/v1/agent/self");
      selfName = data.node;
      $("node").textContent = "· " + data.node + " · " + data.version;
      document.title = "Murmur · " + data.node;
    } catch (e) {
      status("Cannot reach the agent: " + e.message, true);
    }
  }

  // ---------- members ----------

  let members = [];
  let membersAt = Date.now(); // when members was fetched, by this browser's clock
  let agentSkewMs = 0; // agent clock minus browser clock, from the Date header

  async function fetchMembers(index) {
    const q = blockingQuery(index, "60s");
    const resp = await fetch("/v1/members" + (q ? "?" + q : ""), { cache: "no-store", headers: authHeaders() });
    if (!resp.ok) {
      const body = await resp.json().catch(() => null);
      throw new APIError(resp.status, (body && body.error) || resp.statusText);
    }
    const date = Date.parse(resp.headers.get("Date"));
    if (!isNaN(date)) agentSkewMs = date - Date.now();
    members = await resp.json();
    membersAt = Date.now();
    renderMembers();
    onMembersChanged();
    return resp.headers.get("X-Murmur-Index");
  }

  function renderMembers() {
    const now = Date.now() + agentSkewMs;
    const counts = {};
    const rows = members.map((m) => {
      counts[m.status] = (counts[m.status] || 0) + 1;
      const since = m.status_since ? Date.parse(m.status_since) : NaN;
      const meta = Object.entries(m.meta || {}).sort().map(([k, v]) => h("span", { class: "tag" }, k + "=" + v));
      return h("tr", { "data-member": m.name, "data-status": m.status },
        h("th", { scope: "row" }, m.name, m.name === selfName ? h("span", { class: "muted" }, " (this agent)") : null),
        h("td", { class: "mono" }, m.address + ":" + m.port),
        h("td", {}, badge(m.status)),
        h("td", { class: "age", "data-since": isNaN(since) ? "" : since, title: m.status_since || "" }, isNaN(since) ? "" : age((now - since) / 1000)),
        h("td", { class: "num" }, m.rtt_seconds === undefined ? "—" : ms(m.rtt_seconds)),
        h("td", {}, meta));
    });
    setRows($("members-table").tBodies[0], rows, "No members known.", 6);
    const parts = ["alive", "suspect", "failed", "left"].filter((s) => counts[s]).map((s) => counts[s] + " " + s);
    $("members-summary").textContent = members.length + " members: " + parts.join(", ");
    $("count-members").textContent = "(" + (counts.alive || 0) + "/" + members.length + ")";
  }

  // ages tick every second without asking the agent.
  function tickAges() {
    const now = Date.now() + agentSkewMs;
    for (const td of document.querySelectorAll("td.age[data-since]")) {
      const since = Number(td.dataset.since);
      if (td.dataset.since && !isNaN(since)) td.textContent = age((now - since) / 1000);
    }
  }

  // RTT estimates move slowly: refresh them every 10 s.
  async function refreshRTT() {
    try {
      const { data } = await api("/v1/members");
      const byName = new Map(data.map((m) => [m.name, m]));
      let changed = false;
      for (const m of members) {
        const n = byName.get(m.name);
        if (n && n.rtt_seconds !== m.rtt_seconds) { m.rtt_seconds = n.rtt_seconds; changed = true; }
      }
      if (changed) renderMembers();
    } catch (e) { /* the members loop reports errors */ }
  }

  // ---------- services ----------

  let instances = [];
  let servicesTimer = null;

  function onMembersChanged() {
    // A node's status shows in its instances: refresh soon.
    clearTimeout(servicesTimer);
    servicesTimer = setTimeout(loadServices, 200);
  }

  async function loadServices() {
    clearTimeout(servicesTimer);
    try {
      const { data: sums } = await api("/v1/services");
      $("count-services").textContent = "(" + sums.length + ")";
      const lists = await Promise.all(sums.map((s) =>
        api("/v1/services/" + encodeURIComponent(s.name), { allow404: true }).then((r) => r.data || [])));
      instances = lists.flat();
      renderServices();
    } catch (e) {
      status("Services: " + e.message, true);
    }
    // Service health changes arrive through the catalog; refresh every
    // few seconds while the page is visible.
    servicesTimer = setTimeout(loadServices, document.hidden ? 30000 : 3000);
  }

  function renderServices() {
    const name = $("f-name").value.trim().toLowerCase();
    const tag = $("f-tag").value.trim().toLowerCase();
    const health = $("f-health").value;
    const shown = instances.filter((i) =>
      (!name || i.name.toLowerCase().includes(name)) &&
      (!tag || (i.tags || []).some((t) => t.toLowerCase().includes(tag))) &&
      (!health || i.health === health));
    const rows = shown.map((i) => h("tr", { "data-service": i.name, "data-node": i.node, "data-health": i.health },
      h("th", { scope: "row" }, i.name),
      h("td", { class: "mono" }, i.id),
      h("td", {}, i.node, " ", i.node_status !== "alive" ? badge(i.node_status) : null),
      h("td", { class: "mono" }, (i.address || "") + (i.port ? ":" + i.port : "")),
      h("td", {}, (i.tags || []).map((t) => h("span", { class: "tag" }, t))),
      h("td", {}, badge(i.health)),
      h("td", { class: "output" }, i.output || "")));
    setRows($("services-table").tBodies[0], rows, instances.length ? "No instance matches the filter." : "No services registered.", 7);
    const passing = shown.filter((i) => i.health === "passing").length;
    $("services-summary").textContent = shown.length + " of " + instances.length + " instances shown, " + passing + " passing";
  }

  // ---------- key/value ----------

  let kvKeys = [];
  let current = null; // the selected key
  let currentPair = null;
  let openFolders = null; // folder prefixes shown open; null until the first render

  async function fetchKeys(index) {
    const q = blockingQuery(index, "60s");
    const { data, index: next } = await api("/v1/kv/?keys" + (q ? "&" + q : ""));
    kvKeys = data || [];
    renderTree();
    if (index !== null) {
      loadHistory();
      if (current) loadEntry(current, true);
    }
    return next;
  }

  // tree turns sorted keys into nested folders.
  function tree(keys) {
    const root = { dirs: new Map(), keys: [] };
    for (const k of keys) {
      const parts = k.split("/");
      let node = root, prefix = "";
      for (let i = 0; i < parts.length - 1; i++) {
        prefix += parts[i] + "/";
        if (!node.dirs.has(parts[i])) node.dirs.set(parts[i], { prefix, dirs: new Map(), keys: [] });
        node = node.dirs.get(parts[i]);
      }
      node.keys.push({ name: parts[parts.length - 1], key: k });
    }
    return root;
  }

  function renderTree() {
    const visible = kvKeys.filter((k) => !k.startsWith("_murmur/"));
    const hidden = kvKeys.length - visible.length;
    if (openFolders === null) {
      // A small store starts unfolded; a big one folded.
      openFolders = new Set();
      if (visible.length <= 50) {
        for (const k of visible) for (let i = k.indexOf("/"); i >= 0; i = k.indexOf("/", i + 1)) openFolders.add(k.slice(0, i + 1));
      }
    }
    if (current) { // the selected key's folders are open
      for (let i = current.indexOf("/"); i >= 0; i = current.indexOf("/", i + 1)) openFolders.add(current.slice(0, i + 1));
    }
    function list(node) {
      const items = [];
      for (const [name, dir] of node.dirs) {
        const det = h("details", { open: openFolders.has(dir.prefix) },
          h("summary", {}, name + "/"), list(dir));
        det.addEventListener("toggle", () => {
          if (det.open) openFolders.add(dir.prefix); else openFolders.delete(dir.prefix);
        });
        items.push(h("li", {}, det));
      }
      for (const k of node.keys) {
        items.push(h("li", {}, h("a", {
          href: "#/kv/" + keyPath(k.key),
          class: "mono break" + (k.key === current ? " selected" : ""),
          "aria-current": k.key === current ? "true" : null,
        }, k.name || "(empty name)")));
      }
      return h("ul", {}, items);
    }
    const kids = [visible.length ? list(tree(visible)) : h("p", { class: "muted" }, "No keys yet.")];
    if (hidden) kids.push(h("p", { class: "muted" }, hidden + " keys under _murmur/ (the service catalog) are not shown."));
    $("kv-tree").replaceChildren(...kids);
  }

  function decodeValue(bytes) {
    let text = null;
    try { text = new TextDecoder("utf-8", { fatal: true }).decode(bytes); } catch (e) { text = null; }
    let json = null;
    if (text !== null && text.trim() !== "") {
      try { json = JSON.parse(text); } catch (e) { json = null; }
    }
    // Control characters other than whitespace mean binary.
    if (text !== null && /[\u0000-\u0008\u000e-\u001f]/.test(text)) text = null;
    return { text, json };
  }

  let valueBytes = new Uint8Array();
  let dirty = false;

  async function loadEntry(key, quiet) {
    current = key;
    $("kv-entry").hidden = false;
    $("kv-key").textContent = key;
    if (!quiet) $("kv-error").textContent = "";
    try {
      const { data } = await api("/v1/kv/" + keyPath(key), { allow404: true });
      currentPair = data;
    } catch (e) {
      $("kv-error").textContent = e.message;
      return;
    }
    renderTree();
    renderMeta();
    if (quiet && dirty) return; // do not overwrite an edit in progress
    valueBytes = currentPair ? b64ToBytes(currentPair.value) : new Uint8Array();
    const d = decodeValue(valueBytes);
    const mode = d.text === null ? "binary" : d.json !== null ? "json" : "text";
    showValue(mode);
    dirty = false;
  }

  function renderMeta() {
    const dl = $("kv-meta");
    const p = currentPair;
    if (!p) {
      dl.replaceChildren(h("dt", {}, "State"), h("dd", {}, "absent (new or deleted): save to create it"));
      $("kv-delete").disabled = true;
      return;
    }
    $("kv-delete").disabled = false;
    const rows = [["Version", p.version], ["Written by", p.origin], ["Updated", new Date(p.updated).toLocaleString()],
      ["Index", p.index], ["Size", b64ToBytes(p.value).length + " bytes"]];
    if (p.flags) rows.push(["Flags", p.flags]);
    dl.replaceChildren(...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", { class: "mono" }, String(v))]));
  }

  function showValue(mode) {
    const d = decodeValue(valueBytes);
    if (mode !== "binary" && d.text === null) mode = "binary";
    if (mode === "json" && d.json === null) mode = "text";
    for (const r of document.querySelectorAll("#kv-mode input")) {
      r.checked = r.value === mode;
      r.disabled = (r.value === "json" && d.json === null && valueBytes.length > 0) || (r.value !== "binary" && d.text === null);
    }
    const ta = $("kv-value"), bin = $("kv-binary");
    if (mode === "binary") {
      ta.hidden = true;
      bin.hidden = false;
      const hex = Array.from(valueBytes.slice(0, 64), (b) => b.toString(16).padStart(2, "0")).join(" ");
      bin.textContent = valueBytes.length + " bytes of binary data" + (hex ? ": " + hex + (valueBytes.length > 64 ? " …" : "") : "") +
        ". Write binary values with agentctl kv put KEY @FILE.";
      $("kv-save").disabled = true;
      return;
    }
    ta.hidden = false;
    bin.hidden = true;
    $("kv-save").disabled = false;
    ta.value = mode === "json" ? JSON.stringify(d.json, null, 2) : (d.text || "");
  }

  async function saveEntry(ev) {
    ev.preventDefault();
    if (!current) return;
    $("kv-error").textContent = "";
    const mode = document.querySelector("#kv-mode input:checked");
    let body = $("kv-value").value;
    if (mode && mode.value === "json") {
      try { body = JSON.stringify(JSON.parse(body)); } catch (e) {
        $("kv-error").textContent = "Not valid JSON: " + e.message + " (switch to Text to store it as it is).";
        return;
      }
    }
    try {
      const q = currentPair && currentPair.flags ? "?flags=" + currentPair.flags : "";
      const { data } = await api("/v1/kv/" + keyPath(current) + q, { method: "PUT", body });
      dirty = false;
      status("Saved " + current + " (version " + data.version + ").");
      startPropagation(current, data.version, data.origin);
      await loadEntry(current, true);
    } catch (e) {
      $("kv-error").textContent = e.message;
    }
  }

  async function deleteEntry() {
    if (!current || !confirm("Delete " + current + "?")) return;
    $("kv-error").textContent = "";
    try {
      await api("/v1/kv/" + keyPath(current), { method: "DELETE" });
      status("Deleted " + current + ".");
      dirty = false;
      // The tombstone's version is what spreads now.
      const r = await fetch("/v1/agent/propagation/" + keyPath(current) + "?timeout=1s", { cache: "no-store", headers: authHeaders() });
      const p = r.ok ? await r.json() : null;
      if (p && p.version) startPropagation(current, p.version, "");
      await loadEntry(current, true);
    } catch (e) {
      $("kv-error").textContent = e.message;
    }
  }

  // ---------- history ----------

  async function loadHistory() {
    const prefix = current ? current.slice(0, current.lastIndexOf("/") + 1) : "";
    $("history-prefix").textContent = prefix ? "under " + prefix : "";
    try {
      const { data } = await api("/v1/agent/history?limit=50&prefix=" + encodeURIComponent(prefix));
      const rows = data.filter((c) => !c.key.startsWith("_murmur/")).map((c) => h("tr", {},
        h("td", { class: "mono break" }, h("a", { href: "#/kv/" + keyPath(c.key) }, c.key)),
        h("td", {}, c.deleted ? "deleted" : "set", " ", h("span", { class: "mono muted" }, c.version)),
        h("td", {}, c.origin),
        h("td", {}, c.path),
        h("td", { title: c.seen }, new Date(c.seen).toLocaleTimeString()),
        h("td", { class: "num" }, c.path === "local" ? "" : ms(c.lag_seconds))));
      setRows($("history-table").tBodies[0], rows, "No changes seen yet.", 6);
    } catch (e) {
      setRows($("history-table").tBodies[0], [], "History unavailable: " + e.message, 6);
    }
  }

  // ---------- propagation ----------

  let propRun = 0;

  // startPropagation asks every agent for its version of key every half
  // second until all hold version (or 30 s pass), and draws who has it.
  async function startPropagation(key, version, origin) {
    const run = ++propRun;
    $("prop").hidden = false;
    $("prop-key").textContent = key;
    const started = Date.now();
    let q = "?timeout=1s";
    if (version) q += "&version=" + encodeURIComponent(version) + (origin ? "&origin=" + encodeURIComponent(origin) : "");
    for (;;) {
      let p;
      try {
        const r = await api("/v1/agent/propagation/" + keyPath(key) + q);
        p = r.data;
      } catch (e) {
        $("prop-summary").textContent = "Propagation unavailable: " + e.message;
        return;
      }
      if (run !== propRun) return;
      renderPropagation(p);
      const done = p.nodes.length > 0 && p.nodes.every((n) => n.current);
      if (done || Date.now() - started > 30000) return;
      await sleep(500);
      if (run !== propRun) return;
    }
  }

  function renderPropagation(p) {
    const total = p.nodes.length;
    const have = p.nodes.filter((n) => n.current).length;
    const times = p.nodes.filter((n) => n.current && typeof n.seconds === "number").map((n) => Math.max(0, n.seconds));
    const slowest = times.length ? Math.max(...times) : null;
    $("prop-summary").textContent = have + " of " + total + " agents hold version " + (p.version || "(none)") +
      (have === total && slowest !== null ? "; the last got it after " + ms(slowest) : "") + ".";
    const rows = p.nodes.map((n) => h("tr", { "data-node": n.node, "data-current": n.current ? "yes" : "no" },
      h("th", { scope: "row" }, n.node),
      h("td", { class: "mono" }, (n.version || "—") + (n.deleted ? " (deleted)" : "")),
      h("td", {}, n.current ? badge("yes") : n.error ? badge("unknown") : badge("not-yet")),
      h("td", { class: "num" }, typeof n.seconds === "number" ? ms(n.seconds) : ""),
      h("td", { class: "muted" }, n.error || (n.current && typeof n.seconds !== "number" ? "newer version, or applied long ago" : ""))));
    setRows($("prop-table").tBodies[0], rows, "No agent answered.", 5);
    drawCurve(times, total);
  }

  // drawCurve plots P(t), the share of agents holding the version t
  // seconds after it was written, as an SVG step line.
  function drawCurve(times, total) {
    const NS = "http://www.w3.org/2000/svg";
    const W = 480, H = 160, L = 40, B = 24, T = 8, R = 12;
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.setAttribute("role", "img");
    const sorted = times.slice().sort((a, b) => a - b);
    const tmax = Math.max(0.05, ...sorted) * 1.1;
    const x = (t) => L + (W - L - R) * (t / tmax);
    const y = (f) => T + (H - T - B) * (1 - f);
    const label = "Share of " + total + " agents holding the version over time: " +
      sorted.map((t, i) => Math.round(100 * (i + 1) / total) + "% by " + ms(t)).join(", ");
    svg.setAttribute("aria-label", label);
    const el = (tag, attrs, text) => {
      const e = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
      if (text !== undefined) e.textContent = text;
      svg.append(e);
      return e;
    };
    el("line", { x1: L, y1: y(0), x2: W - R, y2: y(0), class: "axis" });
    el("line", { x1: L, y1: y(0), x2: L, y2: y(1), class: "axis" });
    for (const f of [0, 0.5, 1]) el("text", { x: L - 6, y: y(f) + 4, "text-anchor": "end", class: "tick" }, Math.round(f * 100) + "%");
    el("text", { x: W - R, y: H - 6, "text-anchor": "end", class: "tick" }, ms(tmax));
    el("text", { x: L, y: H - 6, class: "tick" }, "0");
    let d = "M" + x(0) + "," + y(0);
    sorted.forEach((t, i) => { d += " H" + x(t) + " V" + y((i + 1) / total); });
    if (sorted.length) d += " H" + x(tmax);
    el("path", { d, class: "curve" });
    $("prop-chart").replaceChildren(svg);
  }

  // ---------- routing ----------

  function route() {
    if (!$("status").classList.contains("error")) status("");
    const hash = location.hash || "#/members";
    let view = "members";
    if (hash.startsWith("#/services")) view = "services";
    else if (hash.startsWith("#/kv/")) view = "kv";
    for (const v of ["members", "services", "kv"]) {
      $("view-" + v).hidden = v !== view;
      const tab = $("tab-" + v);
      if (v === view) tab.setAttribute("aria-current", "page"); else tab.removeAttribute("aria-current");
    }
    if (view === "kv") {
      const key = hash.slice("#/kv/".length).split("/").map(decodeURIComponent).join("/");
      if (key && key !== current) {
        dirty = false;
        loadEntry(key);
      } else if (!key) {
        current = null;
        $("kv-entry").hidden = true;
        renderTree();
      }
      loadHistory();
    }
  }

  // ---------- start ----------

  function init() {
    $("token").value = token() ? "••••••••" : "";
    $("token-state").textContent = token() ? "token set for this tab" : "no token";
    $("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const v = $("token").value;
      const changed = v && v !== "••••••••" && v !== token();
      if (v && v !== "••••••••") sessionStorage.setItem(TOKEN_KEY, v);
      $("token").value = token() ? "••••••••" : "";
      $("token-state").textContent = token() ? "token set for this tab" : "no token";
      // Reads refused without a token (ACLs) start over with it at once.
      if (changed && $("status").classList.contains("error")) location.reload();
    });
    $("token-clear").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      $("token").value = "";
      $("token-state").textContent = "no token";
    });
    for (const id of ["f-name", "f-tag", "f-health"]) $(id).addEventListener("input", renderServices);
    $("svc-filter").addEventListener("submit", (ev) => ev.preventDefault());
    $("kv-edit").addEventListener("submit", saveEntry);
    $("kv-value").addEventListener("input", () => { dirty = true; });
    $("kv-delete").addEventListener("click", deleteEntry);
    $("kv-propagate").addEventListener("click", () => {
      if (current) startPropagation(current, currentPair ? currentPair.version : "", currentPair ? currentPair.origin : "");
    });
    for (const r of document.querySelectorAll("#kv-mode input")) r.addEventListener("change", () => showValue(r.value));
    $("kv-new").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const k = $("new-key").value.trim();
      if (!k) return;
      $("new-key").value = "";
      location.hash = "#/kv/" + keyPath(k);
    });
    window.addEventListener("hashchange", route);
    route();
    loadSelf();
    watchLoop("members", fetchMembers);
    watchLoop("keys", fetchKeys);
    loadServices();
    setInterval(tickAges, 1000);
    setInterval(refreshRTT, 10000);
  }

  init();
})();
