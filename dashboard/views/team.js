// Team: the tenant's members and their roles (team_members()), role changes on tenant_members through
// PostgREST (the tenancy rules of 20261201100400 refuse what is not allowed; the refusal is shown), the
// invite form (invite_member: the link is emailed by the listener, through the tenant's email connection or
// the outbox), the open invitations, and — for a signed-in user without a tenant — creating one or
// accepting an invitation (#/team?invitation=<token>, the emailed link).
//
// Exports for the shell:
//   default            the view ({noTenant: true}: the shell mounts it also for a user without a tenant)
//   mountNoTenant(el, ctx)   the "no tenant yet" state alone (create a tenant / accept the invitation)
//   installSignUp(form?)     adds "create an account" under the shell's sign-in form (called on import;
//                            idempotent). Sign-up goes through /auth/v1/signup; the page reloads signed in.
// After create_tenant or accept_invitation the session is refreshed (the custom access token hook then puts
// the tenant into the token) and the page reloads, so the shell enters the tenant.
import { h } from '../dom.js';

const STORAGE_KEY = 'salesflow.dashboard.auth'; // the shell's supabase-js storage key (same session)

const S = {
  title: { de: 'Team', en: 'Team' },
  intro: {
    de: 'Mitglieder dieses Mandanten, ihre Rollen und offene Einladungen.',
    en: 'The members of this tenant, their roles and open invitations.',
  },
  members: { de: 'Mitglieder', en: 'Members' },
  caption: { de: 'Mitglieder und Rollen', en: 'Members and roles' },
  cols: {
    email: { de: 'E-Mail', en: 'Email' },
    role: { de: 'Rolle', en: 'Role' },
    joined: { de: 'Dabei seit', en: 'Joined' },
    expires: { de: 'Gültig bis', en: 'Expires' },
    sent: { de: 'Versand', en: 'Delivery' },
    actions: { de: 'Aktionen', en: 'Actions' },
  },
  roles: {
    owner: { de: 'Inhaber', en: 'Owner' },
    admin: { de: 'Admin', en: 'Admin' },
    member: { de: 'Mitglied', en: 'Member' },
  },
  you: { de: '(Sie)', en: '(you)' },
  roleOf: { de: (e) => `Rolle von ${e}`, en: (e) => `Role of ${e}` },
  ownRole: { de: 'Die eigene Rolle ändert ein anderer Inhaber.', en: 'Another owner changes your own role.' },
  memberCannot: {
    de: 'Rollen ändern und einladen dürfen Inhaber und Admins.',
    en: 'Owners and admins change roles and invite.',
  },
  roleChanged: { de: (e, r) => `${e} ist jetzt ${r}.`, en: (e, r) => `${e} is now ${r}.` },
  refused: { de: 'Abgelehnt:', en: 'Refused:' },
  invite: { de: 'Per E-Mail einladen', en: 'Invite by email' },
  inviteEmail: { de: 'E-Mail-Adresse', en: 'Email address' },
  inviteRole: { de: 'Rolle', en: 'Role' },
  inviteButton: { de: 'Einladung senden', en: 'Send invitation' },
  adminHint: {
    de: 'Admins laden Mitglieder ein; Admins lädt nur ein Inhaber ein.',
    en: 'Admins invite members; only an owner invites admins.',
  },
  invited: {
    de: (e) => `Einladung an ${e} angelegt; der Link wird per E-Mail verschickt.`,
    en: (e) => `Invitation for ${e} created; the link is sent by email.`,
  },
  pending: { de: 'Offene Einladungen', en: 'Open invitations' },
  pendingCaption: { de: 'Offene Einladungen', en: 'Open invitations' },
  noPending: { de: 'Keine offenen Einladungen.', en: 'No open invitations.' },
  sentAt: { de: 'Gesendet', en: 'Sent' },
  notSent: { de: 'Wird gesendet …', en: 'Sending …' },
  expired: { de: 'Abgelaufen', en: 'Expired' },
  withdraw: { de: 'Zurückziehen', en: 'Withdraw' },
  withdrawOf: { de: (e) => `Einladung an ${e} zurückziehen`, en: (e) => `Withdraw the invitation for ${e}` },
  loading: { de: 'Wird geladen …', en: 'Loading …' },
  loadFailed: { de: 'Das Team konnte nicht geladen werden:', en: 'The team could not be loaded:' },
  // No tenant yet
  noTenantTitle: { de: 'Noch kein Mandant', en: 'No tenant yet' },
  noTenantIntro: {
    de: 'Dieses Konto gehört zu keinem Mandanten. Legen Sie einen an (Sie werden Inhaber) oder nehmen Sie eine Einladung an.',
    en: 'This account belongs to no tenant. Create one (you become its owner) or accept an invitation.',
  },
  createTitle: { de: 'Mandanten anlegen', en: 'Create a tenant' },
  tenantName: { de: 'Name des Mandanten', en: 'Tenant name' },
  createButton: { de: 'Mandanten anlegen', en: 'Create tenant' },
  acceptTitle: { de: 'Einladung annehmen', en: 'Accept the invitation' },
  acceptIntro: {
    de: 'Sie wurden eingeladen. Mit dieser Adresse angemeldet treten Sie dem Mandanten bei.',
    en: 'You were invited. Signed in with the invited address, you join the tenant.',
  },
  acceptButton: { de: 'Einladung annehmen', en: 'Accept invitation' },
  acceptOther: {
    de: 'Sie gehören schon zu einem Mandanten; die Einladung fügt einen weiteren hinzu und macht ihn aktiv.',
    en: 'You already belong to a tenant; the invitation adds another one and makes it active.',
  },
  joining: { de: 'Wird übernommen …', en: 'Applying …' },
  // Sign-up
  signUpToggle: { de: 'Noch kein Konto? Registrieren', en: 'No account yet? Sign up' },
  signUpTitle: { de: 'Konto anlegen', en: 'Create an account' },
  signUpEmail: { de: 'E-Mail', en: 'Email' },
  signUpPassword: { de: 'Passwort (mindestens 6 Zeichen)', en: 'Password (at least 6 characters)' },
  signUpButton: { de: 'Registrieren', en: 'Sign up' },
  signUpDone: { de: 'Konto angelegt, Sie werden angemeldet …', en: 'Account created, signing you in …' },
  signUpConfirm: {
    de: 'Konto angelegt. Bestätigen Sie Ihre E-Mail-Adresse und melden Sie sich dann an.',
    en: 'Account created. Confirm your email address, then sign in.',
  },
};

const STYLE = `
.team-section { margin-top: 1.2rem; }
.team-form { display: flex; flex-wrap: wrap; gap: .6rem 1rem; align-items: end; background: var(--panel);
  border: 1px solid var(--border); border-radius: .5rem; padding: .8rem; }
.team-form label { display: grid; gap: .15rem; font-size: .9rem; }
.team-form input[type=email], .team-form input[type=text] { min-width: min(18rem, 80vw); }
.team-note { font-size: .9rem; color: var(--muted); margin: .3rem 0; }
.team-ok { color: var(--ok); }
.team-signup { max-width: 22rem; margin: 0 auto 2rem; }
.team-signup summary { cursor: pointer; color: var(--accent); padding: .4rem 0; }
.team-signup form { display: grid; gap: .6rem; margin-top: .4rem; background: var(--panel); padding: 1rem;
  border: 1px solid var(--border); border-radius: .5rem; }
.team-signup label { display: grid; gap: .2rem; }
`;

// Which language to show outside a view (the sign-up box lives under the shell's form): the shell's switch.
function currentLang() {
  const sel = document.querySelector('[data-testid="shell-lang"]');
  return sel && sel.value === 'en' ? 'en' : 'de';
}

function message(error) {
  return error?.message || String(error || '');
}

function tokenFromParams(params) {
  const fromCtx = params && params.get ? params.get('invitation') : null;
  if (fromCtx) return fromCtx;
  const query = location.hash.split('?')[1] || '';
  return new URLSearchParams(query).get('invitation');
}

// The session now carries the tenant claim only after a refresh (the token hook runs at issue time).
async function refreshAndReload(sb) {
  await sb.auth.refreshSession();
  location.reload();
}

function acceptBlock(ctx, token, status) {
  const { sb, t } = ctx;
  const button = h('button', { type: 'button', class: 'primary', testid: 'team-accept-button' }, t(S.acceptButton));
  button.addEventListener('click', async () => {
    button.disabled = true;
    status.className = 'muted';
    status.textContent = t(S.joining);
    const { error } = await sb.rpc('accept_invitation', { p_token: token });
    if (error) {
      status.className = 'error';
      status.textContent = `${t(S.refused)} ${message(error)}`;
      button.disabled = false;
      return;
    }
    // Drop the token from the address (single use) before the reload.
    history.replaceState(null, '', '#/team');
    await refreshAndReload(sb);
  });
  return h('section', { class: 'team-section', testid: 'team-accept' },
    h('h3', {}, t(S.acceptTitle)),
    h('p', { class: 'team-note' }, t(ctx.tenant ? S.acceptOther : S.acceptIntro)),
    button);
}

/** The "no tenant yet" state: create a tenant (becoming its owner) or accept the invitation in the URL. */
export function mountNoTenant(el, ctx) {
  const { sb, t } = ctx;
  const status = h('p', { role: 'status', 'aria-live': 'polite', class: 'muted', testid: 'team-status' });
  const name = h('input', { type: 'text', id: 'team-tenant-name', required: true, maxlength: '200',
    autocomplete: 'organization', testid: 'team-tenant-name' });
  const create = h('button', { type: 'submit', class: 'primary', testid: 'team-create-button' }, t(S.createButton));
  const form = h('form', { class: 'team-form', testid: 'team-create-form' },
    h('label', { for: 'team-tenant-name' }, t(S.tenantName), name), create);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    create.disabled = true;
    status.className = 'muted';
    status.textContent = t(S.joining);
    const { error } = await sb.rpc('create_tenant', { p_name: name.value });
    if (error) {
      status.className = 'error';
      status.textContent = `${t(S.refused)} ${message(error)}`;
      create.disabled = false;
      return;
    }
    await refreshAndReload(sb);
  });
  const token = tokenFromParams(ctx.params);
  el.replaceChildren(h('style', {}, STYLE),
    h('h2', { testid: 'team-no-tenant' }, t(S.noTenantTitle)),
    h('p', { class: 'muted' }, t(S.noTenantIntro)),
    token ? acceptBlock(ctx, token, status) : null,
    h('section', { class: 'team-section' }, h('h3', {}, t(S.createTitle)), form),
    status);
  return () => {};
}

/** Adds a sign-up box under the shell's sign-in form (shown while the sign-in form is). */
export function installSignUp(signInForm = document.querySelector('[data-testid="shell-signin-form"]')) {
  if (!signInForm || document.querySelector('[data-testid="team-signup"]')) return;
  const cfg = window.SALESFLOW_CONFIG;
  if (!cfg || !window.supabase) return;
  const details = h('details', { class: 'team-signup', testid: 'team-signup' });
  const render = () => {
    const lang = currentLang();
    const tt = (d) => d[lang];
    const email = h('input', { type: 'email', id: 'team-signup-email', required: true, autocomplete: 'username',
      testid: 'team-signup-email' });
    const password = h('input', { type: 'password', id: 'team-signup-password', required: true, minlength: '6',
      autocomplete: 'new-password', testid: 'team-signup-password' });
    const button = h('button', { type: 'submit', class: 'primary', testid: 'team-signup-button' }, tt(S.signUpButton));
    const status = h('p', { role: 'status', 'aria-live': 'polite', class: 'muted', testid: 'team-signup-status' });
    const form = h('form', {},
      h('strong', {}, tt(S.signUpTitle)),
      h('label', { for: 'team-signup-email' }, tt(S.signUpEmail), email),
      h('label', { for: 'team-signup-password' }, tt(S.signUpPassword), password),
      button, status);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      button.disabled = true;
      // Its own client on the shell's storage key: the session it stores is the one the shell reads on reload.
      const sb = window.supabase.createClient(cfg.supabaseUrl, cfg.anonKey,
        { auth: { persistSession: true, autoRefreshToken: false, storageKey: STORAGE_KEY } });
      const { data, error } = await sb.auth.signUp({ email: email.value.trim(), password: password.value });
      button.disabled = false;
      if (error) {
        status.className = 'error';
        status.textContent = `${tt(S.refused)} ${message(error)}`;
        return;
      }
      if (!data.session) {
        status.className = 'muted';
        status.textContent = tt(S.signUpConfirm);
        return;
      }
      status.className = 'team-ok';
      status.textContent = tt(S.signUpDone);
      if (!location.hash.startsWith('#/team')) history.replaceState(null, '', '#/team');
      location.reload();
    });
    details.replaceChildren(h('summary', { testid: 'team-signup-toggle' }, tt(S.signUpToggle)), form);
  };
  render();
  const lang = document.querySelector('[data-testid="shell-lang"]');
  if (lang) lang.addEventListener('change', () => { const open = details.open; render(); details.open = open; });
  const sync = () => { details.hidden = signInForm.hidden; };
  new MutationObserver(sync).observe(signInForm, { attributes: true, attributeFilter: ['hidden'] });
  sync();
  if (!document.querySelector('style[data-team-style]')) {
    document.head.append(h('style', { 'data-team-style': 'true' }, STYLE));
  }
  signInForm.after(details);
  // An invitation link opened signed out: open the sign-up box (the invitee most likely has no account yet).
  if (tokenFromParams(null)) details.open = true;
}

installSignUp();

export default {
  id: 'team',
  label: { de: 'Team', en: 'Team' },
  noTenant: true,

  mount(el, ctx) {
    if (!ctx.tenant) return mountNoTenant(el, ctx);
    const { sb, t, lang, tenant } = ctx;
    const tf = (dict, ...args) => { const v = t(dict); return typeof v === 'function' ? v(...args) : v; };
    const locale = lang === 'de' ? 'de-DE' : 'en-GB';
    const dateFmt = new Intl.DateTimeFormat(locale, { dateStyle: 'medium' });
    const timeFmt = new Intl.DateTimeFormat(locale, { dateStyle: 'short', timeStyle: 'short' });
    const manager = tenant.role === 'owner' || tenant.role === 'admin';
    let alive = true;

    const status = h('p', { role: 'status', 'aria-live': 'polite', class: 'muted', testid: 'team-status' }, t(S.loading));
    const membersBody = h('tbody');
    const membersTable = h('div', { class: 'table-wrap' }, h('table', { testid: 'team-members-table' },
      h('caption', { class: 'sr-only' }, t(S.caption)),
      h('thead', {}, h('tr', {}, ['email', 'role', 'joined'].map((c) => h('th', { scope: 'col' }, t(S.cols[c]))))),
      membersBody));
    const token = tokenFromParams(ctx.params);

    const parts = [h('style', {}, STYLE), h('h2', {}, t(S.title)), h('p', { class: 'muted' }, t(S.intro)), status];
    if (token) parts.push(acceptBlock(ctx, token, status));
    parts.push(h('section', { class: 'team-section' }, h('h3', {}, t(S.members)), membersTable,
      manager ? null : h('p', { class: 'team-note', testid: 'team-member-note' }, t(S.memberCannot))));

    let pendingBody = null;
    let pendingEmpty = null;
    if (manager) {
      const email = h('input', { type: 'email', id: 'team-invite-email', required: true, testid: 'team-invite-email' });
      const role = h('select', { id: 'team-invite-role', testid: 'team-invite-role' },
        h('option', { value: 'member' }, t(S.roles.member)), h('option', { value: 'admin' }, t(S.roles.admin)));
      const send = h('button', { type: 'submit', class: 'primary', testid: 'team-invite-button' }, t(S.inviteButton));
      const form = h('form', { class: 'team-form', testid: 'team-invite-form' },
        h('label', { for: 'team-invite-email' }, t(S.inviteEmail), email),
        h('label', { for: 'team-invite-role' }, t(S.inviteRole), role), send);
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        send.disabled = true;
        const linkBase = `${location.origin}${location.pathname}`;
        const { data, error } = await sb.rpc('invite_member',
          { p_email: email.value, p_role: role.value, p_link_base: linkBase });
        send.disabled = false;
        if (error) return say('error', `${t(S.refused)} ${message(error)}`);
        say('team-ok', tf(S.invited, data.email));
        email.value = '';
        await load();
      });
      pendingBody = h('tbody');
      pendingEmpty = h('p', { class: 'muted', testid: 'team-pending-empty', hidden: true }, t(S.noPending));
      parts.push(
        h('section', { class: 'team-section' }, h('h3', {}, t(S.invite)), form,
          h('p', { class: 'team-note' }, t(S.adminHint))),
        h('section', { class: 'team-section' }, h('h3', {}, t(S.pending)),
          h('div', { class: 'table-wrap' }, h('table', { testid: 'team-pending-table' },
            h('caption', { class: 'sr-only' }, t(S.pendingCaption)),
            h('thead', {}, h('tr', {}, ['email', 'role', 'expires', 'sent', 'actions']
              .map((c) => h('th', { scope: 'col' }, t(S.cols[c]))))),
            pendingBody)),
          pendingEmpty));
    }
    el.replaceChildren(...parts);

    function say(kind, text) {
      status.className = kind;
      status.textContent = text;
    }

    function roleCell(m) {
      const mine = m.is_me;
      // Owners manage every role; admins plain members only (the server refuses the rest and says why).
      if (!manager || mine) {
        return h('td', {}, h('span', { class: 'badge', testid: 'team-role' }, t(S.roles[m.role])),
          mine && manager ? h('span', { class: 'sr-only' }, t(S.ownRole)) : null);
      }
      const select = h('select', { 'aria-label': tf(S.roleOf, m.email), testid: 'team-role-select' },
        ['owner', 'admin', 'member'].map((r) => h('option', { value: r, selected: r === m.role }, t(S.roles[r]))));
      select.addEventListener('change', async () => {
        select.disabled = true;
        const { data, error } = await sb.from('tenant_members').update({ role: select.value })
          .eq('tenant_id', tenant.id).eq('user_id', m.user_id).select('role');
        select.disabled = false;
        if (error || !data || !data.length) {
          select.value = m.role;
          return say('error', `${t(S.refused)} ${message(error) || t(S.memberCannot)}`);
        }
        m.role = data[0].role;
        say('team-ok', tf(S.roleChanged, m.email, t(S.roles[m.role])));
      });
      return h('td', {}, select);
    }

    function renderMembers(rows) {
      membersBody.replaceChildren(...rows.map((m) => h('tr', { testid: 'team-member-row', 'data-email': m.email },
        h('th', { scope: 'row' }, m.email, m.is_me ? ` ${t(S.you)}` : ''),
        roleCell(m),
        h('td', {}, h('time', { datetime: m.joined_at }, dateFmt.format(new Date(m.joined_at)))))));
    }

    function renderPending(rows) {
      if (!pendingBody) return;
      const now = Date.now();
      pendingBody.replaceChildren(...rows.map((inv) => {
        const expired = new Date(inv.expires_at).getTime() <= now;
        const sent = inv.email_error
          ? h('span', { class: 'error', testid: 'team-pending-error' }, inv.email_error)
          : inv.email_sent_at
            ? h('span', { testid: 'team-pending-sent' }, `${t(S.sentAt)} ${timeFmt.format(new Date(inv.email_sent_at))}`)
            : h('span', { class: 'muted' }, t(S.notSent));
        const withdraw = h('button', { type: 'button', 'aria-label': tf(S.withdrawOf, inv.email),
          testid: 'team-withdraw-button' }, t(S.withdraw));
        withdraw.addEventListener('click', async () => {
          withdraw.disabled = true;
          const { data, error } = await sb.from('invitations').delete().eq('id', inv.id).select('id');
          if (error || !data || !data.length) {
            withdraw.disabled = false;
            return say('error', `${t(S.refused)} ${message(error) || t(S.adminHint)}`);
          }
          await load();
        });
        return h('tr', { testid: 'team-pending-row', 'data-email': inv.email },
          h('th', { scope: 'row' }, inv.email),
          h('td', {}, t(S.roles[inv.role])),
          h('td', {}, expired ? h('span', { class: 'error' }, t(S.expired))
            : h('time', { datetime: inv.expires_at }, timeFmt.format(new Date(inv.expires_at)))),
          h('td', {}, sent),
          h('td', {}, h('div', { class: 'actions' }, withdraw)));
      }));
      pendingEmpty.hidden = rows.length > 0;
    }

    async function load(membersToo = true) {
      const [members, pending] = await Promise.all([
        membersToo ? sb.rpc('team_members') : Promise.resolve({ data: null }),
        manager ? sb.from('invitations').select('id, email, role, expires_at, email_sent_at, email_error')
          .is('accepted_at', null).order('created_at', { ascending: false }) : Promise.resolve({ data: [] }),
      ]);
      if (!alive) return;
      if (members.error || pending.error) {
        return say('error', `${t(S.loadFailed)} ${message(members.error || pending.error)}`);
      }
      if (members.data) renderMembers(members.data);
      renderPending(pending.data || []);
      if (status.textContent === t(S.loading)) say('muted', '');
    }

    load();
    // The email goes out from the listener a moment later: refresh the open invitations meanwhile.
    const timer = manager ? setInterval(() => { if (alive) load(false); }, 3000) : null;
    return () => { alive = false; if (timer) clearInterval(timer); };
  },
};
