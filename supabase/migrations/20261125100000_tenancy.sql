-- Tenants, memberships, and the tenant that a request acts for.
--
-- The tenant is never a placeholder: the custom access token hook puts the user's active tenant into the
-- JWT, and private.tenant_id() honours that claim only while the user is still a member, so a removed
-- member's unexpired token reads nothing.

create schema if not exists private;
revoke all on schema private from public;
grant usage on schema private to anon, authenticated, service_role;

create table if not exists public.tenants (
  id uuid primary key default gen_random_uuid(),
  name text not null check (length(btrim(name)) between 1 and 200),
  slug text unique check (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  locale text not null default 'de' check (locale in ('de', 'en')),
  settings jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now()
);

create table if not exists public.tenant_members (
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  role text not null default 'member' check (role in ('owner', 'admin', 'member')),
  created_at timestamptz not null default now(),
  primary key (tenant_id, user_id)
);
create index if not exists tenant_members_user_idx on public.tenant_members (user_id, created_at);

-- The claims of the current request, or NULL outside one ('' after commit counts as none).
create or replace function private.jwt_claims() returns jsonb
language sql stable
set search_path = ''
as $$
  select nullif(current_setting('request.jwt.claims', true), '')::jsonb
$$;

create or replace function private.tenant_id() returns uuid
language sql stable security definer
set search_path = ''
as $$
  select m.tenant_id
  from public.tenant_members m
  where m.user_id = auth.uid()
    and m.tenant_id::text = private.jwt_claims() ->> 'tenant_id'
$$;

create or replace function private.tenant_role() returns text
language sql stable security definer
set search_path = ''
as $$
  select m.role
  from public.tenant_members m
  where m.user_id = auth.uid()
    and m.tenant_id::text = private.jwt_claims() ->> 'tenant_id'
$$;

revoke all on function private.jwt_claims(), private.tenant_id(), private.tenant_role() from public;
grant execute on function private.jwt_claims(), private.tenant_id(), private.tenant_role()
  to anon, authenticated, service_role;

-- Custom access token hook (Supabase Auth calls it for every token it issues).
-- Active tenant: the one named in app_metadata.tenant_id if the user is a member of it, else the
-- oldest membership; no membership, no tenant claim.
create or replace function public.custom_access_token_hook(event jsonb) returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
  claims jsonb := coalesce(event -> 'claims', '{}'::jsonb);
  uid uuid := (event ->> 'user_id')::uuid;
  wanted text := claims -> 'app_metadata' ->> 'tenant_id';
  chosen record;
begin
  select m.tenant_id, m.role into chosen
  from public.tenant_members m
  where m.user_id = uid
  order by (m.tenant_id::text = wanted) desc nulls last, m.created_at, m.tenant_id
  limit 1;

  if found then
    claims := claims || jsonb_build_object('tenant_id', chosen.tenant_id, 'tenant_role', chosen.role);
  else
    claims := claims - 'tenant_id' - 'tenant_role';
  end if;
  return jsonb_build_object('claims', claims);
end
$$;

grant usage on schema public to supabase_auth_admin;
grant execute on function public.custom_access_token_hook(jsonb) to supabase_auth_admin;
revoke execute on function public.custom_access_token_hook(jsonb) from public, anon, authenticated;
grant select on table public.tenant_members to supabase_auth_admin;

alter table public.tenants enable row level security;
alter table public.tenant_members enable row level security;

drop policy if exists "members read their tenant" on public.tenants;
create policy "members read their tenant" on public.tenants
  for select to authenticated
  using (id = private.tenant_id());

drop policy if exists "owners and admins rename their tenant" on public.tenants;
create policy "owners and admins rename their tenant" on public.tenants
  for update to authenticated
  using (id = private.tenant_id() and private.tenant_role() in ('owner', 'admin'))
  with check (id = private.tenant_id());

drop policy if exists "members read their tenant's memberships" on public.tenant_members;
create policy "members read their tenant's memberships" on public.tenant_members
  for select to authenticated
  using (tenant_id = private.tenant_id());

drop policy if exists "owners and admins add members to their tenant" on public.tenant_members;
create policy "owners and admins add members to their tenant" on public.tenant_members
  for insert to authenticated
  with check (tenant_id = private.tenant_id() and private.tenant_role() in ('owner', 'admin'));

drop policy if exists "owners and admins change members of their tenant" on public.tenant_members;
create policy "owners and admins change members of their tenant" on public.tenant_members
  for update to authenticated
  using (tenant_id = private.tenant_id() and private.tenant_role() in ('owner', 'admin'))
  with check (tenant_id = private.tenant_id());

drop policy if exists "owners and admins remove members of their tenant" on public.tenant_members;
create policy "owners and admins remove members of their tenant" on public.tenant_members
  for delete to authenticated
  using (tenant_id = private.tenant_id() and private.tenant_role() in ('owner', 'admin'));

drop policy if exists "auth reads memberships for the token hook" on public.tenant_members;
create policy "auth reads memberships for the token hook" on public.tenant_members
  for select to supabase_auth_admin
  using (true);

revoke all on table public.tenants, public.tenant_members from anon, authenticated;
grant select, update on table public.tenants to authenticated;
grant select, insert, update, delete on table public.tenant_members to authenticated;
grant all on table public.tenants, public.tenant_members to service_role;
