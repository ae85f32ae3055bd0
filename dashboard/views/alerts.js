// Alerts: the tenant's firing and resolved alerts (public.alerts under RLS), firing first, each with a link to
// its failing event(s) in the Events view (#/events?id=<first event id>). Live: Realtime changes of alerts
// are merged into the list as they come (a new alert appears, a resolved one moves down).
import { h, keepTableRoles } from '../dom.js';

const LIMIT = 200;

const S = {
  title: { de: 'Alarme', en: 'Alerts' },
  intro: {
    de: 'Ausgelöste und behobene Alarme dieses Mandanten; neue erscheinen sofort.',
    en: 'This tenant’s firing and resolved alerts; new ones appear as they happen.',
  },
  show: { de: 'Anzeigen', en: 'Show' },
  all: { de: 'Alle', en: 'All' },
  firing: { de: 'Ausgelöst', en: 'Firing' },
  resolved: { de: 'Behoben', en: 'Resolved' },
  loading: { de: 'Wird geladen …', en: 'Loading …' },
  failed: { de: 'Die Alarme konnten nicht geladen werden:', en: 'The alerts could not be loaded:' },
  empty: { de: 'Keine Alarme.', en: 'No alerts.' },
  caption: { de: 'Alarme, ausgelöste zuerst', en: 'Alerts, firing first' },
  cols: {
    status: { de: 'Status', en: 'Status' },
    severity: { de: 'Schwere', en: 'Severity' },
    alert: { de: 'Alarm', en: 'Alert' },
    first: { de: 'Zuerst', en: 'First seen' },
    last: { de: 'Zuletzt', en: 'Last seen' },
    count: { de: 'Anzahl', en: 'Count' },
    resolvedAt: { de: 'Behoben am', en: 'Resolved at' },
  },
  openEvent: { de: 'Fehlgeschlagenes Ereignis öffnen', en: 'Open failing event' },
  openEvents: { de: (n) => `Fehlgeschlagene Ereignisse öffnen (${n})`, en: (n) => `Open failing events (${n})` },
  counts: {
    de: (f, r) => `${f} ausgelöst, ${r} behoben`,
    en: (f, r) => `${f} firing, ${r} resolved`,
  },
  live: {
    de: (x) => `Neuer Alarm: ${x}`,
    en: (x) => `New alert: ${x}`,
  },
  liveResolved: { de: (x) => `Behoben: ${x}`, en: (x) => `Resolved: ${x}` },
};

const SEVERITY = {
  critical: { de: 'Kritisch', en: 'Critical' },
  warning: { de: 'Warnung', en: 'Warning' },
  info: { de: 'Info', en: 'Info' },
};

const METRIC = {
  failed_events: { de: 'Fehlgeschlagene Ereignisse', en: 'Failed events' },
  oldest_pending_age: { de: 'Ältestes wartendes Ereignis', en: 'Oldest pending event' },
  handler_failure_rate: { de: 'Fehlerquote eines Handlers', en: 'Handler failure rate' },
  listener_heartbeat_missing: { de: 'Listener meldet sich nicht', en: 'Listener heartbeat missing' },
  ai_budget: { de: 'KI-Budget', en: 'AI budget' },
  webhook_signature_failures: { de: 'Ungültige Webhook-Signaturen', en: 'Webhook signature failures' },
  channel_send_failures: { de: 'Sendefehler eines Kanals', en: 'Channel send failures' },
  test: { de: 'Testalarm', en: 'Test alert' },
};

export default {
  id: 'alerts',
  label: { de: 'Alarme', en: 'Alerts' },

  mount(el, ctx) {
    const { sb, t, lang, tenant } = ctx;
    const locale = lang === 'de' ? 'de-DE' : 'en-GB';
    const tf = (dict, ...args) => { const v = t(dict); return typeof v === 'function' ? v(...args) : v; };
    const dateFmt = new Intl.DateTimeFormat(locale, { dateStyle: 'short', timeStyle: 'short' });
    const fullFmt = new Intl.DateTimeFormat(locale, { dateStyle: 'full', timeStyle: 'medium' });
    const when = (iso) => (iso ? h('time', { datetime: iso, title: fullFmt.format(new Date(iso)) }, dateFmt.format(new Date(iso))) : '–');
    const alerts = new Map();
    let alive = true;

    const show = h('select', { id: 'alerts-show', testid: 'alerts-filter-status' },
      h('option', { value: '' }, t(S.all)), h('option', { value: 'firing' }, t(S.firing)),
      h('option', { value: 'resolved' }, t(S.resolved)));
    const counts = h('p', { class: 'muted', role: 'status', 'aria-live': 'polite', testid: 'alerts-count' }, t(S.loading));
    const live = h('p', { class: 'alerts-live', role: 'status', 'aria-live': 'polite', testid: 'alerts-live' });
    const error = h('p', { class: 'error', role: 'alert', testid: 'alerts-error', hidden: true });
    const body = h('tbody');
    const wrap = h('div', { class: 'table-wrap' }, h('table', { testid: 'alerts-table' },
      h('caption', { class: 'alerts-caption' }, t(S.caption)),
      h('thead', {}, h('tr', {}, ['status', 'severity', 'alert', 'first', 'last', 'count', 'resolvedAt']
        .map((c) => h('th', { scope: 'col', class: c === 'count' ? 'num' : null }, t(S.cols[c]))))),
      body));
    const empty = h('p', { class: 'muted', testid: 'alerts-empty', hidden: true }, t(S.empty));
    el.replaceChildren(h('style', {}, STYLE), h('h2', {}, t(S.title)), h('p', { class: 'muted' }, t(S.intro)),
      h('div', { class: 'filters' }, h('label', { for: 'alerts-show' }, t(S.show), show)),
      counts, live, error, wrap, empty);
    show.addEventListener('change', render);

    function row(a) {
      const firing = a.status === 'firing';
      const ids = a.event_ids || [];
      const link = ids.length
        ? h('a', { href: `#/events?id=${encodeURIComponent(ids[0])}`, testid: 'alerts-event-link' },
          ids.length === 1 ? t(S.openEvent) : tf(S.openEvents, ids.length))
        : '–';
      const L = (c) => t(S.cols[c]);
      return h('tr', { testid: 'alerts-row', 'data-alert-id': a.id, 'data-status': a.status, class: firing ? 'alerts-firing' : null },
        h('td', { 'data-label': L('status') }, h('span', { class: `badge alerts-status-${a.status}`, testid: 'alerts-status' }, firing ? t(S.firing) : t(S.resolved))),
        h('td', { 'data-label': L('severity') }, h('span', { class: `alerts-severity-${a.severity}`, testid: 'alerts-severity' }, SEVERITY[a.severity] ? t(SEVERITY[a.severity]) : a.severity)),
        h('th', { scope: 'row' }, h('div', { class: 'alerts-metric', testid: 'alerts-metric' }, METRIC[a.metric] ? t(METRIC[a.metric]) : a.metric),
          h('div', { class: 'alerts-summary', testid: 'alerts-summary' }, a.summary),
          ids.length ? h('div', { class: 'alerts-link' }, link) : null),
        h('td', { 'data-label': L('first') }, when(a.first_seen_at)),
        h('td', { 'data-label': L('last') }, when(a.last_seen_at)),
        h('td', { class: 'num', testid: 'alerts-count-cell', 'data-label': L('count') }, String(a.count)),
        h('td', { 'data-label': L('resolvedAt'), class: a.resolved_at ? null : 'alerts-unset' }, when(a.resolved_at)));
    }

    function render() {
      const all = [...alerts.values()].sort((x, y) => (x.status === y.status ? 0 : x.status === 'firing' ? -1 : 1)
        || new Date(y.last_seen_at) - new Date(x.last_seen_at));
      const shown = show.value ? all.filter((a) => a.status === show.value) : all;
      body.replaceChildren(...shown.map(row));
      keepTableRoles(wrap.firstChild);
      const firing = all.filter((a) => a.status === 'firing').length;
      counts.textContent = tf(S.counts, firing, all.length - firing);
      empty.hidden = shown.length > 0;
      wrap.hidden = shown.length === 0;
    }

    async function load() {
      const { data, error: failure } = await sb.from('alerts')
        .select('id, rule_id, metric, dedup_key, status, severity, summary, first_seen_at, last_seen_at, resolved_at, count, event_ids, details')
        .order('last_seen_at', { ascending: false })
        .limit(LIMIT);
      if (!alive) return;
      if (failure) {
        error.textContent = `${t(S.failed)} ${failure.message}`;
        error.hidden = false;
        counts.textContent = '';
        return;
      }
      for (const a of data) alerts.set(a.id, a);
      render();
      el.dataset.loaded = 'true';
    }

    // Realtime carries the whole row: merge it (no reload). RLS of alerts decides what this user receives.
    const channel = sb.channel(`alerts-${tenant.id}`)
      .on('postgres_changes', { event: '*', schema: 'public', table: 'alerts', filter: `tenant_id=eq.${tenant.id}` }, (change) => {
        if (!alive) return;
        if (change.eventType === 'DELETE') {
          if (change.old && change.old.id) alerts.delete(change.old.id);
        } else if (change.new && change.new.id) {
          const before = alerts.get(change.new.id);
          alerts.set(change.new.id, change.new);
          if (change.new.status === 'firing' && !before) live.textContent = tf(S.live, change.new.summary);
          if (change.new.status === 'resolved' && before && before.status === 'firing') live.textContent = tf(S.liveResolved, change.new.summary);
        }
        render();
      })
      .subscribe();

    load();
    return () => {
      alive = false;
      sb.removeChannel(channel);
    };
  },
};

const STYLE = `
.view-alerts .alerts-caption { text-align: left; font-weight: 600; padding: .4rem .6rem; }
.view-alerts .filters select { min-width: 10rem; }
.view-alerts tr.alerts-firing td:first-child { border-left: 4px solid #b3261e; }
.view-alerts .alerts-status-firing { color: #b3261e; font-weight: 600; }
.view-alerts .alerts-status-resolved { color: #146c2e; }
.view-alerts .alerts-severity-critical { color: #b3261e; font-weight: 700; }
.view-alerts .alerts-severity-warning { color: #8a4b00; font-weight: 600; }
.view-alerts .alerts-severity-info { color: #4f5864; }
.view-alerts .alerts-metric { font-weight: 600; }
.view-alerts .alerts-summary { font-weight: 400; min-width: 14rem; overflow-wrap: anywhere; }
.view-alerts .alerts-link { font-weight: 400; margin-top: .2rem; }
.view-alerts th[scope=row] { white-space: normal; }
.view-alerts .alerts-live:empty { display: none; }
.view-alerts .alerts-live { background: #fff6d6; padding: .4rem .7rem; border-radius: .3rem; }
.view-alerts td time { white-space: nowrap; }
@media (max-width: 640px) {
  .view-alerts thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  .view-alerts table, .view-alerts tbody, .view-alerts tr, .view-alerts th[scope=row], .view-alerts td { display: block; }
  .view-alerts tr { display: flex; flex-wrap: wrap; gap: .1rem .8rem; padding: .6rem .7rem; border-bottom: 1px solid #c9ced6; }
  .view-alerts tr.alerts-firing { border-left: 4px solid #b3261e; }
  .view-alerts tr.alerts-firing td:first-child { border-left: 0; }
  .view-alerts th[scope=row] { order: -1; flex-basis: 100%; background: none; border: 0; padding: 0 0 .2rem; white-space: normal; }
  .view-alerts td { border: 0; padding: .1rem 0; text-align: left; }
  .view-alerts td.num { text-align: left; }
  .view-alerts td[data-label]::before { content: attr(data-label) ": "; font-weight: 600; color: #4f5864; font-size: .85rem; }
  .view-alerts td.alerts-unset { display: none; }
  .view-alerts caption { display: block; width: auto; }
}
`;
