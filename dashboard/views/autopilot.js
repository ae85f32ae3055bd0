// Autopilot: the approval queue (view autopilot_queue: drafts waiting for a person, not expired, oldest first)
// with approve / edit / reject through public.autopilot_decide. The RPC's rules are the view's rules: every
// member of the tenant decides its drafts; an edit sends 1–4000 characters; a draft past its expiry is marked
// expired and never sends; a draft someone else decided meanwhile is refused (the message is shown). A decided
// draft leaves the queue. Realtime on autopilot_actions adds new drafts without touching one being edited.
import { h } from '../dom.js';

const MAX_TEXT = 4000;

const S = {
  title: { de: 'Autopilot: Freigaben', en: 'Autopilot approvals' },
  intro: {
    de: 'KI-Entwürfe, die auf eine Person warten. Jedes Mitglied darf freigeben, bearbeiten oder ablehnen.',
    en: 'AI drafts waiting for a person. Every member may approve, edit or reject them.',
  },
  loading: { de: 'Wird geladen …', en: 'Loading …' },
  count: {
    de: (n) => (n === 1 ? '1 Entwurf wartet' : `${n} Entwürfe warten`),
    en: (n) => (n === 1 ? '1 draft waiting' : `${n} drafts waiting`),
  },
  empty: { de: 'Kein Entwurf wartet auf Freigabe.', en: 'No draft is waiting for approval.' },
  failed: { de: 'Die Warteschlange konnte nicht geladen werden:', en: 'The queue could not be loaded:' },
  leadWrote: { de: 'Nachricht des Leads', en: 'The lead wrote' },
  draft: { de: 'Entwurf', en: 'Draft' },
  approve: { de: 'Freigeben', en: 'Approve' },
  edit: { de: 'Bearbeiten', en: 'Edit' },
  reject: { de: 'Ablehnen', en: 'Reject' },
  approveFor: { de: (n) => `Entwurf für ${n} freigeben`, en: (n) => `Approve the draft for ${n}` },
  editFor: { de: (n) => `Entwurf für ${n} bearbeiten`, en: (n) => `Edit the draft for ${n}` },
  rejectFor: { de: (n) => `Entwurf für ${n} ablehnen`, en: (n) => `Reject the draft for ${n}` },
  editLabel: { de: 'Text, der gesendet wird', en: 'Text to send' },
  saveEdit: { de: 'Bearbeitet freigeben', en: 'Approve edited text' },
  cancel: { de: 'Abbrechen', en: 'Cancel' },
  chars: { de: (n) => `${n} / ${MAX_TEXT} Zeichen`, en: (n) => `${n} / ${MAX_TEXT} characters` },
  emptyText: { de: 'Der Text darf nicht leer sein.', en: 'The text must not be empty.' },
  working: { de: 'Wird gesendet …', en: 'Sending …' },
  approved: { de: (n) => `Freigegeben: die Nachricht an ${n} wird gesendet.`, en: (n) => `Approved: the message to ${n} is queued for sending.` },
  edited: { de: (n) => `Bearbeitet freigegeben: die Nachricht an ${n} wird gesendet.`, en: (n) => `Edited and approved: the message to ${n} is queued for sending.` },
  rejected: { de: (n) => `Abgelehnt: an ${n} wird nichts gesendet.`, en: (n) => `Rejected: nothing is sent to ${n}.` },
  expired: { de: (n) => `Der Entwurf für ${n} ist abgelaufen; nichts wurde gesendet.`, en: (n) => `The draft for ${n} had expired; nothing was sent.` },
  refused: { de: 'Nicht möglich:', en: 'Not possible:' },
  decidedElsewhere: {
    de: (st) => `Dieser Entwurf wurde bereits entschieden (${st}), wohl von jemand anderem. Hier wurde nichts gesendet.`,
    en: (st) => `This draft was already decided (${st}), probably by someone else. Nothing was sent from here.`,
  },
  notFound: { de: 'Diesen Entwurf gibt es in Ihrem Mandanten nicht (mehr).', en: 'This draft is not (or no longer) in your tenant.' },
  notAllowed: { de: 'Sie dürfen Entwürfe dieses Mandanten nicht entscheiden.', en: 'You may not decide drafts of this tenant.' },
  details: { de: 'Meldung des Servers:', en: 'The server said:' },
  dismiss: { de: 'Aus der Liste entfernen', en: 'Remove from the list' },
  confidence: { de: 'Konfidenz', en: 'Confidence' },
  expires: { de: 'läuft ab', en: 'expires' },
  why: { de: 'Warum eine Person entscheidet', en: 'Why a person decides' },
  noName: { de: '(ohne Namen)', en: '(no name)' },
  noBody: { de: '(keine Textnachricht)', en: '(no text message)' },
};

const MODE = {
  assist: { de: 'Assistenz', en: 'Assist' },
  one_click: { de: 'Ein Klick', en: 'One click' },
  auto: { de: 'Automatisch', en: 'Auto' },
};

const GUARD = {
  first_contact: { de: 'Erstkontakt', en: 'First contact' },
  sensitive_topic: { de: 'Heikles Thema', en: 'Sensitive topic' },
  objection: { de: 'Einwand', en: 'Objection' },
  negative_sentiment: { de: 'Negative Stimmung', en: 'Negative sentiment' },
  ai_failure: { de: 'KI-Fehler', en: 'AI failure' },
  low_confidence: { de: 'Geringe Konfidenz', en: 'Low confidence' },
  lead_cap: { de: 'Limit pro Lead', en: 'Lead cap' },
  tenant_cap: { de: 'Limit pro Mandant', en: 'Tenant cap' },
  quiet_hours: { de: 'Ruhezeit', en: 'Quiet hours' },
  mode: { de: 'Modus', en: 'Mode' },
  send_refused: { de: 'Senden abgelehnt', en: 'Send refused' },
};

const STATUS = {
  sent: { de: 'gesendet', en: 'sent' },
  rejected: { de: 'abgelehnt', en: 'rejected' },
  expired: { de: 'abgelaufen', en: 'expired' },
  approved: { de: 'freigegeben', en: 'approved' },
  edited: { de: 'bearbeitet', en: 'edited' },
  failed: { de: 'fehlgeschlagen', en: 'failed' },
  drafted: { de: 'automatisch', en: 'automatic' },
};

const CHANNEL = { whatsapp: 'WhatsApp', instagram: 'Instagram', sms: 'SMS', email: { de: 'E-Mail', en: 'Email' }, telegram: 'Telegram' };

export default {
  id: 'autopilot',
  label: { de: 'Autopilot', en: 'Autopilot' },

  mount(el, ctx) {
    const { sb, t, lang, tenant } = ctx;
    const locale = lang === 'de' ? 'de-DE' : 'en-GB';
    const tf = (dict, ...args) => { const v = t(dict); return typeof v === 'function' ? v(...args) : v; };
    const dateFmt = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' });
    const pct = new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 0 });
    let alive = true;
    let seq = 0;
    const cards = new Map(); // action id -> {el, item, busy}

    const count = h('p', { role: 'status', 'aria-live': 'polite', class: 'muted', testid: 'autopilot-count' }, t(S.loading));
    const announce = h('p', { role: 'status', 'aria-live': 'polite', class: 'autopilot-announce', testid: 'autopilot-status' });
    const error = h('p', { role: 'alert', class: 'error', testid: 'autopilot-load-error', hidden: true });
    const list = h('ol', { class: 'autopilot-list', testid: 'autopilot-list' });
    const empty = h('p', { class: 'muted', testid: 'autopilot-empty', hidden: true }, t(S.empty));
    el.replaceChildren(h('style', {}, STYLE), h('h2', {}, t(S.title)), h('p', { class: 'muted' }, t(S.intro)),
      announce, count, error, list, empty);

    function card(item) {
      const name = item.lead_name || t(S.noName);
      const draftId = `autopilot-draft-${item.id}`;
      const textId = `autopilot-text-${item.id}`;
      const cardError = h('p', { role: 'alert', class: 'error', testid: 'autopilot-error', hidden: true });
      const draft = h('p', { class: 'autopilot-draft', id: draftId, testid: 'autopilot-draft' }, item.draft || '');
      const textarea = h('textarea', { id: textId, rows: '5', maxlength: String(MAX_TEXT), testid: 'autopilot-edit-text' });
      const chars = h('span', { class: 'muted autopilot-chars', 'aria-live': 'polite' });
      const save = h('button', { type: 'button', class: 'primary', testid: 'autopilot-save-edit' }, t(S.saveEdit));
      const cancel = h('button', { type: 'button', testid: 'autopilot-cancel-edit' }, t(S.cancel));
      const editor = h('div', { class: 'autopilot-editor', hidden: true },
        h('label', { for: textId }, t(S.editLabel)), textarea, chars, h('div', { class: 'autopilot-actions' }, save, cancel));
      const approve = h('button', { type: 'button', class: 'primary', testid: 'autopilot-approve', 'aria-label': tf(S.approveFor, name) }, t(S.approve));
      const edit = h('button', { type: 'button', testid: 'autopilot-edit', 'aria-label': tf(S.editFor, name), 'aria-expanded': 'false' }, t(S.edit));
      const reject = h('button', { type: 'button', class: 'danger', testid: 'autopilot-reject', 'aria-label': tf(S.rejectFor, name) }, t(S.reject));
      const actions = h('div', { class: 'autopilot-actions' }, approve, edit, reject);
      const guards = (item.guards || []).map((g) => h('li', { class: 'badge autopilot-guard' }, GUARD[g] ? t(GUARD[g]) : g));
      const reasons = (item.reasons || []).map((r) => h('li', {}, r));
      const channel = CHANNEL[item.channel] ? t(CHANNEL[item.channel]) : item.channel;

      const node = h('li', { class: 'autopilot-item card', testid: 'autopilot-row', 'data-action-id': item.id },
        h('article', { 'aria-labelledby': `autopilot-lead-${item.id}` },
          h('header', { class: 'autopilot-head' },
            h('h3', { id: `autopilot-lead-${item.id}`, testid: 'autopilot-lead' }, name),
            h('span', { class: 'muted' }, [channel, MODE[item.mode] ? t(MODE[item.mode]) : item.mode,
              item.confidence != null ? `${t(S.confidence)} ${pct.format(Number(item.confidence))}` : null,
              `${t(S.expires)} ${dateFmt.format(new Date(item.expires_at))}`].filter(Boolean).join(' · '))),
          guards.length ? h('ul', { class: 'autopilot-guards' }, guards) : null,
          h('div', { class: 'autopilot-label' }, t(S.leadWrote)),
          h('blockquote', { class: 'autopilot-inbound', testid: 'autopilot-inbound' }, item.inbound || t(S.noBody)),
          h('div', { class: 'autopilot-label', id: `${draftId}-label` }, t(S.draft)),
          draft,
          reasons.length ? h('details', {}, h('summary', {}, t(S.why)), h('ul', { class: 'reason' }, reasons)) : null,
          editor, actions, cardError));

      const entry = { el: node, item, busy: false };
      const setBusy = (busy) => {
        entry.busy = busy;
        for (const b of [approve, edit, reject, save, cancel]) b.disabled = busy;
        if (!busy) updateChars();
      };
      const updateChars = () => {
        const n = textarea.value.trim().length;
        chars.textContent = tf(S.chars, textarea.value.length);
        save.disabled = entry.busy || n === 0;
        save.title = n === 0 ? t(S.emptyText) : '';
      };
      const openEditor = (open) => {
        editor.hidden = !open;
        actions.hidden = open;
        edit.setAttribute('aria-expanded', String(open));
        if (open) {
          textarea.value = item.draft || '';
          updateChars();
          textarea.focus();
        } else {
          edit.focus();
        }
      };
      textarea.addEventListener('input', updateChars);

      async function decide(verdict) {
        cardError.hidden = true;
        const args = { p_action_id: item.id, p_verdict: verdict };
        if (verdict === 'edited') {
          const text = textarea.value.trim();
          if (!text) { cardError.textContent = t(S.emptyText); cardError.hidden = false; return; }
          args.p_text = text;
        }
        setBusy(true);
        announce.textContent = t(S.working);
        const { data, error: failure } = await sb.rpc('autopilot_decide', args);
        if (!alive) return;
        if (failure) {
          setBusy(false);
          announce.textContent = '';
          // The RPC's refusals, said for a person; the server's words stay below for support.
          const decided = /draft \S+ is (\w+) \(only a draft waiting/.exec(failure.message || '');
          let text = `${t(S.refused)} ${failure.message}`;
          let final = false;
          if (decided) { text = tf(S.decidedElsewhere, STATUS[decided[1]] ? t(STATUS[decided[1]]) : decided[1]); final = true; }
          else if (failure.code === 'PT404' || /no autopilot draft/.test(failure.message || '')) { text = t(S.notFound); final = true; }
          else if (failure.code === '42501') text = t(S.notAllowed);
          cardError.replaceChildren(h('span', { testid: 'autopilot-error-text' }, text),
            text.includes(failure.message) ? null : h('span', { class: 'autopilot-server' }, `${t(S.details)} ${failure.message}`));
          cardError.hidden = false;
          if (final) {
            // Kept (a reload does not take it away) until the person has read why and dismisses it.
            for (const b of [approve, edit, reject, save]) b.disabled = true;
            entry.done = true;
            const dismiss = h('button', { type: 'button', testid: 'autopilot-dismiss', onclick: () => { remove(item.id); updateCount(); } }, t(S.dismiss));
            actions.hidden = false;
            editor.hidden = true;
            actions.append(dismiss);
            dismiss.focus();
          }
          return;
        }
        const outcome = data && data.status === 'expired' ? 'expired' : verdict;
        announce.textContent = tf(S[outcome], name);
        // The next card (or the list) keeps the keyboard focus where the decided one was.
        const next = node.nextElementSibling || node.previousElementSibling;
        remove(item.id);
        const target = next && next.querySelector('[data-testid="autopilot-approve"]');
        if (target) target.focus();
        updateCount();
      }

      approve.addEventListener('click', () => decide('approved'));
      reject.addEventListener('click', () => decide('rejected'));
      edit.addEventListener('click', () => openEditor(true));
      cancel.addEventListener('click', () => openEditor(false));
      save.addEventListener('click', () => decide('edited'));
      textarea.addEventListener('keydown', (e) => { if (e.key === 'Escape') openEditor(false); });
      return entry;
    }

    function remove(id) {
      const entry = cards.get(id);
      if (entry) { entry.el.remove(); cards.delete(id); }
    }

    function updateCount() {
      const waiting = [...cards.values()].filter((e) => !e.done).length;
      count.textContent = tf(S.count, waiting);
      empty.hidden = cards.size > 0;
      list.hidden = cards.size === 0;
    }

    async function load() {
      const mine = ++seq;
      const { data, error: failure } = await sb.from('autopilot_queue')
        .select('id, lead_id, conversation_id, trigger_message_id, channel, mode, scenario, prompt_version, draft, confidence, reasons, guards, expires_at, created_at')
        .order('created_at', { ascending: true })
        .limit(200);
      if (!alive || mine !== seq) return;
      if (failure) {
        error.textContent = `${t(S.failed)} ${failure.message}`;
        error.hidden = false;
        count.textContent = '';
        return;
      }
      error.hidden = true;
      const now = Date.now();
      const items = data.filter((a) => new Date(a.expires_at).getTime() > now);
      const leadIds = [...new Set(items.map((a) => a.lead_id))];
      const messageIds = [...new Set(items.map((a) => a.trigger_message_id).filter(Boolean))];
      const [leads, messages] = await Promise.all([
        leadIds.length ? sb.from('leads').select('id, name').in('id', leadIds) : { data: [] },
        messageIds.length ? sb.from('messages').select('id, body').in('id', messageIds) : { data: [] },
      ]);
      if (!alive || mine !== seq) return;
      const names = new Map((leads.data || []).map((l) => [l.id, l.name]));
      const bodies = new Map((messages.data || []).map((m) => [m.id, m.body]));
      const ids = new Set(items.map((a) => a.id));
      for (const [id, entry] of cards) if (!ids.has(id) && !entry.busy && !entry.done) remove(id);
      // Keep cards already shown (a member may be editing one); add new ones in queue order.
      let before = null;
      for (const a of items.slice().reverse()) {
        let entry = cards.get(a.id);
        if (!entry) {
          entry = card({ ...a, lead_name: names.get(a.lead_id), inbound: bodies.get(a.trigger_message_id) });
          cards.set(a.id, entry);
          list.insertBefore(entry.el, before);
        }
        before = entry.el;
      }
      updateCount();
      el.dataset.loaded = 'true';
    }

    let timer = null;
    const soon = () => { clearTimeout(timer); timer = setTimeout(() => { if (alive) load(); }, 300); };
    const channel = sb.channel(`autopilot-${tenant.id}`)
      .on('postgres_changes', { event: '*', schema: 'public', table: 'autopilot_actions', filter: `tenant_id=eq.${tenant.id}` }, soon)
      .subscribe();
    // A draft that expires while the page is open leaves the queue on the next minute tick.
    const ticker = setInterval(() => {
      const now = Date.now();
      for (const [id, entry] of cards) if (!entry.busy && !entry.done && new Date(entry.item.expires_at).getTime() <= now) remove(id);
      updateCount();
    }, 60_000);

    load();
    return () => {
      alive = false;
      clearTimeout(timer);
      clearInterval(ticker);
      sb.removeChannel(channel);
    };
  },
};

const STYLE = `
.view-autopilot .autopilot-list { list-style: none; margin: 0; padding: 0; display: grid; gap: .8rem; }
.view-autopilot .autopilot-item { padding: .8rem 1rem; }
.view-autopilot .autopilot-head { display: flex; flex-wrap: wrap; gap: .2rem .8rem; align-items: baseline; }
.view-autopilot .autopilot-head h3 { margin: 0; }
.view-autopilot .autopilot-label { font-size: .85rem; color: #4f5864; margin-top: .6rem; font-weight: 600; }
.view-autopilot .autopilot-inbound { margin: .2rem 0; padding: .4rem .7rem; border-left: 3px solid #c9ced6; background: #f6f7f9; overflow-wrap: anywhere; }
.view-autopilot .autopilot-draft { margin: .2rem 0; padding: .5rem .7rem; background: #eef4ff; border-radius: .3rem; white-space: pre-wrap; overflow-wrap: anywhere; }
.view-autopilot .autopilot-guards { list-style: none; padding: 0; margin: .4rem 0 0; display: flex; flex-wrap: wrap; gap: .3rem; }
.view-autopilot .autopilot-guard { color: #8a4b00; }
.view-autopilot .autopilot-actions { display: flex; flex-wrap: wrap; gap: .5rem; margin-top: .7rem; }
.view-autopilot .autopilot-actions button { padding: .5rem .9rem; border-radius: .3rem; border: 1px solid #767f8c; background: #fff; color: #1b1f24; min-height: 2.75rem; }
.view-autopilot .autopilot-actions button.primary { background: #0b57d0; color: #fff; border-color: #0b57d0; }
.view-autopilot .autopilot-actions button.danger { color: #b3261e; border-color: #b3261e; }
.view-autopilot .autopilot-editor { display: grid; gap: .3rem; margin-top: .7rem; }
.view-autopilot .autopilot-editor textarea { width: 100%; resize: vertical; }
.view-autopilot .autopilot-chars { font-size: .85rem; }
.view-autopilot .autopilot-announce:empty { display: none; }
.view-autopilot .autopilot-announce { background: #e7f3ea; color: #146c2e; padding: .4rem .7rem; border-radius: .3rem; }
.view-autopilot details { margin-top: .5rem; }
.view-autopilot .autopilot-server { display: block; font-size: .8rem; color: #4f5864; margin-top: .2rem; overflow-wrap: anywhere; }
`;
