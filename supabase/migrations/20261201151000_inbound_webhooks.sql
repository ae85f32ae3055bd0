-- The audit trail of provider webhooks: every accepted delivery, as received, before it is processed.
--
-- A webhook function stores the delivery only after its signature checked out and its receiving address
-- resolved to a tenant (a bad signature or an unknown address stores nothing). external_id (the provider's
-- id of the delivery or of the message it carries) is unique per provider, so a redelivery is recognised by
-- `on conflict do nothing` in the same statement and stores nothing new. raw_body is bytea: signatures are
-- computed over the exact bytes, and multipart bodies (SendGrid Inbound Parse) need not be UTF-8.
--
-- outcome  received (stored, not yet processed) | processed | ignored (nothing to do, e.g. an unsupported
--          event) | failed (outcome_detail says why).
-- Owners and admins read their tenant's trail; only service code writes it.

create table if not exists public.inbound_webhooks (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  provider public.channel_provider not null,
  connection_id uuid,
  external_id text not null,
  raw_body bytea not null,
  headers jsonb not null default '{}'::jsonb,
  received_at timestamptz not null default now(),
  outcome text not null default 'received',
  outcome_detail text,
  processed_at timestamptz,
  constraint inbound_webhooks_connection_fk foreign key (connection_id, tenant_id)
    references public.channel_connections (id, tenant_id) on delete set null (connection_id),
  constraint inbound_webhooks_provider_posts_webhooks check (provider not in ('smtp', 'outbox')),
  constraint inbound_webhooks_external_id_length check (length(external_id) between 1 and 300),
  constraint inbound_webhooks_headers_object check (jsonb_typeof(headers) = 'object'),
  constraint inbound_webhooks_outcome_allowed check (outcome in ('received', 'processed', 'ignored', 'failed')),
  constraint inbound_webhooks_body_size check (octet_length(raw_body) <= 10485760)
);

create unique index if not exists inbound_webhooks_provider_external_id_key
  on public.inbound_webhooks (provider, external_id);
create index if not exists inbound_webhooks_connection_idx on public.inbound_webhooks (connection_id, tenant_id)
  where connection_id is not null;
create index if not exists inbound_webhooks_tenant_received_idx on public.inbound_webhooks (tenant_id, received_at desc);

drop trigger if exists a_row_keeps_its_tenant on public.inbound_webhooks;
create trigger a_row_keeps_its_tenant before update of tenant_id on public.inbound_webhooks
  for each row when (old.tenant_id is distinct from new.tenant_id) execute function private.refuse_tenant_move();

alter table public.inbound_webhooks enable row level security;

drop policy if exists "owners and admins read their tenant's webhook deliveries" on public.inbound_webhooks;
create policy "owners and admins read their tenant's webhook deliveries" on public.inbound_webhooks
  for select to authenticated
  using (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'));

revoke all on table public.inbound_webhooks from anon, authenticated;
grant select on table public.inbound_webhooks to authenticated;
grant all on table public.inbound_webhooks to service_role;
