-- List arguments of the AI functions travel as JSON arrays on every transport: PostgREST request bodies
-- and the handlers' TenantData.rpc (which sends lists as jsonb). So `p_models` and `p_labels` become jsonb
-- arrays of strings instead of text[]; the bodies are otherwise unchanged.

drop function if exists public.ai_reserve_budget(uuid, text, text, text[], integer, integer);
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
begin
  if p_tenant_id is null then
    raise exception 'ai_reserve_budget.p_tenant_id: a reservation needs a tenant' using errcode = '22023';
  end if;
  -- A worker that died mid-call never settled: after 30 minutes its reservation counts what it recorded.
  for stale in
    select s.id from public.ai_budget_reservations s
    where s.tenant_id = p_tenant_id and s.settled_at is null and s.created_at < now() - interval '30 minutes'
  loop
    perform public.ai_settle_budget(stale);
  end loop;

  select coalesce(max(private.ai_cost_usd(p_provider, m, p_input_tokens, 0, p_output_tokens)), 0)
    into estimate from jsonb_array_elements_text(coalesce(p_models, '[]'::jsonb)) as m;

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
      return jsonb_build_object('allowed', false, 'at_limit', b.at_limit, 'scenario', b.scenario,
                                'limit_usd', b.monthly_limit_usd, 'spent_usd', bp.spent_usd,
                                'reserved_usd', bp.reserved_usd, 'estimate_usd', estimate);
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

drop function if exists public.ai_publish_prompt(text, text, jsonb, jsonb, uuid, text[], text);
create or replace function public.ai_publish_prompt(
  p_name text,
  p_locale text,
  p_messages jsonb,
  p_model_config jsonb default '{}'::jsonb,
  p_tenant_id uuid default null,
  p_labels jsonb default '[]'::jsonb,
  p_commit_message text default null
) returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  next_version integer;
  l text;
begin
  if p_name is null or p_name !~ '^[a-z][a-z0-9_]{0,62}$' then
    raise exception 'ai_prompts.name: must be a lower-case identifier (got %)', coalesce(p_name, 'null')
      using errcode = '22023', column = 'name';
  end if;
  if p_locale is null or p_locale not in ('de', 'en') then
    raise exception 'ai_prompts.locale: must be de or en (got %)', coalesce(p_locale, 'null')
      using errcode = '22023', column = 'locale';
  end if;
  perform private.ai_check_messages(p_messages);
  -- Two publishers of the same prompt take numbers one after the other.
  perform pg_advisory_xact_lock(hashtextextended(
    'ai_prompt:' || p_name || ':' || p_locale || ':' || coalesce(p_tenant_id::text, 'global'), 0));
  select coalesce(max(p.version), 0) + 1 into next_version from public.ai_prompts p
  where p.name = p_name and p.locale = p_locale and p.tenant_id is not distinct from p_tenant_id;
  insert into public.ai_prompts (name, locale, tenant_id, version, messages, model_config, commit_message)
  values (p_name, p_locale, p_tenant_id, next_version, p_messages, coalesce(p_model_config, '{}'::jsonb),
          p_commit_message);
  for l in select jsonb_array_elements_text(coalesce(p_labels, '[]'::jsonb)) loop
    perform public.ai_set_prompt_label(p_name, p_locale, next_version, l, p_tenant_id);
  end loop;
  return jsonb_build_object('name', p_name, 'locale', p_locale, 'tenant_id', p_tenant_id,
                            'version', next_version, 'labels', coalesce(p_labels, '[]'::jsonb));
end
$$;

revoke all on function public.ai_reserve_budget(uuid, text, text, jsonb, integer, integer),
  public.ai_publish_prompt(text, text, jsonb, jsonb, uuid, jsonb, text)
  from public, anon, authenticated;
grant execute on function public.ai_reserve_budget(uuid, text, text, jsonb, integer, integer),
  public.ai_publish_prompt(text, text, jsonb, jsonb, uuid, jsonb, text)
  to service_role;
