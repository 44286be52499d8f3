// The trace report's timeline interaction: hit testing, tooltip, pinning a
// run, zoom, pan, keys and the view in the URL (trace_report_assets.hpp).
#include "tools/trace_report_assets.hpp"

namespace shoal::tools::report_assets {

const std::string_view script_timeline_input = R"js(
// -- what is under the pointer -------------------------------------------------
function hit(x, y) {
  const i = Math.floor((y - AXIS_H) / LANE_H);
  if (i < 0 || i >= lanes.length) return null;
  const t = tOf(x), tol = 3 * (view.v1 - view.v0) / tl.w;
  const yIn = y - laneTop(i);
  const St = lanes[i].steals;
  if (yIn < 9) {
    let best = null, bestD = 6;
    for (let j = Math.max(0, lowerBound(St.t, t - 2 * tol));
         j < St.t.length && St.t[j] <= t + 2 * tol; j++) {
      const dpx = Math.abs(xOf(St.t[j]) - x);
      if (dpx < bestD) {
        bestD = dpx;
        best = {kind: 'steal', lane: i, t: St.t[j], victim: St.v[j], ok: St.ok[j]};
      }
    }
    if (best) return best;
  }
  if (lanes[i].wrapped && t < lanes[i].from) return {kind: 'lost', lane: i, t: lanes[i].from};
  const Fr = lanes[i].frames;
  if (yIn >= LANE_H - FRAME_H - 4) {
    for (let j = lowerBound(Fr.t, t + tol) - 1; j >= 0 && Fr.t[j] >= t - maxFrame[i] - tol; j--) {
      if (t >= Fr.t[j] - tol && t <= Fr.t[j] + Fr.d[j] + tol)
        return {kind: 'frame', lane: i, t: Fr.t[j], d: Fr.d[j], in: Fr.in[j], m: Fr.m[j], b: Fr.b[j]};
    }
  }
  const R = lanes[i].runs;
  let best = null, bestD = Infinity;
  for (let j = lowerBound(R.t, t + tol) - 1; j >= 0 && R.t[j] >= t - maxRun[i] - tol; j--) {
    const s = R.t[j], e = s + R.d[j];
    const dist = t < s ? s - t : t > e ? t - e : 0;
    if (dist <= tol && dist < bestD) {
      bestD = dist;
      best = {kind: 'run', lane: i, j, t: s, d: R.d[j], a: R.a[j], m: R.m[j], s: R.s[j]};
      if (dist === 0) break;
    }
  }
  if (best) return best;
  const P = lanes[i].parks;
  for (let j = lowerBound(P.t, t + tol) - 1; j >= 0 && P.t[j] >= t - maxPark[i] - tol; j--) {
    if (t >= P.t[j] - tol && t <= P.t[j] + P.d[j] + tol)
      return {kind: 'park', lane: i, t: P.t[j], d: P.d[j], woken: P.w[j]};
  }
  return null;
}

function describe(h) {
  if (h.kind === 'run') {
    const a = actors[h.a];
    const rows = [
      ['lane', lanes[h.lane].name], ['start', fmtDur(h.t)], ['duration', fmtDur(h.d)],
      ['messages', fmtInt(h.m) + (h.s ? ' (+' + fmtInt(h.s) + ' system)' : '')]
    ];
    if (h.m > 0) rows.push(['per message', fmtDur(h.d / h.m)]);
    rows.push(['actor id', String(a.id)]);
    return {title: a.name, color: colors[h.a], rows};
  }
  if (h.kind === 'park') {
    return {
      title: 'parked',
      rows: [
        ['lane', lanes[h.lane].name], ['start', fmtDur(h.t)], ['asleep', fmtDur(h.d)],
        ['woken', h.woken ? 'for work' : 'timeout or spurious']
      ]
    };
  }
  if (h.kind === 'lost') {
    return {
      title: 'not recorded',
      rows: [
        ['lane', lanes[h.lane].name], ['oldest event kept', fmtDur(h.t)],
        ['events kept', fmtInt(lanes[h.lane].events) + ' (the ring was full)']
      ]
    };
  }
  if (h.kind === 'frame') {
    return {
      title: h.in ? 'remote frame delivered' : 'frames written to a peer',
      color: h.in ? FRAME_IN : FRAME_OUT,
      rows: [
        ['lane', lanes[h.lane].name], ['start', fmtDur(h.t)], ['duration', fmtDur(h.d)],
        ['messages', fmtInt(h.m)], ['bytes', fmtInt(h.b)]
      ]
    };
  }
  return {
    title: h.ok ? 'stole from worker ' + h.victim : 'found nothing at worker ' + h.victim,
    rows: [['thief', lanes[h.lane].name], ['at', fmtDur(h.t)]]
  };
}

function showTip(h, x, y) {
  if (!h) {
    tip.hidden = true;
    return;
  }
  const d = describe(h);
  tip.textContent = '';
  const head = el('div', 'n', null, tip);
  if (d.color) { swatch(d.color, head).style.marginRight = '6px'; }
  el('span', null, d.title, head);
  for (const [k, v] of d.rows) {
    const r = el('div', 'r', null, tip);
    el('span', null, k, r);
    el('span', null, v, r);
  }
  tip.hidden = false;
  // Fixed to the viewport (no panel clips it), beside the pointer, flipped at the edges.
  const w = tip.offsetWidth, hgt = tip.offsetHeight;
  tip.style.left = (x + 16 + w > window.innerWidth ? Math.max(0, x - w - 12) : x + 16) + 'px';
  tip.style.top = (y + 16 + hgt > window.innerHeight ? Math.max(0, y - hgt - 12) : y + 16) + 'px';
}

function pin(h) {
  tl.pinned = h && h.kind === 'run' ? h : null;
  tl.pinnedFlows = [];
  const box = $('selection');
  box.textContent = '';
  box.hidden = !tl.pinned;
  if (!tl.pinned) {
    redraw();
    return;
  }
  const F = D.flows;
  let incoming = 0, outgoing = 0;
  for (let j = 0; j < F.ft.length; j++) {
    const isIn = F.tw[j] === h.lane && F.tt[j] === h.t,
          isOut = F.fw[j] === h.lane && F.ft[j] === h.t;
    if (isIn || isOut) tl.pinnedFlows.push(j);
    incoming += isIn;
    outgoing += isOut;
  }
  const d = describe(h);
  const name = el('b', null, null, box);
  swatch(d.color, name).style.marginRight = '6px';
  name.appendChild(document.createTextNode(d.title));
  el('span', null,
     lanes[h.lane].name + ' \u00b7 ' + fmtDur(h.t) + ' for ' + fmtDur(h.d) + ' \u00b7 ' +
         fmtInt(h.m) + ' messages \u00b7 ' + incoming + ' arrows in, ' + outgoing + ' out (in red)',
     box);
  const b = el('button', null, 'Clear', box);
  b.addEventListener('click', () => pin(null));
  redraw();
}

// -- zoom and pan ----------------------------------------------------------------
// The view is kept in the URL (#t=START,END in microseconds): a copied link
// or a reload shows the same window.
function viewFromHash() {
  const m = /^#t=(-?[0-9.]+),(-?[0-9.]+)$/.exec(location.hash);
  if (m && +m[2] > +m[1]) setView(+m[1], +m[2], true);
}
function saveViewSoon() {
  clearTimeout(tl.hashTimer);
  tl.hashTimer = setTimeout(() => {
    const full = view.v0 <= 0 && view.v1 >= span0;
    try {
      history.replaceState(
          null, '',
          full ? location.pathname + location.search :
                 '#t=' + view.v0.toFixed(3) + ',' + view.v1.toFixed(3));
    } catch (e) { /* some browsers refuse it for file: pages; the view still works */
    }
  }, 300);
}

function setView(v0, v1, fromHash) {
  const minSpan = 0.02;  // 20 ns: a few ticks
  let span = Math.min(Math.max(v1 - v0, minSpan), span0 * 1.1);
  const margin = span0 * 0.05;
  v0 = Math.min(Math.max(v0, -margin), span0 + margin - span);
  view.v0 = v0;
  view.v1 = v0 + span;
  if (!fromHash) saveViewSoon();
  redraw();
}
function zoomAt(x, factor) {
  const t = tOf(x);
  setView(t - (t - view.v0) * factor, t + (view.v1 - t) * factor);
}

function installTimeline() {
  const side = $('lanes');
  side.style.paddingTop = AXIS_H + 'px';
  $('ov-label').style.height = (OV_H + 1) + 'px';
  lanes.forEach((lane, i) => {
    const d = el('div', 'lane', null, side);
    d.dataset.worker = String(i);
    d.style.height = LANE_H + 'px';
    el('b', null, lane.name, d);
    const busy = lane.runs.d.reduce((s, x) => s + x, 0);
    if (LANE_H >= 30)
      el('span', null, fmtPct(S.duration_us > 0 ? busy / S.duration_us : 0) + ' busy', d);
  });
  side.dataset.lanes = String(lanes.length);

  cv.addEventListener('wheel', (e) => {
    e.preventDefault();
    const unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1;  // lines, pages (Firefox)
    const rect = cv.getBoundingClientRect();
    const dx = (e.shiftKey ? e.deltaY : e.deltaX) * unit, dy = e.shiftKey ? 0 : e.deltaY * unit;
    if (Math.abs(dx) > Math.abs(dy)) {
      const dt = dx * (view.v1 - view.v0) / tl.w;
      setView(view.v0 + dt, view.v1 + dt);
    } else {
      zoomAt(e.clientX - rect.left, Math.exp(dy * 0.002));
    }
  }, {passive: false});
  cv.addEventListener('pointerdown', (e) => {
    cv.setPointerCapture(e.pointerId);
    tl.drag = {x: e.clientX, v0: view.v0, v1: view.v1, moved: false};
  });
  cv.addEventListener('pointermove', (e) => {
    const rect = cv.getBoundingClientRect();
    const x = e.clientX - rect.left, y = e.clientY - rect.top;
    if (tl.drag) {
      const dx = e.clientX - tl.drag.x;
      if (Math.abs(dx) > 3) {
        tl.drag.moved = true;
        cv.classList.add('dragging');
      }
      if (tl.drag.moved) {
        const dt = -dx * (tl.drag.v1 - tl.drag.v0) / tl.w;
        setView(tl.drag.v0 + dt, tl.drag.v1 + dt);
        showTip(null);
        return;
      }
    }
    const h = hit(x, y);
    const same =
        h && tl.hover && h.kind === tl.hover.kind && h.lane === tl.hover.lane && h.t === tl.hover.t;
    if (!same) {
      tl.hover = h;
      redraw();
    }
    showTip(h, e.clientX, e.clientY);
  });
  cv.addEventListener('pointerup', (e) => {
    const d = tl.drag;
    tl.drag = null;
    cv.classList.remove('dragging');
    if (d && !d.moved) {
      const rect = cv.getBoundingClientRect();
      pin(hit(e.clientX - rect.left, e.clientY - rect.top));
    }
  });
  cv.addEventListener('pointerleave', () => {
    showTip(null);
    if (tl.hover) {
      tl.hover = null;
      redraw();
    }
  });
  cv.addEventListener('dblclick', () => setView(0, span0));
  $('reset').addEventListener('click', () => setView(0, span0));
  $('show-flows').addEventListener('change', redraw);

  // The overview: click to centre there, drag to choose a range.
  const ovX = (e) => Math.min(tl.w, Math.max(0, e.clientX - ov.getBoundingClientRect().left));
  ov.addEventListener('pointerdown', (e) => {
    ov.setPointerCapture(e.pointerId);
    tl.brush = {a: ovX(e), b: ovX(e)};
    redraw();
  });
  ov.addEventListener('pointermove', (e) => {
    if (tl.brush) {
      tl.brush.b = ovX(e);
      redraw();
    }
  });
  ov.addEventListener('pointerup', () => {
    const b = tl.brush;
    tl.brush = null;
    if (!b) return;
    const t0 = Math.min(b.a, b.b) / tl.w * span0, t1 = Math.max(b.a, b.b) / tl.w * span0;
    if (t1 - t0 > 3 / tl.w * span0) {
      setView(t0, t1);
    } else {
      const half = (view.v1 - view.v0) / 2;
      setView(t0 - half, t0 + half);
    }
  });

  document.addEventListener('keydown', (e) => {
    if (e.target instanceof HTMLInputElement || e.ctrlKey || e.metaKey || e.altKey) return;
    const span = view.v1 - view.v0, key = e.key.toLowerCase();
    if (key === 'w') zoomAt(tl.w / 2, 0.8);
    else if (key === 's') zoomAt(tl.w / 2, 1.25);
    else if (key === 'a') setView(view.v0 - span * 0.15, view.v1 - span * 0.15);
    else if (key === 'd') setView(view.v0 + span * 0.15, view.v1 + span * 0.15);
    else if (key === 'escape') pin(null);
  });
  window.addEventListener('resize', resize);
  window.addEventListener('hashchange', viewFromHash);
  viewFromHash();
  resize();
  // The first frame now, not on the next animation frame: a headless
  // screenshot or an early error report sees a drawn timeline.
  if (tl.frame) {
    cancelAnimationFrame(tl.frame);
    draw();
  }
}
)js";

}  // namespace shoal::tools::report_assets
