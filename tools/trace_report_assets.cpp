// The trace report's stylesheet, the script's shared prelude and its panels
// (trace_report_assets.hpp says how the parts fit together).
#include "tools/trace_report_assets.hpp"

namespace shoal::tools::report_assets {

// -- style ----------------------------------------------------------------------------------------

const std::string_view style = R"css(
:root {
  --fg: #1f2937; --muted: #6b7280; --line: #e5e7eb; --bg: #f3f4f6; --panel: #fff; --accent: #2563eb;
  --ink: #0f172a;
}
* { box-sizing: border-box; }
body {
  margin: 0; color: var(--fg); background: var(--bg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "Noto Sans", "DejaVu Sans", sans-serif;
}
header.top { background: var(--ink); color: #e2e8f0; padding: 16px 28px 18px; }
.brand { font-size: 11px; letter-spacing: .1em; text-transform: uppercase; color: #94a3b8; }
h1 { margin: 2px 0 12px; font-size: 21px; font-weight: 600; color: #fff; overflow-wrap: anywhere; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(138px, 1fr)); gap: 10px; }
.card { background: #1e293b; border-radius: 8px; padding: 9px 12px 10px; }
.card .k { font-size: 11px; text-transform: uppercase; letter-spacing: .06em; color: #94a3b8; }
.card .v { font-size: 20px; font-weight: 600; color: #fff; font-variant-numeric: tabular-nums; }
.card .s {
  font-size: 12px; color: #94a3b8; white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
}
main { padding: 16px 28px 4px; max-width: 1800px; margin: 0 auto; }
.panel {
  background: var(--panel); border: 1px solid var(--line); border-radius: 10px;
  padding: 14px 16px 16px; margin-bottom: 16px; box-shadow: 0 1px 2px rgba(0, 0, 0, .04);
  min-width: 0;
}
.panel h2 { font-size: 15px; margin: 0; font-weight: 600; }
.panel-head {
  display: flex; align-items: center; justify-content: space-between; gap: 12px; flex-wrap: wrap;
}
.hint { color: var(--muted); font-size: 12px; margin: 3px 0 10px; }
.row { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
@media (max-width: 1000px) { .row { grid-template-columns: 1fr; } }
.controls { display: flex; gap: 14px; align-items: center; font-size: 13px; color: #374151; }
.controls label { display: inline-flex; gap: 5px; align-items: center; cursor: pointer; }
button {
  font: inherit; font-size: 12px; padding: 4px 10px; border: 1px solid #d1d5db; background: #fff;
  border-radius: 6px; cursor: pointer; color: var(--fg);
}
button:hover { background: #f3f4f6; }
input[type=search] {
  font: inherit; font-size: 13px; padding: 5px 9px; border: 1px solid #d1d5db; border-radius: 6px;
  width: 240px;
}
.tl {
  display: grid; grid-template-columns: 116px minmax(0, 1fr); border: 1px solid var(--line);
  border-radius: 6px; overflow: hidden;
}
.tl-side { background: #f9fafb; border-right: 1px solid var(--line); font-size: 12px; }
.tl-side .ov {
  display: flex; align-items: center; padding: 0 10px; color: var(--muted); font-size: 11px;
  border-bottom: 1px solid var(--line);
}
.lane {
  display: flex; flex-direction: column; justify-content: center; padding: 0 10px;
  border-top: 1px solid var(--line); overflow: hidden;
}
.lane b { font-weight: 600; }
.lane span { color: var(--muted); font-size: 11px; white-space: nowrap; }
.tl-main { position: relative; min-width: 0; }
#overview {
  display: block; width: 100%; cursor: crosshair; border-bottom: 1px solid var(--line);
  touch-action: none;
}
#timeline { display: block; width: 100%; cursor: grab; touch-action: none; }
#timeline.dragging { cursor: grabbing; }
#tooltip {
  position: fixed; pointer-events: none; background: rgba(15, 23, 42, .95); color: #f8fafc;
  font-size: 12px; padding: 7px 10px; border-radius: 6px; max-width: 340px; z-index: 5;
  box-shadow: 0 4px 14px rgba(0, 0, 0, .25); font-variant-numeric: tabular-nums;
}
#tooltip .n { font-weight: 600; margin-bottom: 3px; overflow-wrap: anywhere; }
#tooltip .r { display: flex; justify-content: space-between; gap: 18px; white-space: nowrap; }
#tooltip .r span:first-child { color: #94a3b8; }
.status {
  font-size: 12px; color: var(--muted); font-variant-numeric: tabular-nums; margin: 6px 0 0;
  min-height: 1.45em;
}
.legend {
  display: flex; flex-wrap: wrap; gap: 6px 16px; margin-top: 8px; font-size: 12px; color: #374151;
}
.legend .it {
  display: inline-flex; align-items: center; gap: 6px; max-width: 240px; white-space: nowrap;
}
.legend .it span:last-child { overflow: hidden; text-overflow: ellipsis; }
.sw { display: inline-block; width: 12px; height: 12px; border-radius: 3px; flex: none; }
.sw.park { background: repeating-linear-gradient(135deg, #94a3b8 0 1.5px, #eef2f7 1.5px 5px); }
.sw.lost { background: #e9ecf1; border: 1px solid #d5dae2; }
.tri {
  width: 0; height: 0; flex: none; border-left: 5px solid transparent;
  border-right: 5px solid transparent; border-top: 8px solid #111827;
}
.tri.fail { border-top-color: #b6bcc6; }
.flowsw { width: 20px; height: 0; flex: none; border-top: 1.5px solid #475569; }
.selection {
  font-size: 12.5px; margin-top: 8px; padding: 8px 10px; background: #f8fafc;
  border: 1px solid var(--line); border-radius: 6px; display: flex; gap: 12px; align-items: center;
  flex-wrap: wrap;
}
.selection[hidden] { display: none; }
table.data {
  border-collapse: collapse; width: 100%; font-size: 12.5px; font-variant-numeric: tabular-nums;
}
table.data th, table.data td {
  padding: 5px 9px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap;
}
table.data thead { position: sticky; top: 0; z-index: 1; }
table.data th { background: #f9fafb; font-weight: 600; color: #374151; }
table.data th.group {
  text-align: center; color: var(--muted); font-weight: 500; border-left: 1px solid var(--line);
}
table.data th.first, table.data td.first { border-left: 1px solid var(--line); }
table.data th.sortable { cursor: pointer; user-select: none; }
table.data th.sortable:hover { background: #eef2ff; }
table.data th[aria-sort=ascending]::after {
  content: " \25B2"; font-size: 9px; color: var(--accent);
}
table.data th[aria-sort=descending]::after {
  content: " \25BC"; font-size: 9px; color: var(--accent);
}
table.data .name { text-align: left; }
table.data td.name { max-width: 340px; overflow: hidden; text-overflow: ellipsis; }
table.data td.name .sw { width: 10px; height: 10px; margin-right: 7px; vertical-align: -1px; }
table.data tbody tr:hover { background: #f8fafc; }
.table-wrap {
  max-height: 560px; overflow: auto; border: 1px solid var(--line); border-radius: 6px;
}
.na { color: #c0c4cc; }
.top-row {
  display: grid; grid-template-columns: minmax(110px, 1.2fr) minmax(80px, 2fr) 76px 52px; gap: 10px;
  align-items: center; padding: 4px 0; font-size: 13px; font-variant-numeric: tabular-nums;
}
.top-row .nm {
  display: flex; align-items: center; gap: 7px; overflow: hidden; white-space: nowrap;
}
.top-row .nm span:last-child { overflow: hidden; text-overflow: ellipsis; }
.top-row .num { text-align: right; color: #374151; }
.bar-track { background: #f1f5f9; border-radius: 4px; height: 12px; overflow: hidden; }
.bar { height: 100%; border-radius: 4px; min-width: 1px; }
table.matrix { width: auto; }
table.matrix td.zero { color: #cbd5e1; }
table.matrix td.self { color: #cbd5e1; background: #fafafa; }
.chart svg { display: block; width: 100%; height: auto; }
.chart .bar-rect { fill: var(--accent); }
.chart .bar-rect.sys { fill: #94a3b8; }
.chart .bar-rect:hover { fill: #1d4ed8; }
.chart text { font-family: inherit; font-size: 11px; fill: #4b5563; }
.chart .axis-title { font-size: 11.5px; fill: #374151; }
.chart .grid { stroke: #eef0f3; }
.chart .axis { stroke: #9ca3af; }
.empty { color: var(--muted); font-size: 13px; padding: 10px 0; }
footer { text-align: center; color: var(--muted); font-size: 12px; padding: 4px 0 24px; }
)css";

// -- script: data and helpers ---------------------------------------------------------------------

const std::string_view script_common = R"js(
// The report's data (computed by shoal-trace) and the helpers every part uses.
const D = JSON.parse(document.getElementById('data').textContent);
const S = D.summary;
const lanes = D.lanes;
const actors = D.actors;
const $ = (id) => document.getElementById(id);

// -- formatting --------------------------------------------------------------
const US = '\u00b5s';
function fmtDur(us) {
  const a = Math.abs(us);
  if (a < 1) return (us * 1e3).toFixed(0) + ' ns';
  if (a < 1e3) return us.toFixed(a < 10 ? 2 : a < 100 ? 1 : 0) + ' ' + US;
  if (a < 1e6) return (us / 1e3).toFixed(a < 1e4 ? 2 : a < 1e5 ? 1 : 0) + ' ms';
  return (us / 1e6).toFixed(2) + ' s';
}
function fmtInt(n) { return Math.round(n).toLocaleString('en-US'); }
function fmtShort(n) {
  if (n < 1e3) return String(n);
  const trim = (v, d) => v.toFixed(d).replace(/\.0$/, '');
  if (n < 1e6) return trim(n / 1e3, n < 1e4 ? 1 : 0) + 'k';
  return trim(n / 1e6, n < 1e7 ? 1 : 0) + 'M';
}
function fmtPct(f) { return (100 * f).toFixed(f < 0.1 ? 2 : 1) + '%'; }

// -- colours: one per actor, stable across reports (from its id) --------------
const colors = actors.map((a) => {
  const hue = (a.id * 137.508) % 360;  // the golden angle spreads neighbours apart
  return 'hsl(' + hue.toFixed(1) + ', 62%, ' + (44 + (a.id % 3) * 8) + '%)';
});
const MIXED = '#7b8794';  // a pixel that holds runs of several actors

// -- DOM helpers (names go in as text, never as markup) -----------------------
function el(tag, cls, text, parent) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}
function swatch(color, parent) {
  const s = el('span', 'sw', null, parent);
  s.style.background = color;
  return s;
}
// Compares indices by v(index) for sorting: nulls (no samples) last either
// way, ties in index order.
function compareBy(v, text, dir) {
  return (x, y) => {
    const a = v(x), b = v(y);
    if (a === b) return x - y;
    if (a === null) return 1;
    if (b === null) return -1;
    return (text ? String(a).localeCompare(String(b)) : a - b) * dir;
  };
}
function lowerBound(arr, x) {
  let lo = 0, hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
)js";

// -- script: summary, legend, histogram, tables ---------------------------------------------------

const std::string_view script_panels = R"js(
// -- summary header --------------------------------------------------------------
function installSummary() {
  const box = $('summary');
  const capacity = S.duration_us * S.workers;
  const cards = [
    ['Duration', fmtDur(S.duration_us), fmtInt(S.events) + ' events'],
    ['Workers', String(S.workers) + (S.guests ? ' + ' + S.guests + ' guest' : ''),
     capacity > 0 ? fmtPct((S.busy_us - S.guest_busy_us) / capacity) + ' busy' : ''],
    ['Runs', fmtInt(S.runs), 'busy ' + fmtDur(S.busy_us)],
    ['Messages', fmtInt(S.messages), '+' + fmtInt(S.system_messages) + ' system'],
    ['Flows', fmtInt(S.flows), 'sends matched'],
    ['Parks', fmtInt(S.parks), 'asleep ' + fmtDur(S.park_us)],
    ['Steals', fmtInt(S.steals), 'of ' + fmtInt(S.steal_attempts) + ' attempts'],
    ['Actors', fmtInt(actors.length), fmtInt(S.schedules) + ' schedules'],
  ];
  for (const [k, v, s] of cards) {
    const c = el('div', 'card', null, box);
    el('div', 'k', k, c);
    el('div', 'v', v, c);
    el('div', 's', s, c);
  }
}

// -- legend ----------------------------------------------------------------------
function installLegend() {
  const box = $('legend');
  const item = (mark, text, title) => {
    const it = el('span', 'it', null, box);
    it.appendChild(mark);
    el('span', null, text, it);
    if (title) it.title = title;
  };
  actors.slice(0, 8).forEach(
      (a, i) => item(swatch(colors[i]), a.name, a.name + ' (#' + a.id + ')'));
  if (actors.length > 8)
    item(
        el('span', 'sw', null),
        '\u2026 ' + fmtInt(actors.length - 8) + ' more actors (colour by id)');
  const mixed = swatch(MIXED);
  item(mixed, 'several actors within a pixel');
  item(el('span', 'sw park'), 'parked');
  if (lanes.some((l) => l.wrapped))
    item(el('span', 'sw lost'), 'older events overwritten (ring full)');
  item(el('span', 'tri'), 'steal');
  item(el('span', 'tri fail'), 'failed steal attempt');
  item(el('span', 'flowsw'), 'message (send \u2192 receive)');
}

// -- batch sizes: an SVG bar chart of runs per log2 bucket ------------------------
const SVG_NS = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, parent, text) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}
function installBatches() {
  const box = $('batches');
  const B = D.batches;
  if (B.length === 0) {
    el('div', 'empty', 'No runs in this trace.', box);
    return;
  }
  const W = 560, H = 250, L = 52, R = 10, T = 16, Bm = 44;
  const root =
      svg('svg', {viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'runs per batch size'},
          box);
  const counts = B.map((b) => b.runs);
  const max = Math.max(1, ...counts);
  const min = Math.min(...counts.filter((n) => n > 0));
  // A log scale when a linear one would hide buckets (bars from 0.5, so one run shows).
  const log = max >= 100 * min;
  const ticks = [];
  let top, y;
  if (log) {
    top = Math.pow(10, Math.ceil(Math.log10(max)));
    y = (v) => T + (H - T - Bm) * (1 - Math.log10(Math.max(v, 0.5) / 0.5) / Math.log10(top / 0.5));
    for (let v = 1; v <= top; v *= 10) ticks.push(v);
  } else {
    const step = niceStep(max / 4);
    top = Math.ceil(max / step) * step;
    y = (v) => T + (H - T - Bm) * (1 - v / top);
    for (let v = 0; v <= top + step / 2; v += step) ticks.push(v);
  }
  for (const v of ticks) {
    svg('line', {x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid'}, root);
    svg('text', {x: L - 6, y: y(v) + 4, 'text-anchor': 'end'}, root, fmtShort(v));
  }
  const base = log ? y(0.5) : y(0);
  const bw = (W - L - R) / B.length;
  B.forEach((b, i) => {
    const x = L + i * bw;
    const label = b.lo === b.hi ? String(b.lo) : b.lo + '\u2013' + b.hi;
    const r =
        svg('rect', {
          x: x + bw * 0.12,
          y: y(b.runs),
          width: bw * 0.76,
          height: Math.max(0, base - y(b.runs)),
          class: 'bar-rect' + (b.lo === 0 ? ' sys' : '')
        },
            root);
    svg('title', {}, r,
        label + ' messages: ' + fmtInt(b.runs) + ' runs (' + fmtPct(b.runs / S.runs) + ')' +
            (b.lo === 0 ? ' \u2014 system messages only' : ''));
    if (b.runs > 0)
      svg('text', {x: x + bw / 2, y: y(b.runs) - 4, 'text-anchor': 'middle'}, root,
          fmtShort(b.runs));
    svg('text', {x: x + bw / 2, y: H - Bm + 15, 'text-anchor': 'middle'}, root, label);
  });
  svg('line', {x1: L, x2: W - R, y1: base, y2: base, class: 'axis'}, root);
  svg('text', {x: L + (W - L - R) / 2, y: H - 8, 'text-anchor': 'middle', class: 'axis-title'},
      root, 'user messages per run (log\u2082 buckets)');
  const mid = T + (H - T - Bm) / 2;
  svg('text', {
    x: 12,
    y: mid,
    'text-anchor': 'middle',
    class: 'axis-title',
    transform: 'rotate(-90 12 ' + mid + ')'
  },
      root, log ? 'runs (log scale)' : 'runs');
}

// -- top actors by busy time --------------------------------------------------------
function installTop() {
  const box = $('top');
  if (actors.length === 0 || S.busy_us <= 0) {
    el('div', 'empty', 'No runs in this trace.', box);
    return;
  }
  const top = actors.slice(0, 10);
  const maxShare = top[0].busy_us / S.busy_us;
  const row = (color, name, busy, title) => {
    const r = el('div', 'top-row', null, box);
    const nm = el('div', 'nm', null, r);
    swatch(color, nm);
    el('span', null, name, nm);
    r.title = title;
    const bar = el('div', 'bar', null, el('div', 'bar-track', null, r));
    bar.style.width = (100 * busy / S.busy_us / maxShare).toFixed(2) + '%';
    bar.style.background = color;
    el('div', 'num', fmtDur(busy), r);
    el('div', 'num', fmtPct(busy / S.busy_us), r);
  };
  top.forEach(
      (a, i) => row(
          colors[i], a.name, a.busy_us, a.name + ' (#' + a.id + '): ' + fmtInt(a.runs) + ' runs'));
  const rest = actors.slice(10).reduce((s, a) => s + a.busy_us, 0);
  if (actors.length > 10)
    row('#cbd5e1', fmtInt(actors.length - 10) + ' other actors', rest, 'all the others');
}

// -- the per-actor table, sortable ---------------------------------------------------
const ROW_LIMIT = 500;
function installActors() {
  const table = $('actors');
  const pct = (key, p) => (a) => (a[key].n ? a[key][p] : null);
  const cols = [
    {l: 'Actor', v: (a) => a.name, text: true, cls: 'name'},
    {l: 'Id', v: (a) => a.id},
    {l: 'Runs', v: (a) => a.runs, f: fmtInt},
    {l: 'Messages', v: (a) => a.messages, f: fmtInt},
    {l: 'Busy', v: (a) => a.busy_us, f: fmtDur},
    {l: 'Share', v: (a) => (S.busy_us > 0 ? a.busy_us / S.busy_us : 0), f: fmtPct},
  ];
  const groups = [
    ['handler_us', 'Handler time per message (run \u00f7 messages, from the trace)'],
    ['latency_us', 'Latency: send\u2192receive run start, from the trace']
  ];
  for (const [key] of groups) {
    ['p50', 'p90', 'p99', 'max'].forEach(
        (p, i) => cols.push({l: p, v: pct(key, p), f: fmtDur, first: i === 0}));
  }
  const state = {col: 4, dir: -1, filter: ''};
  const thead = el('thead', null, null, table);
  const tbody = el('tbody', null, null, table);
  const r1 = el('tr', null, null, thead), r2 = el('tr', null, null, thead);
  const ths = [];
  cols.forEach((c, i) => {
    if (i < 6) {
      const th = el('th', 'sortable' + (c.cls ? ' ' + c.cls : ''), c.l, r1);
      th.rowSpan = 2;
      ths.push(th);
    } else {
      ths.push(el('th', 'sortable' + (c.first ? ' first' : ''), c.l, r2));
    }
    if (i === 5)
      for (const [, title] of groups) el('th', 'group', title, r1).colSpan = 4;
  });
  ths.forEach((th, i) => th.addEventListener('click', () => {
    state.dir = state.col === i ? -state.dir : cols[i].text ? 1 : -1;
    state.col = i;
    render();
  }));
  $('filter').addEventListener('input', (e) => {
    state.filter = e.target.value.toLowerCase();
    render();
  });

  function render() {
    ths.forEach(
        (th, i) => th.setAttribute(
            'aria-sort', i === state.col ? (state.dir > 0 ? 'ascending' : 'descending') : 'none'));
    const c = cols[state.col];
    const rows =
        actors.map((a, i) => i)
            .filter((i) => !state.filter || actors[i].name.toLowerCase().includes(state.filter));
    rows.sort(compareBy((i) => c.v(actors[i]), c.text, state.dir));
    tbody.textContent = '';
    for (const i of rows.slice(0, ROW_LIMIT)) {
      const a = actors[i];
      const tr = el('tr', null, null, tbody);
      cols.forEach((col, ci) => {
        const v = col.v(a);
        const td = el('td', (col.cls || '') + (col.first ? ' first' : ''), null, tr);
        if (ci === 0) {
          swatch(colors[i], td);
          td.appendChild(document.createTextNode(a.name));
          td.title = a.name;
        } else if (v === null) {
          td.textContent = '\u2013';
          td.classList.add('na');
        } else td.textContent = col.f ? col.f(v) : String(v);
      });
    }
    $('actors-note').textContent = rows.length > ROW_LIMIT ?
        'Showing ' + fmtInt(ROW_LIMIT) + ' of ' + fmtInt(rows.length) +
            ' actors; sort or filter to see the others.' :
        fmtInt(rows.length) + ' actor' + (rows.length === 1 ? '' : 's') +
            '. Percentiles are nearest-rank; handler time is a run\u2019s duration over its ' +
            'messages.';
  }
  render();
}

// -- the system's statistics: exact, when the trace carries them ------------------
const ST = D.stats && typeof D.stats === 'object' ? D.stats : {};
const num = (x) => (typeof x === 'number' && isFinite(x) ? x : null);
const nsDur = (ns) => fmtDur(ns / 1e3);
const objects = (a) => (Array.isArray(a) ? a.filter((x) => x && typeof x === 'object') : []);

// A sortable table#id in `wrap`, data-rows = its rows. cols: {l, v(row) → value or null, f
// (format), text, first (a group's first), cell(td, row)}; the first `plain` columns span both
// header rows, `groups` [[title, n]] head the others.
function installSteals() {
  const box = $('steals');
  const M = D.steal_matrix;
  if (M.length === 0) {
    el('div', 'empty', 'No workers in this trace.', box);
    return;
  }
  const max = Math.max(1, ...M.map((r) => Math.max(...r)));
  const wrap = el('div', 'table-wrap', null, box);
  wrap.style.display = 'inline-block';
  const t = el('table', 'data matrix', null, wrap);
  const hr = el('tr', null, null, el('thead', null, null, t));
  el('th', 'name', 'thief \u2193  victim \u2192', hr);
  M.forEach((_, v) => el('th', null, 'worker ' + v, hr));
  el('th', 'first', 'total', hr);
  const body = el('tbody', null, null, t);
  M.forEach((row, thief) => {
    const tr = el('tr', null, null, body);
    el('th', 'name', 'worker ' + thief, tr);
    row.forEach((n, victim) => {
      const td =
          el('td',
             thief === victim ? 'self' :
                 n === 0      ? 'zero' :
                                '',
             thief === victim ? '\u00b7' : fmtInt(n), tr);
      if (n > 0) {
        const f = n / max;
        td.style.background = 'rgba(37, 99, 235, ' + (0.08 + 0.8 * f).toFixed(3) + ')';
        if (f > 0.5) td.style.color = '#fff';
      }
    });
    el('td', 'first', fmtInt(row.reduce((s, n) => s + n, 0)), tr);
  });
  el('p', 'hint',
     fmtInt(S.steals) + ' steals found work out of ' + fmtInt(S.steal_attempts) + ' attempts.',
     box);
}

// -- start ------------------------------------------------------------------------
installSummary();
installTimeline();
installLegend();
installBatches();
installTop();
installActors();
installMeasured();
installCounters();
installSteals();
document.title = 'shoal trace report: ok (' + lanes.length + ' lanes)';
)js";

}  // namespace shoal::tools::report_assets
