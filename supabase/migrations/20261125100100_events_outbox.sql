-- The events outbox: every change that matters becomes a row here in the same transaction as the change.
-- Realtime and NOTIFY only wake the listener; this table is the truth (DESIGN.md, principle 2).

-- The catalogue of event types: one list, mirrored by salesflow/events/types.py (a test keeps them equal).
create table if not exists public.event_types (
  name text primary key check (name ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$'),
  description text not null
);

insert into public.event_types (name, description) values
  ('lead.created', 'A lead was inserted. Payload: lead_id, name, source, source_channel.'),
  ('lead.updated', 'Lead fields other than status changed. Payload: lead_id, changes {field: {from, to}}.'),
  ('lead.status_changed', 'A lead moved along the pipeline. Payload: lead_id, from, to, changes.'),
  ('message.received', 'An inbound message arrived on a channel. Payload: conversation_id, lead_id, channel, message_id.'),
  ('message.sent', 'An outbound message was sent. Payload: conversation_id, lead_id, channel, message_id, latency_ms.'),
  ('sequence.step_due', 'A follow-up sequence step is due (delayed with run_after). Payload: enrollment_id, step.'),
  ('sequence.step_executed', 'A sequence step ran. Payload: enrollment_id, lead_id, step, channel, ai_personalized.'),
  ('autopilot.action_executed', 'Autopilot acted for a lead. Payload: lead_id, action, channel, cost_usd.'),
  ('ai.budget_exceeded', 'A tenant reached its monthly AI budget. Payload: period, limit_usd, spent_usd.')
on conflict (name) do update set description = excluded.description;

create table if not exists public.events (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  type text not null check (type ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$'),
  payload jsonb not null default '{}'::jsonb,
  source text not null default 'db',
  status text not null default 'pending'
    check (status in ('pending', 'processing', 'processed', 'failed')),
  attempts integer not null default 0 check (attempts >= 0),
  max_attempts integer not null default 5 check (max_attempts between 1 and 100),
  run_after timestamptz not null default now(),
  locked_by text,
  locked_until timestamptz,
  ordering_key text,
  correlation_id uuid,
  causation_id uuid,
  last_error text,
  created_at timestamptz not null default now(),
  processed_at timestamptz,
  -- A payload is a description of a change, not a document store: 256 KiB keeps every event well under
  -- Realtime's 1,024 KB message limit.
  constraint events_payload_size check (octet_length(payload::text) <= 262144),
  constraint events_payload_object check (jsonb_typeof(payload) = 'object')
);

-- Serves the claim query: due pending events, oldest first.
create index if not exists events_pending_due_idx on public.events (run_after, created_at)
  where status = 'pending';
create index if not exists events_processing_key_idx on public.events (ordering_key)
  where status = 'processing';
create index if not exists events_tenant_created_idx on public.events (tenant_id, created_at desc);
create index if not exists events_status_type_idx on public.events (status, type);

create table if not exists public.event_deliveries (
  event_id uuid not null references public.events (id) on delete cascade,
  handler text not null,
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  status text not null default 'pending' check (status in ('pending', 'succeeded', 'failed')),
  attempts integer not null default 0,
  last_error text,
  duration_ms double precision,
  started_at timestamptz,
  finished_at timestamptz,
  primary key (event_id, handler)
);
create index if not exists event_deliveries_tenant_idx on public.event_deliveries (tenant_id);

-- The one function that publishes an event. Security definer so that triggers fired by a browser user
-- can write to the outbox, which that user cannot write directly.
create or replace function private.emit_event(
  p_tenant_id uuid,
  p_type text,
  p_payload jsonb default '{}'::jsonb,
  p_ordering_key text default null,
  p_source text default 'db',
  p_run_after timestamptz default null,
  p_correlation_id uuid default null,
  p_causation_id uuid default null,
  p_max_attempts integer default 5
) returns uuid
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  new_id uuid;
begin
  if p_tenant_id is null then
    raise exception 'events.tenant_id: an event needs a tenant' using errcode = '23502', column = 'tenant_id';
  end if;
  insert into public.events (tenant_id, type, payload, ordering_key, source, run_after,
                             correlation_id, causation_id, max_attempts)
  values (p_tenant_id, p_type, coalesce(p_payload, '{}'::jsonb), p_ordering_key, coalesce(p_source, 'db'),
          coalesce(p_run_after, now()), p_correlation_id, p_causation_id, coalesce(p_max_attempts, 5))
  returning id into new_id;
  return new_id;
end
$$;

revoke all on function private.emit_event(uuid, text, jsonb, text, text, timestamptz, uuid, uuid, integer)
  from public, anon, authenticated;
grant execute on function private.emit_event(uuid, text, jsonb, text, text, timestamptz, uuid, uuid, integer)
  to service_role;

-- Wake-up for LISTEN-ing listeners. Only the id travels: the row is read from the table.
create or replace function private.notify_event() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform pg_notify('salesflow_events', new.id::text);
  return null;
end
$$;

drop trigger if exists events_notify on public.events;
create trigger events_notify after insert on public.events
  for each row execute function private.notify_event();

alter table public.event_types enable row level security;
alter table public.events enable row level security;
alter table public.event_deliveries enable row level security;

drop policy if exists "signed-in users read the event catalogue" on public.event_types;
create policy "signed-in users read the event catalogue" on public.event_types
  for select to authenticated using (true);

drop policy if exists "members read their tenant's events" on public.events;
create policy "members read their tenant's events" on public.events
  for select to authenticated
  using (tenant_id = private.tenant_id());

drop policy if exists "members read their tenant's deliveries" on public.event_deliveries;
create policy "members read their tenant's deliveries" on public.event_deliveries
  for select to authenticated
  using (tenant_id = private.tenant_id());

revoke all on table public.event_types, public.events, public.event_deliveries from anon, authenticated;
grant select on table public.event_types, public.events, public.event_deliveries to authenticated;
grant all on table public.event_types, public.events, public.event_deliveries to service_role;

do $$
begin
  if not exists (
    select 1 from pg_publication_tables
    where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'events'
  ) then
    alter publication supabase_realtime add table public.events;
  end if;
end
$$;
