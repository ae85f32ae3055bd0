// Analytics and AI: the funnel (public.analytics_funnel), attribution by model side by side
// (public.analytics_attribution, one call per model; Markov computed here from public.analytics_touch_paths, as the
// CLI does), and AI usage and cost against the budget
// (public.ai_spend). All security invoker: RLS scopes every number to the token's tenant. The charts are
// inline SVG drawn here; each has an aria-label with its numbers and a table with the same numbers.
import { h } from '../dom.js';

const SVG = 'http://www.w3.org/2000/svg';
const MODELS = ['first_touch', 'last_touch', 'linear', 'time_decay', 'u_shaped', 'w_shaped', 'full_path'];
const DIMENSIONS = ['channel', 'actor', 'campaign', 'sequence'];

const S = {
  title: { de: 'Analysen und KI', en: 'Analytics and AI' },
  from: { de: 'Von', en: 'From' },
  to: { de: 'Bis', en: 'To' },
  apply: { de: 'Anwenden', en: 'Apply' },
  loading: { de: 'Wird geladen …', en: 'Loading …' },
  failed: { de: 'Konnte nicht geladen werden:', en: 'Could not be loaded:' },
  period: { de: (a, b) => `Zeitraum ${a} – ${b}`, en: (a, b) => `Period ${a} – ${b}` },
  funnel: { de: 'Trichter', en: 'Funnel' },
  funnelIntro: {
    de: 'Leads, die im Zeitraum angelegt wurden, und wie weit sie kamen (eine spätere Stufe zählt die früheren mit).',
    en: 'Leads created in the period and how far they got (a later stage counts the earlier ones too).',
  },
  funnelChart: { de: 'Trichter', en: 'Funnel' },
  cohort: { de: (n) => `${n} Leads in der Kohorte`, en: (n) => `${n} leads in the cohort` },
  exits: { de: (l, c) => `Verloren: ${l} · Abgewandert: ${c}`, en: (l, c) => `Lost: ${l} · Churned: ${c}` },
  stage: { de: 'Stufe', en: 'Stage' },
  leads: { de: 'Leads', en: 'Leads' },
  ofPrevious: { de: 'von der vorigen', en: 'of previous' },
  ofAll: { de: 'von allen', en: 'of all' },
  dropped: { de: 'Abgesprungen', en: 'Dropped' },
  median: { de: 'Median Std. ab Anlage', en: 'Median hours from creation' },
  attribution: { de: 'Attribution nach Modell', en: 'Attribution by model' },
  attributionIntro: {
    de: 'Gewonnene Deals im Zeitraum, ihr Verdienst je Modell auf die Berührungspunkte verteilt (je Deal Summe 1).',
    en: 'Deals won in the period, their credit spread over the touches by each model (each deal sums to 1).',
  },
  dimension: { de: 'Dimension', en: 'Dimension' },
  conversions: { de: (n) => `${n} gewonnene Deals`, en: (n) => `${n} deals won` },
  noConversions: { de: 'Keine gewonnenen Deals im Zeitraum.', en: 'No deals won in the period.' },
  key: { de: 'Schlüssel', en: 'Key' },
  markovTitle: { de: 'Markov (datengetrieben)', en: 'Markov (data-driven)' },
  markovShort: {
    de: 'Das Markov-Modell braucht mehr Daten:',
    en: 'The Markov model needs more data:',
  },
  shortfall: {
    conversions: { de: (h, n) => `${h} gewonnene Deals, mindestens ${n} nötig`, en: (h, n) => `${h} won deals, at least ${n} are needed` },
    non_conversions: { de: (h, n) => `${h} Pfade ohne Abschluss, mindestens ${n} nötig`, en: (h, n) => `${h} paths without a win, at least ${n} are needed` },
    keys: { de: (h, n) => `${h} verschiedene Schlüssel, mindestens ${n} nötig`, en: (h, n) => `${h} distinct keys, at least ${n} are needed` },
    removal_effect: { de: () => 'kein Schlüssel ändert die Abschlusswahrscheinlichkeit', en: () => 'removing no key changes the conversion probability' },
  },
  credits: { de: 'Deals', en: 'deals' },
  ai: { de: 'KI-Nutzung und Kosten', en: 'AI usage and cost' },
  month: { de: 'Monat', en: 'Month' },
  calls: { de: 'Aufrufe', en: 'Calls' },
  failedCalls: { de: 'Fehlgeschlagen', en: 'Failed' },
  cost: { de: 'Kosten', en: 'Cost' },
  budgets: { de: 'Budget', en: 'Budget' },
  noBudget: { de: 'Kein Budget gesetzt: KI-Aufrufe sind nicht begrenzt.', en: 'No budget set: AI calls are not limited.' },
  allScenarios: { de: 'alle Szenarien', en: 'all scenarios' },
  budgetOf: {
    de: (who, s, l, p) => `Budget (${who}): ${s} von ${l} ausgegeben (${p})`,
    en: (who, s, l, p) => `Budget (${who}): ${s} of ${l} spent (${p})`,
  },
  reserved: { de: (r) => `reserviert ${r}`, en: (r) => `reserved ${r}` },
  atLimit: { de: 'Am Limit', en: 'At the limit' },
  fallback_local: { de: 'dann lokales Modell', en: 'then the local model' },
  refuse: { de: 'dann abgelehnt', en: 'then refused' },
  level: {
    ok: { de: 'im Rahmen', en: 'within budget' },
    warn: { de: '80 % erreicht', en: '80 % reached' },
    over: { de: 'ausgeschöpft', en: 'used up' },
  },
  byModel: { de: 'Nach Modell', en: 'By model' },
  byScenario: { de: 'Nach Szenario', en: 'By scenario' },
  model: { de: 'Modell', en: 'Model' },
  scenario: { de: 'Szenario', en: 'Scenario' },
  inputTokens: { de: 'Eingabe-Tokens', en: 'Input tokens' },
  outputTokens: { de: 'Ausgabe-Tokens', en: 'Output tokens' },
  noUsage: { de: 'Keine KI-Aufrufe in diesem Monat.', en: 'No AI calls this month.' },
};

const STAGES = {
  lead_created: { de: 'Lead angelegt', en: 'Lead created' },
  lead_qualified: { de: 'Qualifiziert', en: 'Qualified' },
  first_contact: { de: 'Erstkontakt', en: 'First contact' },
  first_response: { de: 'Erste Antwort', en: 'First response' },
  engaged: { de: 'Im Gespräch', en: 'Engaged' },
  meeting_scheduled: { de: 'Termin vereinbart', en: 'Meeting scheduled' },
  meeting_completed: { de: 'Termin stattgefunden', en: 'Meeting held' },
  proposal_sent: { de: 'Angebot gesendet', en: 'Proposal sent' },
  negotiation: { de: 'Verhandlung', en: 'Negotiation' },
  deal_closed_won: { de: 'Gewonnen', en: 'Won' },
};

const MODEL_NAMES = {
  first_touch: { de: 'Erster Kontakt', en: 'First touch' },
  last_touch: { de: 'Letzter Kontakt', en: 'Last touch' },
  linear: { de: 'Linear', en: 'Linear' },
  time_decay: { de: 'Zeitverfall', en: 'Time decay' },
  u_shaped: { de: 'U-förmig', en: 'U-shaped' },
  w_shaped: { de: 'W-förmig', en: 'W-shaped' },
  full_path: { de: 'Voller Pfad', en: 'Full path' },
  markov: { de: 'Markov', en: 'Markov' },
};

const DIMENSION_NAMES = {
  channel: { de: 'Kanal', en: 'Channel' },
  actor: { de: 'Akteur (KI oder Mensch)', en: 'Actor (AI or human)' },
  campaign: { de: 'Kampagne', en: 'Campaign' },
  sequence: { de: 'Sequenz', en: 'Sequence' },
};

const KEYS = {
  whatsapp: 'WhatsApp', instagram: 'Instagram', sms: 'SMS', email: { de: 'E-Mail', en: 'Email' }, telegram: 'Telegram',
  web: 'Web', referral: { de: 'Empfehlung', en: 'Referral' }, facebook: 'Facebook', linkedin: 'LinkedIn',
  autopilot: { de: 'Autopilot (KI)', en: 'Autopilot (AI)' }, sequence: { de: 'Sequenz', en: 'Sequence' },
  human: { de: 'Mensch', en: 'Human' }, lead: { de: 'Lead', en: 'Lead' }, none: { de: 'keiner', en: 'none' },
};

// The Markov model (removal effect), as salesflow/analytics/attribution.py computes it over
// analytics_touch_paths: states START, one per key, CONVERSION, NULL; first-order transition frequencies;
// P = probability of reaching CONVERSION from START (an exact Gauss-Jordan solve), P-c with key c made a dead
// end; RE(c) = (P - P-c) / P; credit(c) = conversions * RE(c) / sum(RE). Below 30 conversions, 30
// non-conversions or 2 keys it answers insufficient_data with the shortfalls (never another model).
const START = '(start)'; const CONVERSION = '(conversion)'; const NULL = '(null)';
export const MARKOV_MINIMUM = { conversions: 30, non_conversions: 30, keys: 2 };

function conversionProbability(transitions, removed = null) {
  const states = Object.keys(transitions).filter((x) => x !== removed);
  const index = new Map(states.map((x, i) => [x, i]));
  const n = states.length;
  if (!index.has(START)) return 0;
  const m = states.map(() => new Array(n + 1).fill(0));
  for (const st of states) {
    const i = index.get(st);
    const row = transitions[st];
    const total = Object.values(row).reduce((a, b) => a + b, 0);
    m[i][i] += 1;
    for (const [target, count] of Object.entries(row)) {
      const p = count / total;
      if (target === CONVERSION) m[i][n] += p;
      else if (target === NULL || target === removed) continue;
      else m[i][index.get(target)] -= p;
    }
  }
  for (let col = 0; col < n; col += 1) {
    let pivot = col;
    for (let r = col + 1; r < n; r += 1) if (Math.abs(m[r][col]) > Math.abs(m[pivot][col])) pivot = r;
    [m[col], m[pivot]] = [m[pivot], m[col]];
    const lead = m[col][col];
    if (Math.abs(lead) < 1e-15) continue;
    for (let c = col; c <= n; c += 1) m[col][c] /= lead;
    for (let r = 0; r < n; r += 1) {
      if (r !== col && m[r][col] !== 0) {
        const f = m[r][col];
        for (let c = col; c <= n; c += 1) m[r][c] -= f * m[col][c];
      }
    }
  }
  return Math.max(0, Math.min(1, m[index.get(START)][n]));
}

export function markov(paths, minimum = MARKOV_MINIMUM) {
  const conversions = paths.reduce((a, p) => a + Number(p.conversions), 0);
  const nonConversions = paths.reduce((a, p) => a + Number(p.non_conversions), 0);
  const keys = [...new Set(paths.flatMap((p) => p.path.map(String)))].sort();
  const shortfalls = [];
  if (conversions < minimum.conversions) shortfalls.push({ field: 'conversions', have: conversions, need: minimum.conversions });
  if (nonConversions < minimum.non_conversions) shortfalls.push({ field: 'non_conversions', have: nonConversions, need: minimum.non_conversions });
  if (keys.length < minimum.keys) shortfalls.push({ field: 'keys', have: keys.length, need: minimum.keys });
  const base = { conversions, non_conversions: nonConversions, keys: keys.length };
  if (shortfalls.length) return { ...base, status: 'insufficient_data', shortfalls, credits: [] };
  const transitions = {};
  for (const p of paths) {
    for (const [outcome, count] of [[CONVERSION, Number(p.conversions)], [NULL, Number(p.non_conversions)]]) {
      if (count <= 0) continue;
      const chain = [START, ...p.path.map(String), outcome];
      for (let i = 0; i + 1 < chain.length; i += 1) {
        transitions[chain[i]] = transitions[chain[i]] || {};
        transitions[chain[i]][chain[i + 1]] = (transitions[chain[i]][chain[i + 1]] || 0) + count;
      }
    }
  }
  const probability = conversionProbability(transitions);
  const effects = Object.fromEntries(keys.map((k) => [k, probability ? (probability - conversionProbability(transitions, k)) / probability : 0]));
  const total = Object.values(effects).reduce((a, b) => a + b, 0);
  if (!probability || total <= 0) {
    return { ...base, status: 'insufficient_data', shortfalls: [{ field: 'removal_effect' }], credits: [], conversion_probability: probability };
  }
  const credits = keys.map((k) => ({ key: k, removal_effect: effects[k], conversions: (conversions * effects[k]) / total }))
    .sort((a, b) => b.removal_effect - a.removal_effect || a.key.localeCompare(b.key));
  return { ...base, status: 'ok', conversion_probability: probability, credits };
}

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null) continue;
    if (k === 'testid') el.setAttribute('data-testid', v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c != null) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function table(caption, headers, rows, testid) {
  return h('div', { class: 'table-wrap' }, h('table', { testid },
    h('caption', { class: 'analytics-caption' }, caption),
    h('thead', {}, h('tr', {}, headers.map(([label, num]) => h('th', { scope: 'col', class: num ? 'num' : null }, label)))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((c, i) => (i === 0
      ? h('th', { scope: 'row' }, c)
      : h('td', { class: headers[i][1] ? 'num' : null }, c))))))));
}

export default {
  id: 'analytics',
  label: { de: 'Analysen', en: 'Analytics' },

  mount(el, ctx) {
    const { sb, t, lang } = ctx;
    const locale = lang === 'de' ? 'de-DE' : 'en-GB';
    const tf = (dict, ...args) => { const v = t(dict); return typeof v === 'function' ? v(...args) : v; };
    const int = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
    const dec = new Intl.NumberFormat(locale, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    const hours = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 });
    const pct = new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 0 });
    const usd = new Intl.NumberFormat(locale, { style: 'currency', currency: 'USD', currencyDisplay: 'narrowSymbol', minimumFractionDigits: 2, maximumFractionDigits: 4 });
    const dayFmt = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeZone: 'UTC' });
    const monthFmt = new Intl.DateTimeFormat(locale, { year: 'numeric', month: 'long', timeZone: 'UTC' });
    const day = (iso) => dayFmt.format(new Date(`${iso}T00:00:00Z`));
    const keyName = (k) => (KEYS[k] ? t(KEYS[k]) : (k || t(KEYS.none)));
    let alive = true;

    const from = h('input', { type: 'date', id: 'analytics-from', testid: 'analytics-from' });
    const to = h('input', { type: 'date', id: 'analytics-to', testid: 'analytics-to' });
    const dimension = h('select', { id: 'analytics-dimension', testid: 'analytics-dimension' },
      DIMENSIONS.map((d) => h('option', { value: d }, t(DIMENSION_NAMES[d]))));
    const now = new Date();
    const month = h('input', { type: 'month', id: 'analytics-month', testid: 'analytics-month',
      value: `${now.getUTCFullYear()}-${String(now.getUTCMonth() + 1).padStart(2, '0')}` });
    const form = h('form', { class: 'filters', testid: 'analytics-filters' },
      h('label', { for: 'analytics-from' }, t(S.from), from),
      h('label', { for: 'analytics-to' }, t(S.to), to),
      h('button', { type: 'submit', class: 'primary' }, t(S.apply)));
    const periodText = h('p', { class: 'muted', role: 'status', 'aria-live': 'polite', testid: 'analytics-period' }, t(S.loading));
    const funnelBox = h('div', { testid: 'analytics-funnel' });
    const attributionBox = h('div', { testid: 'analytics-attribution' });
    const aiBox = h('div', { testid: 'analytics-ai' });
    const drawn = { funnel: null, budgets: null, width: 0 };
    let pending = 0;
    const done = () => { pending -= 1; if (pending === 0) el.dataset.loaded = 'true'; };

    el.replaceChildren(
      h('style', {}, STYLE),
      h('h2', {}, t(S.title)),
      form, periodText,
      h('section', { 'aria-labelledby': 'analytics-funnel-h' },
        h('h3', { id: 'analytics-funnel-h' }, t(S.funnel)), h('p', { class: 'muted' }, t(S.funnelIntro)), funnelBox),
      h('section', { 'aria-labelledby': 'analytics-attribution-h' },
        h('h3', { id: 'analytics-attribution-h' }, t(S.attribution)), h('p', { class: 'muted' }, t(S.attributionIntro)),
        h('div', { class: 'filters' }, h('label', { for: 'analytics-dimension' }, t(S.dimension), dimension)),
        attributionBox),
      h('section', { 'aria-labelledby': 'analytics-ai-h' },
        h('h3', { id: 'analytics-ai-h' }, t(S.ai)),
        h('div', { class: 'filters' }, h('label', { for: 'analytics-month' }, t(S.month), month)),
        aiBox),
    );

    const failure = (box, error) => box.replaceChildren(h('p', { class: 'error', role: 'alert' }, `${t(S.failed)} ${error.message}`));
    const range = () => ({ p_from: from.value || null, p_to: to.value || null });

    // ---- Funnel: one horizontal bar per stage, label above its bar (readable at phone width).
    // Charts are drawn at the width they get (1 SVG unit = 1 CSS pixel), so their text stays 12–13 px from a
    // phone to a desktop; a resize redraws them.
    const widthOf = (box) => Math.round(Math.max(260, Math.min(640, box.clientWidth || 600)));
    function funnelChart(f) {
      const stages = f.stages || [];
      const max = Math.max(1, ...stages.map((x) => x.count));
      const W = widthOf(funnelBox); const row = 38; const H = stages.length * row + 4;
      const label = stages.map((x) => `${t(STAGES[x.stage] || { de: x.stage, en: x.stage })} ${int.format(x.count)}`).join(', ');
      const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': `${t(S.funnelChart)}: ${label}`,
        testid: 'analytics-funnel-chart', class: 'analytics-chart', preserveAspectRatio: 'xMinYMin meet' });
      stages.forEach((x, i) => {
        const y = i * row;
        const w = Math.max(x.count > 0 ? 2 : 0, (x.count / max) * (W - 90));
        const share = x.overall_conversion == null ? '' : ` · ${pct.format(x.overall_conversion)}`;
        svg.append(
          s('text', { x: 0, y: y + 13, class: 'analytics-svg-label' }, t(STAGES[x.stage] || { de: x.stage, en: x.stage })),
          s('rect', { x: 0, y: y + 18, width: W - 90, height: 14, rx: 2, class: 'analytics-track' }),
          s('rect', { x: 0, y: y + 18, width: w, height: 14, rx: 2, class: 'analytics-bar', 'data-stage': x.stage }),
          s('text', { x: W - 84, y: y + 30, class: 'analytics-svg-value' }, `${int.format(x.count)}${share}`));
      });
      return svg;
    }

    async function loadFunnel() {
      funnelBox.replaceChildren(h('p', { class: 'muted' }, t(S.loading)));
      const { data, error } = await sb.rpc('analytics_funnel', range());
      if (!alive) return;
      if (error) { failure(funnelBox, error); periodText.textContent = ''; return; }
      periodText.textContent = tf(S.period, day(data.from), day(data.to));
      if (!from.value) from.value = data.from;
      if (!to.value) to.value = data.to;
      const fmtShare = (v) => (v == null ? '–' : pct.format(v));
      drawn.funnel = data;
      funnelBox.replaceChildren(
        h('p', { testid: 'analytics-cohort' }, tf(S.cohort, int.format(data.leads)), ' · ',
          tf(S.exits, int.format(data.exits?.lost?.count ?? 0), int.format(data.exits?.churned?.count ?? 0))),
        funnelChart(data),
        table(t(S.funnel), [[t(S.stage)], [t(S.leads), true], [t(S.ofPrevious), true], [t(S.ofAll), true], [t(S.dropped), true], [t(S.median), true]],
          (data.stages || []).map((x) => [t(STAGES[x.stage] || { de: x.stage, en: x.stage }), int.format(x.count), fmtShare(x.step_conversion),
            fmtShare(x.overall_conversion), x.drop_off == null ? '–' : int.format(x.drop_off),
            x.median_hours_from_created == null ? '–' : hours.format(x.median_hours_from_created)]),
          'analytics-funnel-table'));
    }

    // ---- Attribution: the same keys in every model's small chart, in one order, next to each other.
    function modelChart(model, credits, keys, max) {
      const W = 170; const row = 34; const H = keys.length * row + 26;
      const byKey = new Map(credits.map((c) => [c.key, c.conversions]));
      const label = keys.map((k) => `${keyName(k)} ${dec.format(byKey.get(k) || 0)}`).join(', ');
      const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', class: 'analytics-chart',
        'aria-label': `${t(MODEL_NAMES[model])}: ${label}`, testid: 'analytics-attribution-chart', 'data-model': model });
      svg.append(s('text', { x: 0, y: 14, class: 'analytics-svg-title' }, t(MODEL_NAMES[model])));
      keys.forEach((k, i) => {
        const y = 24 + i * row;
        const v = byKey.get(k) || 0;
        svg.append(
          s('text', { x: 0, y: y + 11, class: 'analytics-svg-label' }, keyName(k)),
          s('rect', { x: 0, y: y + 15, width: W - 42, height: 10, rx: 2, class: 'analytics-track' }),
          s('rect', { x: 0, y: y + 15, width: max ? (v / max) * (W - 42) : 0, height: 10, rx: 2, class: 'analytics-bar' }),
          s('text', { x: W - 38, y: y + 24, class: 'analytics-svg-value' }, dec.format(v)));
      });
      return h('figure', { class: 'analytics-model' }, svg);
    }

    async function loadAttribution() {
      attributionBox.replaceChildren(h('p', { class: 'muted' }, t(S.loading)));
      const dim = dimension.value;
      const [paths, ...results] = await Promise.all([
        sb.rpc('analytics_touch_paths', { p_dimension: dim, ...range() }),
        ...MODELS.map((m) => sb.rpc('analytics_attribution', { p_model: m, p_dimension: dim, ...range() }))]);
      if (!alive) return;
      const bad = [paths, ...results].find((r) => r.error);
      if (bad) { failure(attributionBox, bad.error); return; }
      const byModel = Object.fromEntries(MODELS.map((m, i) => [m, (results[i].data.credits || []).map((c) => ({ key: c[dim], conversions: Number(c.conversions) }))]));
      const mk = markov(paths.data.paths || []);
      const models = mk.status === 'ok' ? [...MODELS, 'markov'] : MODELS;
      if (mk.status === 'ok') byModel.markov = mk.credits.map((c) => ({ key: c.key, conversions: c.conversions }));
      const markovNote = mk.status === 'ok'
        ? null
        : h('p', { class: 'muted analytics-note', testid: 'analytics-markov-note' }, `${t(S.markovShort)} `,
          mk.shortfalls.map((x) => tf(S.shortfall[x.field], int.format(x.have ?? 0), int.format(x.need ?? 0))).join('; '), '.');
      const total = results[0].data.conversions;
      if (!total) {
        attributionBox.replaceChildren(h('p', { class: 'muted', testid: 'analytics-attribution-empty' }, t(S.noConversions)));
        return;
      }
      const sums = new Map();
      for (const m of models) for (const c of byModel[m]) sums.set(c.key, (sums.get(c.key) || 0) + c.conversions);
      const keys = [...sums.keys()].sort((a, b) => sums.get(b) - sums.get(a) || String(a).localeCompare(String(b)));
      const max = Math.max(...models.flatMap((m) => byModel[m].map((c) => c.conversions)), 0);
      attributionBox.replaceChildren(
        h('p', { testid: 'analytics-conversions' }, tf(S.conversions, int.format(total))),
        h('div', { class: 'analytics-models' }, models.map((m) => modelChart(m, byModel[m], keys, max))),
        table(`${t(S.attribution)} (${t(DIMENSION_NAMES[dim])})`, [[t(DIMENSION_NAMES[dim])], ...models.map((m) => [t(MODEL_NAMES[m]), true])],
          keys.map((k) => [keyName(k), ...models.map((m) => dec.format(byModel[m].find((c) => c.key === k)?.conversions || 0))]),
          'analytics-attribution-table'),
        markovNote);
    }

    // ---- AI usage and cost against the budget (ai_spend: one UTC month, as budgets count).
    function budgetMeter(b) {
      const limit = Number(b.monthly_limit_usd);
      const spent = Number(b.spent_usd);
      const reserved = Number(b.reserved_usd);
      const share = limit > 0 ? spent / limit : (spent > 0 ? 1 : 0);
      const level = share >= 1 ? 'over' : share >= 0.8 ? 'warn' : 'ok';
      const who = b.scenario || t(S.allScenarios);
      const text = tf(S.budgetOf, who, usd.format(spent), usd.format(limit), pct.format(share));
      const W = widthOf(aiBox); const bar = W - 2;
      const fill = Math.min(1, share) * bar;
      const res = limit > 0 ? Math.min(bar - fill, (reserved / limit) * bar) : 0;
      const svg = s('svg', { viewBox: `0 0 ${W} 34`, width: W, height: 34, role: 'img', 'aria-label': text, class: 'analytics-chart',
        testid: 'analytics-budget-meter', 'data-level': level },
        s('rect', { x: 1, y: 4, width: bar, height: 16, rx: 3, class: 'analytics-track' }),
        s('rect', { x: 1, y: 4, width: fill, height: 16, rx: 3, class: `analytics-budget-${level}` }),
        s('rect', { x: 1 + fill, y: 4, width: res, height: 16, class: 'analytics-reserved' }),
        s('line', { x1: 1 + 0.8 * bar, x2: 1 + 0.8 * bar, y1: 0, y2: 24, class: 'analytics-mark' }),
        s('text', { x: 0.8 * bar - 2, y: 30, class: 'analytics-svg-small', 'text-anchor': 'end' }, '80 %'));
      return h('div', { class: 'analytics-budget', testid: 'analytics-budget' },
        h('p', { testid: 'analytics-budget-text' }, h('strong', {}, text), ' · ',
          h('span', { class: `analytics-level-${level}`, testid: 'analytics-budget-level' }, t(S.level[level])),
          reserved > 0 ? ` · ${tf(S.reserved, usd.format(reserved))}` : '',
          ` · ${t(S.atLimit)}: ${t(S[b.at_limit] || { de: b.at_limit, en: b.at_limit })}`),
        svg);
    }

    async function loadAi() {
      aiBox.replaceChildren(h('p', { class: 'muted' }, t(S.loading)));
      const { data, error } = await sb.rpc('ai_spend', { p_period: month.value ? `${month.value}-01` : null });
      if (!alive) return;
      if (error) { failure(aiBox, error); return; }
      const monthName = monthFmt.format(new Date(`${data.period}-01T00:00:00Z`));
      const cards = h('div', { class: 'cards' },
        h('div', { class: 'card' }, h('span', { class: 'label' }, t(S.calls)), h('span', { class: 'value', testid: 'analytics-ai-calls' }, int.format(data.calls))),
        h('div', { class: 'card' }, h('span', { class: 'label' }, t(S.failedCalls)), h('span', { class: 'value', testid: 'analytics-ai-failed' }, int.format(data.failed_calls))),
        h('div', { class: 'card' }, h('span', { class: 'label' }, `${t(S.cost)} (${monthName})`), h('span', { class: 'value', testid: 'analytics-ai-cost' }, usd.format(Number(data.cost_usd)))));
      const budgets = data.budgets.length
        ? data.budgets.map(budgetMeter)
        : [h('p', { class: 'muted', testid: 'analytics-no-budget' }, t(S.noBudget))];
      const usage = data.calls
        ? [table(t(S.byModel), [[t(S.model)], [t(S.calls), true], [t(S.inputTokens), true], [t(S.outputTokens), true], [t(S.cost), true]],
          data.by_model.map((m) => [`${m.provider} / ${m.model}`, int.format(m.calls), int.format(m.input_tokens), int.format(m.output_tokens), usd.format(Number(m.cost_usd))]),
          'analytics-ai-models'),
        table(t(S.byScenario), [[t(S.scenario)], [t(S.calls), true], [t(S.cost), true]],
          data.by_scenario.map((x) => [x.scenario, int.format(x.calls), usd.format(Number(x.cost_usd))]), 'analytics-ai-scenarios')]
        : [h('p', { class: 'muted', testid: 'analytics-no-usage' }, t(S.noUsage))];
      aiBox.replaceChildren(cards, h('h4', {}, t(S.budgets)), ...budgets, ...usage);
      drawn.budgets = data.budgets;
    }

    const run = (...loaders) => {
      pending += loaders.length;
      delete el.dataset.loaded;
      for (const load of loaders) load().finally(done);
    };
    form.addEventListener('submit', (e) => { e.preventDefault(); run(loadFunnel, loadAttribution); });
    dimension.addEventListener('change', () => run(loadAttribution));
    month.addEventListener('change', () => run(loadAi));
    run(loadFunnel, loadAttribution, loadAi);
    let resizeTimer = null;
    const resized = new ResizeObserver(() => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => {
        const w = widthOf(funnelBox);
        if (!alive || Math.abs(w - drawn.width) < 16) return;
        drawn.width = w;
        const chart = funnelBox.querySelector('[data-testid="analytics-funnel-chart"]');
        if (chart && drawn.funnel) chart.replaceWith(funnelChart(drawn.funnel));
        const meters = aiBox.querySelectorAll('[data-testid="analytics-budget"]');
        if (drawn.budgets && meters.length === drawn.budgets.length) meters.forEach((m, i) => m.replaceWith(budgetMeter(drawn.budgets[i])));
      }, 150);
    });
    resized.observe(el);
    return () => { alive = false; clearTimeout(resizeTimer); resized.disconnect(); };
  },
};

const STYLE = `
.view-analytics section { margin-bottom: 1.6rem; }
.view-analytics .analytics-chart { display: block; max-width: 100%; height: auto; margin: .4rem 0 .8rem; overflow: visible; }
.view-analytics .analytics-svg-label { font-size: 13px; fill: #1b1f24; }
.view-analytics .analytics-svg-title { font-size: 15px; font-weight: 700; fill: #1b1f24; }
.view-analytics .analytics-svg-value { font-size: 13px; fill: #1b1f24; font-variant-numeric: tabular-nums; }
.view-analytics .analytics-model .analytics-svg-label, .view-analytics .analytics-model .analytics-svg-value { font-size: 12px; }
.view-analytics .analytics-model .analytics-svg-title { font-size: 13px; }
.view-analytics .analytics-svg-small { font-size: 10px; fill: #4f5864; }
.view-analytics .analytics-track { fill: #e3e6ea; }
.view-analytics .analytics-bar { fill: #0b57d0; }
.view-analytics .analytics-budget-ok { fill: #146c2e; }
.view-analytics .analytics-budget-warn { fill: #8a4b00; }
.view-analytics .analytics-budget-over { fill: #b3261e; }
.view-analytics .analytics-reserved { fill: #9aa3ae; }
.view-analytics .analytics-mark { stroke: #1b1f24; stroke-width: 1.5; stroke-dasharray: 3 2; }
.view-analytics .analytics-level-ok { color: #146c2e; }
.view-analytics .analytics-level-warn { color: #8a4b00; font-weight: 600; }
.view-analytics .analytics-level-over { color: #b3261e; font-weight: 700; }
.view-analytics .analytics-models { display: grid; grid-template-columns: repeat(auto-fill, minmax(10.5rem, 1fr)); gap: .6rem 1rem; }
.view-analytics .analytics-model { margin: 0; background: #fff; border: 1px solid #c9ced6; border-radius: .5rem; padding: .5rem .7rem; }
.view-analytics .analytics-model .analytics-chart { margin: 0; }
.view-analytics .analytics-caption { text-align: left; font-weight: 600; padding: .4rem .6rem; }
.view-analytics .table-wrap { margin: .4rem 0 .8rem; }
.view-analytics .analytics-budget { max-width: 40rem; }
.view-analytics .analytics-budget p { margin: .3rem 0; }
.view-analytics h4 { margin: 1rem 0 .3rem; }
.view-analytics .analytics-note { font-size: .85rem; }
`;
