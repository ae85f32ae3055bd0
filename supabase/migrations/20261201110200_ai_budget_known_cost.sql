-- Budgets never count an unknown cost as zero.
--
-- Before: a model missing from `ai_model_prices` was estimated at 0 when reserving and its usage rows cost
-- NULL, which settled as 0, so a call to it never counted against the tenant's budget. Now:
--  * `ai_reserve_budget` refuses a route naming a model that is not on the operator's allow-list
--    (`ai_models`) or has no price, before anything is reserved, with or without a budget:
--    {allowed: false, reason: 'model_not_allowed' | 'model_unpriced', provider, model, allowed_models}.
--    The orchestrator calls it before every paid request, so this is also the call-time check: the error
--    names the model and no request is sent. (Refusing rather than reserving some guessed amount: there is
--    no honest upper bound for a model without a price.) A budget refusal now says reason 'budget_exceeded'.
--  * `ai_settle_budget` counts a usage row whose cost is unknown (its price vanished mid-call) at the
--    reservation's amount, the call's upper bound, instead of 0; a row with no tokens costs 0 at any price.
-- Signatures are unchanged, so their grants (service_role only) stay.

create or replace function public.ai_settle_budget(p_reservation_id uuid) returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  r public.ai_budget_reservations;
  actual numeric;
  bp record;
begin
  select * into r from public.ai_budget_reservations where id = p_reservation_id for update;
  if not found then
    raise exception 'ai_budget_reservations: no reservation %', p_reservation_id
      using errcode = 'P0002', column = 'id';
  end if;
  if r.settled_at is not null then
    return jsonb_build_object('reservation_id', r.id, 'settled', false, 'actual_usd', r.actual_usd);
  end if;
  select coalesce(sum(case
                        when u.cost_usd is not null then u.cost_usd
                        when u.input_tokens = 0 and u.output_tokens = 0 then 0
                        else r.amount_usd
                      end), 0)
    into actual
  from public.ai_usage u where u.reservation_id = r.id;
  -- Lock in the order ai_reserve_budget uses (tenant-wide first), so the two never deadlock.
  perform 1 from public.ai_budget_periods p
  where p.tenant_id = r.tenant_id and p.period = r.period and (p.scenario is null or p.scenario = r.scenario)
  order by p.scenario nulls first
  for update;
  for bp in
    update public.ai_budget_periods p
    set reserved_usd = greatest(p.reserved_usd - r.amount_usd, 0), spent_usd = p.spent_usd + actual
    where p.tenant_id = r.tenant_id and p.period = r.period and (p.scenario is null or p.scenario = r.scenario)
    returning p.scenario, p.spent_usd, p.exceeded_at
  loop
    perform private.ai_budget_mark_exceeded(r.tenant_id, b.scenario, r.period, b.monthly_limit_usd,
                                            bp.spent_usd, b.at_limit)
    from public.ai_budgets b
    where b.tenant_id = r.tenant_id and b.scenario is not distinct from bp.scenario
      and bp.exceeded_at is null and bp.spent_usd >= b.monthly_limit_usd;
  end loop;
  update public.ai_budget_reservations set settled_at = now(), actual_usd = actual where id = r.id;
  return jsonb_build_object('reservation_id', r.id, 'settled', true, 'reserved_usd', r.amount_usd,
                            'actual_usd', actual);
end
$$;

-- Reserve the most a call may cost: the priciest of the route's models for the given token upper
-- bounds. Returns {allowed: true, reservation_id (null without a budget), estimate_usd}, or
-- {allowed: false, reason: 'budget_exceeded', at_limit, scenario, limit_usd, spent_usd}, or
-- {allowed: false, reason: 'model_not_allowed' | 'model_unpriced', provider, model, allowed_models}.
create or replace function public.ai_reserve_budget(
  p_tenant_id uuid, p_scenario text, p_provider text, p_models jsonb, p_input_tokens integer,
  p_output_tokens integer
) returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  this_period date := date_trunc('month', now() at time zone 'utc')::date;
  estimate numeric;
  b record;
  bp public.ai_budget_periods;
  any_budget boolean := false;
  stale uuid;
  reservation uuid;
  model_name text;
  listed boolean;
  cost numeric;
  refusal text;
begin
  if p_tenant_id is null then
    raise exception 'ai_reserve_budget.p_tenant_id: a reservation needs a tenant' using errcode = '22023';
  end if;
  if p_models is null or jsonb_typeof(p_models) <> 'array' or jsonb_array_length(p_models) = 0 then
    raise exception 'ai_reserve_budget.p_models: must be a non-empty list of the route''s model names'
      using errcode = '22023';
  end if;

  -- Every model of the route must be allowed and priced: one that is not is refused by name. The estimate
  -- is the priciest model's cost for the token upper bounds (no cached input assumed), so it is never an
  -- unknown counted as 0. One statement for all the models: this runs before every paid call.
  for model_name, listed, cost in
    select m.model,
           exists (select 1 from public.ai_models a where a.provider = p_provider and a.model = m.model),
           private.ai_cost_usd(p_provider, m.model, p_input_tokens, 0, p_output_tokens)
    from jsonb_array_elements_text(p_models) with ordinality as m(model, n)
    order by m.n
  loop
    if not listed then
      refusal := 'model_not_allowed';
    elsif cost is null then
      refusal := 'model_unpriced';
    end if;
    if refusal is not null then
      return jsonb_build_object(
        'allowed', false, 'reason', refusal, 'provider', p_provider, 'model', model_name,
        'allowed_models', (
          select coalesce(jsonb_agg(a.model order by a.model), '[]'::jsonb) from public.ai_models a
          where a.provider = p_provider and (private.ai_model_price(a.provider, a.model)).provider is not null));
    end if;
    estimate := greatest(coalesce(estimate, 0), cost);
  end loop;

  -- A worker that died mid-call never settled: after 30 minutes its reservation counts what it recorded.
  for stale in
    select s.id from public.ai_budget_reservations s
    where s.tenant_id = p_tenant_id and s.settled_at is null and s.created_at < now() - interval '30 minutes'
  loop
    perform public.ai_settle_budget(stale);
  end loop;

  for b in
    select * from public.ai_budgets x
    where x.tenant_id = p_tenant_id and (x.scenario is null or x.scenario = p_scenario)
    order by x.scenario nulls first
  loop
    any_budget := true;
    insert into public.ai_budget_periods (tenant_id, scenario, period)
    values (p_tenant_id, b.scenario, this_period)
    on conflict on constraint ai_budget_periods_key do nothing;
    select * into bp from public.ai_budget_periods p
    where p.tenant_id = p_tenant_id and p.scenario is not distinct from b.scenario and p.period = this_period
    for update;
    if bp.spent_usd + bp.reserved_usd >= b.monthly_limit_usd
       or bp.spent_usd + bp.reserved_usd + estimate > b.monthly_limit_usd then
      perform private.ai_budget_mark_exceeded(p_tenant_id, b.scenario, this_period, b.monthly_limit_usd,
                                              bp.spent_usd, b.at_limit);
      return jsonb_build_object('allowed', false, 'reason', 'budget_exceeded', 'at_limit', b.at_limit,
                                'scenario', b.scenario, 'limit_usd', b.monthly_limit_usd,
                                'spent_usd', bp.spent_usd, 'reserved_usd', bp.reserved_usd,
                                'estimate_usd', estimate);
    end if;
  end loop;

  if not any_budget then
    return jsonb_build_object('allowed', true, 'reservation_id', null, 'estimate_usd', estimate);
  end if;

  insert into public.ai_budget_reservations (tenant_id, scenario, period, amount_usd)
  values (p_tenant_id, p_scenario, this_period, estimate)
  returning id into reservation;
  update public.ai_budget_periods p set reserved_usd = p.reserved_usd + estimate
  where p.tenant_id = p_tenant_id and p.period = this_period
    and (p.scenario is null or p.scenario = p_scenario)
    and exists (select 1 from public.ai_budgets x
                where x.tenant_id = p_tenant_id and x.scenario is not distinct from p.scenario);
  return jsonb_build_object('allowed', true, 'reservation_id', reservation, 'estimate_usd', estimate);
end
$$;
