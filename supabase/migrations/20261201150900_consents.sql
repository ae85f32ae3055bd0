-- Consent per lead and channel: opted in or out, how, and when. One row per lead and channel holds the
-- current state (a change updates it; lead.opted_out records each opt-out in the outbox). No row means no
-- recorded choice; a row that says opted_out stops every send on that channel in the database
-- (20261201151200_sends_respect_opt_outs.sql).
--
-- method   how the choice was made: an inbound keyword (STOP, ABMELDEN, …), the email one-click unsubscribe
--          (RFC 8058), a form, an import, a member recording it (a phone call), or the provider reporting it
--          (WhatsApp/Twilio opt-out lists).
-- evidence what proves it (the keyword, the list's request id); source_message_id the message that said it.

create table if not exists public.consents (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  lead_id uuid not null,
  channel public.message_channel not null,
  status text not null,
  method text not null,
  evidence text,
  source_message_id uuid,
  recorded_by uuid default auth.uid() references auth.users (id) on delete set null,
  changed_at timestamptz not null default now(),
  created_at timestamptz not null default now(),
  constraint consents_lead_fk foreign key (lead_id, tenant_id)
    references public.leads (id, tenant_id) on delete cascade,
  constraint consents_source_message_fk foreign key (source_message_id, tenant_id)
    references public.messages (id, tenant_id) on delete set null (source_message_id),
  constraint consents_status_allowed check (status in ('opted_in', 'opted_out')),
  constraint consents_method_allowed check (method in
    ('inbound_keyword', 'email_unsubscribe', 'form', 'import', 'member', 'provider')),
  constraint consents_evidence_length check (evidence is null or length(evidence) <= 2000)
);

create unique index if not exists consents_lead_channel_key on public.consents (tenant_id, lead_id, channel);
create index if not exists consents_lead_idx on public.consents (lead_id, tenant_id);
create index if not exists consents_source_message_idx on public.consents (source_message_id, tenant_id)
  where source_message_id is not null;
create index if not exists consents_recorded_by_idx on public.consents (recorded_by) where recorded_by is not null;

-- A change of the choice is dated now unless the writer says when it was made.
create or replace function private.consents_date_change() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if (new.status, new.method) is distinct from (old.status, old.method) and new.changed_at = old.changed_at then
    new.changed_at := now();
  end if;
  return new;
end
$$;
revoke all on function private.consents_date_change() from public, anon, authenticated;

drop trigger if exists consents_date_change on public.consents;
create trigger consents_date_change before update on public.consents
  for each row execute function private.consents_date_change();

drop trigger if exists a_row_keeps_its_tenant on public.consents;
create trigger a_row_keeps_its_tenant before update of tenant_id on public.consents
  for each row when (old.tenant_id is distinct from new.tenant_id) execute function private.refuse_tenant_move();

alter table public.consents enable row level security;

drop policy if exists "members read their tenant's consents" on public.consents;
create policy "members read their tenant's consents" on public.consents
  for select to authenticated
  using (tenant_id = (select private.tenant_id()));

drop policy if exists "members record consents of their tenant's leads" on public.consents;
create policy "members record consents of their tenant's leads" on public.consents
  for insert to authenticated
  with check (tenant_id = (select private.tenant_id()));

drop policy if exists "members change consents of their tenant's leads" on public.consents;
create policy "members change consents of their tenant's leads" on public.consents
  for update to authenticated
  using (tenant_id = (select private.tenant_id()))
  with check (tenant_id = (select private.tenant_id()));

-- No delete for members: a consent record is evidence (erasure is service code's).
revoke all on table public.consents from anon, authenticated;
grant select, insert, update on table public.consents to authenticated;
grant all on table public.consents to service_role;
