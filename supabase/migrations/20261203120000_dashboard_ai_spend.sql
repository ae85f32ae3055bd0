-- What the dashboard's "Analytics and AI" view shows about AI spending, in one call from the browser.
--
-- public.ai_spend(p_period, p_tenant_id) → jsonb: one budget month (UTC, as budgets count it: the month of
-- p_period, default the current one) of the tenant's AI usage (ai_usage rows, one per call attempt) by model,
-- by scenario and by day, and each budget (ai_budgets) against what its period row (ai_budget_periods, the
-- numbers the budget enforcement uses) says was spent and is reserved. Security invoker: a member reads the
-- token's tenant under the tables' RLS; p_tenant_id may only repeat it. Service code names p_tenant_id.
-- The browser could read the three tables itself, but summing ai_usage there means fetching every row
-- (capped at max_rows); this groups them in the database over ai_usage_tenant_created_idx.

create or replace function public.ai_spend(
  p_period date default null,
  p_tenant_id uuid default null
) returns jsonb
language plpgsql stable security invoker
set search_path = ''
as $$
declare
  member_tenant uuid := private.tenant_id();
  role_ text := coalesce(private.jwt_claims() ->> 'role', 'service_role');
  v_tenant uuid;
  v_period date := date_trunc('month', coalesce(p_period, (now() at time zone 'utc')::date))::date;
  v_starts timestamptz;
  v_ends timestamptz;
  result jsonb;
begin
  if member_tenant is not null then
    if p_tenant_id is not null and p_tenant_id <> member_tenant then
      raise exception 'ai_spend.p_tenant_id: you can only read the spending of the tenant you are signed in to'
        using errcode = '42501';
    end if;
    v_tenant := member_tenant;
  elsif role_ = 'service_role' then
    if p_tenant_id is null then
      raise exception 'ai_spend.p_tenant_id: service code names the tenant' using errcode = '22023';
    end if;
    v_tenant := p_tenant_id;
  else
    raise exception 'ai_spend: sign in as a member of a tenant' using errcode = '42501';
  end if;
  if v_period < date '2000-01-01' or v_period > date '2999-12-01' then
    raise exception 'ai_spend.p_period: % is not a budget month (2000-01 to 2999-12)', p_period
      using errcode = '22023';
  end if;
  v_starts := v_period::timestamp at time zone 'utc';
  v_ends := (v_period + interval '1 month')::timestamp at time zone 'utc';

  with usage as (
    select u.provider, u.model, u.scenario, u.input_tokens, u.output_tokens, u.cached_tokens,
           coalesce(u.cost_usd, 0) as cost_usd, u.outcome, u.created_at
    from public.ai_usage u
    where u.tenant_id = v_tenant and u.created_at >= v_starts and u.created_at < v_ends
  )
  select jsonb_build_object(
    'tenant_id', v_tenant,
    'period', to_char(v_period, 'YYYY-MM'),
    'calls', (select count(*) from usage),
    'failed_calls', (select count(*) from usage where outcome not in ('success', 'repaired', 'cache_hit')),
    'cost_usd', (select coalesce(sum(cost_usd), 0) from usage),
    'by_model', coalesce((
      select jsonb_agg(jsonb_build_object('provider', m.provider, 'model', m.model, 'calls', m.calls,
                                          'input_tokens', m.input_tokens, 'output_tokens', m.output_tokens,
                                          'cost_usd', m.cost_usd)
                       order by m.cost_usd desc, m.calls desc, m.provider, m.model)
      from (select provider, model, count(*) as calls, sum(input_tokens) as input_tokens,
                   sum(output_tokens) as output_tokens, sum(cost_usd) as cost_usd
            from usage group by provider, model) m), '[]'::jsonb),
    'by_scenario', coalesce((
      select jsonb_agg(jsonb_build_object('scenario', s.scenario, 'calls', s.calls, 'cost_usd', s.cost_usd)
                       order by s.cost_usd desc, s.calls desc, s.scenario)
      from (select scenario, count(*) as calls, sum(cost_usd) as cost_usd from usage group by scenario) s),
      '[]'::jsonb),
    'by_day', coalesce((
      select jsonb_agg(jsonb_build_object('day', d.day, 'calls', d.calls, 'cost_usd', d.cost_usd) order by d.day)
      from (select (created_at at time zone 'utc')::date as day, count(*) as calls, sum(cost_usd) as cost_usd
            from usage group by 1) d), '[]'::jsonb),
    'budgets', coalesce((
      select jsonb_agg(jsonb_build_object(
               'scenario', b.scenario, 'monthly_limit_usd', b.monthly_limit_usd, 'at_limit', b.at_limit,
               'spent_usd', coalesce(p.spent_usd, 0), 'reserved_usd', coalesce(p.reserved_usd, 0),
               'used_share', case when b.monthly_limit_usd > 0
                                  then round(coalesce(p.spent_usd, 0) / b.monthly_limit_usd, 4) end,
               'exceeded_at', p.exceeded_at)
             order by b.scenario nulls first)
      from public.ai_budgets b
      left join public.ai_budget_periods p
        on p.tenant_id = b.tenant_id and p.scenario is not distinct from b.scenario and p.period = v_period
      where b.tenant_id = v_tenant), '[]'::jsonb)
  ) into result;
  return result;
end
$$;

revoke all on function public.ai_spend(date, uuid) from public, anon;
grant execute on function public.ai_spend(date, uuid) to authenticated, service_role;
