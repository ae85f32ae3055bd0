-- Attribution of won deals to touches (docs/analytics.md, "Attribution"): security invoker, RLS applies.
--
-- A conversion is a lead whose deal closed won on the days [p_from, p_to] (time zone as the funnel's). Its
-- path is its touchpoints (messages in and out) up to the win, in time order; a lead with none gets one
-- touch for how it came in (channel = its source_channel, actor `none`, at its creation). Models:
--   first_touch, last_touch, linear (1/n), time_decay (2^(−Δt/7 days) to the win, normalised),
--   u_shaped (40 % first, 40 % last, 20 % spread over the middle; 50/50 with two touches; all with one),
--   w_shaped (30 % each to the first touch, the lead-creation touch and the opportunity touch, 10 % spread
--             over the others; with no others the 10 % is shared by the three roles),
--   full_path (22.5 % each to those three and the closing touch (the last), 10 % over the others; with no
--             others each role gets 25 %).
-- A role is its touch's when several fall on one touch (their shares add up). The lead-creation touch is the
-- last touch at or before the lead's creation (the first touch when none was); the opportunity touch the last
-- at or before the lead first reached meeting_scheduled or a later stage. Every conversion's credits sum to 1.
-- `markov` is computed from public.analytics_touch_paths by salesflow/analytics/attribution.py.
--
--   analytics_touch_credits(model, from, to, tz, tenant)  one row per touch of every conversion with its credit
--   analytics_attribution(model, dimension, from, to, tz, tenant)  credits and revenue per channel | actor |
--        campaign (the lead's source) | sequence, as jsonb
--   analytics_touch_paths(dimension, from, to, tz, tenant)  the distinct paths with their conversions (the
--        won deals above) and non-conversions (leads created in the range and not won by its end), as jsonb
--
-- At scale: each touch carries its conversion's columns (CTEs carry no statistics: joining a CTE of touches
-- back to one of conversions ran as nested loops, minutes for 4,000 won deals), untouched conversions probe
-- the touchpoints' index, and paths are one group-by. A lead not won in the range is a non-conversion.

create or replace function private.analytics_check_model(p_function text, p_model text, p_with_markov boolean)
returns void
language plpgsql immutable
set search_path = ''
as $$
begin
  if p_model is null or p_model not in ('first_touch', 'last_touch', 'linear', 'time_decay', 'u_shaped', 'w_shaped',
                                        'full_path', 'markov')
     or (p_model = 'markov' and not p_with_markov) then
    raise exception '%.p_model: must be one of first_touch, last_touch, linear, time_decay, u_shaped, w_shaped, '
                    'full_path% (got %)', p_function, case when p_with_markov then ', markov' else '' end,
                    coalesce(quote_literal(p_model), 'null')
      using errcode = '22023';
  end if;
end
$$;

create or replace function private.analytics_check_dimension(p_function text, p_dimension text)
returns void
language plpgsql immutable
set search_path = ''
as $$
begin
  if p_dimension is null or p_dimension not in ('channel', 'actor', 'campaign', 'sequence') then
    raise exception '%.p_dimension: must be one of channel, actor, campaign, sequence (got %)', p_function,
      coalesce(quote_literal(p_dimension), 'null')
      using errcode = '22023';
  end if;
end
$$;

create or replace function public.analytics_touch_credits(
  p_model text default 'linear',
  p_from date default null,
  p_to date default null,
  p_tz text default null,
  p_tenant_id uuid default null
) returns table (
  lead_id uuid, won_at timestamptz, value numeric, currency text, touch integer, touches integer, message_id uuid,
  channel text, actor text, sequence_id uuid, campaign text, occurred_at timestamptz, credit double precision
)
language plpgsql stable security invoker
set search_path = ''
as $$
declare
  scope record;
begin
  perform private.analytics_check_model('analytics_touch_credits', p_model, false);
  select * into scope from private.analytics_scope('analytics_touch_credits', p_tenant_id, p_from, p_to, p_tz);
  return query
  with conv as (
    select j.lead_id, j.deal_closed_won as won_at, j.won_value, j.won_currency, j.lead_created,
           least(j.meeting_scheduled, j.meeting_completed, j.proposal_sent, j.negotiation, j.deal_closed_won) as opp_at,
           coalesce(l.source, 'none') as source, l.source_channel
    from public.analytics_lead_journeys j
    join public.leads l on l.id = j.lead_id and l.tenant_id = j.tenant_id
    where j.tenant_id = scope.tenant_id and j.deal_closed_won >= scope.starts and j.deal_closed_won < scope.ends
  ), touches_ as (
    -- each touch carries its conversion's columns, so nothing joins two CTEs (no statistics: nested loops)
    select c.lead_id, c.won_at, c.won_value, c.won_currency, c.source, c.lead_created, c.opp_at,
           t.message_id, t.channel::text as channel, t.actor, t.sequence_id, t.occurred_at
    from conv c
    join public.analytics_touchpoints t
      on t.tenant_id = scope.tenant_id and t.lead_id = c.lead_id and t.occurred_at <= c.won_at
    union all
    select c.lead_id, c.won_at, c.won_value, c.won_currency, c.source, c.lead_created, c.opp_at,
           null::uuid, c.source_channel, 'none', null::uuid, c.lead_created
    from conv c
    where not exists (select 1 from public.analytics_touchpoints t
                      where t.tenant_id = scope.tenant_id and t.lead_id = c.lead_id and t.occurred_at <= c.won_at)
  ), numbered as (
    select t.*,
           row_number() over (partition by t.lead_id order by t.occurred_at, t.message_id nulls first)::integer as i,
           count(*) over (partition by t.lead_id)::integer as n
    from touches_ t
  ), marked as (
    select nb.*,
           coalesce(max(nb.i) filter (where nb.occurred_at <= nb.lead_created) over w, 1) as li,
           coalesce(max(nb.i) filter (where nb.occurred_at <= nb.opp_at) over w, 1) as oi,
           power(2.0::double precision,
                 -(extract(epoch from nb.won_at - nb.occurred_at)::double precision / 604800.0)) as decay
    from numbered nb
    window w as (partition by nb.lead_id)
  ), weighed as (
    select m.*,
           -- the touches that hold no role (w_shaped: first, lead creation, opportunity; full_path: and the last)
           m.n - (1 + (m.li <> 1)::integer + (m.oi <> 1 and m.oi <> m.li)::integer) as w_others,
           m.n - (1 + (m.li <> 1)::integer + (m.oi <> 1 and m.oi <> m.li)::integer
                  + (m.n <> 1 and m.n <> m.li and m.n <> m.oi)::integer) as f_others,
           ((m.i = 1)::integer + (m.i = m.li)::integer + (m.i = m.oi)::integer) as w_roles,
           ((m.i = 1)::integer + (m.i = m.li)::integer + (m.i = m.oi)::integer + (m.i = m.n)::integer) as f_roles,
           sum(m.decay) over (partition by m.lead_id) as decay_sum
    from marked m
  )
  select w.lead_id, w.won_at, w.won_value, w.won_currency, w.i, w.n, w.message_id, w.channel, w.actor,
         w.sequence_id, w.source, w.occurred_at,
         case p_model
           when 'first_touch' then (w.i = 1)::integer::double precision
           when 'last_touch' then (w.i = w.n)::integer::double precision
           when 'linear' then 1.0 / w.n
           when 'time_decay' then w.decay / w.decay_sum
           when 'u_shaped' then
             case when w.n = 1 then 1.0 when w.n = 2 then 0.5
                  when w.i = 1 or w.i = w.n then 0.4 else 0.2 / (w.n - 2) end
           when 'w_shaped' then
             case when w.w_roles > 0 then w.w_roles * (case when w.w_others = 0 then 1.0 / 3 else 0.3 end)
                  else 0.1 / w.w_others end
           when 'full_path' then
             case when w.f_roles > 0 then w.f_roles * (case when w.f_others = 0 then 0.25 else 0.225 end)
                  else 0.1 / w.f_others end
         end::double precision
  from weighed w
  order by w.won_at, w.lead_id, w.i;
end
$$;

create or replace function public.analytics_attribution(
  p_model text default 'linear',
  p_dimension text default 'channel',
  p_from date default null,
  p_to date default null,
  p_tz text default null,
  p_tenant_id uuid default null
) returns jsonb
language plpgsql stable security invoker
set search_path = ''
as $$
declare
  scope record;
  result jsonb;
begin
  perform private.analytics_check_model('analytics_attribution', p_model, false);
  perform private.analytics_check_dimension('analytics_attribution', p_dimension);
  select * into scope from private.analytics_scope('analytics_attribution', p_tenant_id, p_from, p_to, p_tz);
  with c as (
    select c.*,
           case p_dimension
             when 'channel' then c.channel
             when 'actor' then c.actor
             when 'campaign' then c.campaign
             else coalesce(c.sequence_id::text, 'none')
           end as key
    from public.analytics_touch_credits(p_model, scope.first_day, scope.last_day, scope.zone, scope.tenant_id) c
  ), per_key as (
    select c.key, sum(c.credit) as conversions from c group by c.key
  ), per_key_currency as (
    select c.key, c.currency, sum(c.credit * c.value) as revenue
    from c where c.value is not null group by c.key, c.currency
  ), deals as (
    select distinct c.lead_id, c.value, c.currency from c
  )
  select jsonb_build_object(
    'model', p_model, 'dimension', p_dimension, 'from', scope.first_day, 'to', scope.last_day, 'tz', scope.zone,
    'conversions', (select count(*) from deals),
    'revenue', coalesce((select jsonb_object_agg(d.currency, d.total) from
                          (select deals.currency, sum(deals.value) as total from deals
                           where deals.value is not null group by deals.currency) d), '{}'::jsonb),
    'credits', coalesce((select jsonb_agg(jsonb_build_object(
                            p_dimension, k.key, 'conversions', k.conversions,
                            'revenue', coalesce((select jsonb_object_agg(r.currency, r.revenue)
                                                 from per_key_currency r where r.key = k.key), '{}'::jsonb))
                          order by k.conversions desc, k.key)
                         from per_key k), '[]'::jsonb))
  into result;
  return result;
end
$$;

create or replace function public.analytics_touch_paths(
  p_dimension text default 'channel',
  p_from date default null,
  p_to date default null,
  p_tz text default null,
  p_tenant_id uuid default null
) returns jsonb
language plpgsql stable security invoker
set search_path = ''
as $$
declare
  scope record;
  result jsonb;
begin
  perform private.analytics_check_dimension('analytics_touch_paths', p_dimension);
  select * into scope from private.analytics_scope('analytics_touch_paths', p_tenant_id, p_from, p_to, p_tz);
  with leads_ as (
    -- conversions: won in the range; non-conversions: created in the range and not won by its end
    select j.lead_id, l.source_channel, coalesce(l.source, 'none') as source,
           coalesce(j.deal_closed_won >= scope.starts and j.deal_closed_won < scope.ends, false) as converted,
           case when j.deal_closed_won >= scope.starts and j.deal_closed_won < scope.ends
                then j.deal_closed_won else scope.ends end as until_,
           j.won_value, j.won_currency
    from public.analytics_lead_journeys j
    join public.leads l on l.id = j.lead_id and l.tenant_id = j.tenant_id
    where j.tenant_id = scope.tenant_id
      and ((j.deal_closed_won >= scope.starts and j.deal_closed_won < scope.ends)
           or (j.lead_created >= scope.starts and j.lead_created < scope.ends
               and (j.deal_closed_won is null or j.deal_closed_won >= scope.ends)))
  ), paths as (
    -- one index probe per lead for its touches up to the win (or before the range's end)
    select p.converted, p.won_value, p.won_currency,
           coalesce(k.path, array[case p_dimension when 'channel' then p.source_channel when 'campaign' then p.source
                                                   else 'none' end]) as path
    from leads_ p
    left join lateral (
      select array_agg(case p_dimension when 'channel' then t.channel::text when 'actor' then t.actor
                                        when 'campaign' then p.source else coalesce(t.sequence_id::text, 'none') end
                       order by t.occurred_at, t.message_id) as path
      from public.analytics_touchpoints t
      where t.tenant_id = scope.tenant_id and t.lead_id = p.lead_id
        and t.occurred_at <= p.until_ and (p.converted or t.occurred_at < p.until_)
    ) k on true
  ), per_currency as (
    select p.path, p.won_currency,
           count(*) filter (where p.converted) as conversions,
           count(*) filter (where not p.converted) as non_conversions,
           sum(p.won_value) filter (where p.converted) as total
    from paths p group by p.path, p.won_currency
  ), grouped as (
    select c.path, sum(c.conversions)::bigint as conversions, sum(c.non_conversions)::bigint as non_conversions,
           coalesce(jsonb_object_agg(c.won_currency, c.total)
                      filter (where c.total is not null and c.won_currency is not null), '{}'::jsonb) as revenue
    from per_currency c group by c.path
  )
  select jsonb_build_object(
    'dimension', p_dimension, 'from', scope.first_day, 'to', scope.last_day, 'tz', scope.zone,
    'paths', coalesce((select jsonb_agg(jsonb_build_object(
                 'path', to_jsonb(g.path), 'conversions', g.conversions, 'non_conversions', g.non_conversions,
                 'revenue', g.revenue)
               order by g.conversions desc, g.non_conversions desc, g.path)
               from grouped g), '[]'::jsonb))
  into result;
  return result;
end
$$;

revoke all on function private.analytics_check_model(text, text, boolean),
  private.analytics_check_dimension(text, text) from public, anon;
grant execute on function private.analytics_check_model(text, text, boolean),
  private.analytics_check_dimension(text, text) to authenticated, service_role;
revoke all on function public.analytics_touch_credits(text, date, date, text, uuid),
  public.analytics_attribution(text, text, date, date, text, uuid),
  public.analytics_touch_paths(text, date, date, text, uuid) from public, anon;
grant execute on function public.analytics_touch_credits(text, date, date, text, uuid),
  public.analytics_attribution(text, text, date, date, text, uuid),
  public.analytics_touch_paths(text, date, date, text, uuid) to authenticated, service_role;
