// turnstile live dashboard. Plain JS, no dependencies. Every value from
// the pipeline is data: it is written with textContent or as an SVG
// attribute, never parsed as markup.
'use strict';

(function () {
  const MAX_ROWS = 300;          // table rows shown (newest first)
  const MAX_WINDOWS = 20000;     // station windows kept in the page
  const CHART_WINDOWS = 72;      // the chart spans the station's last 72 windows (5m: 6 hours, 4h: 12 days)
  const HEALTH_EVERY_MS = 2000;
  const MIN = 60 * 1000;
  const DAY = 24 * 60 * MIN;

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

  // ---- time, in the data's zone -----------------------------------------
  // The member names the zone (dashboard.Config.TimeZone) in a meta element;
  // every time on the page is shown in it, and the header says which.

  const ZONE = (() => {
    const meta = document.querySelector('meta[name="turnstile-time-zone"]');
    const want = (meta && meta.content) || 'UTC';
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: want });
      return { tz: want, problem: '' };
    } catch (e) {
      return { tz: 'UTC', problem: 'this browser does not know the time zone ' + want };
    }
  })();
  const isUTC = (tz) => ['UTC', 'Etc/UTC', 'Etc/GMT', 'GMT', 'Etc/Universal', 'Universal', 'Zulu'].indexOf(tz) >= 0;
  // zoneCity is the short name of the zone: New York for America/New_York.
  const zoneCity = (tz) => (isUTC(tz) ? 'UTC' : tz.slice(tz.lastIndexOf('/') + 1).replace(/_/g, ' '));
  const zoneLabel = (tz) => (isUTC(tz) ? 'times in UTC' : 'times in ' + zoneCity(tz) + ' (' + tz + ')');

  const partsFmt = new Intl.DateTimeFormat('en-US', {
    timeZone: ZONE.tz, hourCycle: 'h23', weekday: 'short',
    year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
  const abbrFmt = new Intl.DateTimeFormat('en-US', { timeZone: ZONE.tz, timeZoneName: 'short' });
  const localCache = new Map(); // ms -> local parts

  // local is the wall clock of instant d in the zone.
  function local(d) {
    const ms = d.getTime();
    let l = localCache.get(ms);
    if (l) return l;
    const o = {};
    for (const p of partsFmt.formatToParts(d)) o[p.type] = p.value;
    const h = o.hour === '24' ? '00' : o.hour;
    l = { y: o.year, mo: o.month, d: o.day, h: h, mi: o.minute, s: o.second, wd: o.weekday,
      day: o.year + '-' + o.month + '-' + o.day, minutes: Number(h) * 60 + Number(o.minute) };
    if (localCache.size > 50000) localCache.clear();
    localCache.set(ms, l);
    return l;
  }
  const zoneAbbr = (d) => {
    const p = abbrFmt.formatToParts(d).find((x) => x.type === 'timeZoneName');
    return p ? p.value : '';
  };

  const fmtDate = (d) => local(d).day;
  const fmtClock = (d) => { const l = local(d); return l.h + ':' + l.mi; };
  const fmtClockS = (d) => fmtClock(d) + ':' + local(d).s;
  const fmtShortDate = (d) => { const l = local(d); return l.wd + ' ' + l.mo + '/' + l.d; };
  const fmtStamp = (d) => fmtShortDate(d) + ' ' + fmtClock(d);
  // fmtWindow is a window's local day and clock times (Fri 01/05
  // 19:00–23:00); an end on a later day than the start (other than at
  // midnight) says so. fmtWindowLong adds the year and the zone.
  function fmtWindow(s, e) {
    const ls = local(s), le = local(e);
    const later = le.day !== ls.day && le.minutes !== 0 ? ' +1d' : '';
    return fmtShortDate(s) + ' ' + ls.h + ':' + ls.mi + '–' + le.h + ':' + le.mi + later;
  }
  const fmtWindowLong = (s, e) => fmtDate(s) + ' ' + fmtClock(s) + ' ' + zoneAbbr(s) + ' – ' + fmtDate(e) + ' ' + fmtClock(e) + ' ' + zoneAbbr(e) + ' (' + ZONE.tz + ')';
  function fmtDuration(ms) {
    const m = Math.round(ms / MIN);
    if (m % 1440 === 0) return m / 1440 + 'd';
    if (m % 60 === 0) return m / 60 + 'h';
    if (m > 60) return Math.floor(m / 60) + 'h' + (m % 60) + 'm';
    return m + 'm';
  }
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
    byId('count').textContent = total > list.length
      ? 'newest ' + num(list.length) + ' of ' + num(total)
      : num(total) + (total === 1 ? ' window' : ' windows');
    const note = byId('count-note');
    note.hidden = total <= list.length;
    note.textContent = total <= list.length ? '' : 'The table lists only the newest ' + num(MAX_ROWS) + ' of the ' + num(total) +
      ' station windows ' + (q ? 'that match the search ' : '') + 'received so far (newest first, by window end). ' +
      'Search by station or line, or tick “latest window per station”, to find the others; ' +
      'the chart always shows the selected station’s windows.';
    byId('empty').hidden = state.windows.size > 0;
    byId('summary').textContent = state.events + ' events' +
      (state.lastEventAt ? ' · last ' + fmtClockS(state.lastEventAt) : '');
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
    const long = fmtWindowLong(w.start, w.end);
    if (c[2].title !== long) c[2].title = long;
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

  // chartStep is the distance of two consecutive windows: the slide, or,
  // for tumbling windows, the window length.
  function chartStep(ws) {
    const w = ws[ws.length - 1];
    let step = w.end - w.start;
    for (let i = 1; i < ws.length; i++) {
      const d = ws[i].start - ws[i - 1].start;
      if (d > 0 && d < step) step = d;
    }
    return Math.max(step, 1);
  }

  // runs splits windows (by start) where one is missing: two windows are
  // neighbours when one starts where the other ends (tumbling windows, of
  // any length) or a step after it (sliding windows).
  function runs(ws, step) {
    const out = [];
    let run = [];
    for (const w of ws) {
      const p = run[run.length - 1];
      if (p && w.start.getTime() !== p.end.getTime() && w.start - p.start > step) {
        out.push(run);
        run = [];
      }
      run.push(w);
    }
    if (run.length) out.push(run);
    return out;
  }

  // ticks are the time axis's labelled instants between t0 and t1, on round
  // local clock times (at most 7; 9 for whole days), each with a distinct label: the clock
  // time, and the date where the day changes (on every tick when the span
  // is a day or more); at least a day apart, the date alone. An hour the
  // clock repeats (daylight saving's end) gets the zone's abbreviation.
  let tickMemo = { key: '', ticks: [] };
  function ticks(t0, t1) {
    const key = t0 + '|' + t1;
    if (tickMemo.key === key) return tickMemo.ticks;
    const span = t1 - t0;
    let step = 0;
    for (const m of [5, 10, 15, 30, 60, 120, 180, 240, 360, 720]) {
      if (span / (m * MIN) <= 6) { step = m * MIN; break; }
    }
    let days = 0;
    if (!step) {
      for (const k of [1, 2, 7, 14, 28]) if (span / (k * DAY) <= 8) { days = k; break; }
      if (!days) days = Math.ceil(span / (8 * DAY));
    }
    const grid = step ? Math.min(step, 15 * MIN) : 15 * MIN; // zones are offset by multiples of 15 minutes
    const out = [];
    for (let t = Math.ceil(t0 / grid) * grid; t <= t1; t += grid) {
      const d = new Date(t);
      const l = local(d);
      if (step) {
        if (l.minutes % (step / MIN) !== 0) continue;
      } else {
        if (l.minutes !== 0 || (Date.UTC(+l.y, +l.mo - 1, +l.d) / DAY) % days !== 0) continue;
      }
      if (out.length && out[out.length - 1].l.day === l.day && out[out.length - 1].l.minutes === l.minutes && !step) continue;
      out.push({ t: t, l: l, d: d });
    }
    out.forEach((k, i) => {
      const prev = out[i - 1];
      k.time = step ? k.l.h + ':' + k.l.mi : '';
      k.date = !step || span >= DAY || !prev || prev.l.day !== k.l.day ? fmtShortDate(k.d) : '';
    });
    const seen = new Map();
    for (const k of out) {
      const label = k.time + '|' + k.date;
      const other = seen.get(label);
      if (other) {
        for (const x of [other, k]) if (x.time.indexOf(' ') < 0) x.time += ' ' + zoneAbbr(x.d);
      }
      seen.set(label, k);
    }
    tickMemo = { key: key, ticks: out };
    return out;
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
    // The span follows the window size: the station's last CHART_WINDOWS
    // windows (a gap in the data is a gap in the line).
    const step = chartStep(ws);
    const lastStart = ws[ws.length - 1].start.getTime();
    const shown = ws.filter((w) => w.start.getTime() > lastStart - CHART_WINDOWS * step);
    const t0 = shown[0].start.getTime();
    const t1 = Math.max(...shown.map((w) => w.end.getTime()));
    const parts = runs(shown, step);
    const corrected = shown.filter((w) => w.rev > 1).length;
    const len = shown[shown.length - 1].end - shown[shown.length - 1].start;
    sub.textContent = (shown.length < ws.length ? 'the last ' : '') + shown.length + (shown.length === 1 ? ' window' : ' windows') +
      ' of ' + fmtDuration(len) + (step < len ? ' every ' + fmtDuration(step) : '') + ', ' +
      fmtStamp(new Date(t0)) + ' – ' + fmtStamp(new Date(t1)) +
      (parts.length > 1 ? ' · ' + (parts.length - 1) + (parts.length === 2 ? ' gap' : ' gaps') + ' (no data)' : '') +
      (corrected ? ' · ' + corrected + ' corrected' : '');

    const W = 580, H = 270, L = 56, R = 32, T = 12, B = 40;
    const span = Math.max(1, t1 - t0);
    const ymax = niceMax(Math.max(1, ...shown.map((w) => Math.max(w.entries, w.exits))));
    const x = (t) => L + ((t - t0) / span) * (W - L - R);
    const y = (v) => T + (1 - v / ymax) * (H - T - B);
    const mid = (w) => (w.start.getTime() + w.end.getTime()) / 2;
    const nodes = [];
    for (let i = 0; i <= 4; i++) {
      const v = (ymax * i) / 4;
      nodes.push(svg('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      nodes.push(svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, num(v)));
    }
    for (const k of ticks(t0, t1)) {
      const xt = x(k.t);
      nodes.push(svg('line', { class: k.date ? 'grid day' : 'grid', x1: xt, x2: xt, y1: T, y2: y(0) }));
      const label = svg('text', { class: 'tick', x: xt, y: H - B + 16, 'text-anchor': 'middle' });
      if (k.time) label.appendChild(svg('tspan', { class: 'clock', x: xt }, k.time));
      if (k.date && k.time) label.appendChild(svg('tspan', { class: 'date', x: xt, dy: 13 }, k.date));
      if (k.date && !k.time) {
        // A day alone: the weekday above the date, to fit a week of days.
        const date = svg('tspan', { class: 'date' });
        const sp = k.date.indexOf(' ');
        date.appendChild(svg('tspan', { x: xt }, k.date.slice(0, sp)));
        date.appendChild(svg('tspan', { x: xt, dy: 13 }, k.date.slice(sp + 1)));
        label.appendChild(date);
      }
      nodes.push(label);
    }
    nodes.push(svg('line', { class: 'axis', x1: L, x2: W - R, y1: y(0), y2: y(0) }));
    nodes.push(svg('line', { class: 'axis', x1: L, x2: L, y1: T, y2: y(0) }));
    for (const [field, cls] of [['entries', 'entries'], ['exits', 'exits']]) {
      for (const run of parts) {
        if (run.length < 2) continue;
        const pts = run.map((w) => x(mid(w)).toFixed(1) + ',' + y(w[field]).toFixed(1));
        nodes.push(svg('polyline', { class: 'line ' + cls, points: pts.join(' '), 'data-windows': run.length }));
      }
      for (const w of shown) {
        const c = svg('circle', {
          class: cls + (w.rev > 1 ? ' corrected' : ''),
          cx: x(mid(w)).toFixed(1), cy: y(w[field]).toFixed(1), r: w.rev > 1 ? 4.5 : shown.length > 120 ? 1.8 : 2.5,
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

  // renderWarnings shows the health report's warnings, each as text, in the
  // banner above the page; none (or no list) hides it.
  function renderWarnings(ws) {
    const list = Array.isArray(ws) ? ws.filter((w) => typeof w === 'string' && w.trim() !== '') : [];
    byId('warning-list').replaceChildren(...list.map((w) => el('li', '', w)));
    byId('warnings').hidden = list.length === 0;
  }

  function renderHealth(h) {
    renderWarnings(h.warnings);
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
    const zone = byId('zone');
    zone.textContent = zoneLabel(ZONE.tz) + (ZONE.problem ? ' (' + ZONE.problem + ')' : '');
    zone.title = 'Every time on this page is the wall clock in ' + ZONE.tz + ' (the member\'s dashboard time zone)';
    byId('window-head').textContent = 'Window (' + zoneCity(ZONE.tz) + ')';
    byId('search').addEventListener('input', (e) => { state.search = e.target.value; schedule(); });
    byId('latest').addEventListener('change', (e) => { state.latestOnly = e.target.checked; schedule(); });
    connect();
    pollHealth();
  });
})();
