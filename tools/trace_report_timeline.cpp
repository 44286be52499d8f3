// The trace report's timeline drawing: lanes, overview strip, axis, runs,
// parks, steals, remote frames and message arrows on a canvas
// (trace_report_assets.hpp).
#include "tools/trace_report_assets.hpp"

namespace shoal::tools::report_assets {

const std::string_view script_timeline = R"js(
// -- timeline: one lane per worker (then per guest: a node's io thread) on a
// canvas; zoom, pan, hover, pin. A guest lane shows the runs it hosted and,
// in a band along its foot, the remote frames it delivered (teal) and wrote
// (amber).

// Each frame draws only what is in view: a binary search finds a lane's first
// visible run (its start >= view start - the lane's longest run), and runs
// narrower than two pixels that touch are merged into one block, coloured by
// their actor, or grey when several actors share it. A frame therefore costs
// O(visible events) and paints at most a few rectangles per pixel column.
const AXIS_H = 26;
const LANE_H = Math.max(24, Math.min(64, Math.floor(320 / Math.max(1, lanes.length))));
const OV_H = Math.max(20, Math.min(56, 10 * lanes.length));
const FLOW_LIMIT = 1500;  // more arrows than this in view are noise, not information
const span0 = Math.max(S.duration_us, 0.001);
const maxRun = lanes.map((l) => l.runs.d.reduce((m, d) => Math.max(m, d), 0));
const maxPark = lanes.map((l) => l.parks.d.reduce((m, d) => Math.max(m, d), 0));
const maxFrame = lanes.map((l) => l.frames.d.reduce((m, d) => Math.max(m, d), 0));
const FRAME_IN = '#0d9488', FRAME_OUT = '#d97706', FRAME_H = 4;

const view = {
  v0: 0,
  v1: span0
};
const tl = {
  w: 0,
  h: 0,
  dpr: 1,
  hover: null,
  pinned: null,
  pinnedFlows: [],
  drag: null,
  brush: null,
  frame: 0,
  hashTimer: 0
};
const cv = $('timeline'), ov = $('overview'), tip = $('tooltip');
let hatch = null, overviewImage = null;

function laneTop(i) { return AXIS_H + i * LANE_H; }
function xOf(t) { return (t - view.v0) * tl.w / (view.v1 - view.v0); }
function tOf(x) { return view.v0 + x * (view.v1 - view.v0) / tl.w; }

function makeHatch(ctx) {
  const p = document.createElement('canvas');
  p.width = p.height = 6;
  const c = p.getContext('2d');
  c.fillStyle = '#eef2f7';
  c.fillRect(0, 0, 6, 6);
  c.strokeStyle = '#a7b1c2';
  c.lineWidth = 1;
  c.beginPath();
  c.moveTo(0, 6);
  c.lineTo(6, 0);
  c.moveTo(-1, 1);
  c.lineTo(1, -1);
  c.moveTo(5, 7);
  c.lineTo(7, 5);
  c.stroke();
  return ctx.createPattern(p, 'repeat');
}

function resize() {
  const w = Math.max(200, cv.parentElement.clientWidth);
  tl.dpr = window.devicePixelRatio || 1;
  tl.w = w;
  tl.h = AXIS_H + Math.max(1, lanes.length) * LANE_H + 1;
  for (const [c, h] of [[cv, tl.h], [ov, OV_H]]) {
    c.width = Math.round(w * tl.dpr);
    c.height = Math.round(h * tl.dpr);
    c.style.height = h + 'px';
  }
  overviewImage = buildOverview(w);
  redraw();
}

function redraw() {
  if (!tl.frame) tl.frame = requestAnimationFrame(draw);
}

// -- the overview: how busy each worker was, over the whole trace -------------
function buildOverview(w) {
  const img = document.createElement('canvas');
  img.width = w;
  img.height = OV_H;
  if (lanes.length === 0) return img;
  const c = img.getContext('2d');
  const data = c.createImageData(w, OV_H);
  const rowH = OV_H / lanes.length;
  const perBin = span0 / w;
  lanes.forEach((lane, i) => {
    const busy = new Float64Array(w);
    const R = lane.runs;
    for (let j = 0; j < R.t.length; j++) {
      let t = R.t[j];
      const end = t + R.d[j];
      while (t < end) {
        const b = Math.min(w - 1, Math.floor(t / perBin));
        const next = Math.min(end, (b + 1) * perBin);
        busy[b] += Math.max(next - t, 0);
        if (next <= t) break;  // float edge: never loop forever
        t = next;
      }
    }
    const y0 = Math.round(i * rowH), y1 = Math.round((i + 1) * rowH) - (lanes.length > 1 ? 1 : 0);
    for (let b = 0; b < w; b++) {
      const f = Math.min(1, busy[b] / perBin);
      // From the panel's white to the accent blue.
      const r = Math.round(255 - f * (255 - 37)), g = Math.round(255 - f * (255 - 99));
      const bl = Math.round(255 - f * (255 - 235));
      for (let y = y0; y < y1; y++) {
        const o = (y * w + b) * 4;
        data.data[o] = r;
        data.data[o + 1] = g;
        data.data[o + 2] = bl;
        data.data[o + 3] = 255;
      }
    }
  });
  c.putImageData(data, 0, 0);
  return img;
}

function drawOverview() {
  const c = ov.getContext('2d');
  c.setTransform(tl.dpr, 0, 0, tl.dpr, 0, 0);
  c.imageSmoothingEnabled = false;
  c.clearRect(0, 0, tl.w, OV_H);
  c.drawImage(overviewImage, 0, 0, tl.w, OV_H);
  const x0 = view.v0 / span0 * tl.w, x1 = view.v1 / span0 * tl.w;
  c.fillStyle = 'rgba(15, 23, 42, 0.18)';
  c.fillRect(0, 0, Math.max(0, x0), OV_H);
  c.fillRect(x1, 0, tl.w - x1, OV_H);
  c.strokeStyle = '#0f172a';
  c.lineWidth = 1;
  c.strokeRect(Math.round(x0) + 0.5, 0.5, Math.max(1, Math.round(x1 - x0) - 1), OV_H - 1);
  if (tl.brush) {
    c.fillStyle = 'rgba(37, 99, 235, 0.25)';
    c.fillRect(Math.min(tl.brush.a, tl.brush.b), 0, Math.abs(tl.brush.b - tl.brush.a), OV_H);
  }
}

// -- the axis: nice steps, labelled in a unit that suits the zoom -------------
function niceStep(raw) {
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}
function axisLabel(t, step) {
  const [unit, div] = step >= 1e5 ? ['s', 1e6] :
      step >= 100                 ? ['ms', 1e3] :
      step >= 0.1                 ? [US, 1] :
                                    ['ns', 1e-3];
  const decimals = Math.max(0, Math.ceil(-Math.log10(step / div) - 1e-9));
  return (t / div).toFixed(Math.min(decimals, 6)) + ' ' + unit;
}
function drawAxis(c) {
  const step = niceStep((view.v1 - view.v0) / Math.max(2, tl.w / 110));
  c.fillStyle = '#fff';
  c.fillRect(0, 0, tl.w, AXIS_H);
  c.strokeStyle = '#eceef2';
  c.lineWidth = 1;
  c.fillStyle = '#4b5563';
  c.font = '11px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif';
  c.textBaseline = 'middle';
  c.beginPath();
  for (let t = Math.ceil(view.v0 / step) * step; t <= view.v1; t += step) {
    const x = Math.round(xOf(t)) + 0.5;
    c.moveTo(x, AXIS_H - 6);
    c.lineTo(x, tl.h);
    c.fillText(axisLabel(t, step), x + 4, AXIS_H / 2 - 1);
  }
  c.stroke();
  c.strokeStyle = '#d1d5db';
  c.beginPath();
  c.moveTo(0, AXIS_H - 0.5);
  c.lineTo(tl.w, AXIS_H - 0.5);
  c.stroke();
}

// -- one frame ----------------------------------------------------------------
function draw() {
  tl.frame = 0;
  const c = cv.getContext('2d');
  c.setTransform(tl.dpr, 0, 0, tl.dpr, 0, 0);
  c.clearRect(0, 0, tl.w, tl.h);
  if (!hatch) hatch = makeHatch(c);
  const k = tl.w / (view.v1 - view.v0);
  for (let i = 0; i < lanes.length; i++) {
    c.fillStyle = i % 2 ? '#fafbfc' : '#ffffff';
    c.fillRect(0, laneTop(i), tl.w, LANE_H);
  }
  drawLost(c, k);
  drawAxis(c);
  let inView = 0;
  for (let i = 0; i < lanes.length; i++) {
    drawParks(c, i, k);
    inView += drawRuns(c, i, k);
    drawFrames(c, i, k);
    drawSteals(c, i, k);
    c.fillStyle = '#e5e7eb';
    c.fillRect(0, laneTop(i + 1), tl.w, 1);
  }
  const arrows = drawFlows(c);
  for (const [r, style] of [[tl.hover, '#0f172a'], [tl.pinned, '#e11d48']]) {
    if (!r || r.kind !== 'run') continue;
    const x0 = xOf(r.t), x1 = xOf(r.t + r.d), top = laneTop(r.lane) + 6;
    c.strokeStyle = style;
    c.lineWidth = 2;
    c.strokeRect(x0 - 1, top - 1, Math.max(2, x1 - x0) + 2, LANE_H - 10);
  }
  drawOverview();
  if (S.events === 0) {
    c.fillStyle = '#6b7280';
    c.font = '13px system-ui, sans-serif';
    c.textBaseline = 'middle';
    c.fillText('No events were recorded.', 12, AXIS_H + Math.min(LANE_H, tl.h - AXIS_H) / 2);
    $('tl-status').textContent = 'No events were recorded.';
    return;
  }
  $('tl-status').textContent = 'Showing ' + fmtDur(view.v0) + ' \u2013 ' + fmtDur(view.v1) + ' (' +
      fmtDur(view.v1 - view.v0) + ' of ' + fmtDur(S.duration_us) + ') \u00b7 ' + fmtInt(inView) +
      ' runs in view' + arrows;
}

// Before a full ring's oldest event the worker was not idle: it was not recorded.
function drawLost(c, k) {
  c.font = 'italic 11px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif';
  c.textBaseline = 'middle';
  lanes.forEach((lane, i) => {
    if (!lane.wrapped || lane.from <= view.v0) return;
    const x1 = Math.min(tl.w, (lane.from - view.v0) * k);
    c.fillStyle = '#e9ecf1';
    c.fillRect(0, laneTop(i), x1, LANE_H);
    if (x1 > 190) {
      c.fillStyle = '#8a93a3';
      c.fillText('older events overwritten', Math.max(8, x1 / 2 - 65), laneTop(i) + LANE_H / 2);
    }
  });
}

function drawParks(c, i, k) {
  const P = lanes[i].parks, y = laneTop(i) + 1;
  c.fillStyle = hatch;
  let last = -Infinity;
  for (let j = lowerBound(P.t, view.v0 - maxPark[i]); j < P.t.length && P.t[j] <= view.v1; j++) {
    const x0 = Math.max(-1, (P.t[j] - view.v0) * k, last);
    const x1 = Math.min(tl.w + 1, (P.t[j] + P.d[j] - view.v0) * k);
    if (x1 < 0 || x1 <= last) continue;
    c.fillRect(x0, y, Math.max(1, x1 - x0), LANE_H - 2);
    last = x0 + Math.max(1, x1 - x0);
  }
}

function drawRuns(c, i, k) {
  const R = lanes[i].runs, top = laneTop(i) + 6, h = LANE_H - 10;
  let n = 0, bx0 = 0, bx1 = 0, actor = -1, mixed = false, open = false, narrowBlock = false;
  const flush = () => {
    if (!open) return;
    const x0 = Math.max(-1, bx0), x1 = Math.min(tl.w + 1, bx1);
    c.fillStyle = mixed ? MIXED : colors[actor];
    c.fillRect(x0, top, Math.max(1, x1 - x0), h);
    open = false;
  };
  for (let j = lowerBound(R.t, view.v0 - maxRun[i]); j < R.t.length; j++) {
    const t = R.t[j];
    if (t > view.v1) break;
    const x0 = (t - view.v0) * k, x1 = x0 + R.d[j] * k;
    if (x1 < 0) continue;
    n++;
    const narrow = x1 - x0 < 2;
    if (open && narrow && narrowBlock && x0 <= bx1 + 1) {
      if (x1 > bx1) bx1 = x1;
      if (R.a[j] !== actor) mixed = true;
      continue;
    }
    flush();
    open = true;
    bx0 = x0;
    bx1 = x1;
    actor = R.a[j];
    mixed = false;
    narrowBlock = narrow;
  }
  flush();
  return n;
}

function drawFrames(c, i, k) {
  const F = lanes[i].frames, y = laneTop(i) + LANE_H - FRAME_H - 1;
  let last = -Infinity;
  for (let j = lowerBound(F.t, view.v0 - maxFrame[i]); j < F.t.length && F.t[j] <= view.v1; j++) {
    const x0 = Math.max(-1, (F.t[j] - view.v0) * k);
    const x1 = Math.min(tl.w + 1, (F.t[j] + F.d[j] - view.v0) * k);
    if (x1 < 0 || (x1 - x0 < 1 && x0 < last + 1)) continue;  // one per pixel when dense
    c.fillStyle = F.in[j] ? FRAME_IN : FRAME_OUT;
    c.fillRect(x0, y, Math.max(1, x1 - x0), FRAME_H);
    last = x0;
  }
}

function drawSteals(c, i, k) {
  const St = lanes[i].steals, y = laneTop(i) + 1;
  const won = new Path2D(), lost = new Path2D();
  let lastWon = -Infinity, lastLost = -Infinity;
  for (let j = lowerBound(St.t, view.v0 - 6 / k); j < St.t.length; j++) {
    const x = (St.t[j] - view.v0) * k;
    if (x > tl.w + 6) break;
    const p = St.ok[j] ? won : lost;
    if (St.ok[j]) {
      if (x - lastWon < 2) continue;
      lastWon = x;
    } else {
      if (x - lastLost < 5) continue;
      lastLost = x;
    }
    p.moveTo(x - 4.5, y);
    p.lineTo(x + 4.5, y);
    p.lineTo(x, y + 7);
    p.closePath();
  }
  c.strokeStyle = '#aab1bd';
  c.lineWidth = 1;
  c.stroke(lost);
  c.fillStyle = '#111827';
  c.fill(won);
}

// Message arrows: from the sending run's start to the receiving run's start.
function drawFlows(c) {
  const F = D.flows, n = F.ft.length;
  const show = $('show-flows').checked;
  let visible = 0;
  const pick = [];
  if (show) {
    for (let j = 0; j < n; j++) {
      // An end in view: arrows passing through from far away are clutter.
      const a = F.ft[j], b = F.tt[j];
      if ((a < view.v0 || a > view.v1) && (b < view.v0 || b > view.v1)) continue;
      if (++visible <= FLOW_LIMIT) pick.push(j);
    }
    if (visible <= FLOW_LIMIT) arrowsFor(c, pick, 'rgba(51, 65, 85, 0.45)', 1);
  }
  if (tl.pinned) arrowsFor(c, tl.pinnedFlows, '#e11d48', 1.6);
  if (!show || n === 0) return '';
  return visible > FLOW_LIMIT ?
      ' \u00b7 ' + fmtInt(visible) + ' messages in view: zoom in to see arrows' :
      ' \u00b7 ' + fmtInt(visible) + ' message arrows';
}
function arrowsFor(c, list, style, width) {
  const F = D.flows;
  c.strokeStyle = style;
  c.fillStyle = style;
  c.lineWidth = width;
  const heads = new Path2D();
  c.beginPath();
  for (const j of list) {
    let x0 = xOf(F.ft[j]), y0 = laneTop(F.fw[j]) + LANE_H / 2;
    let x1 = xOf(F.tt[j]), y1 = laneTop(F.tw[j]) + LANE_H / 2;
    // An end far out of view: a short stub towards it, not a line across the lanes.
    const out = (x) => x < -40 || x > tl.w + 40;
    if (out(x0)) {
      x0 = x1 + (x0 < x1 ? -28 : 28);
      y0 = y1 - LANE_H * 0.3;
    } else if (out(x1)) {
      x1 = x0 + (x1 > x0 ? 28 : -28);
      y1 = y0 - LANE_H * 0.3;
    }
    const lift = F.fw[j] === F.tw[j] ? LANE_H * 0.45 : 0;  // same lane: arc over the runs
    const dx = Math.max(8, (x1 - x0) / 2);
    c.moveTo(x0, y0);
    c.bezierCurveTo(x0 + dx, y0 - lift, x1 - dx, y1 - lift, x1, y1);
    heads.moveTo(x1, y1);
    heads.lineTo(x1 - 6, y1 - 3.5 - lift * 0.2);
    heads.lineTo(x1 - 6, y1 + 3.5 - lift * 0.2);
    heads.closePath();
  }
  c.stroke();
  c.fill(heads);
}
)js";

}  // namespace shoal::tools::report_assets
