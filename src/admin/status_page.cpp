// The status page (status_page.hpp). Laid out for 1280x800 without scrolling: listeners and
// certificates on top, live connections and handshake failures side by side, recent events
// below, each list cut to what fits.
#include "admin/status_page.hpp"

namespace moat::admin::detail {

std::string_view status_page() noexcept {
  return R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>moat status</title>
<style>
body { font: 13px/1.35 system-ui, sans-serif; margin: 12px 16px; color: #1d2330; background: #f7f8fa; }
h1 { font-size: 18px; margin: 0 0 8px; } h2 { font-size: 14px; margin: 10px 0 4px; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: 2px 8px; border-bottom: 1px solid #e3e6eb; white-space: nowrap; }
th { background: #eef0f4; font-weight: 600; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.warn { color: #9a5b00; } .error { color: #b00020; } .muted { color: #6b7280; }
#state { float: right; font-size: 12px; }
/* Long texts are cut to the width, not scrolled to: the whole text is the cell's tooltip. */
table.clip { table-layout: fixed; } table.clip td { overflow: hidden; text-overflow: ellipsis; }
#events th:nth-child(1) { width: 190px; } #events th:nth-child(2) { width: 60px; }
</style>
</head>
<body>
<h1>moat <span id="state" class="muted">loading…</span></h1>
<h2>Listeners</h2>
<table id="listeners"><thead><tr><th>name</th><th>addresses</th><th>TLS</th><th>accepting</th>
<th class="num">connections</th><th class="num">limit</th><th class="num">accepted</th>
<th class="num">handshakes</th><th class="num">failed</th><th class="num">in</th><th class="num">out</th></tr></thead><tbody></tbody></table>
<h2>Certificates</h2>
<table id="certificates"><thead><tr><th>source</th><th>names</th><th>expires</th><th class="num">days left</th></tr></thead><tbody></tbody></table>
<div class="grid">
<div><h2>Live connections <span id="live-count" class="muted"></span></h2>
<table id="live"><thead><tr><th>listener</th><th>peer</th><th class="num">age</th><th>TLS</th><th>cipher</th><th>SNI</th></tr></thead><tbody></tbody></table></div>
<div><h2>Handshake failures</h2>
<table id="failures"><thead><tr><th>listener</th><th>reason</th><th class="num">count</th></tr></thead><tbody></tbody></table>
<h2>ACME</h2>
<table id="acme"><thead><tr><th>names</th><th class="num">obtained</th><th class="num">failures</th><th>renews</th><th>last error</th></tr></thead><tbody></tbody></table></div>
</div>
<h2>Recent events</h2>
<table id="events" class="clip"><thead><tr><th>time</th><th>level</th><th>event</th></tr></thead><tbody></tbody></table>
<script>
"use strict";
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const headers = token ? { Authorization: "Bearer " + token } : {};
function cell(text, cls) { const td = document.createElement("td"); td.textContent = td.title = String(text); if (cls) td.className = cls; return td; }
function fill(id, rows, limit) {
  const body = document.querySelector("#" + id + " tbody");
  body.replaceChildren(...rows.slice(0, limit).map(cells => { const tr = document.createElement("tr"); tr.append(...cells); return tr; }));
}
function bytes(n) { return n < 1e3 ? n + " B" : n < 1e6 ? (n / 1e3).toFixed(1) + " kB" : n < 1e9 ? (n / 1e6).toFixed(1) + " MB" : (n / 1e9).toFixed(2) + " GB"; }
function age(ms) { const s = Math.floor(ms / 1000); return s < 60 ? s + " s" : s < 3600 ? Math.floor(s / 60) + " min" : Math.floor(s / 3600) + " h"; }
function draw(st) {
  fill("listeners", st.listeners.map(l => [cell(l.name), cell(l.addresses.join(" ")), cell(l.tls ? "yes" : "no"),
    cell(l.accepting ? "yes" : "no"), cell(l.connections, "num"), cell(l.max_connections, "num"), cell(l.accepted, "num"),
    cell(l.handshakes, "num"), cell(l.handshake_failures, "num"), cell(bytes(l.bytes_in), "num"), cell(bytes(l.bytes_out), "num")]), 4);
  fill("certificates", st.certificates.map(c => [cell(c.source), cell(c.names.join(", ")), cell(c.not_after),
    cell(c.days_left.toFixed(1), "num" + (c.days_left < 7 ? " error" : c.days_left < 30 ? " warn" : ""))]), 3);
  const live = st.listeners.flatMap(l => l.live.map(c => [cell(l.name), cell(c.peer), cell(age(c.age_ms), "num"),
    cell(c.tls_version), cell(c.cipher), cell(c.sni)]));
  document.getElementById("live-count").textContent = "(" + live.length + ")";
  fill("live", live, 8);
  fill("failures", st.listeners.flatMap(l => Object.entries(l.handshake_failures_by_reason).map(([r, n]) => [cell(l.name), cell(r), cell(n, "num")])), 5);
  fill("acme", st.acme.map(m => [cell(m.identifiers), cell(m.obtained, "num"), cell(m.failures, "num"),
    cell(m.renew_at || ""), cell(m.last_error || "", m.last_error ? "error" : "")]), 2);
  fill("events", st.events.map(e => [cell(e.time), cell(e.level, e.level === "info" ? "" : e.level), cell(e.text)]), 6);
  document.getElementById("state").textContent = "updated " + st.time;
  document.getElementById("state").className = "muted";
  const root = document.documentElement;
  root.dataset.fits = String(root.scrollHeight <= innerHeight && root.scrollWidth <= innerWidth);
}
async function poll() {
  try {
    const r = await fetch("status.json", { headers, cache: "no-store" });
    if (!r.ok) throw new Error(r.status === 401 ? "unauthorized: open this page as …/#token=TOKEN" : "HTTP " + r.status);
    draw(await r.json());
  } catch (e) {
    const s = document.getElementById("state"); s.textContent = String(e.message || e); s.className = "error";
  }
  setTimeout(poll, 1000);
}
poll();
</script>
</body>
</html>
)html";
}

}  // namespace moat::admin::detail
