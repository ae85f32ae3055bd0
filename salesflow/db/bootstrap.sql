-- Supabase-compatibility bootstrap for a vanilla Postgres.
--
-- Creates what a Supabase project provides before any migration runs: the API roles, the `auth` schema
-- with `auth.users` and the claim helpers, the `extensions` schema and the `supabase_realtime`
-- publication. It is idempotent and is applied by `salesflow db` only where Supabase is absent (no
-- `auth.users` owned by Supabase); it is never a migration, so `supabase db push` never sends it.

-- Roles are cluster-wide: several databases (and concurrent test runs) share them, so every create
-- tolerates a concurrent creator.
do $$
declare
  r record;
begin
  for r in
    select * from (values
      ('anon', 'nologin noinherit'),
      ('authenticated', 'nologin noinherit'),
      ('service_role', 'nologin noinherit bypassrls'),
      ('authenticator', 'login noinherit'),
      ('supabase_auth_admin', 'login noinherit createrole'),
      ('supabase_admin', 'login createrole bypassrls')
    ) as t(name, opts)
  loop
    if not exists (select 1 from pg_roles where rolname = r.name) then
      begin
        execute format('create role %I %s', r.name, r.opts);
      exception when duplicate_object or unique_violation then
        null;
      end;
    end if;
  end loop;
end
$$;

do $$
begin
  grant anon, authenticated, service_role to authenticator;
exception when others then
  null;
end
$$;

create schema if not exists extensions;
grant usage on schema extensions to anon, authenticated, service_role;

create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role, supabase_auth_admin;

create table if not exists auth.users (
  instance_id uuid,
  id uuid primary key default gen_random_uuid(),
  aud text default 'authenticated',
  role text default 'authenticated',
  email text unique,
  encrypted_password text,
  email_confirmed_at timestamptz,
  raw_app_meta_data jsonb not null default '{}'::jsonb,
  raw_user_meta_data jsonb not null default '{}'::jsonb,
  is_anonymous boolean not null default false,
  last_sign_in_at timestamptz,
  banned_until timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  deleted_at timestamptz
);

create table if not exists auth.refresh_tokens (
  id bigserial primary key,
  token text not null unique,
  user_id uuid not null references auth.users (id) on delete cascade,
  revoked boolean not null default false,
  parent text,
  session_id uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

grant all on all tables in schema auth to supabase_auth_admin;
grant all on all sequences in schema auth to supabase_auth_admin;

-- The claim helpers read `request.jwt.claims` as PostgREST sets it; after a transaction it is '' (not
-- NULL), and older PostgREST versions set `request.jwt.claim.<name>`: both are handled like Supabase.
create or replace function auth.jwt() returns jsonb
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

create or replace function auth.uid() returns uuid
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

create or replace function auth.role() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

create or replace function auth.email() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
  )::text
$$;

grant execute on function auth.jwt(), auth.uid(), auth.role(), auth.email()
  to anon, authenticated, service_role, supabase_auth_admin;

-- Supabase's default privileges: the API roles get table privileges in `public`, and RLS decides rows.
-- A fresh Supabase project has them before any migration runs, so they are set only while `public` has no
-- default privileges of this role yet: a migration narrows them (20261201100000_api_role_privileges.sql),
-- and re-running the bootstrap on every `salesflow db migrate` must not widen them again.
grant usage on schema public to anon, authenticated, service_role;
do $$
begin
  if not exists (
    select 1 from pg_default_acl
    where defaclnamespace = 'public'::regnamespace and defaclrole = current_user::regrole
  ) then
    alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
    alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
    alter default privileges in schema public grant execute on functions to anon, authenticated, service_role;
  end if;
end
$$;

do $$
begin
  if not exists (select 1 from pg_publication where pubname = 'supabase_realtime') then
    create publication supabase_realtime;
  end if;
exception when duplicate_object then
  null;
end
$$;

do $$
begin
  create extension if not exists pgcrypto schema extensions;
exception when others then
  -- The embedded Postgres ships without pgcrypto; nothing in the project needs it.
  null;
end
$$;
