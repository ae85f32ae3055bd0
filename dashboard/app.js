// The dashboard shell: sign-in, the active tenant and role, the language switch, the navigation of the
// views and hash routing. Each view is its own module (dashboard/views/<id>.js, see docs/dashboard.md);
// a missing one is skipped so views can land one at a time. Every read goes through supabase-js with
// the user's own session, so RLS scopes it exactly as for any other client.

const VIEW_IDS = ['events', 'live', 'inbox', 'autopilot', 'analytics', 'alerts', 'team'];
const LANG_KEY = 'salesflow.dashboard.lang';

const S = {
  skip: { de: 'Zum Inhalt springen', en: 'Skip to content' },
  lang: { de: 'Sprache', en: 'Language' },
  signIn: { de: 'Anmelden', en: 'Sign in' },
  signOut: { de: 'Abmelden', en: 'Sign out' },
  email: { de: 'E-Mail', en: 'Email' },
  password: { de: 'Passwort', en: 'Password' },
  nav: { de: 'Ansichten', en: 'Views' },
  signingIn: { de: 'Anmeldung läuft …', en: 'Signing in …' },
  badLogin: { de: 'E-Mail oder Passwort ist falsch.', en: 'Wrong email or password.' },
  noConfig: {
    de: 'Keine Konfiguration: config.js muss window.SALESFLOW_CONFIG = {supabaseUrl, anonKey} setzen.',
    en: 'No configuration: config.js must set window.SALESFLOW_CONFIG = {supabaseUrl, anonKey}.',
  },
  noClient: {
    de: 'supabase-js fehlt (vendor/supabase.js); ./scripts/setup kopiert es.',
    en: 'supabase-js is missing (vendor/supabase.js); ./scripts/setup copies it.',
  },
  noTenant: {
    de: 'Dieses Konto gehört zu keinem Mandanten.',
    en: 'This account belongs to no tenant.',
  },
  noViews: { de: 'Keine Ansicht verfügbar.', en: 'No view available.' },
  viewFailed: { de: 'Die Ansicht konnte nicht geladen werden.', en: 'The view could not be loaded.' },
  roles: {
    owner: { de: 'Inhaber', en: 'Owner' },
    admin: { de: 'Admin', en: 'Admin' },
    member: { de: 'Mitglied', en: 'Member' },
  },
};

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);

const state = {
  lang: pickLanguage(),
  sb: null,
  user: null,
  tenant: null,
  views: [], // loaded view modules, in contract order
  viewModules: [], // one promise per VIEW_IDS entry: the view or null
  allViews: Promise.resolve([]),
  unmount: null,
  mounted: null, // {id, query} of the mounted view
};

function pickLanguage() {
  const stored = localStorage.getItem(LANG_KEY);
  if (stored === 'de' || stored === 'en') return stored;
  return (navigator.language || 'de').toLowerCase().startsWith('de') ? 'de' : 'en';
}

function t(dict) {
  if (dict == null) return '';
  if (typeof dict === 'string') return dict;
  return dict[state.lang] ?? dict.en ?? dict.de ?? '';
}

function status(text) {
  $('shell-status').textContent = text || '';
}

// The route is `#/<view>?<query>`; an unknown or missing view falls back to the first loaded one.
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [id, query = ''] = raw.split('?');
  return { id: id || '', query };
}

function navigate(hash) {
  const target = hash.startsWith('#') ? hash : `#${hash.startsWith('/') ? '' : '/'}${hash}`;
  if (location.hash === target) route(true);
  else location.hash = target;
}

// Claims of the current access token (the custom access token hook puts tenant_id and tenant_role there).
function tokenClaims(session) {
  try {
    const part = session.access_token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(atob(part).split('').map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join(''));
    return JSON.parse(json);
  } catch {
    return {};
  }
}

function applyLanguage() {
  document.documentElement.lang = state.lang;
  $('shell-lang').value = state.lang;
  $('shell-skip').textContent = t(S.skip);
  document.getElementById('lang-label').textContent = t(S.lang);
  $('shell-signout').textContent = t(S.signOut);
  $('shell-signin-title').textContent = t(S.signIn);
  $('shell-signin-button').textContent = t(S.signIn);
  document.querySelectorAll('[data-i18n]').forEach((el) => { el.textContent = t(S[el.dataset.i18n]); });
  $('shell-nav').setAttribute('aria-label', t(S.nav));
  if (state.tenant) $('shell-role').textContent = t(S.roles[state.tenant.role]);
  renderNav();
}

function renderNav() {
  const list = $('shell-nav').querySelector('ul');
  list.replaceChildren();
  const current = state.mounted?.id;
  for (const view of state.views) {
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.href = `#/${view.id}`;
    a.textContent = t(view.label);
    a.dataset.testid = `nav-${view.id}`;
    if (view.id === current) a.setAttribute('aria-current', 'page');
    li.append(a);
    list.append(li);
  }
}

// Each view's module is imported on its own: the route's view mounts as soon as its module is there, the
// navigation fills in as the others arrive (a missing one is skipped with a warning).
function loadViews() {
  const slots = VIEW_IDS.map(() => undefined);
  state.viewModules = VIEW_IDS.map((id, i) => import(`./views/${id}.js`).then((mod) => {
    const view = mod.default;
    if (!view || typeof view.mount !== 'function') throw new Error('no default export with mount()');
    return { ...view, id: view.id || id };
  }).catch((err) => {
    console.warn(`dashboard: view "${id}" skipped:`, err.message || err);
    return null;
  }).then((view) => {
    slots[i] = view;
    state.views = slots.filter(Boolean);
    if (state.user) renderNav();
    return view;
  }));
  state.allViews = Promise.all(state.viewModules);
}

// The view a route names (waiting for its module only), else the first view in contract order.
async function viewFor(id) {
  const i = VIEW_IDS.indexOf(id);
  if (i >= 0) {
    const view = await state.viewModules[i];
    if (view && (state.tenant || view.noTenant)) return view;
  }
  for (const pending of state.viewModules) {
    const view = await pending;
    if (view && (state.tenant || view.noTenant)) return view;
  }
  return null;
}

function unmountView() {
  if (state.unmount) {
    try { state.unmount(); } catch (err) { console.warn('dashboard: unmount failed', err); }
  }
  state.unmount = null;
  state.mounted = null;
  $('shell-view').replaceChildren();
}

async function route(force = false) {
  if (!state.user) return;
  const { id, query } = parseHash();
  const view = await viewFor(id);
  if (!state.user || parseHash().id !== id) return; // signed out or navigated on meanwhile
  if (!view) {
    unmountView();
    status(state.tenant ? t(S.noViews) : t(S.noTenant));
    return;
  }
  if (view.id !== id) {
    history.replaceState(null, '', `#/${view.id}${query ? `?${query}` : ''}`);
  }
  if (!force && state.mounted && state.mounted.id === view.id && state.mounted.query === query) return;
  unmountView();
  status('');
  const el = document.createElement('section');
  el.className = `view-${view.id}`;
  el.dataset.testid = `view-${view.id}`;
  el.setAttribute('aria-label', t(view.label));
  $('shell-view').append(el);
  state.mounted = { id: view.id, query };
  renderNav();
  const ctx = {
    sb: state.sb,
    user: state.user,
    tenant: state.tenant,
    lang: state.lang,
    t,
    navigate,
    params: new URLSearchParams(query),
  };
  try {
    const cleanup = await view.mount(el, ctx);
    if (state.mounted && state.mounted.id === view.id && el.isConnected) state.unmount = typeof cleanup === 'function' ? cleanup : null;
    else if (typeof cleanup === 'function') cleanup();
  } catch (err) {
    console.error(`dashboard: view "${view.id}" failed`, err);
    status(t(S.viewFailed));
  }
}

// The active tenant: the token's tenant claim, confirmed by the user's own membership row (RLS shows
// only the token tenant's memberships), and its name.
async function loadTenant(session) {
  const claims = tokenClaims(session);
  const tenantId = claims.tenant_id;
  if (!tenantId) return null;
  const [member, tenant] = await Promise.all([
    state.sb.from('tenant_members').select('role').eq('tenant_id', tenantId).eq('user_id', session.user.id).maybeSingle(),
    state.sb.from('tenants').select('id, name').eq('id', tenantId).maybeSingle(),
  ]);
  const role = member.data?.role || claims.tenant_role;
  if (!role || !tenant.data) return null;
  return { id: tenantId, name: tenant.data.name, role };
}

async function enter(session) {
  state.user = { id: session.user.id, email: session.user.email };
  state.tenant = await loadTenant(session);
  $('shell-signin-form').hidden = true;
  $('shell-signout').hidden = false;
  $('shell-nav').hidden = false;
  const tenantEl = $('shell-tenant');
  const roleEl = $('shell-role');
  tenantEl.hidden = roleEl.hidden = !state.tenant;
  if (state.tenant) {
    tenantEl.textContent = state.tenant.name;
    roleEl.dataset.role = state.tenant.role;
    roleEl.textContent = t(S.roles[state.tenant.role]);
  }
  document.body.dataset.signedIn = 'true';
  renderNav();
  await route(true);
}

function leave() {
  unmountView();
  state.user = null;
  state.tenant = null;
  document.body.dataset.signedIn = 'false';
  $('shell-signin-form').hidden = false;
  $('shell-signout').hidden = true;
  $('shell-nav').hidden = true;
  $('shell-tenant').hidden = true;
  $('shell-role').hidden = true;
}

async function signIn(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $('shell-signin-error');
  error.hidden = true;
  const button = $('shell-signin-button');
  button.disabled = true;
  status(t(S.signingIn));
  const { data, error: failure } = await state.sb.auth.signInWithPassword({
    email: form.email.value.trim(),
    password: form.password.value,
  });
  button.disabled = false;
  status('');
  if (failure || !data.session) {
    error.textContent = failure && failure.status && failure.status < 500 ? t(S.badLogin) : (failure?.message || t(S.badLogin));
    error.hidden = false;
    return;
  }
  form.password.value = '';
  await enter(data.session);
}

async function main() {
  applyLanguage();
  $('shell-lang').addEventListener('change', (e) => {
    state.lang = e.target.value === 'en' ? 'en' : 'de';
    localStorage.setItem(LANG_KEY, state.lang);
    applyLanguage();
    if (state.user) route(true); // views keep their own strings: re-mount
  });
  const cfg = window.SALESFLOW_CONFIG;
  if (!cfg || !cfg.supabaseUrl || !cfg.anonKey) { status(t(S.noConfig)); return; }
  if (!window.supabase || !window.supabase.createClient) { status(t(S.noClient)); return; }
  state.sb = window.supabase.createClient(cfg.supabaseUrl, cfg.anonKey, {
    auth: { persistSession: true, autoRefreshToken: true, storageKey: 'salesflow.dashboard.auth' },
  });
  loadViews();
  $('shell-signin-form').addEventListener('submit', signIn);
  $('shell-signout').addEventListener('click', async () => {
    await state.sb.auth.signOut();
    leave();
  });
  window.addEventListener('hashchange', () => route());
  const { data } = await state.sb.auth.getSession();
  if (data.session) await enter(data.session);
  else leave();
  document.body.dataset.ready = 'true';
}

main();
