// Events: counts by status and type, throughput and the oldest pending event over the last hour, the
// failed events with their last error, attempts and per-handler deliveries, filters, and Replay.
// Reads: public.dashboard_event_summary (one RPC, index-backed, RLS) and public.events with its
// event_deliveries embedded (RLS). Replay: public.dashboard_replay_event (owners and admins only; the
// database checks the role from the token, the disabled button only explains it). Live: Realtime
// postgres_changes on public.events refresh what is shown.
import { h } from '../dom.js';

const S = {
  title: { de: 'Ereignisse', en: 'Events' },
  failed: { de: 'Fehlgeschlagen', en: 'Failed' },
  pending: { de: 'Wartend', en: 'Pending' },
  processing: { de: 'In Arbeit', en: 'Processing' },
  processed: { de: 'Verarbeitet', en: 'Processed' },
  processedHour: { de: 'Verarbeitet (letzte Stunde)', en: 'Processed (last hour)' },
  throughput: { de: 'Durchsatz pro Minute (letzte Stunde)', en: 'Throughput per minute (last hour)' },
  oldestPending: { de: 'Ältestes wartendes Ereignis', en: 'Oldest pending event' },
  none: { de: 'keins', en: 'none' },
  filters: { de: 'Filter', en: 'Filters' },
  type: { de: 'Typ', en: 'Type' },
  status: { de: 'Status', en: 'Status' },
  time: { de: 'Zeitraum', en: 'Time range' },
  allTypes: { de: 'Alle Typen', en: 'All types' },
  allStatuses: { de: 'Alle Status', en: 'All statuses' },
  last15m: { de: 'Letzte 15 Minuten', en: 'Last 15 minutes' },
  last1h: { de: 'Letzte Stunde', en: 'Last hour' },
  last6h: { de: 'Letzte 6 Stunden', en: 'Last 6 hours' },
  last24h: { de: 'Letzte 24 Stunden', en: 'Last 24 hours' },
  last7d: { de: 'Letzte 7 Tage', en: 'Last 7 days' },
  byType: { de: 'Nach Typ (im Zeitraum)', en: 'By type (in the time range)' },
  list: { de: 'Ereignisse im Zeitraum', en: 'Events in the time range' },
  failedList: { de: 'Fehlgeschlagene Ereignisse', en: 'Failed events' },
  created: { de: 'Erstellt', en: 'Created' },
  attempts: { de: 'Versuche', en: 'Attempts' },
  lastError: { de: 'Letzter Fehler', en: 'Last error' },
  handlers: { de: 'Handler', en: 'Handlers' },
  actions: { de: 'Aktionen', en: 'Actions' },
  total: { de: 'Summe', en: 'Total' },
  replay: { de: 'Fehlgeschlagene Handler erneut ausführen', en: 'Replay failed handlers' },
  replayShort: { de: 'Erneut ausführen', en: 'Replay' },
  replayAll: { de: 'Alle Handler', en: 'All handlers' },
  replayAllLong: { de: 'Alle Handler erneut ausführen', en: 'Replay all handlers' },
  replayReason: {
    de: 'Nur Inhaber und Admins dürfen Ereignisse erneut ausführen; Ihre Rolle ist Mitglied.',
    en: 'Only owners and admins may replay events; your role is member.',
  },
  replayed: { de: 'Erneut eingereiht; der Listener verarbeitet es gleich.', en: 'Queued again; the listener picks it up.' },
  replayFailed: { de: 'Erneut ausführen abgelehnt: ', en: 'Replay refused: ' },
  empty: { de: 'Keine Ereignisse für diese Filter.', en: 'No events match these filters.' },
  loading: { de: 'Lädt …', en: 'Loading …' },
  updated: { de: 'Aktualisiert', en: 'Updated' },
  loadFailed: { de: 'Laden fehlgeschlagen: ', en: 'Loading failed: ' },
  detail: { de: 'Ereignis', en: 'Event' },
  notFound: { de: 'Dieses Ereignis gibt es in Ihrem Mandanten nicht.', en: 'No such event in your tenant.' },
  close: { de: 'Schließen', en: 'Close' },
  open: { de: 'Details', en: 'Details' },
  noDeliveries: { de: 'noch keine', en: 'none yet' },
  seconds: { de: 's', en: 's' },
  chart: { de: 'Verarbeitet und fehlgeschlagen pro Minute', en: 'Processed and failed per minute' },
};

const STATUSES = ['failed', 'pending', 'processing', 'processed'];
const RANGES = { '15m': 15 * 60, '1h': 3600, '6h': 6 * 3600, '24h': 24 * 3600, '7d': 7 * 24 * 3600 - 60 };
const RANGE_LABELS = { '15m': 'last15m', '1h': 'last1h', '6h': 'last6h', '24h': 'last24h', '7d': 'last7d' };
// The order that each status filter's list is read in, so each is one index range (docs/dashboard.md).
const ORDER = { failed: 'failed_at', processed: 'processed_at', pending: 'run_after', processing: 'locked_until', '': 'created_at' };
const LIST_LIMIT = 50;
const SELECT = 'id,type,status,attempts,max_attempts,last_error,created_at,failed_at,processed_at,run_after';
// event_deliveries has no foreign key to events (the engine forgets deliveries with a statement trigger),
// so they are read by their primary key (event_id, handler) for the events shown, not embedded.
const DELIVERIES = 'event_id,handler,status,attempts,last_error,finished_at';

async function withDeliveries(sb, result) {
  if (result.error || !result.data || !result.data.length) return result;
  const rows = Array.isArray(result.data) ? result.data : [result.data];
  const { data, error } = await sb.from('event_deliveries').select(DELIVERIES).in('event_id', rows.map((e) => e.id))
    .order('handler');
  if (error) return { data: null, error };
  for (const ev of rows) ev.event_deliveries = data.filter((d) => d.event_id === ev.id);
  return result;
}

export default {
  id: 'events',
  label: { de: 'Ereignisse', en: 'Events' },
  mount(el, ctx) {
    const { sb, t, tenant } = ctx;
    const canReplay = tenant.role === 'owner' || tenant.role === 'admin';
    const locale = ctx.lang === 'de' ? 'de-DE' : 'en-GB';
    const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString(locale, { dateStyle: 'short', timeStyle: 'medium' }) : '');
    const fmtNum = (n) => Number(n || 0).toLocaleString(locale);
    const statusLabel = (s) => t(S[s] || { de: s, en: s });
    const filters = { type: '', status: 'failed', range: '1h' };
    const detailId = ctx.params.get('id');
    let alive = true;
    let refreshTimer = null;
    let lastRefresh = 0;
    const replayed = new Set();
    performance.clearMarks('events-mount');
    performance.clearMeasures('events-loaded');
    performance.mark('events-mount');

    const statusEl = h('p', { class: 'muted', role: 'status', 'aria-live': 'polite', testid: 'events-status', text: t(S.loading) });
    const reasonId = 'events-replay-reason';
    const reason = canReplay ? null : h('p', { id: reasonId, class: 'reason', testid: 'events-replay-reason', text: t(S.replayReason) });
    const detail = h('section', { testid: 'events-detail', 'aria-labelledby': 'events-detail-title', hidden: !detailId });
    const cards = h('div', { class: 'cards', testid: 'events-counts' });
    const chart = h('div', { class: 'chart', testid: 'events-throughput-chart' });
    const typeSelect = h('select', { id: 'events-filter-type', testid: 'events-filter-type' },
      h('option', { value: '', text: t(S.allTypes) }));
    const statusSelect = h('select', { id: 'events-filter-status', testid: 'events-filter-status' },
      h('option', { value: '', text: t(S.allStatuses) }),
      STATUSES.map((s) => h('option', { value: s, text: statusLabel(s), selected: s === filters.status })));
    const rangeSelect = h('select', { id: 'events-filter-time', testid: 'events-filter-time' },
      Object.keys(RANGES).map((r) => h('option', { value: r, text: t(S[RANGE_LABELS[r]]), selected: r === filters.range })));
    const onFilter = () => {
      filters.type = typeSelect.value;
      filters.status = statusSelect.value;
      filters.range = rangeSelect.value;
      refresh();
    };
    [typeSelect, statusSelect, rangeSelect].forEach((s) => s.addEventListener('change', onFilter));
    const form = h('form', { class: 'filters', testid: 'events-filters', 'aria-label': t(S.filters), onsubmit: (e) => e.preventDefault() },
      h('label', { for: 'events-filter-type' }, h('span', { text: t(S.type) }), typeSelect),
      h('label', { for: 'events-filter-status' }, h('span', { text: t(S.status) }), statusSelect),
      h('label', { for: 'events-filter-time' }, h('span', { text: t(S.time) }), rangeSelect));
    const typeTable = h('div', { class: 'table-wrap', testid: 'events-type-table' });
    const listTitle = h('h3', { id: 'events-list-title', text: t(S.failedList) });
    const listWrap = h('div', { class: 'table-wrap', testid: 'events-list' });

    el.append(
      h('h2', { text: t(S.title) }),
      statusEl,
      detail,
      cards,
      h('h3', { text: t(S.throughput) }),
      chart,
      form,
      h('h3', { text: t(S.byType) }),
      typeTable,
      listTitle,
      ...(reason ? [reason] : []),
      listWrap,
    );

    function card(testid, label, value, extra) {
      return h('div', { class: 'card', testid },
        h('span', { class: 'label', text: label }),
        h('span', { class: 'value', testid: `${testid}-value`, text: value }),
        extra ? h('span', { class: 'label', text: extra }) : null);
    }

    function age(seconds) {
      if (seconds == null) return t(S.none);
      if (seconds < 90) return `${Math.round(seconds)} s`;
      if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
      return `${(seconds / 3600).toFixed(1)} h`;
    }

    function renderSummary(sum) {
      const perMinute = (sum.processed_last_hour || 0) / 60;
      cards.replaceChildren(
        card('events-count-failed', t(S.failed), fmtNum(sum.failed)),
        card('events-count-pending', t(S.pending), fmtNum(sum.pending)),
        card('events-count-processing', t(S.processing), fmtNum(sum.processing)),
        card('events-count-processed-hour', t(S.processedHour), fmtNum(sum.processed_last_hour)),
        card('events-throughput', t(S.throughput), perMinute.toLocaleString(locale, { maximumFractionDigits: 1 })),
        card('events-oldest-pending', t(S.oldestPending), age(sum.oldest_pending_age_seconds)),
      );
      renderChart(sum.throughput || []);
      const rows = new Map();
      for (const r of sum.window_by_type || []) {
        if (!rows.has(r.type)) rows.set(r.type, {});
        rows.get(r.type)[r.status] = r.count;
      }
      const known = new Set([...typeSelect.options].map((o) => o.value));
      for (const type of rows.keys()) if (!known.has(type)) typeSelect.append(h('option', { value: type, text: type }));
      const head = h('tr', {}, h('th', { scope: 'col', text: t(S.type) }),
        STATUSES.map((s) => h('th', { scope: 'col', class: 'num', text: statusLabel(s) })),
        h('th', { scope: 'col', class: 'num', text: t(S.total) }));
      const body = [...rows.entries()].sort().map(([type, c]) => h('tr', { testid: 'events-type-row', 'data-type': type },
        h('th', { scope: 'row', text: type }),
        STATUSES.map((s) => h('td', { class: 'num', 'data-status': s, text: fmtNum(c[s]) })),
        h('td', { class: 'num', text: fmtNum(STATUSES.reduce((a, s) => a + (c[s] || 0), 0)) })));
      typeTable.replaceChildren(h('table', {}, h('caption', { class: 'sr-only', text: t(S.byType) }),
        h('thead', {}, head), h('tbody', {}, body.length ? body : h('tr', {}, h('td', { colspan: 6, text: t(S.empty) })))));
    }

    function renderChart(points) {
      // 60 bars, one per minute of the last hour (processed; failed stacked in red). Summarised for screen
      // readers by the cards above; the chart is decoration with a label.
      const byMinute = new Map(points.map((p) => [new Date(p.minute).getTime(), p]));
      const now = Math.floor(Date.now() / 60000) * 60000;
      const data = [];
      for (let i = 59; i >= 0; i--) {
        const p = byMinute.get(now - i * 60000);
        data.push({ processed: p ? p.processed : 0, failed: p ? p.failed : 0 });
      }
      const max = Math.max(1, ...data.map((d) => d.processed + d.failed));
      const ns = 'http://www.w3.org/2000/svg';
      const svg = document.createElementNS(ns, 'svg');
      svg.setAttribute('viewBox', '0 0 600 80');
      svg.setAttribute('preserveAspectRatio', 'none');
      svg.setAttribute('role', 'img');
      svg.setAttribute('aria-label', t(S.chart));
      svg.setAttribute('class', 'throughput');
      data.forEach((d, i) => {
        const hp = (d.processed / max) * 78;
        const hf = (d.failed / max) * 78;
        for (const [height, y, cls] of [[hp, 80 - hp, 'bar-ok'], [hf, 80 - hp - hf, 'bar-failed']]) {
          if (height <= 0) continue;
          const r = document.createElementNS(ns, 'rect');
          r.setAttribute('x', String(i * 10 + 1));
          r.setAttribute('width', '8');
          r.setAttribute('y', String(y));
          r.setAttribute('height', String(Math.max(height, 1)));
          r.setAttribute('class', cls);
          svg.append(r);
        }
      });
      chart.replaceChildren(svg);
    }

    function deliveries(list) {
      if (!list || !list.length) return h('span', { class: 'muted', text: t(S.noDeliveries) });
      return h('ul', { class: 'deliveries' }, list.map((d) => h('li', { testid: 'events-delivery', 'data-handler': d.handler, 'data-status': d.status },
        h('code', { text: d.handler }), ' ',
        h('span', { class: `badge badge-${d.status}`, text: d.status }),
        ` ×${d.attempts}`,
        d.last_error ? h('div', { class: 'reason', text: d.last_error }) : null)));
    }

    function replayButtons(ev) {
      const replayable = ev.status === 'failed' || ev.status === 'processed';
      const attrs = (all) => ({
        type: 'button',
        class: all ? '' : 'primary',
        testid: all ? 'events-replay-all-button' : 'events-replay-button',
        'aria-label': `${t(all ? S.replayAllLong : S.replay)}: ${ev.type} ${ev.id}`,
        title: canReplay ? t(all ? S.replayAllLong : S.replay) : t(S.replayReason),
        'aria-describedby': canReplay ? null : reasonId,
        disabled: !canReplay || !replayable,
        onclick: () => replay(ev.id, all),
      });
      return h('div', { class: 'actions' },
        h('button', attrs(false), t(S.replayShort)),
        h('button', attrs(true), t(S.replayAll)),
        detailId === ev.id ? null : h('a', { href: `#/events?id=${ev.id}`, testid: 'events-open-link', text: t(S.open) }));
    }

    function eventRow(ev, highlight) {
      return h('tr', {
        testid: ev.status === 'failed' ? 'events-failed-row' : 'events-row',
        'data-event-id': ev.id,
        'data-status': ev.status,
        class: highlight ? 'highlight' : null,
      },
      h('td', { text: fmtTime(ev.failed_at || ev.processed_at || ev.created_at) }),
      h('th', { scope: 'row' }, h('code', { text: ev.type }), h('div', { class: 'muted mono', text: ev.id.slice(0, 8) })),
      h('td', {}, h('span', { class: `badge badge-${ev.status}`, testid: 'events-row-status', text: statusLabel(ev.status) })),
      h('td', { class: 'num', testid: 'events-row-attempts', text: `${ev.attempts}/${ev.max_attempts}` }),
      h('td', { class: 'error-text', testid: 'events-row-error', text: ev.last_error || '' }),
      h('td', {}, deliveries(ev.event_deliveries)),
      h('td', {}, replayButtons(ev)));
    }

    function eventTable(rows, caption) {
      const head = h('tr', {}, [S.created, S.type, S.status, S.attempts, S.lastError, S.handlers, S.actions]
        .map((s) => h('th', { scope: 'col', text: t(s) })));
      return h('table', {}, h('caption', { class: 'sr-only', text: caption }), h('thead', {}, head), h('tbody', {}, rows));
    }

    function renderList(events) {
      listTitle.textContent = filters.status === 'failed' ? t(S.failedList) : t(S.list);
      const rows = events.map((ev) => eventRow(ev, ev.id === detailId));
      listWrap.replaceChildren(eventTable(rows.length ? rows : [h('tr', {}, h('td', { colspan: 7, testid: 'events-empty', text: t(S.empty) }))],
        listTitle.textContent));
    }

    async function loadDetail() {
      if (!detailId) return;
      const { data, error } = await withDeliveries(sb,
        await sb.from('events').select(`${SELECT},payload,source,correlation_id`).eq('id', detailId).maybeSingle());
      if (!alive) return;
      const title = h('h3', { id: 'events-detail-title', text: `${t(S.detail)} ${detailId}` });
      const close = h('button', { type: 'button', testid: 'events-detail-close', onclick: () => ctx.navigate('#/events') }, t(S.close));
      if (error || !data) {
        detail.replaceChildren(title, h('p', { class: 'error', testid: 'events-detail-missing', text: error ? t(S.loadFailed) + error.message : t(S.notFound) }), close);
        return;
      }
      detail.replaceChildren(title,
        h('div', { class: 'table-wrap' }, eventTable([eventRow(data, true)], t(S.detail))),
        h('pre', { class: 'payload mono', testid: 'events-detail-payload', text: JSON.stringify(data.payload, null, 2) }),
        close);
    }

    async function refresh() {
      lastRefresh = Date.now();
      const since = new Date(Date.now() - RANGES[filters.range] * 1000).toISOString();
      let list = sb.from('events').select(SELECT).gte('created_at', since);
      if (filters.type) list = list.eq('type', filters.type);
      if (filters.status) list = list.eq('status', filters.status);
      // failed_at, processed_at and run_after are never before created_at: the same rows, but the bound
      // makes the status's partial index scan stop at the window instead of walking all of that status.
      if (['failed', 'processed', 'pending'].includes(filters.status)) list = list.gte(ORDER[filters.status], since);
      // Default null ordering on purpose: desc nulls first is the partial indexes' backward scan.
      list = list.order(ORDER[filters.status], { ascending: filters.status === 'pending' }).limit(LIST_LIMIT);
      // Events replayed from this view stay in the list, whatever the filter, until the view is left:
      // the user sees them turn pending, then processed (or failed again).
      const again = replayed.size ? sb.from('events').select(SELECT).in('id', [...replayed]) : Promise.resolve({ data: [] });
      const [summary, events, replayedRows] = await Promise.all([
        sb.rpc('dashboard_event_summary', { p_since: since, p_type: filters.type || null }),
        list.then((r) => withDeliveries(sb, r)),
        Promise.resolve(again).then((r) => withDeliveries(sb, r)),
        loadDetail(),
      ]);
      if (!alive) return;
      const failure = summary.error || events.error;
      if (failure) {
        statusEl.textContent = t(S.loadFailed) + failure.message;
        return;
      }
      renderSummary(summary.data || {});
      const shown = events.data || [];
      const ids = new Set(shown.map((e) => e.id));
      renderList([...(replayedRows.data || []).filter((e) => !ids.has(e.id)), ...shown]);
      statusEl.textContent = `${t(S.updated)} ${new Date().toLocaleTimeString(locale)}`;
      if (el.dataset.loaded !== 'true') performance.measure('events-loaded', 'events-mount'); // bench/dashboard.py
      el.dataset.loaded = 'true';
    }

    // Changes arrive for every event of the tenant; the view refreshes at most every 2 s (at once for a
    // failure or a row it shows), so a busy outbox does not turn into a query per change.
    function changed(payload) {
      const row = payload.new || {};
      const shown = listWrap.querySelector(`[data-event-id="${row.id}"]`) || detail.querySelector(`[data-event-id="${row.id}"]`);
      const urgent = shown || row.status === 'failed' || replayed.has(row.id);
      const wait = urgent ? 150 : Math.max(0, 2000 - (Date.now() - lastRefresh));
      if (refreshTimer) {
        if (!urgent) return;
        clearTimeout(refreshTimer);
      }
      refreshTimer = setTimeout(() => { refreshTimer = null; if (alive) refresh(); }, wait);
    }

    async function replay(id, all) {
      statusEl.textContent = t(S.loading);
      const { error } = await sb.rpc('dashboard_replay_event', { p_event_id: id, p_all_handlers: all });
      if (!alive) return;
      if (error) {
        statusEl.textContent = t(S.replayFailed) + error.message;
        return;
      }
      replayed.add(id);
      statusEl.textContent = t(S.replayed);
      refresh();
    }

    sb.from('event_types').select('name').order('name').then(({ data }) => {
      if (!alive || !data) return;
      const known = new Set([...typeSelect.options].map((o) => o.value));
      for (const { name } of data) if (!known.has(name)) typeSelect.append(h('option', { value: name, text: name }));
    });

    const channel = sb.channel(`dashboard-events-${tenant.id}-${Math.random().toString(36).slice(2)}`)
      .on('postgres_changes', { event: 'UPDATE', schema: 'public', table: 'events', filter: `tenant_id=eq.${tenant.id}` }, changed)
      .subscribe();
    // Oldest pending age and per-minute bars move with the clock even when nothing changes.
    const ticker = setInterval(() => { if (Date.now() - lastRefresh > 15000) refresh(); }, 5000);

    refresh();
    return () => {
      alive = false;
      clearInterval(ticker);
      if (refreshTimer) clearTimeout(refreshTimer);
      sb.removeChannel(channel);
    };
  },
};
