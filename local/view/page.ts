/**
 * The web view's page: one HTML document with its CSS and script inline, because the factory in a box runs on
 * machines without internet (no CDN, no external resource of any kind). The server embeds the first snapshot so the
 * page shows figures at once; the script then follows `/api/events` (polling `/api/snapshot` if that fails) and
 * builds every element with `textContent` and `setAttribute`, never by parsing snapshot text as HTML.
 *
 * The script repeats the formatting rules of `./format` (percent with one decimal, "—" for no data, hh:mm:ss) in
 * plain JavaScript; the browser test checks the page shows what `formatPercent` gives.
 */
import { createHash } from "node:crypto";
import type { FactorySnapshot } from "../contracts";

/** The page's stylesheet. */
export const PAGE_STYLE = `
:root { color-scheme: light dark; --bg: #f5f6f8; --card: #fff; --ink: #1d2330; --muted: #667085; --line: #d9dde5;
  --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --info: #0969da; --idle: #bf8700; }
@media (prefers-color-scheme: dark) { :root { --bg: #0f1115; --card: #181b22; --ink: #e6e8ee; --muted: #98a2b3;
  --line: #2b303b; --ok: #3fb950; --warn: #d29922; --bad: #f85149; --info: #58a6ff; --idle: #d29922; } }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 20px 32px; background: var(--bg); color: var(--ink);
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header { display: flex; flex-wrap: wrap; gap: 12px 28px; align-items: center; margin-bottom: 16px; }
h1 { margin: 0; font-size: 22px; }
h2 { margin: 0; font-size: 16px; }
.muted { color: var(--muted); }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.kpi { display: flex; align-items: baseline; gap: 14px; }
.big { font-size: 30px; font-weight: 700; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
  border: 1px solid currentColor; white-space: nowrap; }
.up, .state-running, .kind-cleared, .connected-yes { color: var(--ok); }
.down, .state-fault, .kind-raised, .connected-no { color: var(--bad); }
.down { background: color-mix(in srgb, var(--bad) 15%, transparent); }
.state-idle { color: var(--idle); }
.state-plannedStop { color: var(--info); }
.state-unknown { color: var(--muted); }
.stale { color: var(--warn); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; margin-bottom: 14px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(240px, 1fr)); gap: 14px; margin-bottom: 14px; }
.charts .card { margin: 0; }
.chart-head { display: flex; justify-content: space-between; gap: 8px; margin-bottom: 6px; }
svg.spark { display: block; width: 100%; height: 48px; }
svg.spark path.series { fill: none; stroke: var(--info); stroke-width: 1.6; stroke-linejoin: round; stroke-linecap: round;
  vector-effect: non-scaling-stroke; }
svg.spark path.base { stroke: var(--line); stroke-width: 1; vector-effect: non-scaling-stroke; }
.line-head { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 18px; margin-bottom: 8px; }
.line-head svg.spark { width: 180px; height: 28px; }
table { width: 100%; border-collapse: collapse; }
/* Same widths for the first columns of every line's table, so their machine columns line up under each other. */
table.machines th:first-child { width: 26%; }
table.machines th:nth-child(2) { width: 13%; }
th { text-align: left; font-weight: 600; color: var(--muted); font-size: 12px; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); }
th.num { text-align: right; }
tr:last-child td { border-bottom: none; }
ol.alerts { list-style: none; margin: 0; padding: 0; }
ol.alerts li { display: flex; gap: 12px; padding: 3px 0; border-bottom: 1px solid var(--line); }
ol.alerts li:last-child { border-bottom: none; }
footer { color: var(--muted); display: flex; flex-wrap: wrap; gap: 6px 20px; }
`;

/**
 * The page's script. Plain JavaScript that any current browser runs as is; it must not contain a backtick or a
 * dollar-brace, being a raw template literal here.
 */
export const PAGE_SCRIPT = String.raw`
(function () {
  "use strict";
  var NO_DATA = "\u2014";
  var STALE_MS = 5000;
  var POLL_MS = 2000;
  var lastUpdate = Date.now();
  var mode = "starting";
  var problem = null;

  function pad2(n) { return (n < 10 ? "0" : "") + n; }
  function pct(r) { return typeof r === "number" && isFinite(r) ? (r * 100).toFixed(1) + "%" : NO_DATA; }
  function dec(v) { return typeof v === "number" && isFinite(v) ? v.toFixed(1) : NO_DATA; }
  function count(v) {
    if (typeof v !== "number" || !isFinite(v)) return NO_DATA;
    var parts = Math.abs(v).toString().split(".");
    var whole = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (v < 0 ? "-" : "") + whole + (parts.length > 1 ? "." + parts[1] : "");
  }
  function clock(ms) { var d = new Date(ms); return pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds()); }
  function duration(ms) {
    var t = Math.max(0, Math.floor(ms / 1000));
    return pad2(Math.floor(t / 3600)) + ":" + pad2(Math.floor((t % 3600) / 60)) + ":" + pad2(t % 60);
  }
  function uplinkText(u) { return u.up ? "up" : (u.downUntil === null ? "DOWN" : "DOWN until " + clock(u.downUntil)); }

  // Every element is built here: text goes in through text nodes, attributes through setAttribute, so nothing
  // from the snapshot is ever parsed as markup.
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }
  function setAttrs(node, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) { if (attrs[k] !== null && attrs[k] !== undefined) node.setAttribute(k, String(attrs[k])); });
  }
  function append(node, children) {
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      node.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
    });
  }
  function byTestId(id) { return document.querySelector('[data-testid="' + id + '"]'); }
  function setText(id, text) { var node = byTestId(id); if (node) node.textContent = text; return node; }

  // A sparkline as an SVG path: x spreads the points evenly, y maps [min, max] to the height; a null point lifts
  // the pen, and a point alone between gaps is drawn as a dot so it does not vanish.
  function pathOf(values, w, h, min, max) {
    var n = values.length, d = "", run = 0, span = max - min || 1, padY = 2;
    for (var i = 0; i < n; i++) {
      var v = values[i];
      if (typeof v !== "number" || !isFinite(v)) { if (run === 1) d += "l0,0"; run = 0; continue; }
      var x = n === 1 ? w / 2 : (i * w) / (n - 1);
      var y = h - padY - ((Math.min(max, Math.max(min, v)) - min) / span) * (h - 2 * padY);
      d += (run === 0 ? "M" : "L") + x.toFixed(1) + "," + y.toFixed(1);
      run++;
    }
    if (run === 1) d += "l0,0";
    return d;
  }
  // Sparklines are clones of the page's <template>, so the parser, not this script, puts them in the SVG namespace.
  function sparkline(values, min, max, attrs) {
    var svg = document.getElementById("sparkline").content.firstElementChild.cloneNode(true);
    setAttrs(svg, attrs);
    draw(svg, values, min, max);
    return svg;
  }
  function draw(svg, values, min, max) {
    var series = svg.querySelector("path.series");
    series.setAttribute("d", pathOf(values, 300, 60, min, max));
    series.setAttribute("data-points", String(values.filter(function (v) { return typeof v === "number" && isFinite(v); }).length));
  }
  function maxOf(values) { return values.reduce(function (m, v) { return typeof v === "number" && v > m ? v : m; }, 0); }
  function last(values) { return values.length ? values[values.length - 1] : null; }

  function chart(testid, values, min, max, latest) {
    draw(byTestId(testid), values, min, max);
    setText(testid + "-latest", latest);
  }

  function ratioCells(f) {
    return [el("td", { class: "num" }, [pct(f.oee)]), el("td", { class: "num" }, [pct(f.availability)]),
      el("td", { class: "num" }, [pct(f.performance)]), el("td", { class: "num" }, [pct(f.quality)])];
  }

  function machineRow(m, at) {
    return el("tr", { "data-machine": m.id, "data-state": m.state, "data-oee": pct(m.oee.oee) }, [
      el("td", null, [el("strong", null, [m.id]), " ", el("span", { class: "muted" }, [m.name])]),
      el("td", null, [el("span", { class: "badge state-" + m.state, "data-testid": "state" }, [m.state])]),
      el("td", { class: "num muted" }, [m.stateSince === null ? NO_DATA : duration(at - m.stateSince)])
    ].concat(ratioCells(m.oee), [
      el("td", { class: "num" }, [count(m.goodParts)]),
      el("td", { class: "num" }, [count(m.badParts)]),
      el("td", { class: "num" + (m.activeAlerts > 0 ? " kind-raised" : "") }, [count(m.activeAlerts)])
    ]));
  }

  function lineSection(line, s) {
    var head = ["Machine", "State", "For", "OEE", "A", "P", "Q", "Good", "Bad", "Alerts"].map(function (h, i) {
      return el("th", { class: i >= 2 ? "num" : null }, [h]);
    });
    var values = s.trend.map(function (p) { var v = p.lines[line.id]; return v === undefined ? null : v; });
    return el("section", { class: "card line", "data-line": line.id, "data-oee": pct(line.oee.oee) }, [
      el("div", { class: "line-head" }, [
        el("h2", null, [line.name]), el("span", { class: "muted" }, [line.id]),
        el("span", null, ["OEE ", el("strong", null, [pct(line.oee.oee)])]),
        el("span", { class: "muted" }, ["A " + pct(line.oee.availability) + "  P " + pct(line.oee.performance) + "  Q " + pct(line.oee.quality)]),
        sparkline(values, 0, 1, { "data-testid": "trend-line", "data-trend-line": line.id, "aria-label": "OEE of " + line.id })
      ]),
      el("table", { class: "machines" }, [el("thead", null, [el("tr", null, head)]),
        el("tbody", null, line.machines.map(function (m) { return machineRow(m, s.at); }))])
    ]);
  }

  function gatewayRow(g) {
    return el("tr", { "data-gateway": g.id, "data-connected": String(g.connected) }, [
      el("td", null, [el("strong", null, [g.id]), " ", el("span", { class: "muted" }, [g.thing])]),
      el("td", { class: "num" }, [count(g.bufferDepth)]),
      el("td", { class: "num" }, [g.oldestUnsentSeconds === null ? NO_DATA : dec(g.oldestUnsentSeconds) + " s"]),
      el("td", { class: "num" }, [dec(g.publishedPerSecond)]),
      el("td", { class: "num" }, [count(g.deadLetters)]),
      el("td", null, [el("span", { class: "badge connected-" + (g.connected ? "yes" : "no") }, [g.connected ? "connected" : "disconnected"])])
    ]);
  }

  function alertItem(a) {
    return el("li", { "data-alert": a.id, "data-kind": a.kind }, [
      el("span", { class: "num muted" }, [clock(a.at)]),
      el("span", { class: "badge kind-" + a.kind }, [a.kind]),
      el("span", { class: "muted" }, [a.severity]),
      el("strong", null, [a.machineId || a.gatewayId || a.lineId || NO_DATA]),
      el("span", { "data-testid": "alert-subject" }, [a.subject])
    ]);
  }

  function render(s) {
    document.title = s.factory.name + " \u2014 factory in a box";
    setText("factory-name", s.factory.name);
    setText("factory-meta", s.factory.id + " \u00b7 uptime " + duration(s.at - s.startedAt) + " \u00b7 speed x" + s.speed + " \u00b7 at " + clock(s.at));
    setText("factory-oee", pct(s.oee.oee)).setAttribute("data-oee", pct(s.oee.oee));
    setText("factory-availability", "A " + pct(s.oee.availability));
    setText("factory-performance", "P " + pct(s.oee.performance));
    setText("factory-quality", "Q " + pct(s.oee.quality));
    var uplink = setText("uplink", "uplink " + uplinkText(s.uplink));
    uplink.className = "badge " + (s.uplink.up ? "up" : "down");
    uplink.setAttribute("data-up", String(s.uplink.up));

    var oee = s.trend.map(function (p) { return p.factoryOee; });
    var rate = s.trend.map(function (p) { return p.readingsPerSecond; });
    var depth = s.trend.map(function (p) { return p.bufferDepth; });
    chart("trend-oee", oee, 0, 1, pct(last(oee)));
    chart("trend-readings", rate, 0, maxOf(rate), dec(last(rate)));
    chart("trend-buffer", depth, 0, maxOf(depth), count(last(depth) === null ? 0 : last(depth)));

    byTestId("lines").replaceChildren.apply(byTestId("lines"), s.lines.map(function (l) { return lineSection(l, s); }));
    byTestId("gateways").replaceChildren.apply(byTestId("gateways"), s.gateways.length ? s.gateways.map(gatewayRow)
      : [el("tr", null, [el("td", { colspan: 6, class: "muted" }, ["no gateway has reported yet"])])]);
    setText("alerts-title", "Newest alerts \u00b7 " + count(s.activeAlerts) + " active");
    var alerts = byTestId("alerts");
    alerts.replaceChildren.apply(alerts, s.alerts.length ? s.alerts.slice(0, 10).map(alertItem) : [el("li", { class: "muted" }, ["none yet"])]);
    var t = s.totals;
    byTestId("totals").replaceChildren(
      el("span", null, ["readings " + count(t.readingsWritten)]),
      el("span", null, ["state events " + count(t.stateEvents)]),
      el("span", null, ["notifications " + count(t.notifications)]),
      el("span", null, ["dead letters: cloud " + count(t.cloudDeadLetters) + ", edge " + count(t.edgeDeadLetters)])
    );
  }

  function showConnection() {
    var age = Date.now() - lastUpdate;
    var node = byTestId("connection");
    var stale = age > STALE_MS;
    node.textContent = problem ? "server: " + problem : stale ? "no update for " + Math.round(age / 1000) + " s (" + mode + ")" : mode;
    node.className = "badge " + (problem || stale ? "stale" : "muted");
    node.setAttribute("data-mode", mode);
  }

  function accept(s) {
    try {
      render(s);
      problem = null;
      lastUpdate = Date.now();
    } catch (e) {
      problem = "unreadable snapshot (" + (e && e.message ? e.message : e) + ")";
    }
    showConnection();
  }

  function poll() {
    fetch("/api/snapshot", { cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (s) { mode = "polling"; accept(s); })
      .catch(function () { mode = "offline"; showConnection(); })
      .then(function () { setTimeout(poll, POLL_MS); });
  }

  // Server-Sent Events first; if they fail (a proxy that buffers them, an old browser), poll every 2 s instead.
  function follow() {
    if (typeof EventSource !== "function") { poll(); return; }
    var source = new EventSource("/api/events");
    source.onmessage = function (e) { mode = "live"; accept(JSON.parse(e.data)); };
    source.addEventListener("problem", function (e) { problem = JSON.parse(e.data).error; showConnection(); });
    source.onerror = function () { source.close(); mode = "polling"; showConnection(); poll(); };
  }

  accept(JSON.parse(document.getElementById("snapshot-data").textContent));
  mode = "connecting";
  showConnection();
  setInterval(showConnection, 1000);
  follow();
})();
`;

/** `sha256-...` source expressions of the inline script and style, for the page's Content-Security-Policy. */
export const PAGE_HASHES = { script: cspHash(PAGE_SCRIPT), style: cspHash(PAGE_STYLE) } as const;

/**
 * The page for `snapshot`: the skeleton the script fills, with the snapshot embedded as JSON. Every text taken from
 * the snapshot is escaped: HTML-escaped in the title, and `<`, `>`, `&` written as JSON escapes in the data block so
 * a value can never close the script element.
 */
export function renderPage(snapshot: FactorySnapshot): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${escapeHtml(snapshot.factory.name)} — factory in a box</title>
<style>${PAGE_STYLE}</style>
</head>
<body>
<header>
  <div><h1 data-testid="factory-name">${escapeHtml(snapshot.factory.name)}</h1><div class="muted" data-testid="factory-meta"></div></div>
  <div class="kpi"><span class="muted">OEE</span><span class="big" data-testid="factory-oee"></span>
    <span data-testid="factory-availability"></span><span data-testid="factory-performance"></span><span data-testid="factory-quality"></span></div>
  <span class="badge" data-testid="uplink"></span>
  <span class="badge muted" data-testid="connection">starting</span>
</header>
<noscript><p>This page draws the factory with JavaScript; the figures are at <a href="/api/snapshot">/api/snapshot</a>.</p></noscript>
<section class="charts">
  ${chartCard("trend-oee", "Factory OEE")}
  ${chartCard("trend-readings", "Readings / s")}
  ${chartCard("trend-buffer", "Buffer depth")}
</section>
<template id="sparkline">${SPARKLINE}</template>
<main data-testid="lines"></main>
<section class="card">
  <h2>Gateways</h2>
  <table>
    <thead><tr><th>Gateway</th><th class="num">Buffer</th><th class="num">Oldest unsent</th><th class="num">Published / s</th><th class="num">Dead letters</th><th>Connection</th></tr></thead>
    <tbody data-testid="gateways"></tbody>
  </table>
</section>
<section class="card">
  <h2 data-testid="alerts-title">Newest alerts</h2>
  <ol class="alerts" data-testid="alerts"></ol>
</section>
<footer class="card" data-testid="totals"></footer>
<script type="application/json" id="snapshot-data">${jsonForScript(snapshot)}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}

/** An empty sparkline: a 300 x 60 drawing stretched to its box, a base line and the series the script draws. */
const SPARKLINE =
  '<svg class="spark" viewBox="0 0 300 60" preserveAspectRatio="none" role="img">' +
  '<path class="base" d="M0,59L300,59"></path><path class="series" d="" data-points="0"></path></svg>';

function chartCard(testid: string, title: string): string {
  const svg = SPARKLINE.replace("<svg ", `<svg data-testid="${testid}" aria-label="${escapeHtml(title)}" `);
  return `<div class="card"><div class="chart-head"><span>${escapeHtml(title)}</span><span class="num muted" data-testid="${testid}-latest"></span></div>${svg}</div>`;
}

/** `text` safe as HTML element content and as a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

const HTML_ESCAPES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/**
 * `value` as JSON that can sit inside a `<script>` element: `JSON.parse` of the element's text gives `value` back,
 * and no `</script>` or `<!--` can appear in it. U+2028/U+2029 are escaped too, for older parsers that read JSON as JavaScript.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function cspHash(source: string): string {
  return `'sha256-${createHash("sha256").update(source, "utf8").digest("base64")}'`;
}
