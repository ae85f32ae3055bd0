-- The sales metrics (docs/analytics.md, "Sales metrics"): one security-invoker function, so RLS applies to a
-- member's call over PostgREST, answering JSON whose keys are the definitions' names.
--
-- public.analytics_metrics(p_from, p_to, p_tz, p_tenant_id, p_model) → jsonb. What it reads:
--   analytics_daily_rollups   the days [p_from, p_to] (the tenant's days, `rollup_tz`): messages by channel and
--                             direction, reply rate, win rate, meetings booked, per-step sequence performance,
--                             autopilot outcomes, AI cost; nothing older than the range is read
--   analytics_lead_journeys   per-lead facts where a distribution is needed: speed to lead (the leads created in
--                             the range), sales cycle (the deals won in the range)
--   leads (open ones) and analytics_stage_probabilities   the pipeline as it stands now
--   touchpoints of the won deals of the range (one index range per deal), for AI ROI by the linear model;
--   another p_model reads analytics_touch_credits (the attribution path) instead

create or replace function public.analytics_metrics(
  p_from date default null,
  p_to date default null,
  p_tz text default null,
  p_tenant_id uuid default null,
  p_model text default 'linear'
) returns jsonb
language plpgsql stable security invoker
set search_path = ''
as $$
declare
  scope record;
  rollup_zone text;
  v_speed jsonb;
  v_messages jsonb;
  v_replies jsonb;
  v_win jsonb;
  won_n bigint;
  lost_n bigint;
  win_rate double precision;
  won_by_currency jsonb;
  v_pipeline jsonb;
  opportunities bigint;
  cycle_days double precision;
  v_meetings bigint;
  v_steps jsonb;
  v_autopilot jsonb;
  v_ai_cost jsonb;
  ai_cost_total numeric;
  v_roi jsonb;
  v_deals jsonb;
  open_statuses constant text[] := array['new', 'contacted', 'qualified', 'proposal', 'negotiation'];
begin
  perform private.analytics_check_model('analytics_metrics', p_model, false);
  select * into scope from private.analytics_scope('analytics_metrics', p_tenant_id, p_from, p_to, p_tz);
  rollup_zone := private.analytics_tenant_timezone(scope.tenant_id);

  -- Speed to lead: first contact (first outbound message or the move to contacted) after creation.
  with j as (
    -- (greatest() skips nulls: a lead never contacted keeps its null)
    select case when j.first_contact is not null
                then greatest(0, extract(epoch from j.first_contact - j.lead_created)::double precision) / 60.0 end
           as minutes
    from public.analytics_lead_journeys j
    where j.tenant_id = scope.tenant_id and j.lead_created >= scope.starts and j.lead_created < scope.ends
  ), t as (
    select count(*) as leads, count(j.minutes) as contacted,
           count(*) filter (where j.minutes <= 5) as within_5, count(*) filter (where j.minutes <= 60) as within_60,
           percentile_cont(0.5) within group (order by j.minutes) as median_, avg(j.minutes) as mean_,
           array[count(*) filter (where j.minutes <= 5),
                 count(*) filter (where j.minutes > 5 and j.minutes <= 15),
                 count(*) filter (where j.minutes > 15 and j.minutes <= 60),
                 count(*) filter (where j.minutes > 60 and j.minutes <= 240),
                 count(*) filter (where j.minutes > 240 and j.minutes <= 1440),
                 count(*) filter (where j.minutes > 1440 and j.minutes <= 4320),
                 count(*) filter (where j.minutes > 4320)] as per_bucket
    from j
  )
  select jsonb_build_object(
    'leads', t.leads, 'contacted', t.contacted, 'not_contacted', t.leads - t.contacted,
    'median_minutes', t.median_, 'mean_minutes', t.mean_,
    'within_5_minutes', case when t.leads > 0 then t.within_5::double precision / t.leads end,
    'within_1_hour', case when t.leads > 0 then t.within_60::double precision / t.leads end,
    'buckets', (select jsonb_agg(jsonb_build_object('bucket', b.bucket, 'from_minutes', b.lo, 'to_minutes', b.hi,
                                                    'leads', t.per_bucket[b.ord],
                                                    'share', case when t.leads > 0
                                                                  then t.per_bucket[b.ord]::double precision / t.leads end)
                                 order by b.ord)
                from (values (1, 'up_to_5_minutes', 0, 5), (2, '5_to_15_minutes', 5, 15),
                             (3, '15_to_60_minutes', 15, 60), (4, '1_to_4_hours', 60, 240),
                             (5, '4_to_24_hours', 240, 1440), (6, '1_to_3_days', 1440, 4320),
                             (7, 'over_3_days', 4320, null)) as b(ord, bucket, lo, hi)))
  into v_speed
  from t;

  -- Messages by channel and direction (and who sent them).
  with r as (
    select r.channel, r.direction, r.actor, sum(r.count) as n, sum(r.amount) as cost
    from public.analytics_daily_rollups r
    where r.tenant_id = scope.tenant_id and r.day between scope.first_day and scope.last_day
      and r.metric = 'touchpoints'
    group by r.channel, r.direction, r.actor
  )
  select coalesce(jsonb_agg(jsonb_build_object('channel', x.channel, 'direction', x.direction, 'messages', x.n,
                                               'by_actor', x.actors, 'ai_cost_usd', x.cost)
                            order by x.channel, x.direction), '[]'::jsonb)
  into v_messages
  from (select r.channel, r.direction, sum(r.n) as n, sum(r.cost) as cost, jsonb_object_agg(r.actor, r.n) as actors
        from r group by r.channel, r.direction) x;

  -- Reply rate: outbound messages answered by the lead (not by an auto-reply) before the next outbound one.
  with r as (
    select r.metric, r.channel, r.actor, sum(r.count) as n
    from public.analytics_daily_rollups r
    where r.tenant_id = scope.tenant_id and r.day between scope.first_day and scope.last_day
      and r.metric in ('touchpoints', 'replies', 'auto_replies')
    group by r.metric, r.channel, r.actor
  ), s as (
    select r.channel, r.actor,
           coalesce(sum(r.n) filter (where r.metric = 'touchpoints' and r.actor <> 'lead'), 0) as sends,
           coalesce(sum(r.n) filter (where r.metric = 'replies'), 0) as replied
    from r where r.actor <> 'lead' group by r.channel, r.actor
  ), by_channel as (
    select s.channel, sum(s.sends) as sends, sum(s.replied) as replied from s group by s.channel
  ), by_actor as (
    select s.actor, sum(s.sends) as sends, sum(s.replied) as replied from s group by s.actor
  ), totals as (
    select coalesce(sum(s.sends), 0) as sends, coalesce(sum(s.replied), 0) as replied from s
  ), inbound as (
    select coalesce(sum(r.n) filter (where r.metric = 'touchpoints' and r.actor = 'lead'), 0) as inbound,
           coalesce(sum(r.n) filter (where r.metric = 'auto_replies'), 0) as auto_replies
    from r
  )
  select jsonb_build_object(
    'sends', t.sends, 'replied', t.replied,
    'rate', case when t.sends > 0 then t.replied::double precision / t.sends end,
    'inbound', i.inbound, 'auto_replies', i.auto_replies, 'inbound_excluding_auto_replies', i.inbound - i.auto_replies,
    'by_channel', coalesce((select jsonb_agg(jsonb_build_object('channel', c.channel, 'sends', c.sends,
                              'replied', c.replied,
                              'rate', case when c.sends > 0 then c.replied::double precision / c.sends end)
                            order by c.sends desc, c.channel) from by_channel c), '[]'::jsonb),
    'by_actor', coalesce((select jsonb_agg(jsonb_build_object('actor', a.actor, 'sends', a.sends,
                            'replied', a.replied,
                            'rate', case when a.sends > 0 then a.replied::double precision / a.sends end)
                          order by a.sends desc, a.actor) from by_actor a), '[]'::jsonb))
  into v_replies
  from totals t, inbound i;

  -- Win rate: won (the journeys' wins, as the funnel and attribution count them) of won + lost (moves to lost).
  with r as (
    select r.metric, r.currency, sum(r.count) as n, sum(r.amount) as amount
    from public.analytics_daily_rollups r
    where r.tenant_id = scope.tenant_id and r.day between scope.first_day and scope.last_day
      and r.metric in ('deals_won', 'deals_lost')
    group by r.metric, r.currency
  ), c as (
    select r.currency,
           coalesce(sum(r.amount) filter (where r.metric = 'deals_won'), 0) as won,
           coalesce(sum(r.amount) filter (where r.metric = 'deals_lost'), 0) as lost,
           coalesce(sum(r.n) filter (where r.metric = 'deals_won'), 0) as won_n
    from r where r.currency <> '' group by r.currency
  )
  select coalesce((select sum(r.n) from r where r.metric = 'deals_won'), 0),
         coalesce((select sum(r.n) from r where r.metric = 'deals_lost'), 0),
         coalesce((select jsonb_object_agg(c.currency, jsonb_build_object(
                     'won', c.won, 'lost', c.lost,
                     'rate', case when c.won + c.lost > 0 then (c.won / (c.won + c.lost))::double precision end))
                   from c), '{}'::jsonb),
         coalesce((select jsonb_object_agg(c.currency, jsonb_build_object('deals', c.won_n, 'value', c.won))
                   from c where c.won_n > 0), '{}'::jsonb)
  into won_n, lost_n, v_win, won_by_currency;
  win_rate := case when won_n + lost_n > 0 then won_n::double precision / (won_n + lost_n) end;
  v_win := jsonb_build_object('won', won_n, 'lost', lost_n, 'rate', win_rate, 'value', v_win);

  -- Pipeline now: open deals by status, their value and the value weighted by the tenant's probabilities.
  with p as (
    select l.status, l.currency, count(*) as n, sum(l.deal_value) as value,
           count(*) filter (where l.deal_value is null) as without_value
    from public.leads l
    where l.tenant_id = scope.tenant_id and l.status = any (open_statuses)
    group by l.status, l.currency
  ), prob as (
    select s.status, s.ord,
           coalesce(sp.probability, private.analytics_default_stage_probability(s.status)) as probability
    from unnest(open_statuses) with ordinality as s(status, ord)
    left join public.analytics_stage_probabilities sp on sp.tenant_id = scope.tenant_id and sp.status = s.status
  ), per_status as (
    select pr.status, pr.ord, pr.probability, coalesce(sum(p.n), 0) as n,
           coalesce(jsonb_object_agg(p.currency, p.value) filter (where p.currency is not null and p.value is not null),
                    '{}'::jsonb) as value,
           coalesce(jsonb_object_agg(p.currency, p.value * pr.probability)
                      filter (where p.currency is not null and p.value is not null), '{}'::jsonb) as weighted
    from prob pr left join p on p.status = pr.status
    group by pr.status, pr.ord, pr.probability
  ), per_currency as (
    select p.currency, sum(p.value) as value, sum(p.value * pr.probability) as weighted
    from p join prob pr on pr.status = p.status
    where p.currency is not null and p.value is not null group by p.currency
  )
  select jsonb_build_object(
    'as_of', now(),
    'deals', coalesce((select sum(p.n) from p), 0),
    'deals_without_value', coalesce((select sum(p.without_value) from p), 0),
    'value', coalesce((select jsonb_object_agg(c.currency, c.value) from per_currency c), '{}'::jsonb),
    'weighted_value', coalesce((select jsonb_object_agg(c.currency, c.weighted) from per_currency c), '{}'::jsonb),
    'by_status', (select jsonb_agg(jsonb_build_object('status', s.status, 'probability', s.probability::double precision,
                                                      'deals', s.n, 'value', s.value, 'weighted_value', s.weighted)
                                   order by s.ord) from per_status s)),
         (select coalesce(sum(p.n), 0) from p where p.status in ('qualified', 'proposal', 'negotiation'))
  into v_pipeline, opportunities;

  -- Sales velocity: opportunities now × win rate × average won deal ÷ average sales cycle (days).
  select avg(extract(epoch from j.deal_closed_won - j.lead_created)::double precision / 86400.0)
  into cycle_days
  from public.analytics_lead_journeys j
  where j.tenant_id = scope.tenant_id and j.deal_closed_won >= scope.starts and j.deal_closed_won < scope.ends;

  -- Meetings booked.
  select coalesce(sum(r.count), 0) into v_meetings
  from public.analytics_daily_rollups r
  where r.tenant_id = scope.tenant_id and r.day between scope.first_day and scope.last_day
    and r.metric = 'meetings_booked';

  -- Per sequence step: sends and the share replied.
  with r as (
    select r.dimension as step, sum(r.count) filter (where r.metric = 'step_sends') as sends,
           sum(r.count) filter (where r.metric = 'replies') as replied
    from public.analytics_daily_rollups r
    where r.tenant_id = scope.tenant_id and r.day between scope.first_day and scope.last_day
      and r.metric in ('step_sends', 'replies') and r.dimension <> ''
    group by r.dimension
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'sequence_id', st.sequence_id, 'sequence', sq.name, 'step_id', r.step, 'position', st.position,
           'kind', st.kind, 'channel', st.channel, 'sends', coalesce(r.sends, 0), 'replied', coalesce(r.replied, 0),
           'reply_rate', case when r.sends > 0 then coalesce(r.replied, 0)::double precision / r.sends end)
         order by sq.name nulls last, st.sequence_id, st.position, r.step), '[]'::jsonb)
  into v_steps
  from r
  left join public.sequence_steps st on st.id = r.step::uuid and st.tenant_id = scope.tenant_id
  left join public.sequences sq on sq.id = st.sequence_id and sq.tenant_id = scope.tenant_id;

  -- Autopilot: what became of its actions created in the range.
  with r as (
    select r.dimension as outcome, sum(r.count) as n, sum(r.amount) as edits
    from public.analytics_daily_rollups r
    where r.tenant_id = scope.tenant_id and r.day between scope.first_day and scope.last_day
      and r.metric = 'autopilot'
    group by r.dimension
  ), c as (
    select coalesce(sum(r.n), 0) as actions,
           coalesce(sum(r.n) filter (where r.outcome = 'automatic'), 0) as automatic,
           coalesce(sum(r.n) filter (where r.outcome = 'approved'), 0) as approved,
           coalesce(sum(r.n) filter (where r.outcome = 'edited'), 0) as edited,
           coalesce(sum(r.n) filter (where r.outcome = 'rejected'), 0) as rejected,
           coalesce(sum(r.n) filter (where r.outcome = 'expired'), 0) as expired,
           coalesce(sum(r.n) filter (where r.outcome = 'failed'), 0) as failed,
           coalesce(sum(r.n) filter (where r.outcome = 'pending'), 0) as pending,
           coalesce(sum(r.edits) filter (where r.outcome = 'edited'), 0) as edit_distance
    from r
  )
  select jsonb_build_object(
    'actions', c.actions, 'automatic', c.automatic, 'approved', c.approved, 'edited', c.edited,
    'rejected', c.rejected, 'expired', c.expired, 'failed', c.failed, 'pending', c.pending,
    'reviewed', c.approved + c.edited + c.rejected,
    'acceptance_rate', case when c.approved + c.edited + c.rejected > 0
                            then (c.approved + c.edited)::double precision / (c.approved + c.edited + c.rejected) end,
    'edit_rate', case when c.approved + c.edited + c.rejected > 0
                      then c.edited::double precision / (c.approved + c.edited + c.rejected) end,
    'mean_edit_distance', case when c.edited > 0 then c.edit_distance::double precision / c.edited end)
  into v_autopilot
  from c;

  -- AI cost: per new lead, per won deal, per scenario.
  with r as (
    select r.dimension as scenario, sum(r.count) as calls, sum(r.amount) as cost
    from public.analytics_daily_rollups r
    where r.tenant_id = scope.tenant_id and r.day between scope.first_day and scope.last_day
      and r.metric = 'ai_cost'
    group by r.dimension
  ), leads_ as (
    select coalesce(sum(r.count), 0) as n
    from public.analytics_daily_rollups r
    where r.tenant_id = scope.tenant_id and r.day between scope.first_day and scope.last_day
      and r.metric = 'stage_entries' and r.dimension = 'lead_created'
  ), t as (
    select coalesce(sum(r.cost), 0) as cost, coalesce(sum(r.calls), 0) as calls from r
  )
  select jsonb_build_object(
    'cost_usd', t.cost, 'calls', t.calls,
    'leads', l.n, 'per_lead', case when l.n > 0 then t.cost / l.n end,
    'won_deals', won_n, 'per_won_deal', case when won_n > 0 then t.cost / won_n end,
    'by_scenario', coalesce((select jsonb_agg(jsonb_build_object(
                      'scenario', r.scenario, 'calls', r.calls, 'cost_usd', r.cost,
                      'per_call', case when r.calls > 0 then r.cost / r.calls end,
                      'share', case when t.cost > 0 then (r.cost / t.cost)::double precision end)
                    order by r.cost desc, r.scenario) from r), '[]'::jsonb)),
         t.cost
  into v_ai_cost, ai_cost_total
  from t, leads_ l;

  -- AI ROI: the won deals' revenue credited (by p_model) to AI-assisted touches, per USD of AI cost. Per won deal
  -- its AI-assisted and other credit; linear (the default) is counted straight from the deal's touches (one
  -- index range per deal), the other models come from analytics_touch_credits.
  if p_model = 'linear' then
    select coalesce(jsonb_agg(jsonb_build_object('value', w.won_value, 'currency', w.won_currency,
                                                 'ai', case when k.n > 0 then k.ai::double precision / k.n else 0 end,
                                                 'other', case when k.n > 0 then 1 - k.ai::double precision / k.n
                                                               else 1 end)), '[]'::jsonb)
    into v_deals
    from public.analytics_lead_journeys w
    cross join lateral (
      select count(*) as n, count(*) filter (where t.actor = 'autopilot' or t.ai_cost_usd > 0) as ai
      from public.analytics_touchpoints t
      where t.tenant_id = scope.tenant_id and t.lead_id = w.lead_id and t.occurred_at <= w.deal_closed_won
    ) k
    where w.tenant_id = scope.tenant_id and w.deal_closed_won >= scope.starts and w.deal_closed_won < scope.ends;
  else
    select coalesce(jsonb_agg(jsonb_build_object('value', d.value, 'currency', d.currency, 'ai', d.ai,
                                                 'other', d.other)), '[]'::jsonb)
    into v_deals
    from (
      select c.lead_id, min(c.value) as value, min(c.currency) as currency,
             coalesce(sum(c.credit) filter (where c.actor = 'autopilot' or coalesce(t.ai_cost_usd, 0) > 0), 0) as ai,
             coalesce(sum(c.credit) filter (where not (c.actor = 'autopilot' or coalesce(t.ai_cost_usd, 0) > 0)), 0)
               as other
      from public.analytics_touch_credits(p_model, scope.first_day, scope.last_day, scope.zone, scope.tenant_id) c
      left join lateral (select t.ai_cost_usd from public.analytics_touchpoints t
                         where t.message_id = c.message_id and t.tenant_id = scope.tenant_id) t on true
      group by c.lead_id
    ) d;
  end if;

  with d as (
    select * from jsonb_to_recordset(v_deals) as d(value numeric, currency text, ai double precision,
                                                  other double precision)
  ), per_currency as (
    select d.currency, sum(d.value * d.ai::numeric) as ai_revenue, sum(d.value * d.other::numeric) as other_revenue
    from d where d.value is not null and d.currency is not null group by d.currency
  )
  select jsonb_build_object(
    'model', p_model,
    'won_deals', (select count(*) from d),
    'ai_assisted', jsonb_build_object(
       'conversions', coalesce((select sum(d.ai) from d), 0),
       'revenue', coalesce((select jsonb_object_agg(p.currency, p.ai_revenue) from per_currency p), '{}'::jsonb)),
    'other', jsonb_build_object(
       'conversions', coalesce((select sum(d.other) from d), 0),
       'revenue', coalesce((select jsonb_object_agg(p.currency, p.other_revenue) from per_currency p), '{}'::jsonb)),
    'cost_usd', ai_cost_total,
    'roi', case when ai_cost_total > 0
                then coalesce((select jsonb_object_agg(p.currency, (p.ai_revenue / ai_cost_total)::double precision)
                               from per_currency p), '{}'::jsonb) end)
  into v_roi;

  return jsonb_build_object(
    'from', scope.first_day, 'to', scope.last_day, 'tz', scope.zone, 'rollup_tz', rollup_zone,
    'speed_to_lead', v_speed,
    'reply_rate', v_replies,
    'win_rate', v_win,
    'pipeline', v_pipeline,
    'sales_velocity', jsonb_build_object(
      'opportunities', opportunities, 'win_rate', win_rate, 'cycle_days', cycle_days,
      'average_deal', coalesce((select jsonb_object_agg(k, (w ->> 'value')::numeric / (w ->> 'deals')::numeric)
                                from jsonb_each(won_by_currency) as e(k, w)), '{}'::jsonb),
      'per_day', case when cycle_days > 0 and win_rate is not null then
                   coalesce((select jsonb_object_agg(k, opportunities * win_rate
                                                        * ((w ->> 'value')::numeric / (w ->> 'deals')::numeric)::double precision
                                                        / cycle_days)
                             from jsonb_each(won_by_currency) as e(k, w)), '{}'::jsonb) end),
    'meetings_booked', v_meetings,
    'messages_by_channel', v_messages,
    'sequence_steps', v_steps,
    'autopilot', v_autopilot,
    'ai_cost', v_ai_cost,
    'ai_roi', v_roi);
end
$$;

revoke all on function public.analytics_metrics(date, date, text, uuid, text) from public, anon;
grant execute on function public.analytics_metrics(date, date, text, uuid, text) to authenticated, service_role;

comment on function public.analytics_metrics(date, date, text, uuid, text) is
  'Sales metrics for the days [p_from, p_to]: speed to lead, reply rate, win rate, pipeline, velocity, meetings, '
  'messages, sequence steps, autopilot, AI cost and ROI; see docs/analytics.md "Sales metrics".';
