-- What SalesFlow knows about a lead, with its history: key, value (JSON), confidence 0–1, the message it came
-- from, and the time it was valid. A fact is never edited and a superseded fact is never deleted: inserting
-- a fact for a lead and key closes the current one (valid_to = the new one's valid_from), so "what did we
-- know then" stays answerable. One current fact per lead and key (partial unique index). Members read facts,
-- record their own and close wrong ones (valid_to); only service code deletes (erasing a lead).

create table if not exists public.lead_facts (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  lead_id uuid not null,
  key text not null,
  value jsonb not null,
  confidence numeric(4, 3) not null default 1,
  origin text not null default 'member',
  source_message_id uuid,
  valid_from timestamptz not null default now(),
  valid_to timestamptz,
  created_at timestamptz not null default now(),
  constraint lead_facts_lead_fk foreign key (lead_id, tenant_id)
    references public.leads (id, tenant_id) on delete cascade,
  constraint lead_facts_source_message_fk foreign key (source_message_id, tenant_id)
    references public.messages (id, tenant_id) on delete set null (source_message_id),
  constraint lead_facts_key_format check (key ~ '^[a-z][a-z0-9_]{0,62}$'),
  constraint lead_facts_value_size check (octet_length(value::text) <= 8192),
  constraint lead_facts_confidence_range check (confidence between 0 and 1),
  constraint lead_facts_origin_allowed check (origin in ('extraction', 'member', 'import')),
  constraint lead_facts_valid_range check (valid_to is null or valid_to >= valid_from)
);

create unique index if not exists lead_facts_current_key on public.lead_facts (tenant_id, lead_id, key)
  where valid_to is null;
create index if not exists lead_facts_lead_idx on public.lead_facts (lead_id, tenant_id, key, valid_from desc);
create index if not exists lead_facts_source_message_idx on public.lead_facts (source_message_id, tenant_id)
  where source_message_id is not null;

create or replace function private.lead_facts_keep_history() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'UPDATE' then
    -- (source_message_id may only be forgotten: erasing the message sets it null)
    if (new.lead_id, new.key, new.value, new.confidence, new.origin, new.valid_from)
       is distinct from (old.lead_id, old.key, old.value, old.confidence, old.origin, old.valid_from)
       or (new.source_message_id is not null and new.source_message_id is distinct from old.source_message_id) then
      raise exception 'lead_facts: a fact is never edited, only closed (valid_to)'
        using errcode = '23514',
              hint = 'insert the new value as a fact of its own: it closes the current one';
    end if;
    if old.valid_to is not null and new.valid_to is distinct from old.valid_to then
      raise exception 'lead_facts.valid_to: a closed fact stays closed'
        using errcode = '23514', column = 'valid_to';
    end if;
    return new;
  end if;
  if new.valid_to is null then
    -- Serialise writers of one lead's key, so two facts arriving at once close each other in order instead
    -- of colliding on the unique index. Each statement below sees what the previous holder committed.
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(new.lead_id::text || '/' || new.key, 0));
    update public.lead_facts f
    set valid_to = greatest(new.valid_from, f.valid_from)
    where f.tenant_id = new.tenant_id and f.lead_id = new.lead_id and f.key = new.key and f.valid_to is null;
  end if;
  return new;
end
$$;
revoke all on function private.lead_facts_keep_history() from public, anon, authenticated;

drop trigger if exists lead_facts_keep_history on public.lead_facts;
create trigger lead_facts_keep_history before insert or update on public.lead_facts
  for each row execute function private.lead_facts_keep_history();

drop trigger if exists a_row_keeps_its_tenant on public.lead_facts;
create trigger a_row_keeps_its_tenant before update of tenant_id on public.lead_facts
  for each row when (old.tenant_id is distinct from new.tenant_id) execute function private.refuse_tenant_move();

alter table public.lead_facts enable row level security;

drop policy if exists "members read their tenant's lead facts" on public.lead_facts;
create policy "members read their tenant's lead facts" on public.lead_facts
  for select to authenticated
  using (tenant_id = (select private.tenant_id()));

drop policy if exists "members record facts about their tenant's leads" on public.lead_facts;
create policy "members record facts about their tenant's leads" on public.lead_facts
  for insert to authenticated
  with check (tenant_id = (select private.tenant_id()));

drop policy if exists "members close their tenant's lead facts" on public.lead_facts;
create policy "members close their tenant's lead facts" on public.lead_facts
  for update to authenticated
  using (tenant_id = (select private.tenant_id()))
  with check (tenant_id = (select private.tenant_id()));

revoke all on table public.lead_facts from anon, authenticated;
grant select, insert, update on table public.lead_facts to authenticated;
grant all on table public.lead_facts to service_role;
