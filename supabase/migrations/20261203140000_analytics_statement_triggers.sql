-- The analytics triggers per statement, not per row: the same rollups and journeys, one pass per statement.
--
-- The row triggers of 20261202170100 refreshed the lead's journey (a query over all its facts) and bumped one
-- rollup row per fact row. A handler writes one to three facts per event, so that was fine for the listener,
-- but a statement that writes many facts (analytics_record with a batch, `salesflow demo generate` writing
-- 40,000 touchpoints per chunk, a large import) paid it once per row: analytics_refresh_journeys took ~22 ms for
-- one lead (measured), so 2,000,000 touchpoints meant hours, and the journey row trigger then bumped twelve
-- stage rollups per journey row one call at a time.
--
-- Now each fact table has three statement triggers (insert, update, delete: a trigger with transition tables
-- has one event) and one function: the rollup deltas of all rows (+ the new rows, − the old ones) grouped by
-- key and added in one upsert, the rows that dropped to zero deleted, and the journeys of the distinct leads
-- refreshed in one call. The journey and ai_usage triggers likewise. Results are exactly the row triggers'
-- (the property tests in tests/analytics/test_properties.py compare the rollups with a fresh recomputation).
-- A rebuild still sets salesflow.analytics_bulk and the triggers stand aside.

-- The statement adding the deltas `p_deltas` (a query returning tenant_id, day, metric, channel, direction, actor, dimension,
-- currency, count, amount) to the rollups, grouped by key; keys whose count and amount drop to zero are then
-- deleted (a separate statement: a row written by a statement cannot be deleted by the same statement).
-- Nothing is written for a tenant that is gone (its facts are being deleted with it). The trigger functions
-- execute it themselves: transition tables are visible only in the trigger's own function.
create or replace function private.analytics_apply_sql(p_deltas text) returns text
language sql immutable
set search_path = ''
as $f$
  select format($q$
    with d as (
      select d.tenant_id, d.day, d.metric, coalesce(d.channel, '') as channel, coalesce(d.direction, '') as direction,
             coalesce(d.actor, '') as actor, coalesce(d.dimension, '') as dimension,
             coalesce(d.currency, '') as currency, sum(d.count)::bigint as count,
             coalesce(sum(d.amount), 0) as amount
      from (%s) d
      where d.day is not null
      group by 1, 2, 3, 4, 5, 6, 7, 8
      having sum(d.count) <> 0 or coalesce(sum(d.amount), 0) <> 0
    ), written as (
      insert into public.analytics_daily_rollups as r
        (tenant_id, day, metric, channel, direction, actor, dimension, currency, count, amount)
      select d.* from d where exists (select 1 from public.tenants t where t.id = d.tenant_id)
      on conflict (tenant_id, day, metric, channel, direction, actor, dimension, currency)
      do update set count = r.count + excluded.count, amount = r.amount + excluded.amount
      returning r.tenant_id, r.day, r.count, r.amount
    )
    select array_agg(distinct w.tenant_id), array_agg(distinct w.day)
    from written w where w.count = 0 and w.amount = 0
  $q$, p_deltas)
$f$;

-- The rows that dropped to zero on the given days.
create or replace function private.analytics_drop_zeros(p_tenants uuid[], p_days date[]) returns void
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  -- PL/pgSQL: the plan is cached (a SQL function's delete was planned at every call, ~1 ms per statement)
  if p_tenants is null then
    return;
  end if;
  delete from public.analytics_daily_rollups r
  where r.tenant_id = any (p_tenants) and r.day = any (p_days) and r.count = 0 and r.amount = 0;
end
$$;

-- The rows of a statement as one relation with a sign: + the new rows, − the old ones.
create or replace function private.analytics_signed_rows(p_op text) returns text
language sql immutable
set search_path = ''
as $$
  select case p_op
    when 'INSERT' then 'select a.*, 1 as sign_ from added a'
    when 'DELETE' then 'select r.*, -1 as sign_ from removed r'
    else 'select a.*, 1 as sign_ from added a union all select r.*, -1 as sign_ from removed r'
  end
$$;

create or replace function private.analytics_facts_changed() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  rows_ text := private.analytics_signed_rows(tg_op);
  lead_sets record;
  zero_tenants uuid[];
  zero_days date[];
begin
  if private.analytics_in_bulk() then
    return null;
  end if;
  if tg_table_name = 'analytics_touchpoints' then
    execute private.analytics_apply_sql(format(
      'with s as (%s), z as materialized (select t.tenant_id, private.analytics_tenant_timezone(t.tenant_id) as zone '
      'from (select distinct s.tenant_id from s) t) '
      'select s.tenant_id, (s.occurred_at at time zone z.zone)::date as day, ''touchpoints'' as metric, '
      's.channel::text as channel, s.direction, s.actor, '''' as dimension, '''' as currency, s.sign_ as count, '
      's.sign_ * s.ai_cost_usd as amount from s join z on z.tenant_id = s.tenant_id', rows_)) into zero_tenants, zero_days;
    perform private.analytics_drop_zeros(zero_tenants, zero_days);
  elsif tg_table_name = 'analytics_meetings' then
    execute private.analytics_apply_sql(format(
      'with s as (%s), z as materialized (select t.tenant_id, private.analytics_tenant_timezone(t.tenant_id) as zone '
      'from (select distinct s.tenant_id from s) t) '
      'select s.tenant_id, (s.booked_at at time zone z.zone)::date as day, ''meetings_booked'' as metric, '
      'null as channel, null as direction, null as actor, null as dimension, null as currency, s.sign_ as count, '
      '0 as amount from s join z on z.tenant_id = s.tenant_id', rows_)) into zero_tenants, zero_days;
    perform private.analytics_drop_zeros(zero_tenants, zero_days);
  end if;
  -- the journeys of every lead the statement touched (old and new lead of a moved fact), one call per tenant
  for lead_sets in execute format(
      'select s.tenant_id, array_agg(distinct s.lead_id) as leads from (%s) s group by s.tenant_id', rows_) loop
    perform private.analytics_refresh_journeys(lead_sets.tenant_id, lead_sets.leads);
  end loop;
  return null;
end
$$;

create or replace function private.analytics_journeys_changed() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  zero_tenants uuid[];
  zero_days date[];
begin
  if private.analytics_in_bulk() then
    return null;
  end if;
  -- An unchanged stage adds −1 and +1 on the same day and cancels out in the group-by.
  execute private.analytics_apply_sql(format(
    'with s as (%s), z as materialized (select t.tenant_id, private.analytics_tenant_timezone(t.tenant_id) as zone '
      'from (select distinct s.tenant_id from s) t) '
    'select s.tenant_id, (e.at at time zone z.zone)::date as day, ''stage_entries'' as metric, null as channel, '
    'null as direction, null as actor, e.stage as dimension, null as currency, s.sign_ as count, 0 as amount '
    'from s join z on z.tenant_id = s.tenant_id, '
    'lateral (values (''lead_created'', s.lead_created), (''lead_qualified'', s.lead_qualified), '
    '(''first_contact'', s.first_contact), (''first_response'', s.first_response), (''engaged'', s.engaged), '
    '(''meeting_scheduled'', s.meeting_scheduled), (''meeting_completed'', s.meeting_completed), '
    '(''proposal_sent'', s.proposal_sent), (''negotiation'', s.negotiation), '
    '(''deal_closed_won'', s.deal_closed_won), (''lost'', s.lost), (''churned'', s.churned)) as e(stage, at) '
    'where e.at is not null '
    'union all '
    'select s.tenant_id, (s.deal_closed_won at time zone z.zone)::date, ''deals_won'', null, null, null, null, '
    's.won_currency, s.sign_, s.sign_ * coalesce(s.won_value, 0) '
    'from s join z on z.tenant_id = s.tenant_id where s.deal_closed_won is not null',
    private.analytics_signed_rows(tg_op))) into zero_tenants, zero_days;
  perform private.analytics_drop_zeros(zero_tenants, zero_days);
  return null;
end
$$;

create or replace function private.analytics_ai_usage_inserted() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  zero_tenants uuid[];
  zero_days date[];
begin
  if private.analytics_in_bulk() then
    return null;
  end if;
  execute private.analytics_apply_sql(
    'with z as materialized (select t.tenant_id, private.analytics_tenant_timezone(t.tenant_id) as zone '
    'from (select distinct a.tenant_id from added a) t) '
    'select a.tenant_id, (a.created_at at time zone z.zone)::date as day, ''ai_cost'' as metric, null as channel, '
    'null as direction, null as actor, a.scenario as dimension, null as currency, 1 as count, '
    'coalesce(a.cost_usd, 0) as amount from added a join z on z.tenant_id = a.tenant_id') into zero_tenants, zero_days;
  perform private.analytics_drop_zeros(zero_tenants, zero_days);
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
    execute format('drop trigger if exists analytics_facts_inserted on public.%I', t);
    execute format('drop trigger if exists analytics_facts_updated on public.%I', t);
    execute format('drop trigger if exists analytics_facts_deleted on public.%I', t);
    execute format('create trigger analytics_facts_inserted after insert on public.%I referencing new table as added '
                   'for each statement execute function private.analytics_facts_changed()', t);
    execute format('create trigger analytics_facts_updated after update on public.%I '
                   'referencing old table as removed new table as added '
                   'for each statement execute function private.analytics_facts_changed()', t);
    execute format('create trigger analytics_facts_deleted after delete on public.%I referencing old table as removed '
                   'for each statement execute function private.analytics_facts_changed()', t);
  end loop;
end
$$;

drop trigger if exists analytics_journey_changed on public.analytics_lead_journeys;
drop trigger if exists analytics_journeys_inserted on public.analytics_lead_journeys;
drop trigger if exists analytics_journeys_updated on public.analytics_lead_journeys;
drop trigger if exists analytics_journeys_deleted on public.analytics_lead_journeys;
create trigger analytics_journeys_inserted after insert on public.analytics_lead_journeys
  referencing new table as added for each statement execute function private.analytics_journeys_changed();
create trigger analytics_journeys_updated after update on public.analytics_lead_journeys
  referencing old table as removed new table as added
  for each statement execute function private.analytics_journeys_changed();
create trigger analytics_journeys_deleted after delete on public.analytics_lead_journeys
  referencing old table as removed for each statement execute function private.analytics_journeys_changed();

drop trigger if exists analytics_ai_usage_added on public.ai_usage;
drop trigger if exists analytics_ai_usage_inserted on public.ai_usage;
create trigger analytics_ai_usage_inserted after insert on public.ai_usage
  referencing new table as added for each statement execute function private.analytics_ai_usage_inserted();

drop function if exists private.analytics_fact_changed();
drop function if exists private.analytics_journey_changed();
drop function if exists private.analytics_ai_usage_added();

revoke all on function private.analytics_apply_sql(text), private.analytics_drop_zeros(uuid[], date[]), private.analytics_signed_rows(text),
  private.analytics_facts_changed(), private.analytics_journeys_changed(), private.analytics_ai_usage_inserted()
  from public, anon, authenticated;
