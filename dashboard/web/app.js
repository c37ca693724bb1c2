// turnstile live dashboard. Plain JS, no dependencies. Every value from
// the pipeline is data: it is written with textContent or as an SVG
// attribute, never parsed as markup.
'use strict';

(function () {
  const MAX_ROWS = 300;          // table rows shown (newest first)
  const MAX_WINDOWS = 20000;     // station windows kept in the page
  const CHART_SPAN_MS = 6 * 3600 * 1000; // the chart's event-time span
  const HEALTH_EVERY_MS = 2000;

  const state = {
    windows: new Map(), // record key (STATION|LINENAME|START) -> window
    selected: null,     // STATION|LINENAME
    search: '',
    latestOnly: false,
    lastEventId: '',
    lastEventAt: null,
    events: 0,
  };

  const byId = (id) => document.getElementById(id);
  const SVGNS = 'http://www.w3.org/2000/svg';

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVGNS, tag);
    for (const k of Object.keys(attrs || {})) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  const pad = (n) => (n < 10 ? '0' : '') + n;
  const fmtDate = (d) => d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate());
  const fmtClock = (d) => pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes());
  const fmtClockS = (d) => fmtClock(d) + ':' + pad(d.getUTCSeconds());
  const fmtWindow = (s, e) => fmtDate(s) + ' ' + fmtClock(s) + '–' + fmtClock(e);
  const numFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  const num = (v) => (typeof v === 'number' && isFinite(v) ? numFmt.format(v) : '–');
  const stationKey = (w) => w.station + '|' + w.line;

  // ---- the event stream -------------------------------------------------

  let source = null;

  function connect() {
    let url = '/events?kind=station';
    // A new EventSource cannot send Last-Event-ID; the query parameter
    // resumes it where the last one stopped.
    if (state.lastEventId) url += '&last-event-id=' + encodeURIComponent(state.lastEventId);
    source = new EventSource(url);
    source.addEventListener('open', () => setConn('live', 'live'));
    source.addEventListener('error', () => {
      if (source.readyState === EventSource.CLOSED) {
        setConn('connecting', 'reconnecting');
        setTimeout(connect, 2000);
      } else {
        setConn('connecting', 'reconnecting');
      }
    });
    source.addEventListener('station', onStation);
  }

  function setConn(cls, text) {
    const c = byId('conn');
    c.className = 'conn ' + cls;
    c.textContent = text;
  }

  function onStation(ev) {
    state.lastEventId = ev.lastEventId || state.lastEventId;
    let m;
    try { m = JSON.parse(ev.data); } catch (e) { return; }
    const w = m && m.window;
    if (!w) return;
    state.events++;
    state.lastEventAt = new Date();
    const key = typeof m.key === 'string' && m.key ? m.key : w.STATION + '|' + w.LINENAME + '|' + w.START;
    const prev = state.windows.get(key);
    // Downstream's rule: the highest generation, then the highest revision.
    if (prev && (prev.gen > w.GENERATION || (prev.gen === w.GENERATION && prev.rev >= w.REVISION))) return;
    state.windows.set(key, {
      key: key,
      station: String(w.STATION),
      line: String(w.LINENAME),
      start: new Date(w.START),
      end: new Date(w.END),
      entries: w.ENTRIES, exits: w.EXITS, devices: w.DEVICES,
      rev: w.REVISION, gen: w.GENERATION,
      updated: prev !== undefined,
    });
    schedule();
  }

  // ---- rendering --------------------------------------------------------

  let pending = false;
  function schedule() {
    if (pending) return;
    pending = true;
    setTimeout(render, 60);
  }

  function compare(a, b) {
    if (a.end.getTime() !== b.end.getTime()) return b.end - a.end;
    if (a.station !== b.station) return a.station < b.station ? -1 : 1;
    if (a.line !== b.line) return a.line < b.line ? -1 : 1;
    return 0;
  }

  function prune() {
    if (state.windows.size <= MAX_WINDOWS) return;
    const all = Array.from(state.windows.values()).sort(compare);
    for (const w of all.slice(MAX_WINDOWS)) state.windows.delete(w.key);
  }

  function render() {
    pending = false;
    prune();
    const q = state.search.trim().toLowerCase();
    let list = [];
    for (const w of state.windows.values()) {
      if (q && w.station.toLowerCase().indexOf(q) < 0 && w.line.toLowerCase().indexOf(q) < 0) continue;
      list.push(w);
    }
    list.sort(compare);
    if (state.latestOnly) {
      const seen = new Set();
      list = list.filter((w) => {
        const k = stationKey(w);
        if (seen.has(k)) return false;
        seen.add(k);
        return true;
      });
    }
    const total = list.length;
    list = list.slice(0, MAX_ROWS);
    if (!state.selected && list.length > 0) state.selected = stationKey(list[0]);
    renderRows(list);
    byId('count').textContent = total > list.length ? 'newest ' + list.length + ' of ' + total : total + ' windows';
    byId('empty').hidden = state.windows.size > 0;
    byId('summary').textContent = state.events + ' events' +
      (state.lastEventAt ? ' · last ' + fmtClockS(state.lastEventAt) + ' UTC' : '');
    renderChart();
  }

  const rowCache = new Map(); // record key -> tr

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  function row(w) {
    let tr = rowCache.get(w.key);
    if (!tr) {
      tr = document.createElement('tr');
      tr.setAttribute('data-key', w.key);
      for (let i = 0; i < 7; i++) tr.appendChild(el('td', i >= 3 ? 'n' : ''));
      tr.addEventListener('click', () => {
        state.selected = stationKey(w);
        render();
      });
      rowCache.set(w.key, tr);
    }
    const c = tr.children;
    setText(c[0], w.station);
    setText(c[1], w.line);
    setText(c[2], fmtWindow(w.start, w.end));
    setText(c[3], num(w.entries));
    setText(c[4], num(w.exits));
    setText(c[5], num(w.devices));
    const sig = w.rev + '/' + w.gen;
    if (tr.getAttribute('data-rev') !== sig) {
      const rc = c[6];
      rc.replaceChildren(el('span', 'rev', w.rev));
      if (w.rev > 1) rc.appendChild(el('span', 'badge', 'corrected'));
      if (w.gen > 0) rc.appendChild(el('span', 'badge gen', 'gen ' + w.gen));
      if (tr.hasAttribute('data-rev') && w.updated) {
        tr.classList.remove('flash');
        void tr.offsetWidth; // restart the animation
        tr.classList.add('flash');
      }
      tr.setAttribute('data-rev', sig);
    }
    tr.classList.toggle('corrected', w.rev > 1);
    tr.classList.toggle('selected', stationKey(w) === state.selected);
    return tr;
  }

  function renderRows(list) {
    const body = byId('rows');
    for (let i = 0; i < list.length; i++) {
      const tr = row(list[i]);
      const cur = body.children[i];
      if (cur !== tr) body.insertBefore(tr, cur || null);
    }
    while (body.children.length > list.length) {
      const last = body.lastElementChild;
      rowCache.delete(last.getAttribute('data-key'));
      last.remove();
    }
  }

  function niceMax(v) {
    if (v <= 0) return 10;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function renderChart() {
    const chart = byId('chart');
    const title = byId('chart-title');
    const sub = byId('chart-sub');
    if (!state.selected) {
      chart.replaceChildren();
      return;
    }
    const sel = state.selected;
    const ws = [];
    for (const w of state.windows.values()) if (stationKey(w) === sel) ws.push(w);
    ws.sort((a, b) => a.start - b.start);
    const sep = sel.indexOf('|');
    title.textContent = sel.slice(0, sep) + ' · ' + sel.slice(sep + 1);
    if (ws.length === 0) {
      sub.textContent = 'no windows';
      chart.replaceChildren();
      return;
    }
    const last = ws[ws.length - 1].end.getTime();
    const shown = ws.filter((w) => w.end.getTime() > last - CHART_SPAN_MS);
    const corrected = shown.filter((w) => w.rev > 1).length;
    sub.textContent = shown.length + ' windows, ' + fmtDate(shown[0].start) + ' ' + fmtClock(shown[0].start) + '–' +
      fmtClock(new Date(last)) + ' UTC' + (corrected ? ' · ' + corrected + ' corrected' : '');

    const W = 640, H = 260, L = 56, R = 12, T = 12, B = 28;
    const t0 = shown[0].start.getTime(), t1 = last;
    const span = Math.max(1, t1 - t0);
    const ymax = niceMax(Math.max(1, ...shown.map((w) => Math.max(w.entries, w.exits))));
    const x = (t) => L + ((t - t0) / span) * (W - L - R);
    const y = (v) => T + (1 - v / ymax) * (H - T - B);
    const nodes = [];
    for (let i = 0; i <= 4; i++) {
      const v = (ymax * i) / 4;
      nodes.push(svg('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      nodes.push(svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, num(v)));
    }
    // Time ticks on round minutes: the smallest step with at most 6 ticks.
    const MIN = 60 * 1000;
    let step = 360 * MIN;
    for (const m of [5, 10, 15, 30, 60, 120, 180, 360]) {
      if (span / (m * MIN) <= 6) { step = m * MIN; break; }
    }
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      nodes.push(svg('line', { class: 'grid', x1: x(t), x2: x(t), y1: T, y2: y(0) }));
      const anchor = x(t) > W - R - 20 ? 'end' : x(t) < L + 20 ? 'start' : 'middle';
      nodes.push(svg('text', { x: x(t), y: H - 8, 'text-anchor': anchor }, fmtClock(new Date(t))));
    }
    nodes.push(svg('line', { class: 'axis', x1: L, x2: W - R, y1: y(0), y2: y(0) }));
    nodes.push(svg('line', { class: 'axis', x1: L, x2: L, y1: T, y2: y(0) }));
    for (const [field, cls] of [['entries', 'entries'], ['exits', 'exits']]) {
      const pts = shown.map((w) => x((w.start.getTime() + w.end.getTime()) / 2).toFixed(1) + ',' + y(w[field]).toFixed(1));
      nodes.push(svg('polyline', { class: 'line ' + cls, points: pts.join(' ') }));
      for (const w of shown) {
        const c = svg('circle', {
          class: cls + (w.rev > 1 ? ' corrected' : ''),
          cx: x((w.start.getTime() + w.end.getTime()) / 2).toFixed(1), cy: y(w[field]).toFixed(1), r: w.rev > 1 ? 4.5 : 2.5,
        });
        c.appendChild(svg('title', {}, fmtWindow(w.start, w.end) + ' ' + field + ' ' + num(w[field]) + (w.rev > 1 ? ' (revision ' + w.rev + ')' : '')));
        nodes.push(c);
      }
    }
    chart.replaceChildren(...nodes);
  }

  // ---- health -----------------------------------------------------------

  function item(dl, label, value, cls) {
    dl.appendChild(el('dt', '', label));
    const dd = el('dd', cls || '');
    if (value instanceof Node) dd.appendChild(value); else dd.textContent = value;
    dl.appendChild(dd);
  }

  function list(entries) {
    const ul = el('ul');
    for (const e of entries) ul.appendChild(el('li', e.cls || '', e.text));
    return ul;
  }

  function renderHealth(h) {
    byId('member').textContent = h.member ? '· ' + h.member : '';
    const dl = el('dl');
    item(dl, 'Ready', h.readiness && h.readiness.ready ? 'yes' : 'no', h.readiness && h.readiness.ready ? 'ok' : 'warn');
    const r = h.rates;
    const rate = (v) => (r ? num(v) + '/s' : '…');
    const inRate = (s) => rate(r && r.in ? r.in[s] || 0 : 0);
    item(dl, 'Input', 'ingest ' + inRate('ingest') + ' · windows ' + inRate('windows') + ' · stations ' + inRate('stations'));
    item(dl, 'Output', 'readings ' + rate(r && r.readings) + ' · device windows ' + rate(r && r.device_windows) +
      ' · station windows ' + rate(r && r.station_windows));
    if (h.kafka) {
      item(dl, 'Lag', list(h.kafka.groups.map((g) => ({
        text: g.group + '  ' + (g.absent ? 'not running' : num(g.lag)) + (g.absent ? '' : ' (' + g.members + ' members)'),
        cls: !g.absent && g.lag > 0 ? 'warn' : '',
      }))));
    } else {
      item(dl, 'Lag', h.kafka_error ? 'unavailable: ' + h.kafka_error : '–', 'warn');
    }
    item(dl, 'Watermark', h.watermarks.length === 0 ? '–' : list(h.watermarks.map((w) => ({
      text: w.group + ' p' + w.partition + '  ' + (w.time
        ? fmtDate(new Date(w.time)) + ' ' + fmtClockS(new Date(w.time)) + ' (−' + Math.round(w.lag_seconds) + 's, ' +
          (w.holder < 0 ? 'all sources idle' : 'held by ' + w.holder) + ')'
        : 'none yet (waiting for ' + w.waiting + ' sources)'),
    }))));
    const t = h.totals || {};
    const k = h.kafka;
    item(dl, 'Dead-lettered', num(t.dead_lettered) + ' here' + (k ? ' · ' + num(k.dead_lettered) + ' on the topic' : ''));
    item(dl, 'Too late', num(t.too_late) + ' here' + (k ? ' · ' + num(k.too_late) + ' on the topic' : ''));
    item(dl, 'Published', 'device ' + num(t.device_windows) + ' (' + num(t.device_corrections) + ' corrections) · station ' +
      num(t.station_windows) + ' (' + num(t.station_corrections) + ' corrections)');
    const parts = Object.keys(h.partitions || {}).sort();
    item(dl, 'Partitions', parts.length === 0 ? 'none' : list(parts.map((g) => ({
      text: g + '  ' + (h.partitions[g] && h.partitions[g].length ? h.partitions[g].join(', ') : 'none (standby)'),
    }))));
    const e = h.events || {};
    item(dl, 'Event streams', num(e.clients) + ' of ' + num(e.max_clients) + ' open · ' + num(e.dropped) + ' dropped as slow');
    byId('health').replaceChildren(dl);
  }

  function pollHealth() {
    fetch('/api/health', { cache: 'no-store' })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(r.status + ' ' + r.statusText))))
      .then(renderHealth)
      .catch((err) => { byId('health').replaceChildren(el('p', 'warn', 'health unavailable: ' + err.message)); })
      .finally(() => setTimeout(pollHealth, HEALTH_EVERY_MS));
  }

  // ---- start ------------------------------------------------------------

  document.addEventListener('DOMContentLoaded', () => {
    byId('search').addEventListener('input', (e) => { state.search = e.target.value; schedule(); });
    byId('latest').addEventListener('change', (e) => { state.latestOnly = e.target.checked; schedule(); });
    connect();
    pollHealth();
  });
})();
