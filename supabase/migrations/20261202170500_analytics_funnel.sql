-- The funnel report (docs/analytics.md, "Funnel"): security invoker, so RLS applies to a member's call.
--
-- public.analytics_funnel(p_from, p_to, p_tz, p_window_days, p_tenant_id) → jsonb. The cohort is the leads
-- created on the days [p_from, p_to] in the time zone; a lead counts at a stage when it reached that stage, or
-- any later one, within p_window_days of its creation (a later stage implies the earlier ones, so counts never
-- grow down the funnel). Per stage: count, step_conversion (of the previous stage), overall_conversion (of
-- lead_created), drop_off (leads of the previous stage that did not reach this one) and drop_off_rate, and
-- the median and mean hours to reach it from creation and from the previous stage. Exits: lost and churned
-- within the window. Cohorts by the ISO week of entry, breakdowns by source channel and by owner.

create or replace function public.analytics_funnel(
  p_from date default null,
  p_to date default null,
  p_tz text default null,
  p_window_days integer default 90,
  p_tenant_id uuid default null
) returns jsonb
language plpgsql stable security invoker
set search_path = ''
as $$
declare
  scope record;
  result jsonb;
  stages text[] := private.analytics_stages();
begin
  if p_window_days is null or p_window_days < 1 or p_window_days > 3650 then
    raise exception 'analytics_funnel.p_window_days: must be between 1 and 3650 (got %)', p_window_days
      using errcode = '22023';
  end if;
  select * into scope from private.analytics_scope('analytics_funnel', p_tenant_id, p_from, p_to, p_tz);

  with j as (
    select j.lead_id, j.lead_created, l.source_channel, l.owner_id,
           date_trunc('week', (j.lead_created at time zone scope.zone))::date as entry_week,
           array[j.lead_created, j.lead_qualified, j.first_contact, j.first_response, j.engaged,
                 j.meeting_scheduled, j.meeting_completed, j.proposal_sent, j.negotiation,
                 j.deal_closed_won] as at,
           j.lost, j.churned
    from public.analytics_lead_journeys j
    join public.leads l on l.id = j.lead_id and l.tenant_id = j.tenant_id
    where j.tenant_id = scope.tenant_id and j.lead_created >= scope.starts and j.lead_created < scope.ends
  ), reached as (
    -- the time each lead reached each stage (or a later one), when within the window
    select j.lead_id, j.source_channel, j.owner_id, j.entry_week, j.lead_created, k.ord,
           case when k.ord = 1 then j.lead_created
                else (select greatest(j.lead_created, min(v)) from unnest(j.at[k.ord:10]) v having min(v) is not null) end as at
    from j cross join generate_series(1, 10) as k(ord)
  ), counted as (
    select r.*,
           r.at is not null and r.at <= r.lead_created + make_interval(days => p_window_days) as hit
    from reached r
  ), paired as (
    select c.*, p.at as previous_at
    from counted c
    left join counted p on p.lead_id = c.lead_id and p.ord = c.ord - 1
  ), per_stage as (
    select p.ord,
           count(*) filter (where p.hit) as n,
           percentile_cont(0.5) within group (order by extract(epoch from p.at - p.lead_created) / 3600.0)
             filter (where p.hit) as median_from_created,
           avg(extract(epoch from p.at - p.lead_created) / 3600.0) filter (where p.hit) as mean_from_created,
           percentile_cont(0.5) within group (order by extract(epoch from p.at - p.previous_at) / 3600.0)
             filter (where p.hit and p.previous_at is not null) as median_from_previous,
           avg(extract(epoch from p.at - p.previous_at) / 3600.0)
             filter (where p.hit and p.previous_at is not null) as mean_from_previous
    from paired p group by p.ord
  ), stage_rows as (
    select s.ord, jsonb_build_object(
             'stage', stages[s.ord],
             'count', s.n,
             'step_conversion', case when s.ord > 1 and prev.n > 0 then s.n::double precision / prev.n end,
             'overall_conversion', case when first_.n > 0 then s.n::double precision / first_.n end,
             'drop_off', case when s.ord > 1 then prev.n - s.n end,
             'drop_off_rate', case when s.ord > 1 and prev.n > 0 then (prev.n - s.n)::double precision / prev.n end,
             'median_hours_from_created', s.median_from_created,
             'mean_hours_from_created', s.mean_from_created,
             'median_hours_from_previous', s.median_from_previous,
             'mean_hours_from_previous', s.mean_from_previous) as row_
    from per_stage s
    left join per_stage prev on prev.ord = s.ord - 1
    cross join (select n from per_stage where ord = 1) first_
  ), exits as (
    select count(*) filter (where j.lost is not null
                              and j.lost <= j.lead_created + make_interval(days => p_window_days)) as lost,
           count(*) filter (where j.churned is not null
                              and j.churned <= j.lead_created + make_interval(days => p_window_days)) as churned,
           count(*) as leads
    from j
  ), groups as (
    select 'week' as kind, c.entry_week::text as key, c.ord, count(*) filter (where c.hit) as n
    from counted c group by c.entry_week, c.ord
    union all
    select 'source_channel', c.source_channel, c.ord, count(*) filter (where c.hit) from counted c
    group by c.source_channel, c.ord
    union all
    select 'owner', coalesce(c.owner_id::text, 'none'), c.ord, count(*) filter (where c.hit) from counted c
    group by c.owner_id, c.ord
  ), group_rows as (
    select g.kind, g.key,
           jsonb_object_agg(stages[g.ord], g.n) as counts,
           max(g.n) filter (where g.ord = 1) as leads,
           max(g.n) filter (where g.ord = 10) as won
    from groups g group by g.kind, g.key
  )
  select jsonb_build_object(
    'from', scope.first_day, 'to', scope.last_day, 'tz', scope.zone, 'window_days', p_window_days,
    'leads', (select e.leads from exits e),
    'stages', coalesce((select jsonb_agg(r.row_ order by r.ord) from stage_rows r),
                       (select jsonb_agg(jsonb_build_object('stage', st, 'count', 0, 'step_conversion', null,
                                 'overall_conversion', null, 'drop_off', case when o > 1 then 0 end,
                                 'drop_off_rate', null, 'median_hours_from_created', null,
                                 'mean_hours_from_created', null, 'median_hours_from_previous', null,
                                 'mean_hours_from_previous', null) order by o)
                        from unnest(stages) with ordinality as u(st, o))),
    'exits', (select jsonb_build_object(
                'lost', jsonb_build_object('count', e.lost,
                                           'rate', case when e.leads > 0 then e.lost::double precision / e.leads end),
                'churned', jsonb_build_object('count', e.churned,
                                              'rate', case when e.leads > 0 then e.churned::double precision / e.leads end))
              from exits e),
    'cohorts', coalesce((select jsonb_agg(jsonb_build_object('week', g.key, 'leads', g.leads, 'won', g.won,
                                  'conversion', case when g.leads > 0 then g.won::double precision / g.leads end,
                                  'stages', g.counts) order by g.key)
                         from group_rows g where g.kind = 'week'), '[]'::jsonb),
    'by_source_channel', coalesce((select jsonb_agg(jsonb_build_object('source_channel', g.key, 'leads', g.leads,
                                  'won', g.won,
                                  'conversion', case when g.leads > 0 then g.won::double precision / g.leads end,
                                  'stages', g.counts) order by g.leads desc, g.key)
                         from group_rows g where g.kind = 'source_channel'), '[]'::jsonb),
    'by_owner', coalesce((select jsonb_agg(jsonb_build_object('owner_id', nullif(g.key, 'none'), 'leads', g.leads,
                                  'won', g.won,
                                  'conversion', case when g.leads > 0 then g.won::double precision / g.leads end,
                                  'stages', g.counts) order by g.leads desc, g.key)
                         from group_rows g where g.kind = 'owner'), '[]'::jsonb))
  into result;
  return result;
end
$$;

revoke all on function public.analytics_funnel(date, date, text, integer, uuid) from public, anon;
grant execute on function public.analytics_funnel(date, date, text, integer, uuid) to authenticated, service_role;

comment on function public.analytics_funnel(date, date, text, integer, uuid) is
  'The 10-stage funnel of the leads created in [p_from, p_to] (tenant time zone unless p_tz), conversions within '
  'p_window_days; see docs/analytics.md.';
