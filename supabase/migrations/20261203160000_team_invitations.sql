-- Team: a signed-up user creates a tenant (and owns it), owners and admins invite by email, the invitee
-- accepts through the link, roles change on tenant_members under the rules of 20261201100400.
--
--   create_tenant(name)               a signed-in user without a membership makes a tenant and becomes its owner
--   invite_member(email, role, link)  an invitation row (RLS: owners invite anyone, admins members only); its
--                                     link goes out by email through the listener (invitation.created)
--   accept_invitation(token)          the invitee (signed in with the invited email) joins; single use, expiring
--   team_members()                    the tenant's members with their emails (auth.users is not readable)
--   invitation_for_sending / record_invitation_email   the email handler's API (service_role only)
--
-- The token: 244 random bits (two v4 uuids) made by the database when the row is inserted, whoever inserts it (a client
-- cannot choose its own). Only its sha256 is kept on the row; the raw token waits in private.invitation_tokens
-- (not reachable over the API) until the email handler has sent it, then it is deleted. After create_tenant
-- or accept_invitation the client refreshes its session: the custom access token hook then finds the
-- membership (app_metadata.tenant_id names the new tenant, so it becomes the active one).

-- ---------------------------------------------------------------------------------------------------------
create or replace function public.create_tenant(p_name text) returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  v_uid uuid := auth.uid();
  v_name text := btrim(coalesce(p_name, ''));
  v_id uuid;
begin
  if v_uid is null then
    raise exception 'create_tenant: sign in first (a tenant is created by a signed-in user)' using errcode = '42501';
  end if;
  if length(v_name) not between 1 and 200 then
    raise exception 'create_tenant.p_name: a name of 1-200 characters is required (got %)', length(v_name)
      using errcode = '22023';
  end if;
  -- One tenant per new user, also when the button is pressed twice at once.
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('create_tenant:' || v_uid::text, 0));
  if exists (select 1 from public.tenant_members m where m.user_id = v_uid) then
    raise exception 'create_tenant: you already belong to a tenant (ask its owner to invite others, or accept an invitation)'
      using errcode = '42501';
  end if;
  insert into public.tenants (name) values (v_name) returning id into v_id;
  insert into public.tenant_members (tenant_id, user_id, role) values (v_id, v_uid, 'owner');
  update auth.users u set raw_app_meta_data = coalesce(u.raw_app_meta_data, '{}'::jsonb)
                                              || jsonb_build_object('tenant_id', v_id)
   where u.id = v_uid;
  return jsonb_build_object('tenant_id', v_id, 'name', v_name, 'role', 'owner');
end
$$;
comment on function public.create_tenant(text) is
  'A signed-in user without a tenant creates one and becomes its owner; refresh the session afterwards.';
revoke all on function public.create_tenant(text) from public, anon;
grant execute on function public.create_tenant(text) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------------------
create table if not exists public.invitations (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  email text not null check (email = lower(btrim(email)) and email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  role text not null default 'member' check (role in ('member', 'admin')),
  token_hash text not null unique,
  link_base text check (link_base ~ '^https?://'),
  invited_by uuid references auth.users (id) on delete set null default auth.uid(),
  created_at timestamptz not null default now(),
  expires_at timestamptz not null default now() + interval '7 days',
  accepted_at timestamptz,
  accepted_by uuid references auth.users (id) on delete set null,
  email_sent_at timestamptz,
  email_error text,
  check (expires_at > created_at)
);
comment on table public.invitations is
  'An invitation to join a tenant by email: single use (accepted_at), expiring (expires_at); the token is kept hashed.';
create index if not exists invitations_tenant_idx on public.invitations (tenant_id, created_at desc);
create index if not exists invitations_invited_by_idx on public.invitations (invited_by);
create index if not exists invitations_accepted_by_idx on public.invitations (accepted_by);
-- One open invitation per address and tenant (inviting again replaces the open one).
create unique index if not exists invitations_one_open_per_email on public.invitations (tenant_id, email)
  where accepted_at is null;

-- The raw token until the email is sent (service code reads it through invitation_for_sending).
-- (Written by the row's before-insert trigger, before the row exists: the foreign key is checked at commit.)
create table if not exists private.invitation_tokens (
  invitation_id uuid primary key references public.invitations (id) on delete cascade deferrable initially deferred,
  token text not null,
  created_at timestamptz not null default now()
);
-- What was sent (the outbox adapter's rendered mail, or the provider's receipt): the link is in it.
create table if not exists private.invitation_emails (
  id bigint generated always as identity primary key,
  tenant_id uuid not null,
  invitation_id uuid not null references public.invitations (id) on delete cascade,
  provider text not null,
  provider_message_id text,
  detail jsonb not null default '{}'::jsonb,
  sent_at timestamptz not null default now()
);
create index if not exists invitation_emails_invitation_idx on private.invitation_emails (invitation_id);
revoke all on table private.invitation_tokens, private.invitation_emails from public, anon, authenticated;
grant select, insert, update, delete on table private.invitation_tokens, private.invitation_emails to service_role;

insert into public.event_types (name, description) values
  ('invitation.created', 'An owner or admin invited someone by email; the email handler sends the link. Payload: '
   'invitation_id, role, expires_at, invited_by.')
on conflict (name) do update set description = excluded.description;

-- Before insert: the rules (who may invite which role, not a member already), then the token. Security
-- definer: it looks the address up in auth.users and writes the private token table.
create or replace function private.invitations_prepare() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_actor_role text := private.tenant_role();
  v_token text;
begin
  new.email := lower(btrim(new.email));
  -- The function runs as its owner; the caller's API role decides (RLS binds authenticated, not service code).
  if current_setting('role', true) in ('authenticated', 'anon') then
    if v_actor_role is null or v_actor_role = 'member' then
      raise exception 'invitations: only owners and admins invite (your role: %)', coalesce(v_actor_role, 'none')
        using errcode = '42501';
    end if;
    if new.role = 'admin' and v_actor_role <> 'owner' then
      raise exception 'invitations.role: only an owner can invite an admin'
        using errcode = '42501', column = 'role', hint = 'an admin invites members only';
    end if;
    new.invited_by := auth.uid();
  end if;
  if exists (select 1 from public.tenant_members m join auth.users u on u.id = m.user_id
              where m.tenant_id = new.tenant_id and lower(u.email) = new.email) then
    raise exception 'invitations.email: % is already a member of this tenant', new.email
      using errcode = '23505', column = 'email';
  end if;
  v_token := replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
  new.token_hash := encode(sha256(convert_to(v_token, 'UTF8')), 'hex');
  new.accepted_at := null;
  new.accepted_by := null;
  new.email_sent_at := null;
  new.email_error := null;
  new.created_at := now();
  if new.expires_at is null or new.expires_at <= now() or new.expires_at > now() + interval '30 days' then
    new.expires_at := now() + interval '7 days';
  end if;
  new.id := coalesce(new.id, gen_random_uuid());
  insert into private.invitation_tokens (invitation_id, token) values (new.id, v_token)
  on conflict (invitation_id) do update set token = excluded.token, created_at = now();
  return new;
end
$$;
revoke all on function private.invitations_prepare() from public, anon, authenticated;

-- After insert: publish invitation.created (same transaction).
create or replace function private.invitations_publish() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  insert into public.events (tenant_id, type, payload, source)
  values (new.tenant_id, 'invitation.created',
          jsonb_build_object('invitation_id', new.id, 'role', new.role, 'expires_at', new.expires_at,
                             'invited_by', new.invited_by),
          'invitations');
  return null;
end
$$;
revoke all on function private.invitations_publish() from public, anon, authenticated;

drop trigger if exists invitations_prepare on public.invitations;
create trigger invitations_prepare before insert on public.invitations
  for each row execute function private.invitations_prepare();
drop trigger if exists invitations_publish on public.invitations;
create trigger invitations_publish after insert on public.invitations
  for each row execute function private.invitations_publish();
drop trigger if exists a_row_keeps_its_tenant on public.invitations;
create trigger a_row_keeps_its_tenant before update of tenant_id on public.invitations
  for each row when (old.tenant_id is distinct from new.tenant_id) execute function private.refuse_tenant_move();

alter table public.invitations enable row level security;

drop policy if exists "owners and admins read their tenant's invitations" on public.invitations;
create policy "owners and admins read their tenant's invitations" on public.invitations
  for select to authenticated
  using (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'));

drop policy if exists "owners invite anyone, admins invite members" on public.invitations;
create policy "owners invite anyone, admins invite members" on public.invitations
  for insert to authenticated
  with check (tenant_id = (select private.tenant_id())
              and ((select private.tenant_role()) = 'owner'
                   or ((select private.tenant_role()) = 'admin' and role = 'member')));

drop policy if exists "owners and admins withdraw their tenant's open invitations" on public.invitations;
create policy "owners and admins withdraw their tenant's open invitations" on public.invitations
  for delete to authenticated
  using (tenant_id = (select private.tenant_id()) and accepted_at is null
         and ((select private.tenant_role()) = 'owner'
              or ((select private.tenant_role()) = 'admin' and role = 'member')));

revoke all on table public.invitations from anon, authenticated;
grant select, delete on table public.invitations to authenticated;
grant insert (email, role, link_base, expires_at) on table public.invitations to authenticated;
grant all on table public.invitations to service_role;

-- ---------------------------------------------------------------------------------------------------------
-- The checked way to invite (security invoker: the insert policy and the trigger above decide).
create or replace function public.invite_member(p_email text, p_role text default 'member',
                                                p_link_base text default null)
returns jsonb
language plpgsql volatile
set search_path = ''
as $$
declare
  v_email text := lower(btrim(coalesce(p_email, '')));
  v_row public.invitations;
begin
  if v_email !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' then
    raise exception 'invite_member.p_email: % is not an email address', coalesce(p_email, 'null')
      using errcode = '22023';
  end if;
  if p_role is null or p_role not in ('member', 'admin') then
    raise exception 'invite_member.p_role: must be member or admin (got %)', coalesce(p_role, 'null')
      using errcode = '22023', hint = 'ownership is handed over on tenant_members by an owner';
  end if;
  if p_link_base is not null and p_link_base !~ '^https?://[^\s]+$' then
    raise exception 'invite_member.p_link_base: must be an http(s) URL (got %)', p_link_base using errcode = '22023';
  end if;
  if private.tenant_role() is distinct from 'owner' and private.tenant_role() is distinct from 'admin'
     and current_setting('role', true) = 'authenticated' then
    raise exception 'invite_member: only owners and admins invite (your role: %)',
      coalesce(private.tenant_role(), 'none') using errcode = '42501';
  end if;
  if p_role = 'admin' and current_setting('role', true) = 'authenticated'
     and private.tenant_role() is distinct from 'owner' then
    raise exception 'invite_member.p_role: only an owner can invite an admin'
      using errcode = '42501', hint = 'an admin invites members only';
  end if;
  -- Inviting the same address again replaces its open invitation (a new link, a new expiry).
  delete from public.invitations i where i.tenant_id = private.tenant_id() and i.email = v_email
                                     and i.accepted_at is null;
  insert into public.invitations (email, role, link_base) values (v_email, p_role, p_link_base)
  returning * into v_row;
  return jsonb_build_object('id', v_row.id, 'email', v_row.email, 'role', v_row.role,
                            'expires_at', v_row.expires_at, 'tenant_id', v_row.tenant_id);
end
$$;
comment on function public.invite_member(text, text, text) is
  'Invite an address to the caller''s tenant (owners: member or admin; admins: member). The link is emailed.';
revoke all on function public.invite_member(text, text, text) from public, anon;
grant execute on function public.invite_member(text, text, text) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------------------
create or replace function public.accept_invitation(p_token text) returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  v_uid uuid := auth.uid();
  v_email text;
  v_inv public.invitations;
  v_name text;
begin
  if v_uid is null then
    raise exception 'accept_invitation: sign in (or sign up) with the invited address first' using errcode = '42501';
  end if;
  if p_token is null or p_token !~ '^[0-9a-f]{64}$' then
    raise exception 'accept_invitation.p_token: not an invitation token (64 hex characters from the link)'
      using errcode = '22023';
  end if;
  select * into v_inv from public.invitations i
   where i.token_hash = encode(sha256(convert_to(p_token, 'UTF8')), 'hex')
   for update;
  if not found then
    raise exception 'accept_invitation.p_token: this invitation link is not valid (withdrawn or replaced by a newer one)'
      using errcode = '22023';
  end if;
  if v_inv.accepted_at is not null then
    raise exception 'accept_invitation.p_token: this invitation was already used on %',
      to_char(v_inv.accepted_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"') using errcode = '22023';
  end if;
  if v_inv.expires_at <= now() then
    raise exception 'accept_invitation.p_token: this invitation expired on %; ask for a new one',
      to_char(v_inv.expires_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"') using errcode = '22023';
  end if;
  select lower(u.email) into v_email from auth.users u where u.id = v_uid;
  if v_email is distinct from v_inv.email then
    raise exception 'accept_invitation: this invitation is for %, you are signed in as %', v_inv.email,
      coalesce(v_email, 'a user without email') using errcode = '42501';
  end if;
  insert into public.tenant_members (tenant_id, user_id, role) values (v_inv.tenant_id, v_uid, v_inv.role)
  on conflict (tenant_id, user_id) do nothing;
  update public.invitations i set accepted_at = now(), accepted_by = v_uid where i.id = v_inv.id;
  delete from private.invitation_tokens k where k.invitation_id = v_inv.id;
  update auth.users u set raw_app_meta_data = coalesce(u.raw_app_meta_data, '{}'::jsonb)
                                              || jsonb_build_object('tenant_id', v_inv.tenant_id)
   where u.id = v_uid;
  select t.name into v_name from public.tenants t where t.id = v_inv.tenant_id;
  return jsonb_build_object('tenant_id', v_inv.tenant_id, 'name', v_name, 'role', v_inv.role);
end
$$;
comment on function public.accept_invitation(text) is
  'Join the tenant of an invitation (the signed-in user''s email must be the invited one); refresh the session after.';
revoke all on function public.accept_invitation(text) from public, anon;
grant execute on function public.accept_invitation(text) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------------------
create or replace function public.team_members()
returns table (user_id uuid, email text, role text, joined_at timestamptz, is_me boolean)
language sql stable security definer
set search_path = ''
as $$
  select m.user_id, u.email::text, m.role, m.created_at, m.user_id = auth.uid()
  from public.tenant_members m
  join auth.users u on u.id = m.user_id
  where m.tenant_id = private.tenant_id()
  order by case m.role when 'owner' then 0 when 'admin' then 1 else 2 end, m.created_at
$$;
comment on function public.team_members() is 'The members of the caller''s tenant with their emails and roles.';
revoke all on function public.team_members() from public, anon;
grant execute on function public.team_members() to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------------------
-- The email handler's API (salesflow/handlers/team.py). service_role only.
create or replace function public.invitation_for_sending(p_tenant_id uuid, p_invitation_id uuid) returns jsonb
language sql stable security definer
set search_path = ''
as $$
  select jsonb_build_object(
    'invitation', jsonb_build_object('id', i.id, 'email', i.email, 'role', i.role, 'expires_at', i.expires_at,
                                     'accepted_at', i.accepted_at, 'email_sent_at', i.email_sent_at,
                                     'link_base', i.link_base),
    'token', (select k.token from private.invitation_tokens k where k.invitation_id = i.id),
    'tenant', jsonb_build_object('id', t.id, 'name', t.name, 'locale', t.locale),
    'invited_by', (select u.email from auth.users u where u.id = i.invited_by),
    'connection', (select jsonb_build_object('id', c.id, 'provider', c.provider, 'address', c.address,
                                             'external_account_id', c.external_account_id,
                                             'secrets', coalesce(k.secrets, '{}'::jsonb))
                   from public.channel_connections c
                   left join private.channel_credentials k on k.connection_id = c.id and k.tenant_id = c.tenant_id
                   where c.tenant_id = i.tenant_id and c.channel = 'email' and c.status = 'active'
                   order by (c.provider = 'outbox'), c.created_at limit 1))
  from public.invitations i
  join public.tenants t on t.id = i.tenant_id
  where i.id = p_invitation_id and i.tenant_id = p_tenant_id
$$;
revoke all on function public.invitation_for_sending(uuid, uuid) from public, anon, authenticated;
grant execute on function public.invitation_for_sending(uuid, uuid) to service_role;

create or replace function public.record_invitation_email(
  p_tenant_id uuid, p_invitation_id uuid, p_provider text, p_provider_message_id text default null,
  p_detail jsonb default '{}'::jsonb, p_error text default null
) returns void
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  if p_error is not null then
    update public.invitations i set email_error = left(p_error, 1000)
     where i.id = p_invitation_id and i.tenant_id = p_tenant_id;
    return;
  end if;
  insert into private.invitation_emails (tenant_id, invitation_id, provider, provider_message_id, detail)
  select i.tenant_id, i.id, p_provider, p_provider_message_id, coalesce(p_detail, '{}'::jsonb)
    from public.invitations i where i.id = p_invitation_id and i.tenant_id = p_tenant_id;
  update public.invitations i set email_sent_at = now(), email_error = null
   where i.id = p_invitation_id and i.tenant_id = p_tenant_id;
  delete from private.invitation_tokens k where k.invitation_id = p_invitation_id;
end
$$;
revoke all on function public.record_invitation_email(uuid, uuid, text, text, jsonb, text) from public, anon, authenticated;
grant execute on function public.record_invitation_email(uuid, uuid, text, text, jsonb, text) to service_role;
