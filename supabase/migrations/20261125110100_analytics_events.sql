-- analytics_events: the facts the event handlers derive (touchpoints, funnel stages, message counters,
-- latency samples, AI costs). One row per (event, handler), so a handler that runs twice for one event
-- (delivery is at-least-once) still leaves one row. The analytics issue builds its views on this table.

create table if not exists public.analytics_events (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  event_id uuid not null,
  handler text not null,
  type text not null check (type ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$'),
  lead_id uuid,
  channel text,
  funnel_stage text,
  value double precision,
  properties jsonb not null default '{}'::jsonb check (jsonb_typeof(properties) = 'object'),
  occurred_at timestamptz not null default now(),
  created_at timestamptz not null default now(),
  -- No foreign key to events or leads: analytics outlive pruned events and deleted leads.
  constraint analytics_events_once_per_handler unique (event_id, handler)
);

create index if not exists analytics_events_tenant_type_idx
  on public.analytics_events (tenant_id, type, occurred_at desc);
create index if not exists analytics_events_tenant_lead_idx
  on public.analytics_events (tenant_id, lead_id) where lead_id is not null;

alter table public.analytics_events enable row level security;

drop policy if exists "members read their tenant's analytics events" on public.analytics_events;
create policy "members read their tenant's analytics events" on public.analytics_events
  for select to authenticated
  using (tenant_id = private.tenant_id());

revoke all on table public.analytics_events from anon, authenticated;
grant select on table public.analytics_events to authenticated;
grant all on table public.analytics_events to service_role;
