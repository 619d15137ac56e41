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
  // Over a team database (ctm serve --team): the person shown, '' for everyone.
  team: false, user: urlParams.get('user') || '',
  today: null,
  sessions: { sort: 'lastActivity', order: 'desc', offset: 0, limit: 15 },
  openSession: null,
  // A session's responses, shown a page at a time.
  detail: { responses: [], offset: 0, limit: 50 },
  // Cache reads are usually most of the tokens: left out of the bars' scale unless asked.
  cacheReads: localStorage.getItem('ctm.cacheReads') === '1',
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
const filters = () => ({ tz: state.tz, project: state.project, model: state.model, user: state.team ? state.user : '' });
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
    const health = await api('/api/health');
    setTeam(health);
    const summary = await api('/api/summary', filters());
    state.today = summary.today.to;
    applyRange();
    const p = rangeParams();
    // A team database has no one machine's blocks, hours, cache or top lists.
    const none = async () => null;
    const [daily, models, hourly, cache, top, users] = await Promise.all([
      api('/api/daily', p), api('/api/models', p),
      state.team ? none() : api('/api/hourly', p),
      state.team ? none() : api('/api/cache', p),
      state.team ? none() : api('/api/top', { ...p, limit: 5 }),
      state.team ? api('/api/users', { ...p, user: '' }) : none(),
    ]);
    // Long ranges are drawn per week or per month: a bar per day would be a pixel wide.
    const unit = granularity(daily);
    const periods = unit === 'day' ? daily : await api(unit === 'week' ? '/api/weekly' : '/api/monthly', p);
    if (n !== state.loads) return; // a newer load is on its way
    renderEmpty(summary, health);
    renderSummary(summary, daily);
    renderDaily(periods, unit);
    renderModels(models);
    if (state.team) renderPeople(users);
    else {
      renderHeatmap(hourly);
      renderCache(cache, periods, unit);
      renderGauge(summary);
      renderTop(top);
      setDownloads(p);
    }
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
  setNumber('range-cost', t.totalCost, fmtUsd(t.totalCost) + (t.unpricedResponses ? '*' : ''));
  // A cost marked * leaves out responses of models without a price: say which.
  const unpriced = new Set([...daily.unpricedModels, ...['today', 'thisWeek', 'thisMonth'].flatMap((k) => s[k].unpricedModels)]);
  const note = $('#unpriced-note');
  note.hidden = unpriced.size === 0;
  note.textContent = unpriced.size ? `* leaves out the responses of models without a price (${[...unpriced].join(', ')}): their tokens are counted, their cost is unknown. \`ctm pricing\` says how to add a price.` : '';
  setNumber('range-tokens', t.totalTokens, fmtShort(t.totalTokens));
  const cached = t.cacheCreationTokens + t.cacheReadTokens;
  const hit = cached ? t.cacheReadTokens / cached : 0;
  setNumber('range-hit', hit, fmtPct(hit));
}

// ---- the team database ---------------------------------------------------------------

// Team mode comes from the server (ctm serve --team): the person filter and the People
// panel show, one machine's panels do not.
function setTeam(health) {
  const team = health.mode === 'team';
  if (team === state.team) return;
  state.team = team;
  document.body.classList.toggle('team', team);
  document.querySelectorAll('.team-only').forEach((e) => { e.hidden = !team; });
  if (team) {
    $('#footer').textContent = `Served by ctm serve from the team database ${health.teamDatabase}. JSON API under /api/.`;
    // Other machines push while this page is open: read again every minute.
    setInterval(() => { if (!document.hidden) load(); }, 60000);
  }
}

// Each person of the range: their machines, responses, tokens and cost; a click shows
// only them.
function renderPeople(report) {
  const select = $('#user');
  const known = new Set([...select.options].map((o) => o.value));
  for (const u of report.users) if (!known.has(u.user)) select.append(el('option', { value: u.user, text: u.user }));
  select.value = state.user;
  const rows = report.users.map((u) => el('tr', {
    class: 'clickable' + (u.user === state.user ? ' active' : ''), 'data-user': u.user, 'data-cost': String(u.totalCost),
    'data-responses': String(u.responses), onclick: () => setUser(u.user === state.user ? '' : u.user),
  },
  el('td', { text: u.user }), el('td', { class: 'text', text: u.machines.join(', ') }), el('td', { text: minute(u.lastActivity) }),
  el('td', { text: fmtInt(u.responses) }), el('td', { text: fmtShort(u.totalTokens) }), el('td', { text: fmtUsd(u.totalCost) })));
  table($('#people'), ['Person', 'Machines', 'Last activity', 'Responses', 'Tokens', 'Cost'], rows);
}

function setUser(user) {
  state.user = user;
  $('#user').value = user;
  state.sessions.offset = 0;
  load();
}

// ---- the empty store ---------------------------------------------------------------

// A store without a single response: say where ctm looked, and what to do.
function renderEmpty(summary, health) {
  const box = $('#empty');
  if (summary.lastResponse) { box.hidden = true; delete document.body.dataset.empty; return; }
  if (state.team) {
    box.replaceChildren(el('h2', { text: 'No usage in the team database yet' }),
      el('p', {}, 'Machines send theirs with ', el('code', { text: 'ctm team push' }), ' (see docs/team.md).'));
    box.hidden = false;
    document.body.dataset.empty = 'no-team-usage';
    return;
  }
  const roots = health.dataRoots || { lookedIn: [], found: [] };
  const code = (t) => el('code', { text: t });
  box.replaceChildren();
  if (!roots.found.length) {
    box.append(el('h2', { text: 'No Claude Code data found' }),
      el('p', {}, `ctm looked for a projects/ folder in ${roots.lookedIn.join(', ') || 'no folder'}. Start `,
        code('ctm serve --claude-dir DIR'), ' (or set ', code('CLAUDE_CONFIG_DIR=DIR'),
        ') with the folder that holds Claude Code\'s projects/.'));
  } else {
    box.append(el('h2', { text: 'No usage yet' }),
      el('p', {}, `${roots.found.join(', ')} ${roots.found.length > 1 ? 'hold' : 'holds'} no responses yet. This page fills in by itself as Claude Code writes.`));
  }
  box.hidden = false;
  document.body.dataset.empty = roots.found.length ? 'no-usage' : 'no-data';
}

// ---- tokens over time -----------------------------------------------------------------

// Per day up to 45 days, per week up to about 7 months, per month beyond.
function granularity(daily) {
  const first = state.since || (daily.daily.length ? daily.daily[0].date : '');
  const last = state.until || state.today || first;
  if (!first) return 'day';
  const days = (Date.parse(last + 'T00:00:00Z') - Date.parse(first + 'T00:00:00Z')) / 86400000 + 1;
  return days > 210 ? 'month' : days > 45 ? 'week' : 'day';
}
const PERIOD = {
  day: { rows: 'daily', key: 'date', label: (k) => k.slice(5) },
  week: { rows: 'weekly', key: 'week', label: (k) => k.slice(5) },
  month: { rows: 'monthly', key: 'month', label: (k) => k },
};
function weekStart(iso) {
  const d = new Date(iso + 'T00:00:00Z');
  d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
  return d.toISOString().slice(0, 10);
}
function nextMonth(ym) {
  const [y, m] = ym.split('-').map(Number);
  return m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`;
}
// Every period of the range, those without usage as zeros.
function fillPeriods(rows, unit) {
  const key = PERIOD[unit].key;
  if (!rows.length && !state.since) return [];
  const byKey = new Map(rows.map((r) => [r[key], r]));
  const from = (d) => unit === 'day' ? d : unit === 'week' ? weekStart(d) : d.slice(0, 7);
  const step = (k) => unit === 'day' ? addDays(k, 1) : unit === 'week' ? addDays(k, 7) : nextMonth(k);
  const first = state.since ? from(state.since) : rows[0][key];
  const last = state.until ? from(state.until) : rows[rows.length - 1][key];
  const out = [];
  for (let k = first; k <= last && out.length < 4000; k = step(k)) out.push(byKey.get(k) || { [key]: k, empty: true });
  return out;
}
// Every day of the range, days without usage as zeros.
const fillDays = (rows) => fillPeriods(rows, 'day');

function renderDaily(report, unit) {
  const box = $('#chart-daily');
  const period = PERIOD[unit];
  $('#daily-title').textContent = `Tokens by type, and cost, per ${unit}`;
  document.querySelectorAll('[data-cache-reads]').forEach((b) => b.classList.toggle('active', (b.dataset.cacheReads === '1') === state.cacheReads));
  const bars = fillPeriods(report[period.rows], unit);
  const W = 900, H = 280, L = 60, R = 60, T = 10, B = 30;
  const root = canvas(box, W, H);
  root.dataset.unit = unit;
  if (bars.every((d) => d.empty)) { root.append(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty', text: 'No usage in this range' })); return; }
  const types = state.cacheReads ? TYPES : TYPES.filter(([k]) => k !== 'cacheReadTokens');
  const shown = (d) => d.empty ? 0 : types.reduce((sum, [k]) => sum + d[k], 0);
  const cost = (d) => d.empty ? 0 : d.totalCost;
  const maxT = niceMax(Math.max(...bars.map(shown)));
  const maxC = niceMax(Math.max(...bars.map(cost)));
  const pw = W - L - R, ph = H - T - B, bw = pw / bars.length;
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
  const g = svg('g', { class: 'bars' });
  const step = Math.max(1, Math.ceil(bars.length / 12));
  bars.forEach((d, i) => {
    const x = L + i * bw;
    const k = d[period.key];
    const bar = svg('g', { class: unit, 'data-date': k, 'data-total': String(d.empty ? 0 : d.totalTokens), 'data-shown': String(shown(d)), 'data-cost': String(cost(d)) });
    let acc = 0;
    for (const [key, label, colour] of types) {
      const v = d.empty ? 0 : d[key];
      if (v > 0) {
        bar.append(titled(svg('rect', { x: x + bw * 0.1, width: Math.max(bw * 0.8, 1), y: y(acc + v), height: Math.max(y(acc) - y(acc + v), 0.5), fill: css(colour) }),
          `${k} ${label}: ${fmtInt(v)}`));
      }
      acc += v;
    }
    g.append(bar);
    if (i % step === 0) root.append(svg('text', { x: x + bw / 2, y: H - 10, 'text-anchor': 'middle', text: period.label(k) }));
  });
  root.append(g);
  const pts = bars.map((d, i) => `${L + i * bw + bw / 2},${yc(cost(d))}`).join(' ');
  root.append(svg('polyline', { points: pts, fill: 'none', stroke: css('--cost'), 'stroke-width': 2, class: 'cost-line' }));
  // Dots only while they stay apart.
  if (bars.length <= 60) {
    bars.forEach((d, i) => root.append(titled(svg('circle', { cx: L + i * bw + bw / 2, cy: yc(cost(d)), r: 3, fill: css('--cost') }),
      `${d[period.key]}: ${fmtUsd(cost(d))}`)));
  }
  const entries = types.map(([, label, c]) => [label, css(c)]);
  if (!state.cacheReads) entries.push(['Cache read: left out of the scale', 'transparent']);
  legend(box, [...entries, ['Cost (right axis)', css('--cost')]]);
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

// The cache hit rate per day, or per week or month for long ranges (as the token chart).
function renderCache(report, periods, unit) {
  const box = $('#chart-cache');
  const key = PERIOD[unit].key;
  const points = unit === 'day'
    ? fillDays(report.days).map((d) => d.empty ? d : { [key]: d.date, hitRate: d.hitRate, saved: d.cacheSavingsUsd })
    : fillPeriods(periods[PERIOD[unit].rows], unit).map((p) => {
      if (p.empty) return p;
      const cached = p.cacheCreationTokens + p.cacheReadTokens;
      return { [key]: p[key], hitRate: cached ? p.cacheReadTokens / cached : 0, saved: null };
    });
  const W = 520, H = 190, L = 40, R = 24, T = 10, B = 24;
  const root = canvas(box, W, H);
  root.dataset.unit = unit;
  if (points.every((d) => d.empty)) { root.append(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty', text: 'No usage in this range' })); return; }
  const pw = W - L - R, ph = H - T - B;
  const x = (i) => L + (points.length === 1 ? pw / 2 : (i * pw) / (points.length - 1));
  const y = (v) => T + ph - v * ph;
  for (let i = 0; i <= 4; i++) {
    root.append(svg('line', { x1: L, x2: W - R, y1: y(i / 4), y2: y(i / 4), stroke: css('--line') }));
    root.append(svg('text', { x: L - 4, y: y(i / 4) + 4, 'text-anchor': 'end', text: `${i * 25}%` }));
  }
  const used = points.map((d, i) => [d, i]).filter(([d]) => !d.empty);
  root.append(svg('polyline', { points: used.map(([d, i]) => `${x(i)},${y(d.hitRate)}`).join(' '), fill: 'none', stroke: css('--cread'), 'stroke-width': 2 }));
  for (const [d, i] of used) {
    root.append(titled(svg('circle', { cx: x(i), cy: y(d.hitRate), r: used.length > 60 ? 1.5 : 3, fill: css('--cread'), class: 'hit', 'data-date': d[key], 'data-hit': String(d.hitRate) }),
      `${d[key]}: ${fmtPct(d.hitRate)} hit` + (d.saved === null ? '' : `, ${fmtUsd(d.saved)} saved`)));
  }
  const step = Math.max(1, Math.ceil(points.length / 8));
  points.forEach((d, i) => { if (i % step === 0) root.append(svg('text', { x: x(i), y: H - 6, 'text-anchor': 'middle', text: PERIOD[unit].label(d[key]) })); });
}

// The active block against the largest finished block (ctm's estimate, outer ring) with
// Claude's official 5-hour usage inside it; idle, two lines instead of an empty gauge.
function renderGauge(summary) {
  const box = $('#chart-gauge');
  const b = summary.currentBlock, limit = summary.tokenLimit;
  const legendBox = $('#gauge-legend');
  legendBox.replaceChildren();
  const official = summary.officialLimits;
  if (!b) {
    const last = summary.lastBlock;
    const lines = [el('p', { class: 'idle', id: 'gauge-idle', text: 'No active block: the next response starts a 5-hour block.' })];
    box.replaceChildren(...lines);
    $('#block-text').textContent = last
      ? `Last block ${minute(last.startTime)} to ${minute(last.endTime).slice(11)}: ${fmtUsd(last.costUSD)}, ${fmtShort(last.totalTokens)} tokens (all kinds). Last usage ${minute(summary.lastResponse)} (${summary.timezone}).`
      : `No usage in the store yet. Now ${minute(summary.now)} (${summary.timezone}).`;
  } else {
    // The percentage inside the arcs; what it is of, under them.
    const W = 300, H = 172, cx = 150, cy = 125, r = 110;
    const root = canvas(box, W, H);
    const arc = (from, to, colour, width, cls, radius = r) => {
      const p = (t) => `${cx - radius * Math.cos(Math.PI * t)},${cy - radius * Math.sin(Math.PI * t)}`;
      return svg('path', { d: `M${p(from)} A${radius},${radius} 0 0 1 ${p(to)}`, fill: 'none', stroke: colour, 'stroke-width': width, 'stroke-linecap': 'butt', class: cls || '' });
    };
    root.append(arc(0, 1, css('--line'), 18));
    const projected = b.projection ? b.projection.totalTokens : b.totalTokens;
    const max = limit || Math.max(b.totalTokens, projected) || 1;
    const used = Math.min(b.totalTokens / max, 1);
    const proj = Math.min(projected / max, 1);
    const colour = b.totalTokens >= max ? css('--bad') : b.totalTokens >= 0.8 * max ? css('--warn') : css('--accent');
    if (proj > used) {
      const ahead = arc(used, proj, colour, 18, 'projected');
      ahead.setAttribute('stroke-opacity', '0.35');
      root.append(titled(ahead, `Projected by the block's end: ${fmtInt(projected)} tokens`));
    }
    if (used > 0) root.append(titled(arc(0, used, colour, 18, 'used'), `Used: ${fmtInt(b.totalTokens)} tokens`));
    root.append(svg('text', { x: cx, y: cy - 12, 'text-anchor': 'middle', 'font-size': 26, id: 'gauge-percent', 'data-value': String(b.totalTokens / max), text: fmtPct(b.totalTokens / max) }));
    root.append(svg('text', { x: cx, y: cy + 22, 'text-anchor': 'middle', 'font-size': 13, id: 'gauge-unit', text: `${fmtShort(b.totalTokens)} of ${fmtShort(max)} tokens (all kinds)` }));
    root.append(svg('text', { x: cx, y: cy + 40, 'text-anchor': 'middle', class: 'empty', text: limit ? 'limit: the largest finished block (estimate)' : 'no finished block yet: scaled to the projection' }));
    const entries = [['This block, used', colour]];
    if (proj > used) entries.push(['Projected by its end', colour]);
    const five = official && official.fiveHour;
    if (five && !five.expired) {
      // Claude's own 5-hour figure as the inner ring.
      const ri = r - 24, share = Math.min(five.usedPercentage / 100, 1);
      root.append(arc(0, 1, css('--line'), 6, '', ri));
      if (share > 0) {
        const ring = arc(0, share, css('--warn'), 6, '', ri);
        ring.setAttribute('id', 'gauge-official');
        ring.dataset.value = String(five.usedPercentage);
        root.append(titled(ring, `Official 5-hour usage: ${five.usedPercentage.toFixed(0)}%`));
      }
      entries.push([`Inner ring: Claude's official 5-hour usage, ${five.usedPercentage.toFixed(0)}%`, css('--warn')]);
    }
    legend(legendBox, entries);
    const projectedItem = legendBox.querySelectorAll('i')[1];
    if (proj > used && projectedItem) projectedItem.classList.add('projected');
    const rate = b.burnRate;
    const burning = !rate ? '' : rate.costPerHour > 0
      ? `; burning ${fmtUsd(rate.costPerHour)}/h (${fmtShort(rate.tokensPerMinute)} tokens/min) over the last ${rate.windowMinutes >= 60 ? '60 minutes' : duration(rate.windowMinutes)}`
      : '; nothing burning: no response in the last hour';
    const projText = b.projection ? `. Projected ${fmtShort(b.projection.totalTokens)} tokens, ${fmtUsd(b.projection.totalCost)} by ${minute(b.endTime).slice(11)} (${duration(b.projection.remainingMinutes)} left)` : '';
    $('#block-text').textContent = `Started ${minute(b.startTime)}: ${fmtUsd(b.costUSD)} so far${burning}${projText}. ` +
      (limit ? `Limit: ${fmtInt(limit)} tokens, the largest finished block (an estimate).` : 'Limit: none known yet.');
  }
  // Claude's own figures (`{fiveHour, sevenDay}`, each with `usedPercentage`, `resetsAt`,
  // `expired`), kept by `ctm statusline`; each null until it has seen one.
  const windows = official ? [['5-hour', official.fiveHour], ['7-day', official.sevenDay]].filter(([, l]) => l) : [];
  $('#official-limits').textContent = !windows.length
    ? 'Official limits: none reported yet (ctm statusline keeps them).'
    : 'Official limits (from Claude): ' + windows.map(([name, l]) =>
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
  const columns = state.team ? [['Person', null], ...SESSION_COLUMNS] : SESSION_COLUMNS;
  const head = el('tr', {}, ...columns.map(([label, key]) => {
    const th = el('th', { text: label });
    if (label === 'Project' || label === 'Main model' || label === 'Person') th.className = 'text';
    if (key) {
      if (key === s.sort) th.className = 'sorted' + (s.order === 'asc' ? ' asc' : '');
      th.onclick = () => {
        s.order = s.sort === key && s.order === 'desc' ? 'asc' : 'desc';
        s.sort = key; s.offset = 0; loadSessions();
      };
    } else th.style.cursor = 'default';
    return th;
  }));
  // A session's responses are one machine's store's: not over a team database.
  const rows = page.sessions.map((r) => el('tr', state.team
    ? { 'data-session': r.sessionId, 'data-cost': String(r.totalCost), 'data-user': r.user }
    : { class: 'clickable', 'data-session': r.sessionId, 'data-cost': String(r.totalCost), onclick: () => openSession(r.sessionId) },
    ...(state.team ? [el('td', { text: r.user })] : []),
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
  // Another session starts on its first page; the same one (a reload) keeps its page.
  if (panel.dataset.shown !== s.sessionId) state.detail.offset = 0;
  panel.dataset.shown = s.sessionId;
  state.detail.responses = detail.responses;
  renderDetailPage();
}

// One page of the open session's responses.
function renderDetailPage() {
  const d = state.detail, all = d.responses;
  d.offset = Math.min(d.offset, Math.max(0, Math.floor((all.length - 1) / d.limit) * d.limit));
  const rows = all.slice(d.offset, d.offset + d.limit).map((r) => el('tr', {},
    el('td', { text: r.timestamp.slice(0, 19).replace('T', ' ') }), el('td', { class: 'text', text: shortModel(r.model) }),
    el('td', { text: fmtInt(r.inputTokens) }), el('td', { text: fmtInt(r.outputTokens) }), el('td', { text: fmtInt(r.cacheCreationTokens) }),
    el('td', { text: fmtInt(r.cacheReadTokens) }), el('td', { text: r.priced ? fmtUsd(r.cost) : '-' }), el('td', { text: fmtUsd(r.cumulativeCost) })));
  table($('#detail-responses'), ['Time', 'Model', 'Input', 'Output', 'Cache write', 'Cache read', 'Cost', 'Cumulative'], rows);
  const last = Math.min(d.offset + d.limit, all.length);
  $('#detail-page').textContent = all.length ? `${fmtInt(d.offset + 1)}–${fmtInt(last)} of ${fmtInt(all.length)} responses` : 'no responses';
  $('#detail-page').dataset.total = String(all.length);
  $('#detail-prev').disabled = d.offset === 0;
  $('#detail-next').disabled = last >= all.length;
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
  $('#user').onchange = () => setUser($('#user').value);
  for (const id of ['project', 'model']) {
    $('#' + id).oninput = () => { clearTimeout(typing); typing = setTimeout(() => { state[id] = $('#' + id).value.trim(); state.sessions.offset = 0; load(); }, 300); };
  }
  $('#prev').onclick = () => { state.sessions.offset = Math.max(0, state.sessions.offset - state.sessions.limit); loadSessions(); };
  $('#next').onclick = () => { state.sessions.offset += state.sessions.limit; loadSessions(); };
  $('#detail-close').onclick = () => { state.openSession = null; $('#session-detail').hidden = true; };
  $('#detail-prev').onclick = () => { state.detail.offset = Math.max(0, state.detail.offset - state.detail.limit); renderDetailPage(); };
  $('#detail-next').onclick = () => { state.detail.offset += state.detail.limit; renderDetailPage(); };
  document.querySelectorAll('[data-cache-reads]').forEach((b) => {
    b.onclick = () => { state.cacheReads = b.dataset.cacheReads === '1'; localStorage.setItem('ctm.cacheReads', state.cacheReads ? '1' : '0'); load(); };
  });
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
