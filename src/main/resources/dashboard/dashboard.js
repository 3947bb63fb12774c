// The KubeCodeRun dashboard: plain DOM, no framework, no build step. Everything it shows comes from
// the admin API, read with the master key the operator types in (kept in sessionStorage: this tab).
"use strict";

const API = "/api/v1/admin";
const STORE = "kcr-master-key";
const REFRESH_MS = 5000;
let timer = null;

const $ = (id) => document.getElementById(id);

function key() {
  return sessionStorage.getItem(STORE);
}

/**
 * One admin API call. When the master key itself is refused, the operator goes back to the sign-in
 * form; any other failure (a 403 for what may not be done, 429, 5xx, no answer) is thrown as an Error
 * whose message the caller shows.
 */
async function api(path, options = {}) {
  let res;
  try {
    res = await fetch(API + path, {
      ...options,
      headers: { "X-API-Key": key(), "Content-Type": "application/json", ...(options.headers || {}) },
    });
  } catch (e) {
    throw new Error(unreachable(e));
  }
  const body = await res.json().catch(() => null);
  if (keyRefused(res, body)) {
    signOut("The master key was refused: " + answered(res, body));
    throw new Error("refused");
  }
  if (!res.ok) {
    throw new Error(answered(res, body));
  }
  return body;
}

/**
 * Whether an answer refuses the master key itself: 401 (none sent), or 403 whose error names the
 * master key ("Invalid Master API Key"). The admin API also answers 403 to a change it will not
 * make (an environment key cannot be modified): that must not sign the operator out.
 */
function keyRefused(res, body) {
  if (res.status === 401) return true;
  return res.status === 403 && body !== null && /master api key/i.test(String(body.error));
}

/** "server answered 503: <the error body's message>" (the status text when the body has none). */
function answered(res, body) {
  const message = body && typeof body.error === "string" ? body.error : res.statusText;
  return "server answered " + res.status + (message ? ": " + message : "");
}

/** A request that got no answer at all (the server is down, the network failed). */
function unreachable(e) {
  return "no answer from the server (" + e.message + ")";
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "–" : String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function fill(tableId, items, render, empty) {
  const body = $(tableId).querySelector("tbody");
  body.replaceChildren();
  if (items.length === 0) {
    const row = body.insertRow();
    const td = cell(row, empty, "muted");
    td.colSpan = $(tableId).querySelectorAll("th").length;
    return;
  }
  for (const item of items) render(body.insertRow(), item);
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "never";
}

// ---- sign in / out ----

async function signIn(event) {
  event.preventDefault();
  const entered = $("master-key").value.trim();
  const error = $("login-error");
  error.textContent = "";
  // The server accepts only printable ASCII master keys, and fetch cannot even put other
  // characters in a header: such a key cannot be the master key.
  if (!/^[\x20-\x7e]+$/.test(entered)) {
    error.textContent = "That is not the master key: a master key is printable ASCII only.";
    return;
  }
  // Checked with a plain request first, so a wrong key shows a message, not a half-drawn page.
  let res;
  let body;
  try {
    res = await fetch(API + "/pools", { headers: { "X-API-Key": entered } });
    body = await res.json().catch(() => null);
  } catch (e) {
    error.textContent = "Cannot check the key: " + unreachable(e);
    return;
  }
  if (res.status === 404) {
    error.textContent = "The admin API is off (no MASTER_API_KEY).";
    return;
  }
  if (res.status === 401 || res.status === 403) {
    error.textContent = "That is not the master key.";
    return;
  }
  if (!res.ok) {
    error.textContent = "Cannot check the key: " + answered(res, body);
    return;
  }
  sessionStorage.setItem(STORE, entered);
  $("master-key").value = "";
  show();
}

function signOut(message) {
  sessionStorage.removeItem(STORE);
  if (timer) clearInterval(timer);
  timer = null;
  $("main-view").classList.add("hidden");
  $("logout").classList.add("hidden");
  $("login-view").classList.remove("hidden");
  $("status").textContent = "";
  $("login-error").textContent = typeof message === "string" ? message : "";
}

function show() {
  $("login-view").classList.add("hidden");
  $("main-view").classList.remove("hidden");
  $("logout").classList.remove("hidden");
  refreshAll();
  timer = setInterval(refreshLive, REFRESH_MS);
}

async function refreshAll() {
  await Promise.all([refreshLive(), refreshKeys(), refreshUsage()]);
}

async function refreshLive() {
  try {
    await Promise.all([refreshRate(), refreshPools(), refreshFailures()]);
    $("status").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    if (e.message !== "refused") $("status").textContent = "update failed: " + e.message;
  }
}

// ---- live figures ----

async function refreshRate() {
  const live = await api("/usage/live?minutes=60");
  const t = live.totals;
  $("rate").textContent = t.per_minute;
  $("success").textContent = t.executions ? t.success_rate + "%" : "–";
  $("p50").textContent = ms(t.latency_ms.p50);
  $("p95").textContent = ms(t.latency_ms.p95);
  $("p99").textContent = ms(t.latency_ms.p99);
  $("errors").textContent = t.error_count + " · " + t.timeout_count + " · " + t.failure_count;
  fill("live-languages", live.by_language, (row, l) => {
    cell(row, l.language);
    cell(row, l.executions);
    cell(row, l.per_minute);
    cell(row, l.error_count);
    cell(row, l.timeout_count);
    cell(row, l.failure_count);
    cell(row, l.latency_ms.p50);
    cell(row, l.latency_ms.p95);
    cell(row, l.latency_ms.p99);
  }, "No executions in the last hour.");
  drawRate(live.time_series);
}

function ms(v) {
  return v === null || v === undefined ? "–" : v + " ms";
}

/** Executions per minute as bars, failures stacked in red. */
function drawRate(series) {
  const canvas = $("rate-chart");
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 900;
  const h = canvas.clientHeight || 120;
  canvas.width = w * ratio;
  canvas.height = h * ratio;
  const g = canvas.getContext("2d");
  g.scale(ratio, ratio);
  g.clearRect(0, 0, w, h);
  const max = Math.max(1, ...series.map((p) => p.executions));
  const bar = w / Math.max(1, series.length);
  series.forEach((p, i) => {
    const bad = p.error_count + p.timeout_count + p.failure_count;
    const total = (p.executions / max) * (h - 16);
    const red = (bad / max) * (h - 16);
    g.fillStyle = "#2f6fed";
    g.fillRect(i * bar + 1, h - total, Math.max(1, bar - 2), total - red);
    g.fillStyle = "#c62828";
    g.fillRect(i * bar + 1, h - red, Math.max(1, bar - 2), red);
  });
  g.fillStyle = "#667085";
  g.font = "11px system-ui, sans-serif";
  g.fillText("max " + max + "/min", 4, 12);
}

async function refreshPools() {
  const p = await api("/pools");
  $("pool-backend").textContent = "(" + p.backend + " backend, this replica)";
  const shown = p.pools.filter((x) => x.target > 0 || x.ready + x.starting + x.in_use > 0);
  fill("pools", shown, (row, x) => {
    cell(row, x.language);
    cell(row, x.target);
    cell(row, x.ready);
    cell(row, x.starting);
    cell(row, x.in_use);
  }, "No warm pools and nothing running.");
  $("slots").textContent =
    "Execution slots in use: " + p.slots.in_use + " of " + p.slots.capacity +
    " · pool hit rate " + p.pool_stats.hit_rate + "% of " + p.pool_stats.total_acquisitions;
}

async function refreshFailures() {
  const f = await api("/failures?limit=20");
  fill("failures", f.failures, (row, x) => {
    cell(row, when(x.timestamp));
    cell(row, x.key_name || x.api_key_hash);
    cell(row, x.language);
    cell(row, x.outcome);
    cell(row, x.status);
    cell(row, x.duration_ms);
    cell(row, x.message, "message");
    cell(row, x.request_id);
  }, "No failures.");
}

// ---- keys ----

async function refreshKeys() {
  try {
    const keys = await api("/keys");
    fill("keys", keys, renderKey, "No keys.");
  } catch (e) {
    if (e.message !== "refused") $("keys-error").textContent = e.message;
  }
}

function renderKey(row, k) {
  row.dataset.keyHash = k.key_hash;
  cell(row, k.name);
  cell(row, k.key_prefix + "…");
  cell(row, k.source);
  cell(row, k.enabled ? "enabled" : "disabled", k.enabled ? "" : "off");
  cell(row, k.rate_limits.per_minute === null ? "unlimited" : k.rate_limits.per_minute);
  cell(row, k.usage_count);
  cell(row, when(k.last_used_at));
  const actions = cell(row, "");
  if (k.source !== "managed") {
    actions.textContent = "read-only";
    actions.className = "muted";
    return;
  }
  const toggle = document.createElement("button");
  toggle.type = "button";
  toggle.className = "secondary";
  toggle.textContent = k.enabled ? "Disable" : "Enable";
  toggle.addEventListener("click", () => change(k.key_hash, { enabled: !k.enabled }));
  const revoke = document.createElement("button");
  revoke.type = "button";
  revoke.className = "danger revoke";
  revoke.textContent = "Revoke";
  // Two clicks: the first arms the button, the second revokes.
  revoke.addEventListener("click", () => {
    if (!revoke.classList.contains("confirm")) {
      revoke.classList.add("confirm");
      revoke.textContent = "Confirm revoke";
      return;
    }
    remove(k.key_hash);
  });
  actions.replaceChildren(toggle, document.createTextNode(" "), revoke);
}

async function createKey(event) {
  event.preventDefault();
  $("keys-error").textContent = "";
  const body = { name: $("key-name").value.trim() };
  const limit = $("key-limit").value;
  if (limit) body.rate_limits = { per_minute: Number(limit) };
  try {
    const created = await api("/keys", { method: "POST", body: JSON.stringify(body) });
    $("new-key-value").textContent = created.api_key;
    $("new-key").classList.remove("hidden");
    $("key-name").value = "";
    $("key-limit").value = "";
    await refreshKeys();
  } catch (e) {
    if (e.message !== "refused") $("keys-error").textContent = e.message;
  }
}

async function change(hash, patch) {
  try {
    await api("/keys/" + hash, { method: "PATCH", body: JSON.stringify(patch) });
  } catch (e) {
    if (e.message !== "refused") $("keys-error").textContent = e.message;
  }
  await refreshKeys();
}

async function remove(hash) {
  try {
    await api("/keys/" + hash, { method: "DELETE" });
  } catch (e) {
    if (e.message !== "refused") $("keys-error").textContent = e.message;
  }
  await refreshKeys();
}

// ---- usage ----

async function refreshUsage() {
  try {
    const u = await api("/usage?hours=24");
    fill("usage-languages", u.by_language, (row, l) => {
      cell(row, l.language);
      cell(row, l.executions);
      cell(row, l.success_rate + "%");
      cell(row, l.latency_ms.p50);
      cell(row, l.latency_ms.p95);
    }, "No executions in the last 24 hours.");
    fill("usage-keys", u.by_api_key, (row, k) => {
      cell(row, k.name || k.api_key_hash);
      cell(row, k.executions);
      cell(row, k.error_count);
      cell(row, k.timeout_count);
      cell(row, k.failure_count);
    }, "No executions in the last 24 hours.");
  } catch (e) {
    if (e.message !== "refused") $("status").textContent = "usage failed: " + e.message;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", signIn);
  $("logout").addEventListener("click", () => signOut());
  $("create-form").addEventListener("submit", createKey);
  $("new-key-done").addEventListener("click", () => {
    $("new-key").classList.add("hidden");
    $("new-key-value").textContent = "";
  });
  if (key()) show();
});
