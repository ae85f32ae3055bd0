-- Who a lead is on each channel: the normalised address a message comes from or goes to.
--
-- An address names one lead per tenant and channel (unique), so an inbound message finds its lead with one
-- index lookup. Normalisation happens before the write (E.164 via `phonenumbers`, lower-cased email,
-- Instagram's provider-scoped id); the check refuses what is not in normal form, so two spellings of one
-- number can never become two identities. The lead is one of the identity's own tenant (composite key).

create table if not exists public.channel_identities (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  lead_id uuid not null,
  channel public.message_channel not null,
  address text not null,
  created_at timestamptz not null default now(),
  constraint channel_identities_lead_fk foreign key (lead_id, tenant_id)
    references public.leads (id, tenant_id) on delete cascade,
  constraint channel_identities_address_format check (private.channel_address_well_formed(channel, address))
);

create unique index if not exists channel_identities_tenant_channel_address_key
  on public.channel_identities (tenant_id, channel, address);
create index if not exists channel_identities_lead_idx on public.channel_identities (lead_id, tenant_id);

drop trigger if exists a_row_keeps_its_tenant on public.channel_identities;
create trigger a_row_keeps_its_tenant before update of tenant_id on public.channel_identities
  for each row when (old.tenant_id is distinct from new.tenant_id) execute function private.refuse_tenant_move();

alter table public.channel_identities enable row level security;

drop policy if exists "members read their tenant's channel identities" on public.channel_identities;
create policy "members read their tenant's channel identities" on public.channel_identities
  for select to authenticated
  using (tenant_id = (select private.tenant_id()));

drop policy if exists "members link identities to their tenant's leads" on public.channel_identities;
create policy "members link identities to their tenant's leads" on public.channel_identities
  for insert to authenticated
  with check (tenant_id = (select private.tenant_id()));

drop policy if exists "members change their tenant's channel identities" on public.channel_identities;
create policy "members change their tenant's channel identities" on public.channel_identities
  for update to authenticated
  using (tenant_id = (select private.tenant_id()))
  with check (tenant_id = (select private.tenant_id()));

drop policy if exists "members unlink their tenant's channel identities" on public.channel_identities;
create policy "members unlink their tenant's channel identities" on public.channel_identities
  for delete to authenticated
  using (tenant_id = (select private.tenant_id()));

revoke all on table public.channel_identities from anon, authenticated;
grant select, insert, update, delete on table public.channel_identities to authenticated;
grant all on table public.channel_identities to service_role;
