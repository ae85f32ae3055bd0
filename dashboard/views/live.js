// Live: the tenant's events as they change, through Realtime postgres_changes on public.events (RLS
// decides per subscriber which rows arrive). A failed event appears, a replayed one turns pending and
// then processed, without reloading. Opens with the most recent events, newest first.
import { h } from '../dom.js';

const S = {
  title: { de: 'Live', en: 'Live' },
  connecting: { de: 'Verbinde …', en: 'Connecting …' },
  connected: { de: 'Verbunden: Änderungen erscheinen sofort.', en: 'Connected: changes appear as they happen.' },
  disconnected: { de: 'Verbindung unterbrochen; verbinde neu …', en: 'Disconnected; reconnecting …' },
  onlyFailed: { de: 'Nur Fehler zeigen', en: 'Show failures only' },
  pause: { de: 'Anhalten', en: 'Pause' },
  resume: { de: 'Fortsetzen', en: 'Resume' },
  paused: { de: 'Angehalten', en: 'Paused' },
  time: { de: 'Zeit', en: 'Time' },
  type: { de: 'Typ', en: 'Type' },
  status: { de: 'Status', en: 'Status' },
  attempts: { de: 'Versuche', en: 'Attempts' },
  lastError: { de: 'Letzter Fehler', en: 'Last error' },
  open: { de: 'Öffnen', en: 'Open' },
  caption: { de: 'Zuletzt geänderte Ereignisse, neueste zuerst', en: 'Recently changed events, newest first' },
  failedSeen: { de: 'Fehler seit dem Öffnen', en: 'Failures since opened' },
  changes: { de: 'Änderungen seit dem Öffnen', en: 'Changes since opened' },
  empty: { de: 'Noch keine Ereignisse.', en: 'No events yet.' },
  failed: { de: 'Fehlgeschlagen', en: 'Failed' },
  pending: { de: 'Wartend', en: 'Pending' },
  processing: { de: 'In Arbeit', en: 'Processing' },
  processed: { de: 'Verarbeitet', en: 'Processed' },
};

const KEEP = 100;

export default {
  id: 'live',
  label: { de: 'Live', en: 'Live' },
  mount(el, ctx) {
    const { sb, t, tenant } = ctx;
    const locale = ctx.lang === 'de' ? 'de-DE' : 'en-GB';
    const statusLabel = (s) => t(S[s] || { de: s, en: s });
    const rows = new Map(); // event id -> <tr>
    let alive = true;
    let paused = false;
    let failedSeen = 0;
    let changes = 0;

    const connection = h('p', { role: 'status', 'aria-live': 'polite', class: 'muted', testid: 'live-status', text: t(S.connecting) });
    const onlyFailed = h('input', { type: 'checkbox', id: 'live-only-failed', testid: 'live-only-failed' });
    const pauseButton = h('button', { type: 'button', testid: 'live-pause', 'aria-pressed': 'false' }, t(S.pause));
    const failedCount = h('span', { class: 'value', testid: 'live-count-failed', text: '0' });
    const changeCount = h('span', { class: 'value', testid: 'live-count-changes', text: '0' });
    const tbody = h('tbody', { testid: 'live-rows' });
    const empty = h('tr', { testid: 'live-empty' }, h('td', { colspan: 6, text: t(S.empty) }));
    tbody.append(empty);

    el.append(
      h('h2', { text: t(S.title) }),
      connection,
      h('div', { class: 'live-head' },
        h('label', { for: 'live-only-failed' }, onlyFailed, ' ', t(S.onlyFailed)),
        pauseButton),
      h('div', { class: 'cards' },
        h('div', { class: 'card' }, h('span', { class: 'label', text: t(S.failedSeen) }), failedCount),
        h('div', { class: 'card' }, h('span', { class: 'label', text: t(S.changes) }), changeCount)),
      h('div', { class: 'table-wrap' }, h('table', {},
        h('caption', { class: 'muted', text: t(S.caption) }),
        h('thead', {}, h('tr', {}, [S.time, S.type, S.status, S.attempts, S.lastError, S.open]
          .map((s) => h('th', { scope: 'col', text: t(s) })))),
        tbody)),
    );

    const applyFilter = (tr) => { tr.hidden = onlyFailed.checked && tr.dataset.status !== 'failed'; };
    onlyFailed.addEventListener('change', () => rows.forEach(applyFilter));
    pauseButton.addEventListener('click', () => {
      paused = !paused;
      pauseButton.textContent = paused ? t(S.resume) : t(S.pause);
      pauseButton.setAttribute('aria-pressed', String(paused));
      if (paused) connection.textContent = t(S.paused);
      else connection.textContent = t(S.connected);
    });

    function render(ev, flash) {
      const when = ev.failed_at || ev.processed_at || ev.created_at;
      const tr = h('tr', { testid: 'live-row', 'data-event-id': ev.id, 'data-status': ev.status, class: flash ? 'flash' : null },
        h('td', { text: when ? new Date(when).toLocaleTimeString(locale) : '' }),
        h('th', { scope: 'row' }, h('code', { text: ev.type })),
        h('td', {}, h('span', { class: `badge badge-${ev.status}`, testid: 'live-row-status', text: statusLabel(ev.status) })),
        h('td', { class: 'num', text: `${ev.attempts}/${ev.max_attempts}` }),
        // A processed event keeps the error of an earlier run in last_error; it is news only while not processed.
        h('td', { class: 'error-text', text: ev.status === 'processed' ? '' : (ev.last_error || '') }),
        h('td', {}, h('a', { href: `#/events?id=${ev.id}`, testid: 'live-open-link', 'aria-label': `${t(S.open)} ${ev.type} ${ev.id}`, text: t(S.open) })));
      applyFilter(tr);
      return tr;
    }

    function upsert(ev, flash) {
      empty.remove();
      const old = rows.get(ev.id);
      const tr = render(ev, flash);
      if (old) old.remove();
      rows.set(ev.id, tr);
      tbody.prepend(tr);
      while (rows.size > KEEP) {
        const [oldest] = rows.keys();
        rows.get(oldest).remove();
        rows.delete(oldest);
      }
    }

    function changed(payload) {
      if (!alive || paused || !payload.new || !payload.new.id) return;
      const ev = payload.new;
      changes += 1;
      const before = rows.get(ev.id)?.dataset.status;
      if (ev.status === 'failed' && before !== 'failed') failedSeen += 1;
      changeCount.textContent = changes.toLocaleString(locale);
      failedCount.textContent = failedSeen.toLocaleString(locale);
      upsert(ev, true);
    }

    const channel = sb.channel(`dashboard-live-${tenant.id}-${Math.random().toString(36).slice(2)}`)
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'events', filter: `tenant_id=eq.${tenant.id}` }, changed)
      .on('postgres_changes', { event: 'UPDATE', schema: 'public', table: 'events', filter: `tenant_id=eq.${tenant.id}` }, changed)
      .subscribe((state) => {
        if (!alive) return;
        if (state === 'SUBSCRIBED') {
          connection.textContent = paused ? t(S.paused) : t(S.connected);
          el.dataset.live = 'true';
        } else if (state === 'CHANNEL_ERROR' || state === 'TIMED_OUT' || state === 'CLOSED') {
          connection.textContent = t(S.disconnected);
          el.dataset.live = 'false';
        }
      });

    // The most recent events first (events_tenant_created_idx), then changes on top as they arrive.
    sb.from('events').select('id,type,status,attempts,max_attempts,last_error,created_at,processed_at,failed_at')
      .order('created_at', { ascending: false }).limit(20)
      .then(({ data }) => {
        if (!alive || !data) return;
        for (const ev of data.reverse()) if (!rows.has(ev.id)) upsert(ev, false);
      });

    return () => {
      alive = false;
      sb.removeChannel(channel);
    };
  },
};
