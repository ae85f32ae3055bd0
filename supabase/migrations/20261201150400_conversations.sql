-- A conversation: one lead on one channel (one thread per lead and channel, reopened rather than duplicated).
--
-- last_inbound_at / last_outbound_at and unread_count are kept by the messages trigger in the same
-- transaction as the message (20261201150500_messages.sql); the 24 h customer-service windows of WhatsApp and
-- Instagram are computed from last_inbound_at. The assignee is a member of the conversation's tenant
-- (composite key to tenant_members): removing the membership unassigns the conversation.

create table if not exists public.conversations (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  lead_id uuid not null,
  channel public.message_channel not null,
  status text not null default 'open',
  last_inbound_at timestamptz,
  last_outbound_at timestamptz,
  unread_count integer not null default 0,
  assignee_id uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint conversations_lead_fk foreign key (lead_id, tenant_id)
    references public.leads (id, tenant_id) on delete cascade,
  constraint conversations_assignee_fk foreign key (tenant_id, assignee_id)
    references public.tenant_members (tenant_id, user_id) on delete set null (assignee_id),
  constraint conversations_status_allowed check (status in ('open', 'snoozed', 'closed')),
  constraint conversations_unread_count_range check (unread_count >= 0)
);

create unique index if not exists conversations_lead_channel_key on public.conversations (tenant_id, lead_id, channel);
-- Messages reference (conversation, tenant, lead, channel): a message is on its conversation's lead and channel.
create unique index if not exists conversations_identity_key on public.conversations (id, tenant_id, lead_id, channel);
create unique index if not exists conversations_id_tenant_key on public.conversations (id, tenant_id);
create index if not exists conversations_lead_idx on public.conversations (lead_id, tenant_id);
create index if not exists conversations_assignee_idx on public.conversations (tenant_id, assignee_id)
  where assignee_id is not null;
-- The inbox: a tenant's conversations, most recent inbound first.
create index if not exists conversations_inbox_idx on public.conversations (tenant_id, last_inbound_at desc nulls last);

drop trigger if exists conversations_touch on public.conversations;
create trigger conversations_touch before update on public.conversations
  for each row execute function private.touch_updated_at();

drop trigger if exists a_row_keeps_its_tenant on public.conversations;
create trigger a_row_keeps_its_tenant before update of tenant_id on public.conversations
  for each row when (old.tenant_id is distinct from new.tenant_id) execute function private.refuse_tenant_move();

alter table public.conversations enable row level security;

drop policy if exists "members read their tenant's conversations" on public.conversations;
create policy "members read their tenant's conversations" on public.conversations
  for select to authenticated
  using (tenant_id = (select private.tenant_id()));

drop policy if exists "members start conversations in their tenant" on public.conversations;
create policy "members start conversations in their tenant" on public.conversations
  for insert to authenticated
  with check (tenant_id = (select private.tenant_id()));

drop policy if exists "members change their tenant's conversations" on public.conversations;
create policy "members change their tenant's conversations" on public.conversations
  for update to authenticated
  using (tenant_id = (select private.tenant_id()))
  with check (tenant_id = (select private.tenant_id()));

-- No delete for members: a conversation is history (closing it is an update); erasure is service code's.
revoke all on table public.conversations from anon, authenticated;
grant select, insert, update on table public.conversations to authenticated;
grant all on table public.conversations to service_role;

do $$
begin
  if not exists (
    select 1 from pg_publication_tables
    where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'conversations'
  ) then
    alter publication supabase_realtime add table public.conversations;
  end if;
end
$$;
