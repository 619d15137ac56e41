// The dashboard: reads the JSON API, draws its own SVG charts, reloads on /events.
// No library: the charts are a few hundred lines of plain DOM code (see ARCHITECTURE.md).
'use strict';

const SVG = 'http://www.w3.org/2000/svg';
const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
const TYPES = [
  ['inputTokens', 'Input', '--input'],
  ['outputTokens', 'Output', '--output'],
  ['cacheCreationTokens', 'Cache write', '--cwrite'],
  ['cacheReadTokens', 'Cache read', '--cread'],
];
const MODEL_COLOURS = ['#3366cc', '#e0794a', '#4fb39a', '#a77bd8', '#d9b23c', '#c94f7c', '#5aa5d6', '#8c8c8c'];

const $ = (sel) => document.querySelector(sel);
const urlParams = new URLSearchParams(location.search);
const state = {
  tz: urlParams.get('tz') || localStorage.getItem('ctm.tz') || Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC',
  range: urlParams.get('range') || localStorage.getItem('ctm.range') || '30',
  since: '', until: '', project: '', model: '',
  today: null,
  sessions: { sort: 'lastActivity', order: 'desc', offset: 0, limit: 15 },
  openSession: null,
  loads: 0,
};

// ---- formatting ------------------------------------------------------------------

const fmtInt = (n) => Math.round(n).toLocaleString('en-US');
const fmtUsd = (x) => '$' + x.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const fmtPct = (x) => (x * 100).toFixed(1) + '%';
function fmtShort(n) {
  if (n >= 1e9) return (n / 1e9).toFixed(2) + 'B';
  if (n >= 1e6) return (n / 1e6).toFixed(1) + 'M';
  if (n >= 1e4) return (n / 1e3).toFixed(1) + 'k';
  return fmtInt(n);
}
const shortModel = (m) => (m || '').replace(/^claude-/, '').replace(/-\d{8}$/, '');
const shortPath = (p) => (p || 'unknown').split('/').filter(Boolean).slice(-2).join('/');
const minute = (rfc) => (rfc || '').slice(0, 16).replace('T', ' ');
function duration(mins) {
  const m = Math.round(mins);
  return m >= 60 ? `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m` : `${m}m`;
}
function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

// ---- DOM and SVG helpers ---------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') e.textContent = v; else if (k === 'onclick') e.onclick = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}
function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') e.textContent = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}
function titled(node, text) { node.append(svg('title', { text })); return node; }
function canvas(container, w, h) {
  const root = svg('svg', { viewBox: `0 0 ${w} ${h}`, role: 'img' });
  container.replaceChildren(root);
  return root;
}
function setNumber(id, value, text) {
  const node = document.getElementById(id);
  node.textContent = text;
  node.dataset.value = String(value);
}
// Round axis maxima up to 1, 2 or 5 times a power of ten.
function niceMax(x) {
  if (!(x > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(x)));
  for (const m of [1, 2, 5, 10]) if (x <= m * p) return m * p;
  return 10 * p;
}
function legend(container, entries) {
  container.append(el('div', { class: 'legend' }, ...entries.map(([label, colour]) =>
    el('span', {}, el('i', { style: `background:${colour}` }), label))));
}

// ---- data ------------------------------------------------------------------------

async function api(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== '' && v !== null && v !== undefined) q.set(k, v);
  const res = await fetch(path + (q.toString() ? '?' + q : ''), { credentials: 'same-origin' });
  const body = await res.json();
  const pruned = res.headers.get('ctm-pruned-before');
  if (pruned) state.prunedBefore = pruned;
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}
const filters = () => ({ tz: state.tz, project: state.project, model: state.model });
function rangeParams() {
  return { ...filters(), since: state.since, until: state.until };
}
function addDays(iso, n) {
  const d = new Date(iso + 'T00:00:00Z');
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}
// The range buttons count back from the server's today (in the chosen zone).
function applyRange() {
  document.querySelectorAll('[data-range]').forEach((b) => b.classList.toggle('active', b.dataset.range === state.range));
  if (state.range === 'custom' || !state.today) return;
  if (state.range === 'all') { state.since = ''; state.until = ''; }
  else { state.until = state.today; state.since = addDays(state.today, 1 - Number(state.range)); }
  $('#since').value = state.since; $('#until').value = state.until;
}

async function load() {
  const n = ++state.loads;
  state.prunedBefore = null;
  try {
    const summary = await api('/api/summary', filters());
    state.today = summary.today.to;
    applyRange();
    const p = rangeParams();
    const [daily, models, hourly, cache, top] = await Promise.all([
      api('/api/daily', p), api('/api/models', p), api('/api/hourly', p),
      api('/api/cache', p), api('/api/top', { ...p, limit: 5 }),
    ]);
    if (n !== state.loads) return; // a newer load is on its way
    renderSummary(summary, daily);
    renderDaily(daily);
    renderModels(models);
    renderHeatmap(hourly);
    renderCache(cache);
    renderGauge(summary);
    renderTop(top);
    setDownloads(p);
    await loadSessions();
    if (state.openSession) await openSession(state.openSession);
    $('#error').textContent = '';
    $('#pruned').textContent = state.prunedBefore
      ? `Responses before ${state.prunedBefore} were pruned: figures computed from responses (filters, other zones, sessions, models, hours) count only what came after.`
      : '';
    $('#updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    document.body.dataset.loaded = String(n);
  } catch (e) {
    $('#error').textContent = e.message;
  }
}

// ---- overview --------------------------------------------------------------------

function renderSummary(s, daily) {
  for (const [key, id] of [['today', 'today'], ['thisWeek', 'week'], ['thisMonth', 'month']]) {
    const t = s[key];
    setNumber(`${id}-cost`, t.totalCost, fmtUsd(t.totalCost) + (t.unpricedResponses ? '*' : ''));
    setNumber(`${id}-tokens`, t.totalTokens, fmtShort(t.totalTokens));
    setNumber(`${id}-responses`, t.responses, fmtInt(t.responses));
  }
  const t = daily.totals;
  setNumber('range-cost', t.totalCost, fmtUsd(t.totalCost));
  setNumber('range-tokens', t.totalTokens, fmtShort(t.totalTokens));
  const cached = t.cacheCreationTokens + t.cacheReadTokens;
  const hit = cached ? t.cacheReadTokens / cached : 0;
  setNumber('range-hit', hit, fmtPct(hit));
}

// Every day of the range, days without usage as zeros.
function fillDays(rows, key) {
  if (!rows.length && !state.since) return [];
  const byDate = new Map(rows.map((r) => [r[key], r]));
  const first = state.since || rows[0][key];
  const last = state.until || rows[rows.length - 1][key];
  const out = [];
  for (let d = first; d <= last && out.length < 4000; d = addDays(d, 1)) out.push(byDate.get(d) || { [key]: d, empty: true });
  return out;
}

function renderDaily(report) {
  const box = $('#chart-daily');
  const days = fillDays(report.daily, 'date');
  const W = 900, H = 280, L = 60, R = 60, T = 10, B = 30;
  const root = canvas(box, W, H);
  if (!days.length) { root.append(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty', text: 'No usage in this range' })); return; }
  const total = (d) => d.empty ? 0 : d.totalTokens;
  const maxT = niceMax(Math.max(...days.map(total)));
  const maxC = niceMax(Math.max(...days.map((d) => d.empty ? 0 : d.totalCost)));
  const pw = W - L - R, ph = H - T - B, bw = pw / days.length;
  const y = (v) => T + ph - (v / maxT) * ph;
  const yc = (v) => T + ph - (v / maxC) * ph;
  const grid = svg('g', { class: 'grid' });
  for (let i = 0; i <= 4; i++) {
    const v = (maxT * i) / 4, yy = y(v);
    grid.append(svg('line', { x1: L, x2: W - R, y1: yy, y2: yy }));
    grid.append(svg('text', { x: L - 6, y: yy + 4, 'text-anchor': 'end', text: fmtShort(v) }));
    grid.append(svg('text', { x: W - R + 6, y: yc((maxC * i) / 4) + 4, text: fmtUsd((maxC * i) / 4) }));
  }
  root.append(grid);
  const bars = svg('g', { class: 'bars' });
  const step = Math.max(1, Math.ceil(days.length / 12));
  days.forEach((d, i) => {
    const x = L + i * bw;
    const g = svg('g', { class: 'day', 'data-date': d.date, 'data-total': String(total(d)), 'data-cost': String(d.empty ? 0 : d.totalCost) });
    let acc = 0;
    for (const [k, label, colour] of TYPES) {
      const v = d.empty ? 0 : d[k];
      if (v > 0) {
        g.append(titled(svg('rect', { x: x + bw * 0.1, width: Math.max(bw * 0.8, 1), y: y(acc + v), height: Math.max(y(acc) - y(acc + v), 0.5), fill: css(colour) }),
          `${d.date} ${label}: ${fmtInt(v)}`));
      }
      acc += v;
    }
    bars.append(g);
    if (i % step === 0) root.append(svg('text', { x: x + bw / 2, y: H - 10, 'text-anchor': 'middle', text: d.date.slice(5) }));
  });
  root.append(bars);
  const pts = days.map((d, i) => `${L + i * bw + bw / 2},${yc(d.empty ? 0 : d.totalCost)}`).join(' ');
  root.append(svg('polyline', { points: pts, fill: 'none', stroke: css('--cost'), 'stroke-width': 2, class: 'cost-line' }));
  days.forEach((d, i) => root.append(titled(svg('circle', { cx: L + i * bw + bw / 2, cy: yc(d.empty ? 0 : d.totalCost), r: 3, fill: css('--cost') }),
    `${d.date}: ${fmtUsd(d.empty ? 0 : d.totalCost)}`)));
  legend(box, [...TYPES.map(([, label, c]) => [label, css(c)]), ['Cost (right axis)', css('--cost')]]);
}

function renderModels(report) {
  const box = $('#chart-models');
  const W = 360, H = 200, cx = 100, cy = 100, r = 80, r0 = 48;
  const root = canvas(box, W, H);
  const rows = report.models.filter((m) => m.totalCost > 0 || m.totalTokens > 0);
  const all = report.totals.totalCost;
  if (!rows.length) { root.append(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty', text: 'No usage in this range' })); return; }
  let a = -Math.PI / 2;
  const key = all > 0 ? 'totalCost' : 'totalTokens';
  const sum = rows.reduce((s, m) => s + m[key], 0);
  rows.forEach((m, i) => {
    const share = m[key] / sum, colour = MODEL_COLOURS[i % MODEL_COLOURS.length];
    const b = a + share * 2 * Math.PI;
    const large = b - a > Math.PI ? 1 : 0;
    const p = (ang, rad) => `${cx + rad * Math.cos(ang)},${cy + rad * Math.sin(ang)}`;
    const d = share >= 0.9999
      ? `M${p(0, r)} A${r},${r} 0 1 1 ${p(Math.PI, r)} A${r},${r} 0 1 1 ${p(0, r)} M${p(0, r0)} A${r0},${r0} 0 1 0 ${p(Math.PI, r0)} A${r0},${r0} 0 1 0 ${p(0, r0)}Z`
      : `M${p(a, r)} A${r},${r} 0 ${large} 1 ${p(b, r)} L${p(b, r0)} A${r0},${r0} 0 ${large} 0 ${p(a, r0)}Z`;
    root.append(titled(svg('path', { d, fill: colour, 'fill-rule': 'evenodd', class: 'slice', 'data-model': m.model, 'data-cost': String(m.totalCost), 'data-share': String(m.costShare) }),
      `${m.model}: ${fmtUsd(m.totalCost)} (${fmtPct(share)})`));
    const ly = 30 + i * 20;
    root.append(svg('rect', { x: 200, y: ly - 9, width: 10, height: 10, fill: colour }));
    root.append(svg('text', { x: 215, y: ly, text: `${shortModel(m.model)} ${m.priced ? fmtPct(share) : 'no price'}` }));
    a = b;
  });
  root.append(svg('text', { x: cx, y: cy + 4, 'text-anchor': 'middle', text: fmtUsd(all) }));
}

function renderHeatmap(report) {
  const box = $('#chart-heatmap');
  const W = 520, H = 190, L = 34, T = 16, cw = (W - L - 4) / 24, ch = 22;
  const root = canvas(box, W, H);
  const max = Math.max(1, ...report.cells.map((c) => c.responses));
  for (let h = 0; h < 24; h += 3) root.append(svg('text', { x: L + h * cw + cw / 2, y: 11, 'text-anchor': 'middle', text: String(h) }));
  WEEKDAYS.forEach((d, i) => root.append(svg('text', { x: 0, y: T + i * ch + 15, text: d })));
  const c0 = css('--heat0'), c1 = css('--heat1');
  for (const c of report.cells) {
    const row = WEEKDAYS.indexOf(c.weekday);
    const share = c.responses / max;
    root.append(titled(svg('rect', {
      x: L + c.hour * cw + 1, y: T + row * ch + 1, width: cw - 2, height: ch - 2, rx: 3,
      fill: c.responses ? c1 : c0, 'fill-opacity': c.responses ? String(0.15 + 0.85 * share) : '1',
      class: 'cell', 'data-weekday': c.weekday, 'data-hour': String(c.hour), 'data-responses': String(c.responses),
    }), `${c.weekday} ${String(c.hour).padStart(2, '0')}:00 — ${fmtInt(c.responses)} responses, ${fmtShort(c.tokens)} tokens, ${fmtUsd(c.cost)}`));
  }
}

function renderCache(report) {
  const box = $('#chart-cache');
  const days = fillDays(report.days, 'date');
  const W = 520, H = 190, L = 40, R = 24, T = 10, B = 24;
  const root = canvas(box, W, H);
  if (!days.length) { root.append(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty', text: 'No usage in this range' })); return; }
  const pw = W - L - R, ph = H - T - B;
  const x = (i) => L + (days.length === 1 ? pw / 2 : (i * pw) / (days.length - 1));
  const y = (v) => T + ph - v * ph;
  for (let i = 0; i <= 4; i++) {
    root.append(svg('line', { x1: L, x2: W - R, y1: y(i / 4), y2: y(i / 4), stroke: css('--line') }));
    root.append(svg('text', { x: L - 4, y: y(i / 4) + 4, 'text-anchor': 'end', text: `${i * 25}%` }));
  }
  const used = days.map((d, i) => [d, i]).filter(([d]) => !d.empty);
  root.append(svg('polyline', { points: used.map(([d, i]) => `${x(i)},${y(d.hitRate)}`).join(' '), fill: 'none', stroke: css('--cread'), 'stroke-width': 2 }));
  for (const [d, i] of used) {
    root.append(titled(svg('circle', { cx: x(i), cy: y(d.hitRate), r: 3, fill: css('--cread'), class: 'hit', 'data-date': d.date, 'data-hit': String(d.hitRate) }),
      `${d.date}: ${fmtPct(d.hitRate)} hit, ${fmtUsd(d.cacheSavingsUsd)} saved`));
  }
  const step = Math.max(1, Math.ceil(days.length / 8));
  days.forEach((d, i) => { if (i % step === 0) root.append(svg('text', { x: x(i), y: H - 6, 'text-anchor': 'middle', text: d.date.slice(5) })); });
}

// The active block against the largest finished block; the official limits go beside it.
function renderGauge(summary) {
  const box = $('#chart-gauge');
  const W = 300, H = 170, cx = 150, cy = 140, r = 110;
  const root = canvas(box, W, H);
  const b = summary.currentBlock, limit = summary.tokenLimit;
  const arc = (from, to, colour, width, cls) => {
    const p = (t) => `${cx - r * Math.cos(Math.PI * t)},${cy - r * Math.sin(Math.PI * t)}`;
    return svg('path', { d: `M${p(from)} A${r},${r} 0 0 1 ${p(to)}`, fill: 'none', stroke: colour, 'stroke-width': width, 'stroke-linecap': 'butt', class: cls || '' });
  };
  root.append(arc(0, 1, css('--line'), 18));
  if (!b) {
    root.append(svg('text', { x: cx, y: cy - 30, 'text-anchor': 'middle', class: 'empty', text: 'No active block' }));
    $('#block-text').textContent = `Now ${minute(summary.now)} (${summary.timezone}).`;
  } else {
    const max = limit || Math.max(b.totalTokens, b.projection ? b.projection.totalTokens : 0) || 1;
    const used = Math.min(b.totalTokens / max, 1);
    const proj = b.projection ? Math.min(b.projection.totalTokens / max, 1) : used;
    const colour = b.totalTokens >= max ? css('--bad') : b.totalTokens >= 0.8 * max ? css('--warn') : css('--accent');
    if (proj > used) {
      const ahead = arc(used, proj, colour, 18, 'projected');
      ahead.setAttribute('stroke-opacity', '0.35');
      root.append(ahead);
    }
    if (used > 0) root.append(arc(0, used, colour, 18, 'used'));
    root.append(svg('text', { x: cx, y: cy - 36, 'text-anchor': 'middle', 'font-size': 26, id: 'gauge-percent', 'data-value': String(b.totalTokens / max), text: fmtPct(b.totalTokens / max) }));
    root.append(svg('text', { x: cx, y: cy - 14, 'text-anchor': 'middle', text: `${fmtShort(b.totalTokens)} of ${fmtShort(max)} tokens` }));
    const rate = b.burnRate ? `, burning ${fmtUsd(b.burnRate.costPerHour)}/h` : '';
    const projText = b.projection ? `; projected ${fmtShort(b.projection.totalTokens)} tokens, ${fmtUsd(b.projection.totalCost)} by ${minute(b.endTime).slice(11)} (${b.projection.remainingMinutes} min left)` : '';
    $('#block-text').textContent = `Started ${minute(b.startTime)}: ${fmtUsd(b.costUSD)} so far${rate}${projText}. Limit: ${limit ? 'the largest finished block' : 'none known'}.`;
  }
  // Claude's own figures (`{fiveHour, sevenDay}`, each with `usedPercentage`, `resetsAt`,
  // `expired`), kept by `ctm statusline`; each null until it has seen one.
  const official = summary.officialLimits;
  const windows = official ? [['5-hour', official.fiveHour], ['7-day', official.sevenDay]].filter(([, l]) => l) : [];
  if (!windows.length) {
    $('#official-limits').textContent = 'Official limits: none reported yet (ctm statusline keeps them).';
    return;
  }
  const five = official.fiveHour;
  if (five && !five.expired) {
    // The official 5-hour figure as an inner ring, beside ctm's estimate.
    const ri = r - 24, share = Math.min(five.usedPercentage / 100, 1);
    const p = (t) => `${cx - ri * Math.cos(Math.PI * t)},${cy - ri * Math.sin(Math.PI * t)}`;
    root.append(svg('path', { d: `M${p(0)} A${ri},${ri} 0 0 1 ${p(1)}`, fill: 'none', stroke: css('--line'), 'stroke-width': 6 }));
    if (share > 0) {
      root.append(titled(svg('path', { d: `M${p(0)} A${ri},${ri} 0 0 1 ${p(share)}`, fill: 'none', stroke: css('--warn'), 'stroke-width': 6, id: 'gauge-official', 'data-value': String(five.usedPercentage) }),
        `Official 5-hour usage: ${five.usedPercentage.toFixed(0)}%`));
    }
  }
  $('#official-limits').textContent = 'Official limits (from Claude): ' + windows.map(([name, l]) =>
    `${name} ${l.usedPercentage.toFixed(0)}% used` + (l.resetsAt ? `, resets ${minute(l.resetsAt)}` : '') + (l.expired ? ' (that window is over)' : '')).join('; ') + '.';
}

function table(node, headers, rows) {
  const textual = rows.length ? Array.from(rows[0].children).map((td) => td.classList.contains('text')) : [];
  node.replaceChildren(
    el('thead', {}, el('tr', {}, ...headers.map((h, i) => el('th', { text: h, class: textual[i] ? 'text' : '' })))),
    el('tbody', {}, ...rows));
}

function renderTop(top) {
  table($('#top-days'), ['Date', 'Responses', 'Tokens', 'Cost'], top.days.map((d) =>
    el('tr', { 'data-date': d.date, 'data-cost': String(d.totalCost) }, el('td', { text: d.date }), el('td', { text: fmtInt(d.responses) }),
      el('td', { text: fmtShort(d.totalTokens) }), el('td', { text: fmtUsd(d.totalCost) }))));
  table($('#top-sessions'), ['Session', 'Project', 'Tokens', 'Cost'], top.sessions.map((s) =>
    el('tr', { class: 'clickable', 'data-session': s.sessionId, 'data-cost': String(s.totalCost), onclick: () => openSession(s.sessionId) },
      el('td', { text: s.sessionId.slice(0, 8) }), el('td', { class: 'text', text: (s.projectPath || 'unknown').split('/').pop(), title: s.projectPath || '' }),
      el('td', { text: fmtShort(s.totalTokens) }), el('td', { text: fmtUsd(s.totalCost) }))));
}

// The export buttons download the rows `ctm export` writes, for the range on screen.
// An export is recorded in the store's export history, so it is a POST (a form the
// browser submits as a download; the page stays).
function setDownloads(params) {
  document.querySelectorAll('#downloads button').forEach((b) => {
    const q = new URLSearchParams({ format: b.dataset.format, level: b.dataset.export });
    for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
    b.setAttribute('formaction', '/api/exports?' + q);
  });
}

// ---- sessions --------------------------------------------------------------------

const SESSION_COLUMNS = [
  ['Session', null], ['Project', null], ['Last activity', 'lastActivity'], ['Duration', 'duration'],
  ['Main model', null], ['Responses', 'responses'], ['Tokens', 'tokens'], ['Cost', 'cost'],
];

async function loadSessions() {
  const s = state.sessions;
  const page = await api('/api/sessions', { ...rangeParams(), sort: s.sort, order: s.order, limit: s.limit, offset: s.offset });
  const head = el('tr', {}, ...SESSION_COLUMNS.map(([label, key]) => {
    const th = el('th', { text: label });
    if (label === 'Project' || label === 'Main model') th.className = 'text';
    if (key) {
      if (key === s.sort) th.className = 'sorted' + (s.order === 'asc' ? ' asc' : '');
      th.onclick = () => {
        s.order = s.sort === key && s.order === 'desc' ? 'asc' : 'desc';
        s.sort = key; s.offset = 0; loadSessions();
      };
    } else th.style.cursor = 'default';
    return th;
  }));
  const rows = page.sessions.map((r) => el('tr', { class: 'clickable', 'data-session': r.sessionId, 'data-cost': String(r.totalCost), onclick: () => openSession(r.sessionId) },
    el('td', { text: r.sessionId.slice(0, 8) }), el('td', { class: 'text', text: shortPath(r.projectPath), title: r.projectPath || '' }),
    el('td', { text: minute(r.lastActivity) }), el('td', { text: duration(r.durationMinutes) }),
    el('td', { class: 'text', text: shortModel(r.mainModel) }), el('td', { text: fmtInt(r.responses) }),
    el('td', { text: fmtShort(r.totalTokens) }), el('td', { text: fmtUsd(r.totalCost) })));
  $('#sessions').replaceChildren(el('thead', {}, head), el('tbody', {}, ...rows));
  const last = Math.min(page.offset + page.sessions.length, page.total);
  $('#page').textContent = page.total ? `${page.offset + 1}–${last} of ${page.total}` : 'none';
  setNumber('sessions-count', page.total, `(${fmtInt(page.total)})`);
  $('#prev').disabled = page.offset === 0;
  $('#next').disabled = last >= page.total;
}

async function openSession(id) {
  let detail;
  try { detail = await api('/api/sessions/' + encodeURIComponent(id), filters()); } catch (e) { $('#error').textContent = e.message; return; }
  state.openSession = id;
  const s = detail.session;
  const panel = $('#session-detail');
  panel.hidden = false;
  panel.dataset.session = s.sessionId;
  $('#detail-id').textContent = s.sessionId;
  $('#detail-text').textContent = `${s.projectPath || 'unknown project'}: ${minute(s.firstActivity)} to ${minute(s.lastActivity)} (${duration(s.durationMinutes)}), ` +
    `${fmtInt(s.responses)} responses, ${fmtInt(s.totalTokens)} tokens, ${fmtUsd(s.totalCost)}; cache efficiency ${fmtPct(s.efficiencyScore)}.`;
  renderTimeline(detail.responses);
  const rows = detail.responses.slice(0, 500).map((r) => el('tr', {},
    el('td', { text: r.timestamp.slice(0, 19).replace('T', ' ') }), el('td', { class: 'text', text: shortModel(r.model) }),
    el('td', { text: fmtInt(r.inputTokens) }), el('td', { text: fmtInt(r.outputTokens) }), el('td', { text: fmtInt(r.cacheCreationTokens) }),
    el('td', { text: fmtInt(r.cacheReadTokens) }), el('td', { text: fmtUsd(r.cost) }), el('td', { text: fmtUsd(r.cumulativeCost) })));
  table($('#detail-responses'), ['Time', 'Model', 'Input', 'Output', 'Cache write', 'Cache read', 'Cost', 'Cumulative'], rows);
}

// One session: tokens per response as bars, the cumulative cost as a line, over time.
function renderTimeline(responses) {
  const box = $('#chart-session');
  const W = 900, H = 200, L = 60, R = 60, T = 10, B = 24;
  const root = canvas(box, W, H);
  if (!responses.length) return;
  const ts = responses.map((r) => Date.parse(r.timestamp));
  const t0 = Math.min(...ts), t1 = Math.max(...ts), span = Math.max(t1 - t0, 1);
  const pw = W - L - R, ph = H - T - B;
  const maxT = niceMax(Math.max(...responses.map((r) => r.totalTokens)));
  const maxC = niceMax(Math.max(...responses.map((r) => r.cumulativeCost)));
  const x = (t) => L + ((t - t0) / span) * pw;
  for (let i = 0; i <= 4; i++) {
    const yy = T + ph - (ph * i) / 4;
    root.append(svg('line', { x1: L, x2: W - R, y1: yy, y2: yy, stroke: css('--line') }));
    root.append(svg('text', { x: L - 6, y: yy + 4, 'text-anchor': 'end', text: fmtShort((maxT * i) / 4) }));
    root.append(svg('text', { x: W - R + 6, y: yy + 4, text: fmtUsd((maxC * i) / 4) }));
  }
  responses.forEach((r, i) => {
    const h = (r.totalTokens / maxT) * ph;
    root.append(titled(svg('rect', { x: x(ts[i]) - 1.5, y: T + ph - h, width: 3, height: Math.max(h, 0.5), fill: css('--input'), class: 'response' }),
      `${r.timestamp.slice(11, 19)} ${shortModel(r.model)}: ${fmtInt(r.totalTokens)} tokens, ${fmtUsd(r.cost)}`));
  });
  const order = responses.map((r, i) => [ts[i], r.cumulativeCost]).sort((a, b) => a[0] - b[0]);
  root.append(svg('polyline', { points: order.map(([t, c]) => `${x(t)},${T + ph - (c / maxC) * ph}`).join(' '), fill: 'none', stroke: css('--cost'), 'stroke-width': 2 }));
  root.append(svg('text', { x: L, y: H - 6, text: new Date(t0).toISOString().slice(11, 16) + ' UTC' }));
  root.append(svg('text', { x: W - R, y: H - 6, 'text-anchor': 'end', text: new Date(t1).toISOString().slice(11, 16) + ' UTC' }));
}

// ---- controls, theme, live updates -------------------------------------------------

function setupControls() {
  const tzSelect = $('#tz');
  let zones = [];
  try { zones = Intl.supportedValuesOf('timeZone'); } catch (_) { zones = []; }
  for (const z of new Set(['UTC', state.tz, ...zones])) tzSelect.append(el('option', { value: z, text: z }));
  tzSelect.value = state.tz;
  tzSelect.onchange = () => { state.tz = tzSelect.value; localStorage.setItem('ctm.tz', state.tz); state.sessions.offset = 0; load(); };
  document.querySelectorAll('[data-range]').forEach((b) => {
    b.onclick = () => { state.range = b.dataset.range; localStorage.setItem('ctm.range', state.range); state.sessions.offset = 0; load(); };
  });
  for (const id of ['since', 'until']) {
    $('#' + id).onchange = () => { state.range = 'custom'; state[id] = $('#' + id).value; state.sessions.offset = 0; load(); };
  }
  let typing;
  for (const id of ['project', 'model']) {
    $('#' + id).oninput = () => { clearTimeout(typing); typing = setTimeout(() => { state[id] = $('#' + id).value.trim(); state.sessions.offset = 0; load(); }, 300); };
  }
  $('#prev').onclick = () => { state.sessions.offset = Math.max(0, state.sessions.offset - state.sessions.limit); loadSessions(); };
  $('#next').onclick = () => { state.sessions.offset += state.sessions.limit; loadSessions(); };
  $('#detail-close').onclick = () => { state.openSession = null; $('#session-detail').hidden = true; };
  const theme = urlParams.get('theme') || localStorage.getItem('ctm.theme') ||
    (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');
  document.documentElement.dataset.theme = theme;
  $('#theme').onclick = () => {
    const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
    document.documentElement.dataset.theme = next;
    localStorage.setItem('ctm.theme', next);
    load(); // the charts take their colours from the theme
  };
}

function listen() {
  const live = $('#live');
  const events = new EventSource('/events');
  let pending;
  let dropped = false;
  events.addEventListener('hello', () => {
    live.textContent = 'live'; live.className = 'badge live'; document.body.dataset.live = '1';
    // Back after a drop: news may have been missed while away.
    if (dropped) { dropped = false; load(); }
  });
  events.addEventListener('ingested', () => { clearTimeout(pending); pending = setTimeout(load, 200); });
  events.addEventListener('snapshots', () => { clearTimeout(pending); pending = setTimeout(load, 200); });
  events.onerror = () => { dropped = true; live.textContent = 'reconnecting…'; live.className = 'badge'; };
}

setupControls();
load();
if (urlParams.get('live') === '0') $('#live').textContent = 'not following';
else listen();
