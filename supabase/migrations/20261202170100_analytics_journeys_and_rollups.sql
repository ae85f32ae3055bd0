-- What the reports read instead of raw facts: one journey row per lead and daily rollups, both maintained
-- by triggers on the facts in the same transaction, so they are exactly as idempotent as the facts (a
-- redelivered event inserts no fact, so it changes nothing here).
--
--   analytics_lead_journeys   per lead, the first time it entered each funnel stage, raw (the rules that turn
--                             facts into stages are docs/analytics.md's; the funnel applies "a later stage
--                             implies the earlier ones" when it reads them), and the won deal's value.
--   analytics_daily_rollups   counts and amounts per tenant and day (in the tenant's time zone, tenants.settings
--                             ->> 'timezone', UTC when unset): touchpoints by channel, direction and actor with
--                             their AI cost; funnel stage entries by stage; meetings booked; deals won by
--                             currency with their value; AI cost by scenario (from ai_usage).
--
-- A rebuild (public.analytics_rebuild) sets `salesflow.analytics_bulk` for its transaction: the row triggers
-- stand aside and it recomputes journeys and rollups in one pass each.

create table if not exists public.analytics_lead_journeys (
  lead_id uuid primary key,
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  lead_created timestamptz not null,
  lead_qualified timestamptz,
  first_contact timestamptz,
  first_response timestamptz,
  engaged timestamptz,
  meeting_scheduled timestamptz,
  meeting_completed timestamptz,
  proposal_sent timestamptz,
  negotiation timestamptz,
  deal_closed_won timestamptz,
  lost timestamptz,
  churned timestamptz,
  won_value numeric(14, 2),
  won_currency text,
  refreshed_at timestamptz not null default now(),
  constraint analytics_lead_journeys_lead_fk foreign key (lead_id, tenant_id)
    references public.leads (id, tenant_id) on delete cascade
);
create index if not exists analytics_lead_journeys_tenant_created_idx
  on public.analytics_lead_journeys (tenant_id, lead_id);
create index if not exists analytics_lead_journeys_cohort_idx
  on public.analytics_lead_journeys (tenant_id, lead_created);
create index if not exists analytics_lead_journeys_won_idx
  on public.analytics_lead_journeys (tenant_id, deal_closed_won) where deal_closed_won is not null;

create table if not exists public.analytics_daily_rollups (
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  day date not null,
  metric text not null,
  channel text not null default '',
  direction text not null default '',
  actor text not null default '',
  dimension text not null default '',  -- the stage (stage_entries), the scenario (ai_cost)
  currency text not null default '',
  count bigint not null default 0,
  amount numeric not null default 0,  -- AI cost in USD (touchpoints, ai_cost), deal value (deals_won)
  constraint analytics_daily_rollups_pkey
    primary key (tenant_id, day, metric, channel, direction, actor, dimension, currency),
  constraint analytics_daily_rollups_metric_allowed check (metric in
    ('touchpoints', 'stage_entries', 'meetings_booked', 'deals_won', 'ai_cost'))
);

do $$
declare
  t text;
begin
  foreach t in array array['analytics_lead_journeys', 'analytics_daily_rollups'] loop
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

-- The funnel stages in order, then the exits (docs/analytics.md). One list for SQL; salesflow/analytics/stages.py
-- mirrors it.
create or replace function private.analytics_stages() returns text[]
language sql immutable
set search_path = ''
as $$
  select array['lead_created', 'lead_qualified', 'first_contact', 'first_response', 'engaged', 'meeting_scheduled',
               'meeting_completed', 'proposal_sent', 'negotiation', 'deal_closed_won']
$$;

-- The tenant's reporting time zone: tenants.settings ->> 'timezone' when it is a zone this server knows, else UTC.
create or replace function private.analytics_tenant_timezone(p_tenant_id uuid) returns text
language plpgsql stable security definer
set search_path = ''
as $$
declare
  zone text;
begin
  select t.settings ->> 'timezone' into zone from public.tenants t where t.id = p_tenant_id;
  if zone is null or zone = 'UTC' then
    return 'UTC';
  end if;
  if private.is_time_zone(zone) then
    return zone;
  end if;
  return 'UTC';
end
$$;

-- Add (or with negative deltas remove) a rollup contribution; a row that drops to nothing is deleted, so the
-- table always equals a fresh group-by over the facts. Nothing is written for a tenant being deleted.
create or replace function private.analytics_bump(
  p_tenant_id uuid, p_day date, p_metric text, p_channel text, p_direction text, p_actor text, p_dimension text,
  p_currency text, p_count bigint, p_amount numeric
) returns void
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  left_count bigint;
  left_amount numeric;
begin
  if p_day is null or not exists (select 1 from public.tenants t where t.id = p_tenant_id) then
    return;
  end if;
  insert into public.analytics_daily_rollups as r
    (tenant_id, day, metric, channel, direction, actor, dimension, currency, count, amount)
  values (p_tenant_id, p_day, p_metric, coalesce(p_channel, ''), coalesce(p_direction, ''), coalesce(p_actor, ''),
          coalesce(p_dimension, ''), coalesce(p_currency, ''), p_count, coalesce(p_amount, 0))
  on conflict (tenant_id, day, metric, channel, direction, actor, dimension, currency)
  do update set count = r.count + excluded.count, amount = r.amount + excluded.amount
  returning r.count, r.amount into left_count, left_amount;
  if left_count = 0 and left_amount = 0 then
    delete from public.analytics_daily_rollups r
    where r.tenant_id = p_tenant_id and r.day = p_day and r.metric = p_metric and r.channel = coalesce(p_channel, '')
      and r.direction = coalesce(p_direction, '') and r.actor = coalesce(p_actor, '')
      and r.dimension = coalesce(p_dimension, '') and r.currency = coalesce(p_currency, '');
  end if;
end
$$;

-- The journeys of a tenant's leads (all of them when p_lead_ids is null), computed from the facts and the
-- lead row by the rules in docs/analytics.md.
create or replace function private.analytics_journeys_of(p_tenant_id uuid, p_lead_ids uuid[])
returns setof public.analytics_lead_journeys
language sql stable security definer
set search_path = ''
as $$
  with l as (
    select l.id, l.tenant_id, l.status, l.created_at, l.deal_value, l.currency
    from public.leads l
    where l.tenant_id = p_tenant_id and (p_lead_ids is null or l.id = any (p_lead_ids))
  ), s as (
    select e.lead_id,
           min(e.entered_at) filter (where e.stage = 'lead_created') as lead_created,
           min(e.entered_at) filter (where e.stage = 'lead_qualified') as lead_qualified,
           min(e.entered_at) filter (where e.stage = 'first_contact') as first_contact,
           min(e.entered_at) filter (where e.stage = 'proposal_sent') as proposal_sent,
           min(e.entered_at) filter (where e.stage = 'negotiation') as negotiation,
           min(e.entered_at) filter (where e.stage = 'deal_closed_won') as deal_closed_won,
           min(e.entered_at) filter (where e.stage = 'lost') as lost,
           min(e.entered_at) filter (where e.stage = 'churned') as churned
    from public.analytics_stage_entries e
    where e.tenant_id = p_tenant_id and (p_lead_ids is null or e.lead_id = any (p_lead_ids))
    group by e.lead_id
  ), o as (
    select t.lead_id, min(t.occurred_at) as first_out
    from public.analytics_touchpoints t
    where t.tenant_id = p_tenant_id and t.direction = 'out' and (p_lead_ids is null or t.lead_id = any (p_lead_ids))
    group by t.lead_id
  ), contact as (
    -- first contact: the first outbound message, or the move to `contacted`, whichever came first
    select l.id as lead_id,
           least(o.first_out, s.first_contact,
                 case when l.status = 'contacted' and s.first_contact is null then l.created_at end) as at
    from l left join o on o.lead_id = l.id left join s on s.lead_id = l.id
  ), replies as (
    select t.lead_id, t.occurred_at,
           row_number() over (partition by t.lead_id order by t.occurred_at, t.message_id) as n
    from public.analytics_touchpoints t
    join contact c on c.lead_id = t.lead_id
    where t.tenant_id = p_tenant_id and t.direction = 'in' and t.occurred_at >= c.at
  ), r as (
    select replies.lead_id,
           min(replies.occurred_at) filter (where replies.n = 1) as first_response,
           min(replies.occurred_at) filter (where replies.n = 2) as engaged
    from replies group by replies.lead_id
  ), m as (
    select mt.lead_id, min(mt.booked_at) as meeting_scheduled, min(mt.held_at) as meeting_completed
    from public.analytics_meetings mt
    where mt.tenant_id = p_tenant_id and (p_lead_ids is null or mt.lead_id = any (p_lead_ids))
    group by mt.lead_id
  ), w as (
    select distinct on (d.lead_id) d.lead_id, d.value, d.currency
    from public.analytics_deal_outcomes d
    where d.tenant_id = p_tenant_id and d.outcome = 'won' and (p_lead_ids is null or d.lead_id = any (p_lead_ids))
    order by d.lead_id, d.closed_at
  )
  select
    l.id, l.tenant_id,
    coalesce(s.lead_created, l.created_at),
    -- A status with no recorded move into it is the status the lead was created (or imported) with.
    coalesce(s.lead_qualified, case when l.status = 'qualified' then l.created_at end),
    c.at,
    r.first_response,
    r.engaged,
    m.meeting_scheduled,
    m.meeting_completed,
    coalesce(s.proposal_sent, case when l.status = 'proposal' then l.created_at end),
    coalesce(s.negotiation, case when l.status = 'negotiation' then l.created_at end),
    coalesce(s.deal_closed_won, case when l.status = 'won' then l.created_at end),
    coalesce(s.lost, case when l.status = 'lost' then l.created_at end),
    s.churned,
    case when coalesce(s.deal_closed_won, case when l.status = 'won' then l.created_at end) is not null
         then case when w.lead_id is not null then w.value else l.deal_value end end,
    case when coalesce(s.deal_closed_won, case when l.status = 'won' then l.created_at end) is not null
         then case when w.lead_id is not null then w.currency else l.currency end end,
    now()
  from l
  left join s on s.lead_id = l.id
  left join contact c on c.lead_id = l.id
  left join r on r.lead_id = l.id
  left join m on m.lead_id = l.id
  left join w on w.lead_id = l.id
$$;

-- Bring the journeys of some leads up to date: upsert what the facts say, delete those of leads that are gone.
create or replace function private.analytics_refresh_journeys(p_tenant_id uuid, p_lead_ids uuid[])
returns void
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  insert into public.analytics_lead_journeys as j
  select * from private.analytics_journeys_of(p_tenant_id, p_lead_ids)
  on conflict (lead_id) do update set
    lead_created = excluded.lead_created, lead_qualified = excluded.lead_qualified,
    first_contact = excluded.first_contact, first_response = excluded.first_response, engaged = excluded.engaged,
    meeting_scheduled = excluded.meeting_scheduled, meeting_completed = excluded.meeting_completed,
    proposal_sent = excluded.proposal_sent, negotiation = excluded.negotiation,
    deal_closed_won = excluded.deal_closed_won, lost = excluded.lost, churned = excluded.churned,
    won_value = excluded.won_value, won_currency = excluded.won_currency, refreshed_at = excluded.refreshed_at
  where (j.lead_created, j.lead_qualified, j.first_contact, j.first_response, j.engaged, j.meeting_scheduled,
         j.meeting_completed, j.proposal_sent, j.negotiation, j.deal_closed_won, j.lost, j.churned, j.won_value,
         j.won_currency)
        is distinct from
        (excluded.lead_created, excluded.lead_qualified, excluded.first_contact, excluded.first_response,
         excluded.engaged, excluded.meeting_scheduled, excluded.meeting_completed, excluded.proposal_sent,
         excluded.negotiation, excluded.deal_closed_won, excluded.lost, excluded.churned, excluded.won_value,
         excluded.won_currency);
  delete from public.analytics_lead_journeys j
  where j.tenant_id = p_tenant_id and (p_lead_ids is null or j.lead_id = any (p_lead_ids))
    and not exists (select 1 from public.leads l where l.id = j.lead_id and l.tenant_id = p_tenant_id);
end
$$;

create or replace function private.analytics_in_bulk() returns boolean
language sql stable
set search_path = ''
as $$
  select coalesce(current_setting('salesflow.analytics_bulk', true), '') = 'on'
$$;

-- Facts changed: refresh the lead's journey; touchpoints and meetings also count in the rollups.
create or replace function private.analytics_fact_changed() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  sign_ integer;
  r record;
  zone text;
begin
  if private.analytics_in_bulk() then
    return null;
  end if;
  foreach sign_ in array array[-1, 1] loop
    if (sign_ = -1 and tg_op = 'INSERT') or (sign_ = 1 and tg_op = 'DELETE') then
      continue;
    end if;
    if sign_ = -1 then r := old; else r := new; end if;
    zone := private.analytics_tenant_timezone(r.tenant_id);
    if tg_table_name = 'analytics_touchpoints' then
      perform private.analytics_bump(r.tenant_id, (r.occurred_at at time zone zone)::date, 'touchpoints',
        r.channel, r.direction, r.actor, '', '', sign_, sign_ * r.ai_cost_usd);
    elsif tg_table_name = 'analytics_meetings' then
      perform private.analytics_bump(r.tenant_id, (r.booked_at at time zone zone)::date, 'meetings_booked',
        '', '', '', '', '', sign_, 0);
    end if;
  end loop;
  if tg_op = 'UPDATE' and old.lead_id is distinct from new.lead_id then
    perform private.analytics_refresh_journeys(old.tenant_id, array[old.lead_id]);
  end if;
  if tg_op = 'DELETE' then
    perform private.analytics_refresh_journeys(old.tenant_id, array[old.lead_id]);
  else
    perform private.analytics_refresh_journeys(new.tenant_id, array[new.lead_id]);
  end if;
  return null;
end
$$;

do $$
declare
  t text;
begin
  foreach t in array array['analytics_touchpoints', 'analytics_stage_entries', 'analytics_meetings',
                           'analytics_deal_outcomes'] loop
    execute format('drop trigger if exists analytics_fact_changed on public.%I', t);
    execute format('create trigger analytics_fact_changed after insert or update or delete on public.%I '
                   'for each row execute function private.analytics_fact_changed()', t);
  end loop;
end
$$;

-- A journey changed: move its stage entries (and a won deal's value) between days in the rollups.
create or replace function private.analytics_journey_changed() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  stage text;
  old_row jsonb := case when tg_op <> 'INSERT' then to_jsonb(old) end;
  new_row jsonb := case when tg_op <> 'DELETE' then to_jsonb(new) end;
  tenant uuid := coalesce(new.tenant_id, old.tenant_id);
  zone text;
begin
  if private.analytics_in_bulk() then
    return null;
  end if;
  zone := private.analytics_tenant_timezone(tenant);
  foreach stage in array private.analytics_stages() || array['lost', 'churned'] loop
    if (old_row ->> stage) is distinct from (new_row ->> stage) then
      if old_row ->> stage is not null then
        perform private.analytics_bump(tenant, (((old_row ->> stage)::timestamptz) at time zone zone)::date,
          'stage_entries', '', '', '', stage, '', -1, 0);
      end if;
      if new_row ->> stage is not null then
        perform private.analytics_bump(tenant, (((new_row ->> stage)::timestamptz) at time zone zone)::date,
          'stage_entries', '', '', '', stage, '', 1, 0);
      end if;
    end if;
  end loop;
  if (old_row -> 'deal_closed_won', old_row -> 'won_value', old_row -> 'won_currency')
     is distinct from (new_row -> 'deal_closed_won', new_row -> 'won_value', new_row -> 'won_currency') then
    if old_row ->> 'deal_closed_won' is not null then
      perform private.analytics_bump(tenant, (((old_row ->> 'deal_closed_won')::timestamptz) at time zone zone)::date,
        'deals_won', '', '', '', '', old_row ->> 'won_currency', -1, -coalesce((old_row ->> 'won_value')::numeric, 0));
    end if;
    if new_row ->> 'deal_closed_won' is not null then
      perform private.analytics_bump(tenant, (((new_row ->> 'deal_closed_won')::timestamptz) at time zone zone)::date,
        'deals_won', '', '', '', '', new_row ->> 'won_currency', 1, coalesce((new_row ->> 'won_value')::numeric, 0));
    end if;
  end if;
  return null;
end
$$;

drop trigger if exists analytics_journey_changed on public.analytics_lead_journeys;
create trigger analytics_journey_changed after insert or update or delete on public.analytics_lead_journeys
  for each row execute function private.analytics_journey_changed();

-- AI usage rows count into the rollups by scenario (the tracker only ever inserts them).
create or replace function private.analytics_ai_usage_added() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if private.analytics_in_bulk() then
    return null;
  end if;
  perform private.analytics_bump(new.tenant_id,
    (new.created_at at time zone private.analytics_tenant_timezone(new.tenant_id))::date,
    'ai_cost', '', '', '', new.scenario, '', 1, coalesce(new.cost_usd, 0));
  return null;
end
$$;

drop trigger if exists analytics_ai_usage_added on public.ai_usage;
create trigger analytics_ai_usage_added after insert on public.ai_usage
  for each row execute function private.analytics_ai_usage_added();

-- The rollups a fresh group-by over the facts gives (what the rebuild writes, and what tests compare with).
create or replace function private.analytics_rollups_recomputed(p_tenant_id uuid)
returns setof public.analytics_daily_rollups
language sql stable security definer
set search_path = ''
as $$
  with z as (select private.analytics_tenant_timezone(p_tenant_id) as zone)
  select p_tenant_id, (t.occurred_at at time zone z.zone)::date, 'touchpoints', t.channel::text, t.direction, t.actor,
         '', '', count(*), sum(t.ai_cost_usd)
  from public.analytics_touchpoints t, z where t.tenant_id = p_tenant_id group by 2, 4, 5, 6
  union all
  select p_tenant_id, (m.booked_at at time zone z.zone)::date, 'meetings_booked', '', '', '', '', '', count(*), 0
  from public.analytics_meetings m, z where m.tenant_id = p_tenant_id group by 2
  union all
  select p_tenant_id, (s.at at time zone z.zone)::date, 'stage_entries', '', '', '', s.stage, '', count(*), 0
  from public.analytics_lead_journeys j, z,
       lateral (values ('lead_created', j.lead_created), ('lead_qualified', j.lead_qualified),
                       ('first_contact', j.first_contact), ('first_response', j.first_response),
                       ('engaged', j.engaged), ('meeting_scheduled', j.meeting_scheduled),
                       ('meeting_completed', j.meeting_completed), ('proposal_sent', j.proposal_sent),
                       ('negotiation', j.negotiation), ('deal_closed_won', j.deal_closed_won), ('lost', j.lost),
                       ('churned', j.churned)) as s(stage, at)
  where j.tenant_id = p_tenant_id and s.at is not null group by 2, 7
  union all
  select p_tenant_id, (j.deal_closed_won at time zone z.zone)::date, 'deals_won', '', '', '', '',
         coalesce(j.won_currency, ''), count(*), coalesce(sum(j.won_value), 0)
  from public.analytics_lead_journeys j, z where j.tenant_id = p_tenant_id and j.deal_closed_won is not null
  group by 2, 8
  union all
  select p_tenant_id, (u.created_at at time zone z.zone)::date, 'ai_cost', '', '', '', u.scenario, '', count(*),
         coalesce(sum(u.cost_usd), 0)
  from public.ai_usage u, z where u.tenant_id = p_tenant_id group by 2, 7
$$;

revoke all on function private.analytics_stages(), private.analytics_tenant_timezone(uuid),
  private.analytics_bump(uuid, date, text, text, text, text, text, text, bigint, numeric),
  private.analytics_journeys_of(uuid, uuid[]), private.analytics_refresh_journeys(uuid, uuid[]),
  private.analytics_in_bulk(), private.analytics_fact_changed(), private.analytics_journey_changed(),
  private.analytics_ai_usage_added(), private.analytics_rollups_recomputed(uuid)
  from public, anon, authenticated;
-- The report functions run as the caller (security invoker) and use these two.
grant execute on function private.analytics_stages(), private.analytics_tenant_timezone(uuid)
  to authenticated, service_role;
grant execute on function private.analytics_rollups_recomputed(uuid), private.analytics_refresh_journeys(uuid, uuid[])
  to service_role;
