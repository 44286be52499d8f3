// The report's tables of measured statistics (trace_report_assets.hpp says
// how the script's parts are joined): the per-actor table an instrumented
// system recorded and the workers' counters, both from the statistics a
// trace carries (Trace::stats_json). Function declarations only: they are
// hoisted within the one function scope the parts share.
#include "tools/trace_report_assets.hpp"

namespace shoal::tools::report_assets {

const std::string_view script_tables = R"js(
function statsTable(wrap, id, cols, plain, groups, rows, sort) {
  const table = el('table', 'data', null, wrap);
  table.id = id;
  table.dataset.rows = String(rows.length);
  const thead = el('thead', null, null, table), tbody = el('tbody', null, null, table);
  const r1 = el('tr', null, null, thead), r2 = groups.length ? el('tr', null, null, thead) : r1;
  const ths = cols.map((c, i) => {
    const th = el('th', 'sortable' + (c.text ? ' name' : '') + (c.first ? ' first' : ''), c.l,
                  i < plain ? r1 : r2);
    if (i < plain && groups.length) th.rowSpan = 2;
    th.addEventListener('click', () => {
      sort.dir = sort.col === i ? -sort.dir : c.text ? 1 : -1;
      sort.col = i;
      render();
    });
    return th;
  });
  for (const [title, n] of groups) el('th', 'group', title, r1).colSpan = n;
  function render() {
    ths.forEach(
        (th, i) => th.setAttribute(
            'aria-sort', i === sort.col ? (sort.dir > 0 ? 'ascending' : 'descending') : 'none'));
    const c = cols[sort.col];
    const order = rows.map((r, i) => i).sort(compareBy((i) => c.v(rows[i]), c.text, sort.dir));
    tbody.textContent = '';
    for (const i of order.slice(0, ROW_LIMIT)) {
      const tr = el('tr', null, null, tbody);
      for (const col of cols) {
        const v = col.v(rows[i]);
        const td = el('td', (col.text ? 'name' : '') + (col.first ? ' first' : ''), null, tr);
        if (col.cell) col.cell(td, rows[i], v);
        else if (v === null) {
          td.textContent = '\u2013';
          td.classList.add('na');
        } else td.textContent = col.f ? col.f(v) : String(v);
      }
    }
  }
  render();
  if (rows.length > ROW_LIMIT)
    el('p', 'hint', 'Showing ' + fmtInt(ROW_LIMIT) + ' of ' + fmtInt(rows.length) + ' rows.',
       wrap.parentNode);
}

function installMeasured() {
  const rows = objects(ST.actors);
  if (rows.length === 0) return;
  $('measured').hidden = false;
  const traced = new Map(actors.map((a, i) => [a.id, i]));
  // The registered name, else the trace's name for it, else "#id".
  const name = (a) => (typeof a.name === 'string' && a.name ? a.name :
                           traced.has(a.id)                 ? actors[traced.get(a.id)].name :
                                                              '#' + a.id);
  const h = (key, p) => (a) => (a[key] && num(a[key].count) ? num(a[key][p]) : null);
  const cols = [
    {
      l: 'Actor',
      v: name,
      text: true,
      cell: (td, a, n) => {
        swatch(traced.has(a.id) ? colors[traced.get(a.id)] : '#e5e7eb', td);
        td.appendChild(document.createTextNode(n));
        td.title = n + ' (#' + a.id + ')';
      }
    },
    {l: 'Messages', v: (a) => num(a.messages), f: fmtInt},
    {l: 'Depth now', v: (a) => num(a.depth), f: fmtInt},
    {l: 'High-water', v: (a) => num(a.depth_high_water), f: fmtInt},
    {l: 'Oldest message', v: (a) => num(a.oldest_message_age_ns) || null, f: nsDur},
  ];
  ['p50', 'p90', 'p99', 'p999', 'max'].forEach(
      (p, i) => cols.push(
          {l: p === 'p999' ? 'p99.9' : p, v: h('queue_wait_ns', p), f: nsDur, first: i === 0}));
  ['p50', 'p99', 'max'].forEach(
      (p, i) => cols.push({l: p, v: h('handler_ns', p), f: nsDur, first: i === 0}));
  const groups = [['Queue wait (enqueue \u2192 dequeue)', 5], ['Handler time per message', 3]];
  statsTable($('measured-wrap'), 'measured-actors', cols, 5, groups, rows, {col: 7, dir: -1});
}

function installCounters() {
  const rows = objects(ST.workers);
  if (rows.length === 0) return;
  $('counters').hidden = false;
  const batch = (p) => (w) =>
      (w.batch_size && num(w.batch_size.count) ? num(w.batch_size[p]) : null);
  const busy = (w) => {
    const b = num(w.busy_ns), i = num(w.idle_ns);
    return b !== null && i !== null && b + i > 0 ? b / (b + i) : null;
  };
  const n = (key) => (w) => num(w[key]);
  const cols = [
    {l: 'Worker', v: n('index'), f: (i) => 'worker ' + i},
    {l: 'Messages', v: n('messages'), f: fmtInt},
    {l: 'Runs', v: n('runs'), f: fmtInt},
    {l: 'Batch p50', v: batch('p50'), f: fmtInt},
    {l: 'Batch p99', v: batch('p99'), f: fmtInt},
    {l: 'Steals won', v: n('steals_won'), f: fmtInt},
    {l: 'Steals tried', v: n('steals_tried'), f: fmtInt},
    {l: 'Parks', v: n('parks'), f: fmtInt},
    {l: 'Wake-ups', v: n('wakeups'), f: fmtInt},
    {l: 'Held re-runs', v: n('held_reruns'), f: fmtInt},
    {l: 'Busy', v: busy, f: fmtPct},
  ];
  statsTable($('counters-wrap'), 'worker-counters', cols, cols.length, [], rows, {col: 0, dir: 1});
  const up = num(ST.uptime_ns), dead = num(ST.dead_letters);
  $('counters-hint').textContent = 'Counted by each worker from the system\u2019s start until ' +
      'the trace was dumped' + (up !== null ? ' (' + nsDur(up) + ')' : '') +
      ', not only in the traced window. Batch: user messages per run; busy: neither searching ' +
      'for work nor asleep' + (dead !== null ? '; ' + fmtInt(dead) + ' dead letters.' : '.');
}

// -- the steal matrix -------------------------------------------------------------
)js";

}  // namespace shoal::tools::report_assets
