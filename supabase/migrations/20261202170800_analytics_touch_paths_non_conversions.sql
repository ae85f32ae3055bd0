-- analytics_touch_paths counted a lead that was never won as neither a conversion nor a non-conversion: its
-- `converted` was null (no deal_closed_won), and `filter (where not converted)` skips nulls, so the Markov
-- model saw no non-converting paths. A lead not won in the range is a non-conversion.

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
    select j.lead_id, j.lead_created, l.source_channel, coalesce(l.source, 'none') as source,
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
  ), touches_ as (
    select p.lead_id, t.occurred_at, t.message_id,
           case p_dimension when 'channel' then t.channel::text when 'actor' then t.actor
                            when 'campaign' then p.source else coalesce(t.sequence_id::text, 'none') end as key
    from leads_ p
    join public.analytics_touchpoints t
      on t.lead_id = p.lead_id and t.tenant_id = scope.tenant_id
     and (t.occurred_at <= p.until_ and (p.converted or t.occurred_at < p.until_))
  ), paths as (
    select p.lead_id, p.converted, p.won_value, p.won_currency,
           coalesce((select array_agg(t.key order by t.occurred_at, t.message_id) from touches_ t
                     where t.lead_id = p.lead_id),
                    array[case p_dimension when 'channel' then p.source_channel when 'campaign' then p.source
                                           else 'none' end]) as path
    from leads_ p
  ), grouped as (
    select p.path, count(*) filter (where p.converted) as conversions,
           count(*) filter (where not p.converted) as non_conversions
    from paths p group by p.path
  ), revenue as (
    select p.path, p.won_currency, sum(p.won_value) as total
    from paths p where p.converted and p.won_value is not null group by p.path, p.won_currency
  )
  select jsonb_build_object(
    'dimension', p_dimension, 'from', scope.first_day, 'to', scope.last_day, 'tz', scope.zone,
    'paths', coalesce((select jsonb_agg(jsonb_build_object(
                 'path', to_jsonb(g.path), 'conversions', g.conversions, 'non_conversions', g.non_conversions,
                 'revenue', coalesce((select jsonb_object_agg(r.won_currency, r.total) from revenue r
                                      where r.path = g.path), '{}'::jsonb))
               order by g.conversions desc, g.non_conversions desc, g.path)
               from grouped g), '[]'::jsonb))
  into result;
  return result;
end
$$;
