-- Analytics facts: what the reports (docs/analytics.md) are computed from, written idempotently by the
-- handlers in salesflow/handlers/analytics_facts.py (through public.analytics_record, 20261202170200) and
-- re-derived by public.analytics_rebuild (20261202170600).
--
--   analytics_touchpoints    one per message in or out: channel, direction, who acted (lead | human | sequence |
--                            autopilot), sequence and step (null until sequences exist), the AI cost behind it.
--                            Keyed by the message: the handler (from message.received / message.sent) and the
--                            rebuild (from public.messages) write the same row, never a second one.
--   analytics_stage_entries  a lead entered a pipeline stage (lead_created, lead_qualified, first_contact,
--                            proposal_sent, negotiation, deal_closed_won, lost, churned), from lead.created and
--                            lead.status_changed. Keyed by (lead, stage, time): a redelivered event writes nothing.
--   analytics_meetings       a meeting booked for a lead (public.record_meeting → meeting.booked), held or not.
--   analytics_deal_outcomes  a deal closed won or lost, with its value and currency at that moment.
--
-- Every row names the event and handler that wrote it (event_id null for rows the rebuild derived from
-- tables). A lead's facts go with the lead (on delete cascade): erasing a lead erases its analytics trail.
-- Members read their tenant's facts; only service code writes them.

create table if not exists public.analytics_touchpoints (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  lead_id uuid not null,
  -- The message the touch was: a key, not a foreign key (the lead's key already carries erasure and the tenant);
  -- the rebuild drops a touchpoint whose message is gone.
  message_id uuid not null,
  channel public.message_channel not null,
  direction text not null,
  actor text not null,
  -- No foreign keys yet: the sequence tables do not exist. Filled from message.sent once sequences send.
  sequence_id uuid,
  step_id uuid,
  ai_cost_usd numeric(14, 8) not null default 0,
  occurred_at timestamptz not null,
  event_id uuid,
  handler text not null,
  created_at timestamptz not null default now(),
  constraint analytics_touchpoints_lead_fk foreign key (lead_id, tenant_id)
    references public.leads (id, tenant_id) on delete cascade,
  constraint analytics_touchpoints_once_per_message unique (message_id),
  constraint analytics_touchpoints_direction_allowed check (direction in ('in', 'out')),
  constraint analytics_touchpoints_actor_allowed check (actor in ('lead', 'human', 'sequence', 'autopilot')),
  constraint analytics_touchpoints_actor_matches_direction check ((direction = 'in') = (actor = 'lead')),
  constraint analytics_touchpoints_ai_cost_range check (ai_cost_usd >= 0)
);
create index if not exists analytics_touchpoints_lead_idx
  on public.analytics_touchpoints (tenant_id, lead_id, occurred_at);
create index if not exists analytics_touchpoints_tenant_time_idx
  on public.analytics_touchpoints (tenant_id, occurred_at);

create table if not exists public.analytics_stage_entries (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  lead_id uuid not null,
  stage text not null,
  from_status text,
  to_status text,
  entered_at timestamptz not null,
  event_id uuid,
  handler text not null,
  created_at timestamptz not null default now(),
  constraint analytics_stage_entries_lead_fk foreign key (lead_id, tenant_id)
    references public.leads (id, tenant_id) on delete cascade,
  constraint analytics_stage_entries_once unique (lead_id, stage, entered_at),
  constraint analytics_stage_entries_stage_allowed check (stage in (
    'lead_created', 'lead_qualified', 'first_contact', 'proposal_sent', 'negotiation', 'deal_closed_won',
    'lost', 'churned'))
);
create index if not exists analytics_stage_entries_lead_idx
  on public.analytics_stage_entries (tenant_id, lead_id, stage);
create index if not exists analytics_stage_entries_tenant_time_idx
  on public.analytics_stage_entries (tenant_id, entered_at);

create table if not exists public.analytics_meetings (
  id uuid primary key,  -- the meeting's id, chosen by record_meeting (so a repeated call names the same one)
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  lead_id uuid not null,
  starts_at timestamptz not null,
  booked_at timestamptz not null,
  held_at timestamptz,
  event_id uuid,
  handler text not null,
  created_at timestamptz not null default now(),
  constraint analytics_meetings_lead_fk foreign key (lead_id, tenant_id)
    references public.leads (id, tenant_id) on delete cascade
);
create index if not exists analytics_meetings_lead_idx on public.analytics_meetings (tenant_id, lead_id, booked_at);
create index if not exists analytics_meetings_tenant_time_idx on public.analytics_meetings (tenant_id, booked_at);

create table if not exists public.analytics_deal_outcomes (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  lead_id uuid not null,
  outcome text not null,
  value numeric(14, 2),
  currency text,
  closed_at timestamptz not null,
  event_id uuid,
  handler text not null,
  created_at timestamptz not null default now(),
  constraint analytics_deal_outcomes_lead_fk foreign key (lead_id, tenant_id)
    references public.leads (id, tenant_id) on delete cascade,
  constraint analytics_deal_outcomes_once unique (lead_id, outcome, closed_at),
  constraint analytics_deal_outcomes_outcome_allowed check (outcome in ('won', 'lost')),
  constraint analytics_deal_outcomes_value_range check (value is null or value >= 0),
  constraint analytics_deal_outcomes_currency_format check (currency is null or currency ~ '^[A-Z]{3}$'),
  constraint analytics_deal_outcomes_value_has_currency check (value is null or currency is not null)
);
create index if not exists analytics_deal_outcomes_lead_idx
  on public.analytics_deal_outcomes (tenant_id, lead_id, closed_at);
create index if not exists analytics_deal_outcomes_tenant_time_idx
  on public.analytics_deal_outcomes (tenant_id, closed_at);

-- RLS, grants and the tenant guard, the same for the four tables.
do $$
declare
  t text;
begin
  foreach t in array array['analytics_touchpoints', 'analytics_stage_entries', 'analytics_meetings',
                           'analytics_deal_outcomes'] loop
    execute format('alter table public.%I enable row level security', t);
    execute format('drop policy if exists %I on public.%I', format('members read their tenant''s %s', t), t);
    execute format('create policy %I on public.%I for select to authenticated '
                   'using (tenant_id = (select private.tenant_id()))', format('members read their tenant''s %s', t), t);
    execute format('revoke all on table public.%I from anon, authenticated', t);
    execute format('grant select on table public.%I to authenticated', t);
    execute format('grant all on table public.%I to service_role', t);
    execute format('drop trigger if exists a_row_keeps_its_tenant on public.%I', t);
    execute format('create trigger a_row_keeps_its_tenant before update of tenant_id on public.%I for each row '
                   'when (old.tenant_id is distinct from new.tenant_id) execute function private.refuse_tenant_move()', t);
  end loop;
end
$$;

comment on table public.analytics_touchpoints is
  'One fact per message in or out (docs/analytics.md). Written by salesflow/handlers/analytics_facts.py and analytics_rebuild.';
comment on table public.analytics_stage_entries is
  'A lead entered a pipeline stage (from lead.created / lead.status_changed). docs/analytics.md has the stage rules.';
comment on table public.analytics_meetings is 'Meetings booked for leads (public.record_meeting, event meeting.booked).';
comment on table public.analytics_deal_outcomes is 'Deals closed won or lost, with value and currency at closing.';
