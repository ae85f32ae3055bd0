// Inbox: the tenant's conversations on every channel, highest priority first (public.inbox, security invoker:
// RLS scopes it to the token's tenant). "Needs attention" (the default) shows only conversations waiting for a
// person. Realtime on conversations and messages reloads the list; "Load more" pages by (priority, id).
import { h, keepTableRoles } from '../dom.js';

const PAGE = 50;

const S = {
  title: { de: 'Posteingang', en: 'Inbox' },
  intro: {
    de: 'Gespräche aller Kanäle, höchste Priorität zuerst.',
    en: 'Conversations on every channel, highest priority first.',
  },
  needsAttention: { de: 'Nur „braucht Aufmerksamkeit“', en: 'Needs attention only' },
  refresh: { de: 'Aktualisieren', en: 'Refresh' },
  loadMore: { de: 'Mehr laden', en: 'Load more' },
  loading: { de: 'Wird geladen …', en: 'Loading …' },
  count: {
    de: (n) => (n === 1 ? '1 Gespräch' : `${n} Gespräche`),
    en: (n) => (n === 1 ? '1 conversation' : `${n} conversations`),
  },
  empty: { de: 'Keine Gespräche.', en: 'No conversations.' },
  emptyAttention: { de: 'Kein Gespräch wartet auf eine Person.', en: 'No conversation is waiting for a person.' },
  failed: { de: 'Der Posteingang konnte nicht geladen werden:', en: 'The inbox could not be loaded:' },
  caption: { de: 'Gespräche nach Priorität', en: 'Conversations by priority' },
  cols: {
    lead: { de: 'Lead', en: 'Lead' },
    channel: { de: 'Kanal', en: 'Channel' },
    status: { de: 'Status', en: 'Status' },
    priority: { de: 'Priorität', en: 'Priority' },
    reasons: { de: 'Gründe', en: 'Reasons' },
    last: { de: 'Letzte Nachricht', en: 'Last message' },
    unread: { de: 'Ungelesen', en: 'Unread' },
  },
  inbound: { de: 'Vom Lead', en: 'From the lead' },
  outbound: { de: 'Von uns', en: 'From us' },
  draft: { de: 'Entwurf prüfen', en: 'Review draft' },
  noName: { de: '(ohne Namen)', en: '(no name)' },
  priorityOf: { de: (n) => `Priorität ${n} von 100`, en: (n) => `Priority ${n} of 100` },
};

const STATUS = {
  new: { de: 'Neu', en: 'New' },
  dm_initiated_no_response: { de: 'Angeschrieben, keine Antwort', en: 'Contacted, no response' },
  read_no_reply: { de: 'Gelesen, keine Antwort', en: 'Read, no reply' },
  replied: { de: 'Geantwortet', en: 'Replied' },
  needs_human_attention: { de: 'Braucht Aufmerksamkeit', en: 'Needs attention' },
  in_sequence: { de: 'In Sequenz', en: 'In sequence' },
  delay_requested: { de: 'Später gewünscht', en: 'Asked to wait' },
  converted: { de: 'Gewonnen', en: 'Converted' },
  archived: { de: 'Archiviert', en: 'Archived' },
  unsubscribed: { de: 'Abgemeldet', en: 'Unsubscribed' },
};

const CHANNEL = {
  whatsapp: { de: 'WhatsApp', en: 'WhatsApp' },
  instagram: { de: 'Instagram', en: 'Instagram' },
  sms: { de: 'SMS', en: 'SMS' },
  email: { de: 'E-Mail', en: 'Email' },
  telegram: { de: 'Telegram', en: 'Telegram' },
};

// public.inbox names its reasons in English; these say the same in German.
const REASONS = [
  [/^needs a person$/, { de: () => 'braucht eine Person', en: () => 'needs a person' }],
  [/^showed interest$/, { de: () => 'hat Interesse gezeigt', en: () => 'showed interest' }],
  [/^(\d+) unread$/, { de: (m) => `${m[1]} ungelesen`, en: (m) => `${m[1]} unread` }],
  [/^positive tone$/, { de: () => 'positiver Ton', en: () => 'positive tone' }],
  [/^negative tone$/, { de: () => 'negativer Ton', en: () => 'negative tone' }],
  [/^lead score (\d+)$/, { de: (m) => `Lead-Score ${m[1]}`, en: (m) => `lead score ${m[1]}` }],
  [/^asked to wait until (\S+)$/, { de: (m, f) => `möchte warten bis ${f(m[1])}`, en: (m, f) => `asked to wait until ${f(m[1])}` }],
  [/^a draft waits for approval$/, { de: () => 'ein Entwurf wartet auf Freigabe', en: () => 'a draft waits for approval' }],
];

export default {
  id: 'inbox',
  label: { de: 'Posteingang', en: 'Inbox' },

  mount(el, ctx) {
    const { sb, t, lang, tenant } = ctx;
    const locale = lang === 'de' ? 'de-DE' : 'en-GB';
    const tf = (dict, ...args) => { const v = t(dict); return typeof v === 'function' ? v(...args) : v; };
    const dateFmt = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' });
    const dayFmt = new Intl.DateTimeFormat(locale, { dateStyle: 'medium' });
    const rel = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
    let rows = [];
    let more = false;
    let alive = true;
    let seq = 0;

    const reasonText = (r) => {
      for (const [re, dict] of REASONS) {
        const m = r.match(re);
        if (m) return t(dict)(m, (d) => { const x = new Date(`${d}T00:00:00`); return Number.isNaN(x.getTime()) ? d : dayFmt.format(x); });
      }
      return r;
    };
    const ago = (iso) => {
      const s = (new Date(iso).getTime() - Date.now()) / 1000;
      const steps = [[60, 'second'], [3600, 'minute'], [86400, 'hour'], [604800, 'day'], [2629800, 'week'], [31557600, 'month']];
      let unit = 'year'; let div = 31557600;
      for (let i = 0; i < steps.length; i += 1) {
        if (Math.abs(s) < steps[i][0]) { unit = steps[i][1]; div = i === 0 ? 1 : steps[i - 1][0]; break; }
      }
      return rel.format(Math.round(s / div), unit);
    };

    const filter = h('input', { type: 'checkbox', id: 'inbox-needs-attention', testid: 'inbox-filter-needs-attention', checked: true });
    const refresh = h('button', { type: 'button', testid: 'inbox-refresh', onclick: () => load(false) }, t(S.refresh));
    const count = h('p', { role: 'status', 'aria-live': 'polite', testid: 'inbox-count', class: 'muted' }, t(S.loading));
    const error = h('p', { role: 'alert', class: 'error', testid: 'inbox-error', hidden: true });
    const body = h('tbody');
    const table = h('table', { testid: 'inbox-table' },
      h('caption', { class: 'sr-only' }, t(S.caption)),
      h('thead', {}, h('tr', {}, ...['lead', 'channel', 'status', 'priority', 'reasons', 'last', 'unread']
        .map((c) => h('th', { scope: 'col', class: c === 'priority' || c === 'unread' ? 'num' : null }, t(S.cols[c]))))),
      body);
    const empty = h('p', { class: 'muted', testid: 'inbox-empty', hidden: true });
    const moreButton = h('button', { type: 'button', testid: 'inbox-load-more', hidden: true, onclick: () => load(true) }, t(S.loadMore));

    el.replaceChildren(
      h('style', {}, STYLE),
      h('h2', {}, t(S.title)),
      h('p', { class: 'muted' }, t(S.intro)),
      h('div', { class: 'filters' },
        h('label', { class: 'inbox-check', for: 'inbox-needs-attention' }, filter, t(S.needsAttention)),
        refresh),
      count, error,
      h('div', { class: 'table-wrap' }, table),
      empty, moreButton,
    );
    filter.addEventListener('change', () => load(false));

    function row(r) {
      const status = STATUS[r.inbox_status] ? t(STATUS[r.inbox_status]) : r.inbox_status;
      const attention = r.inbox_status === 'needs_human_attention';
      const last = r.last_message_at ? h('div', {},
        h('span', { class: 'reason' }, r.last_message_direction === 'in' ? t(S.inbound) : t(S.outbound), ' · ',
          h('time', { datetime: r.last_message_at, title: dateFmt.format(new Date(r.last_message_at)) }, ago(r.last_message_at))),
        h('div', { class: 'inbox-preview', testid: 'inbox-preview' }, r.last_message_preview || '')) : '–';
      const reasons = (r.reasons || []).map((x) => h('li', {}, reasonText(x)));
      const L = (c) => t(S.cols[c]);
      return h('tr', { testid: 'inbox-row', 'data-conversation-id': r.conversation_id, class: attention ? 'inbox-attention' : null },
        h('th', { scope: 'row' }, h('span', { testid: 'inbox-lead' }, r.lead_name || t(S.noName)),
          r.draft_action_id ? h('div', {}, h('a', { href: '#/autopilot', testid: 'inbox-draft-link' }, t(S.draft))) : null),
        h('td', { 'data-label': L('channel') }, CHANNEL[r.channel] ? t(CHANNEL[r.channel]) : r.channel),
        h('td', { 'data-label': L('status') }, h('span', { class: `badge inbox-status-${attention ? 'attention' : 'other'}`, testid: 'inbox-status' }, status)),
        h('td', { class: 'num', 'data-label': L('priority') },
          h('span', { class: 'inbox-priority', testid: 'inbox-priority', 'aria-label': tf(S.priorityOf, r.priority) },
            h('span', { 'aria-hidden': 'true' }, String(r.priority)),
            h('span', { class: 'inbox-meter', 'aria-hidden': 'true' },
              h('span', { style: `width:${Math.max(0, Math.min(100, r.priority))}%` })))),
        h('td', { 'data-label': L('reasons') }, reasons.length ? h('ul', { class: 'inbox-reasons' }, reasons) : '–'),
        h('td', { 'data-label': L('last') }, last),
        h('td', { class: 'num', testid: 'inbox-unread', 'data-label': L('unread') }, String(r.unread_count ?? 0)));
    }

    function render() {
      body.replaceChildren(...rows.map(row));
      keepTableRoles(table);
      const onlyAttention = filter.checked;
      count.textContent = tf(S.count, rows.length) + (more ? '+' : '');
      empty.hidden = rows.length > 0;
      empty.textContent = onlyAttention ? t(S.emptyAttention) : t(S.empty);
      table.parentElement.hidden = rows.length === 0;
      moreButton.hidden = !more;
    }

    async function load(next) {
      const mine = ++seq;
      const args = { p_needs_attention: filter.checked, p_limit: PAGE };
      if (next && rows.length) {
        const lastRow = rows[rows.length - 1];
        args.p_before_priority = lastRow.priority;
        args.p_before_id = lastRow.conversation_id;
      }
      const { data, error: failure } = await sb.rpc('inbox', args);
      if (!alive || mine !== seq) return;
      if (failure) {
        error.textContent = `${t(S.failed)} ${failure.message}`;
        error.hidden = false;
        count.textContent = '';
        return;
      }
      error.hidden = true;
      rows = next ? rows.concat(data) : data;
      more = data.length === PAGE;
      render();
      el.dataset.loaded = 'true';
    }

    // Realtime is a wake-up only: any change of the tenant's conversations or messages reloads the first page.
    let timer = null;
    const soon = () => { clearTimeout(timer); timer = setTimeout(() => { if (alive) load(false); }, 300); };
    const channel = sb.channel(`inbox-${tenant.id}`)
      .on('postgres_changes', { event: '*', schema: 'public', table: 'conversations', filter: `tenant_id=eq.${tenant.id}` }, soon)
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'messages', filter: `tenant_id=eq.${tenant.id}` }, soon)
      .subscribe();

    load(false);
    return () => {
      alive = false;
      clearTimeout(timer);
      sb.removeChannel(channel);
    };
  },
};

const STYLE = `
.view-inbox .sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.view-inbox .inbox-check { display: flex; gap: .4rem; align-items: center; font-size: 1rem; }
.view-inbox .inbox-check input { width: 1.1rem; height: 1.1rem; }
.view-inbox .filters button { padding: .4rem .8rem; border: 1px solid #767f8c; border-radius: .3rem; background: #fff; color: #1b1f24; }
.view-inbox tr.inbox-attention th[scope=row] { border-left: 4px solid #b3261e; }
.view-inbox .inbox-status-attention { color: #b3261e; font-weight: 600; white-space: nowrap; }
.view-inbox .inbox-status-other { color: #4f5864; white-space: nowrap; }
.view-inbox .inbox-priority { display: inline-flex; flex-direction: column; align-items: flex-end; gap: .15rem; font-weight: 700; }
.view-inbox .inbox-meter { display: block; width: 3.5rem; height: .35rem; background: #e3e6ea; border-radius: .2rem; overflow: hidden; }
.view-inbox .inbox-meter span { display: block; height: 100%; background: #0b57d0; }
.view-inbox .inbox-reasons { margin: 0; padding: 0; list-style: none; display: flex; flex-wrap: wrap; gap: .25rem; min-width: 12rem; }
.view-inbox .inbox-reasons li { font-size: .8rem; background: #eef1f5; color: #1b1f24; border-radius: 1rem; padding: 0 .5rem; white-space: nowrap; }
.view-inbox .inbox-preview { min-width: 12rem; max-width: 22rem; overflow-wrap: anywhere; }
@media (max-width: 640px) {
  .view-inbox thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  .view-inbox table, .view-inbox tbody, .view-inbox tr, .view-inbox th[scope=row], .view-inbox td { display: block; }
  .view-inbox tr { padding: .6rem .7rem; border-bottom: 1px solid #c9ced6; }
  .view-inbox tr.inbox-attention { border-left: 4px solid #b3261e; }
  .view-inbox tr.inbox-attention th[scope=row] { border-left: 0; }
  .view-inbox th[scope=row] { background: none; padding: 0 0 .3rem; border: 0; font-size: 1.05rem; }
  .view-inbox td { border: 0; padding: .15rem 0; text-align: left; }
  .view-inbox td.num { text-align: left; }
  .view-inbox td::before { content: attr(data-label) ": "; font-weight: 600; color: #4f5864; font-size: .85rem; }
  .view-inbox td[data-label] > * { vertical-align: middle; }
  .view-inbox .inbox-priority { flex-direction: row; align-items: center; gap: .4rem; }
  .view-inbox .inbox-reasons, .view-inbox .inbox-preview { min-width: 0; max-width: none; }
  .view-inbox .inbox-reasons { display: inline-flex; }
}
`;
