-- Rolling summaries of a conversation: each covers its messages up to last_message_id (from first_message_id,
-- message_count of them). The newest one is what the memory manager pins; older ones stay as the summary's
-- history. Written by the conversation_summary handler (service code); members read them.

create table if not exists public.conversation_summaries (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  conversation_id uuid not null,
  summary text not null,
  first_message_id uuid,
  last_message_id uuid,
  covered_until timestamptz not null,
  message_count integer not null,
  token_count integer,
  prompt_version integer,
  created_at timestamptz not null default now(),
  constraint conversation_summaries_conversation_fk foreign key (conversation_id, tenant_id)
    references public.conversations (id, tenant_id) on delete cascade,
  constraint conversation_summaries_first_message_fk foreign key (first_message_id, tenant_id)
    references public.messages (id, tenant_id) on delete set null (first_message_id),
  constraint conversation_summaries_last_message_fk foreign key (last_message_id, tenant_id)
    references public.messages (id, tenant_id) on delete set null (last_message_id),
  constraint conversation_summaries_summary_length check (length(btrim(summary)) between 1 and 20000),
  constraint conversation_summaries_message_count_range check (message_count >= 1),
  constraint conversation_summaries_token_count_range check (token_count is null or token_count >= 0)
);

-- The newest summary of a conversation (and the foreign key's index).
create index if not exists conversation_summaries_conversation_idx
  on public.conversation_summaries (conversation_id, tenant_id, covered_until desc);
create index if not exists conversation_summaries_tenant_idx on public.conversation_summaries (tenant_id, created_at desc);
create index if not exists conversation_summaries_first_message_idx
  on public.conversation_summaries (first_message_id, tenant_id) where first_message_id is not null;
create index if not exists conversation_summaries_last_message_idx
  on public.conversation_summaries (last_message_id, tenant_id) where last_message_id is not null;

drop trigger if exists a_row_keeps_its_tenant on public.conversation_summaries;
create trigger a_row_keeps_its_tenant before update of tenant_id on public.conversation_summaries
  for each row when (old.tenant_id is distinct from new.tenant_id) execute function private.refuse_tenant_move();

alter table public.conversation_summaries enable row level security;

drop policy if exists "members read their tenant's conversation summaries" on public.conversation_summaries;
create policy "members read their tenant's conversation summaries" on public.conversation_summaries
  for select to authenticated
  using (tenant_id = (select private.tenant_id()));

revoke all on table public.conversation_summaries from anon, authenticated;
grant select on table public.conversation_summaries to authenticated;
grant all on table public.conversation_summaries to service_role;
