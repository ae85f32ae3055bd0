-- Leads: one schema and one status vocabulary for the whole system (mirrored by salesflow/leads.py).
-- Changes publish lead.created / lead.status_changed / lead.updated in the same transaction.

create table if not exists public.leads (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  owner_id uuid default auth.uid() references auth.users (id) on delete set null,
  name text not null,
  email text,
  phone text,
  whatsapp text,
  instagram text,
  linkedin text,
  company text,
  source text,
  source_channel text not null default 'unknown',
  status text not null default 'new',
  score integer not null default 0,
  temperature text not null default 'cold',
  tags text[] not null default '{}',
  notes text,
  next_action_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint leads_name_not_blank check (length(btrim(name)) between 1 and 300),
  constraint leads_email_format check (email is null or email ~* '^[A-Z0-9._%+''-]+@[A-Z0-9-]+(\.[A-Z0-9-]+)*\.[A-Z]{2,}$'),
  constraint leads_phone_format check (phone is null or phone ~ '^\+?[0-9][0-9 ()/.-]{5,25}[0-9]$'),
  constraint leads_whatsapp_format check (whatsapp is null or whatsapp ~ '^\+?[0-9][0-9 ()/.-]{5,25}[0-9]$'),
  constraint leads_source_channel_allowed check (source_channel in
    ('whatsapp', 'instagram', 'facebook', 'linkedin', 'telegram', 'sms', 'email', 'web', 'referral', 'unknown')),
  constraint leads_status_allowed check (status in
    ('new', 'contacted', 'qualified', 'proposal', 'negotiation', 'won', 'lost')),
  constraint leads_score_range check (score between 0 and 100),
  constraint leads_temperature_allowed check (temperature in ('cold', 'warm', 'hot'))
);

-- Email is unique per tenant, case-insensitively, when present.
create unique index if not exists leads_tenant_email_key on public.leads (tenant_id, lower(email))
  where email is not null;
create index if not exists leads_tenant_status_idx on public.leads (tenant_id, status);
create index if not exists leads_tenant_created_idx on public.leads (tenant_id, created_at desc);

-- The pipeline: forward one stage at a time or straight to won/lost from any open stage; lost may reopen
-- to new; anything else is refused with the two statuses named.
create or replace function private.lead_status_transition_allowed(old_status text, new_status text)
returns boolean
language sql immutable
set search_path = ''
as $$
  select old_status = new_status or (old_status, new_status) in (
    ('new', 'contacted'), ('contacted', 'qualified'), ('qualified', 'proposal'),
    ('proposal', 'negotiation'), ('negotiation', 'won'),
    ('new', 'lost'), ('contacted', 'lost'), ('qualified', 'lost'), ('proposal', 'lost'),
    ('negotiation', 'lost'), ('lost', 'new')
  )
$$;

create or replace function private.leads_before_write() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'UPDATE' then
    if new.tenant_id is distinct from old.tenant_id then
      raise exception 'leads.tenant_id cannot change (a lead stays in its tenant)'
        using errcode = '23514', column = 'tenant_id';
    end if;
    if not private.lead_status_transition_allowed(old.status, new.status) then
      raise exception 'leads.status cannot move from % to %', old.status, new.status
        using errcode = '23514', column = 'status',
              hint = 'allowed: new → contacted → qualified → proposal → negotiation → won; any open stage → lost; lost → new';
    end if;
    new.updated_at := now();
  end if;
  if new.email is not null then
    new.email := btrim(new.email);
  end if;
  return new;
end
$$;

drop trigger if exists leads_before_write on public.leads;
create trigger leads_before_write before insert or update on public.leads
  for each row execute function private.leads_before_write();

create or replace function private.leads_publish() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  changes jsonb := '{}'::jsonb;
  col text;
  old_row jsonb;
  new_row jsonb;
begin
  if tg_op = 'INSERT' then
    perform private.emit_event(new.tenant_id, 'lead.created',
      jsonb_build_object('lead_id', new.id, 'name', new.name, 'source', new.source,
                         'source_channel', new.source_channel),
      new.id::text, 'db');
    return null;
  end if;

  old_row := to_jsonb(old);
  new_row := to_jsonb(new);
  for col in select jsonb_object_keys(new_row) loop
    if col not in ('updated_at', 'status') and (old_row -> col) is distinct from (new_row -> col) then
      changes := changes || jsonb_build_object(col, jsonb_build_object('from', old_row -> col, 'to', new_row -> col));
    end if;
  end loop;

  if new.status is distinct from old.status then
    perform private.emit_event(new.tenant_id, 'lead.status_changed',
      jsonb_build_object('lead_id', new.id, 'from', old.status, 'to', new.status, 'changes', changes),
      new.id::text, 'db');
  elsif changes <> '{}'::jsonb then
    perform private.emit_event(new.tenant_id, 'lead.updated',
      jsonb_build_object('lead_id', new.id, 'changes', changes),
      new.id::text, 'db');
  end if;
  return null;
end
$$;

drop trigger if exists leads_publish on public.leads;
create trigger leads_publish after insert or update on public.leads
  for each row execute function private.leads_publish();

alter table public.leads enable row level security;

drop policy if exists "members read their tenant's leads" on public.leads;
create policy "members read their tenant's leads" on public.leads
  for select to authenticated
  using (tenant_id = private.tenant_id());

drop policy if exists "members add leads to their tenant" on public.leads;
create policy "members add leads to their tenant" on public.leads
  for insert to authenticated
  with check (tenant_id = private.tenant_id());

drop policy if exists "members change their tenant's leads" on public.leads;
create policy "members change their tenant's leads" on public.leads
  for update to authenticated
  using (tenant_id = private.tenant_id())
  with check (tenant_id = private.tenant_id());

drop policy if exists "members delete their tenant's leads" on public.leads;
create policy "members delete their tenant's leads" on public.leads
  for delete to authenticated
  using (tenant_id = private.tenant_id());

revoke all on table public.leads from anon;
grant select, insert, update, delete on table public.leads to authenticated;
grant all on table public.leads to service_role;

do $$
begin
  if not exists (
    select 1 from pg_publication_tables
    where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'leads'
  ) then
    alter publication supabase_realtime add table public.leads;
  end if;
end
$$;
