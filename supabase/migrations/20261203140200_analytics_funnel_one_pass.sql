-- The funnel over the journeys in one pass (docs/analytics.md, "Funnel"; the same JSON as 20261202170500).
--
-- The first version made ten rows per lead with generate_series, found each row's time with a subquery over the
-- lead's stage array, then joined those rows to themselves for the previous stage and grouped them three more
-- times for the cohorts and breakdowns: 1.6 s on 20,000 leads. Now each journey gives one row with the ten
-- reached times (a later stage implies the earlier ones: the earliest of the stage and every later one, never
-- before creation) and ten hit flags (within the window); the per-stage times come from one unnest of those
-- arrays with the previous stage's time beside it, the cohorts and breakdowns from one group-by each over the
-- per-lead rows. The journeys are compact per-lead rows the fact triggers keep up to date and the rebuild
-- recomputes: the report reads no raw fact.

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

  with r as materialized (
    select j.lead_id, j.lead_created, l.source_channel, l.owner_id,
           date_trunc('week', (j.lead_created at time zone scope.zone))::date as entry_week,
           array[j.lead_created,
                 case when least(j.lead_qualified, j.first_contact, j.first_response, j.engaged, j.meeting_scheduled, j.meeting_completed, j.proposal_sent, j.negotiation, j.deal_closed_won) is not null then greatest(j.lead_created, least(j.lead_qualified, j.first_contact, j.first_response, j.engaged, j.meeting_scheduled, j.meeting_completed, j.proposal_sent, j.negotiation, j.deal_closed_won)) end,
                 case when least(j.first_contact, j.first_response, j.engaged, j.meeting_scheduled, j.meeting_completed, j.proposal_sent, j.negotiation, j.deal_closed_won) is not null then greatest(j.lead_created, least(j.first_contact, j.first_response, j.engaged, j.meeting_scheduled, j.meeting_completed, j.proposal_sent, j.negotiation, j.deal_closed_won)) end,
                 case when least(j.first_response, j.engaged, j.meeting_scheduled, j.meeting_completed, j.proposal_sent, j.negotiation, j.deal_closed_won) is not null then greatest(j.lead_created, least(j.first_response, j.engaged, j.meeting_scheduled, j.meeting_completed, j.proposal_sent, j.negotiation, j.deal_closed_won)) end,
                 case when least(j.engaged, j.meeting_scheduled, j.meeting_completed, j.proposal_sent, j.negotiation, j.deal_closed_won) is not null then greatest(j.lead_created, least(j.engaged, j.meeting_scheduled, j.meeting_completed, j.proposal_sent, j.negotiation, j.deal_closed_won)) end,
                 case when least(j.meeting_scheduled, j.meeting_completed, j.proposal_sent, j.negotiation, j.deal_closed_won) is not null then greatest(j.lead_created, least(j.meeting_scheduled, j.meeting_completed, j.proposal_sent, j.negotiation, j.deal_closed_won)) end,
                 case when least(j.meeting_completed, j.proposal_sent, j.negotiation, j.deal_closed_won) is not null then greatest(j.lead_created, least(j.meeting_completed, j.proposal_sent, j.negotiation, j.deal_closed_won)) end,
                 case when least(j.proposal_sent, j.negotiation, j.deal_closed_won) is not null then greatest(j.lead_created, least(j.proposal_sent, j.negotiation, j.deal_closed_won)) end,
                 case when least(j.negotiation, j.deal_closed_won) is not null then greatest(j.lead_created, least(j.negotiation, j.deal_closed_won)) end,
                 case when least(j.deal_closed_won) is not null then greatest(j.lead_created, least(j.deal_closed_won)) end] as at,
           j.lost, j.churned
    from public.analytics_lead_journeys j
    join public.leads l on l.id = j.lead_id and l.tenant_id = j.tenant_id
    where j.tenant_id = scope.tenant_id and j.lead_created >= scope.starts and j.lead_created < scope.ends
  ), h as materialized (
    select r.*,
           (r.at[1] is not null and r.at[1] <= r.lead_created + make_interval(days => p_window_days)) as h1,
           (r.at[2] is not null and r.at[2] <= r.lead_created + make_interval(days => p_window_days)) as h2,
           (r.at[3] is not null and r.at[3] <= r.lead_created + make_interval(days => p_window_days)) as h3,
           (r.at[4] is not null and r.at[4] <= r.lead_created + make_interval(days => p_window_days)) as h4,
           (r.at[5] is not null and r.at[5] <= r.lead_created + make_interval(days => p_window_days)) as h5,
           (r.at[6] is not null and r.at[6] <= r.lead_created + make_interval(days => p_window_days)) as h6,
           (r.at[7] is not null and r.at[7] <= r.lead_created + make_interval(days => p_window_days)) as h7,
           (r.at[8] is not null and r.at[8] <= r.lead_created + make_interval(days => p_window_days)) as h8,
           (r.at[9] is not null and r.at[9] <= r.lead_created + make_interval(days => p_window_days)) as h9,
           (r.at[10] is not null and r.at[10] <= r.lead_created + make_interval(days => p_window_days)) as h10
    from r
  ), u as (
    select k.ord, k.at, k.previous_at, h.lead_created,
           (k.at is not null and k.at <= h.lead_created + make_interval(days => p_window_days)) as hit
    from h, unnest(h.at, array[null::timestamptz] || h.at[1:9]) with ordinality as k(at, previous_at, ord)
  ), per_stage as (
    select u.ord,
           count(*) filter (where u.hit) as n,
           percentile_cont(0.5) within group (order by extract(epoch from u.at - u.lead_created) / 3600.0)
             filter (where u.hit) as median_from_created,
           avg(extract(epoch from u.at - u.lead_created) / 3600.0) filter (where u.hit) as mean_from_created,
           percentile_cont(0.5) within group (order by extract(epoch from u.at - u.previous_at) / 3600.0)
             filter (where u.hit and u.previous_at is not null) as median_from_previous,
           avg(extract(epoch from u.at - u.previous_at) / 3600.0)
             filter (where u.hit and u.previous_at is not null) as mean_from_previous
    from u group by u.ord
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
    select count(*) filter (where h.lost is not null
                              and h.lost <= h.lead_created + make_interval(days => p_window_days)) as lost,
           count(*) filter (where h.churned is not null
                              and h.churned <= h.lead_created + make_interval(days => p_window_days)) as churned,
           count(*) as leads
    from h
  ), groups as (
    select 'week' as kind, h.entry_week::text as key, count(*) filter (where h1), count(*) filter (where h2), count(*) filter (where h3), count(*) filter (where h4), count(*) filter (where h5), count(*) filter (where h6), count(*) filter (where h7), count(*) filter (where h8), count(*) filter (where h9), count(*) filter (where h10) from h group by h.entry_week
    union all
    select 'source_channel', h.source_channel, count(*) filter (where h1), count(*) filter (where h2), count(*) filter (where h3), count(*) filter (where h4), count(*) filter (where h5), count(*) filter (where h6), count(*) filter (where h7), count(*) filter (where h8), count(*) filter (where h9), count(*) filter (where h10) from h group by h.source_channel
    union all
    select 'owner', coalesce(h.owner_id::text, 'none'), count(*) filter (where h1), count(*) filter (where h2), count(*) filter (where h3), count(*) filter (where h4), count(*) filter (where h5), count(*) filter (where h6), count(*) filter (where h7), count(*) filter (where h8), count(*) filter (where h9), count(*) filter (where h10) from h group by h.owner_id
  ), group_rows as (
    select g.kind, g.key, jsonb_build_object('lead_created', g.c1, 'lead_qualified', g.c2, 'first_contact', g.c3, 'first_response', g.c4, 'engaged', g.c5, 'meeting_scheduled', g.c6, 'meeting_completed', g.c7, 'proposal_sent', g.c8, 'negotiation', g.c9, 'deal_closed_won', g.c10) as counts, g.c1 as leads, g.c10 as won
    from groups as g(kind, key, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10)
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
