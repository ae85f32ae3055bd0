-- A tenant's connected channels, and (apart) their secrets.
--
-- channel_connections: per tenant and channel, the provider and the receiving address that routes a
-- provider's webhook to its tenant (the WhatsApp or SMS number in E.164, the Instagram account id, the inbound
-- email address). An address belongs to one tenant only: (channel, address) is unique across tenants, so a
-- webhook for it resolves to exactly one tenant or to none (404, nothing stored). external_account_id is the
-- provider's own id of the sender where its webhooks name that instead (WhatsApp's phone_number_id, a Twilio
-- account SID), unique per provider.
--
-- private.channel_credentials: the secrets (API tokens, app secrets for signatures, SMTP passwords). In schema
-- `private`, which PostgREST does not expose, granted to service_role only: a member sees that a channel is
-- connected (its row here), never its secrets, not even an owner over SQL. Service code reads them directly
-- (postgres transport) or through service-only functions.

create table if not exists public.channel_connections (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  channel public.message_channel not null,
  provider public.channel_provider not null default 'outbox',
  address text not null,
  external_account_id text,
  display_name text,
  status text not null default 'active',
  connected_by uuid default auth.uid() references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint channel_connections_provider_serves_channel check (private.channel_provider_serves(channel, provider)),
  constraint channel_connections_address_format check (private.channel_address_well_formed(channel, address)),
  constraint channel_connections_status_allowed check (status in ('active', 'disabled')),
  constraint channel_connections_external_account_id_format
    check (external_account_id is null or length(btrim(external_account_id)) between 1 and 200),
  constraint channel_connections_display_name_length check (display_name is null or length(display_name) <= 200)
);

-- The webhook's routing lookup, and the promise that an address routes to one tenant.
create unique index if not exists channel_connections_channel_address_key
  on public.channel_connections (channel, address);
create unique index if not exists channel_connections_provider_account_key
  on public.channel_connections (provider, external_account_id) where external_account_id is not null;
-- Referenced by (connection id, tenant) from tables of the same tenant.
create unique index if not exists channel_connections_id_tenant_key on public.channel_connections (id, tenant_id);
create index if not exists channel_connections_tenant_idx on public.channel_connections (tenant_id, channel);
create index if not exists channel_connections_connected_by_idx on public.channel_connections (connected_by);

create or replace function private.touch_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;
revoke all on function private.touch_updated_at() from public, anon, authenticated;

drop trigger if exists channel_connections_touch on public.channel_connections;
create trigger channel_connections_touch before update on public.channel_connections
  for each row execute function private.touch_updated_at();

drop trigger if exists a_row_keeps_its_tenant on public.channel_connections;
create trigger a_row_keeps_its_tenant before update of tenant_id on public.channel_connections
  for each row when (old.tenant_id is distinct from new.tenant_id) execute function private.refuse_tenant_move();

alter table public.channel_connections enable row level security;

drop policy if exists "members read their tenant's channel connections" on public.channel_connections;
create policy "members read their tenant's channel connections" on public.channel_connections
  for select to authenticated
  using (tenant_id = (select private.tenant_id()));

drop policy if exists "owners and admins connect channels of their tenant" on public.channel_connections;
create policy "owners and admins connect channels of their tenant" on public.channel_connections
  for insert to authenticated
  with check (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'));

drop policy if exists "owners and admins change channel connections of their tenant" on public.channel_connections;
create policy "owners and admins change channel connections of their tenant" on public.channel_connections
  for update to authenticated
  using (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'))
  with check (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'));

drop policy if exists "owners and admins disconnect channels of their tenant" on public.channel_connections;
create policy "owners and admins disconnect channels of their tenant" on public.channel_connections
  for delete to authenticated
  using (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'));

revoke all on table public.channel_connections from anon, authenticated;
grant select, insert, update, delete on table public.channel_connections to authenticated;
grant all on table public.channel_connections to service_role;

-- The secrets, one row per connection (same tenant by the composite key).
create table if not exists private.channel_credentials (
  connection_id uuid primary key,
  tenant_id uuid not null,
  secrets jsonb not null,
  updated_at timestamptz not null default now(),
  constraint channel_credentials_connection_fk foreign key (connection_id, tenant_id)
    references public.channel_connections (id, tenant_id) on delete cascade,
  constraint channel_credentials_secrets_object check (jsonb_typeof(secrets) = 'object')
);
create index if not exists channel_credentials_connection_tenant_idx
  on private.channel_credentials (connection_id, tenant_id);

drop trigger if exists channel_credentials_touch on private.channel_credentials;
create trigger channel_credentials_touch before update on private.channel_credentials
  for each row execute function private.touch_updated_at();

drop trigger if exists a_row_keeps_its_tenant on private.channel_credentials;
create trigger a_row_keeps_its_tenant before update of tenant_id on private.channel_credentials
  for each row when (old.tenant_id is distinct from new.tenant_id) execute function private.refuse_tenant_move();

-- Defence in depth: were a grant ever added by mistake, RLS without a policy still shows members nothing.
alter table private.channel_credentials enable row level security;
revoke all on table private.channel_credentials from public, anon, authenticated;
grant select, insert, update, delete on table private.channel_credentials to service_role;

comment on table private.channel_credentials is
  'Secrets of a channel connection (tokens, app secrets, SMTP passwords). service_role only; members never read them.';
