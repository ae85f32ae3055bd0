-- Monthly AI budgets per tenant (and optionally per scenario), enforced atomically: a call reserves the
-- most it may cost before it starts and settles to what its usage rows say it cost afterwards. The
-- reservation locks the tenant's period rows, so two workers cannot both take the last dollar. At the
-- limit the tenant's `at_limit` applies (fall back to the local provider, or refuse), and
-- `ai.budget_exceeded` is emitted once per budget and period.

create table if not exists public.ai_budgets (
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  scenario text check (scenario ~ '^[a-z][a-z0-9_]{0,62}$'), -- null: all scenarios together
  monthly_limit_usd numeric(12, 4) not null check (monthly_limit_usd >= 0),
  at_limit text not null default 'fallback_local' check (at_limit in ('fallback_local', 'refuse')),
  updated_at timestamptz not null default now(),
  constraint ai_budgets_key unique nulls not distinct (tenant_id, scenario)
);

create table if not exists public.ai_budget_periods (
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  scenario text,
  period date not null, -- first day of the month (UTC)
  reserved_usd numeric(14, 8) not null default 0 check (reserved_usd >= 0),
  spent_usd numeric(14, 8) not null default 0 check (spent_usd >= 0),
  exceeded_at timestamptz, -- set once, when the event was emitted
  constraint ai_budget_periods_key unique nulls not distinct (tenant_id, scenario, period)
);

create table if not exists public.ai_budget_reservations (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  scenario text not null,
  period date not null,
  amount_usd numeric(14, 8) not null check (amount_usd >= 0),
  actual_usd numeric(14, 8),
  created_at timestamptz not null default now(),
  settled_at timestamptz
);
create index if not exists ai_budget_reservations_open_idx on public.ai_budget_reservations (tenant_id, created_at)
  where settled_at is null;

-- Emit ai.budget_exceeded for one budget's period unless it was emitted already (exceeded_at).
create or replace function private.ai_budget_mark_exceeded(
  p_tenant_id uuid, p_scenario text, p_period date, p_limit numeric, p_spent numeric, p_at_limit text
) returns void
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  update public.ai_budget_periods bp set exceeded_at = now()
  where bp.tenant_id = p_tenant_id and bp.scenario is not distinct from p_scenario and bp.period = p_period
    and bp.exceeded_at is null;
  if found then
    perform private.emit_event(p_tenant_id, 'ai.budget_exceeded',
      jsonb_build_object('period', to_char(p_period, 'YYYY-MM'), 'scenario', p_scenario,
                         'limit_usd', p_limit, 'spent_usd', p_spent, 'at_limit', p_at_limit),
      'ai_budget:' || p_tenant_id::text, 'ai');
  end if;
end
$$;

-- Settle a reservation: release what was reserved, add what its calls' usage rows cost. Idempotent.
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
  select coalesce(sum(u.cost_usd), 0) into actual from public.ai_usage u where u.reservation_id = r.id;
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
-- bounds. Returns {allowed: true, reservation_id (null without a budget), estimate_usd} or
-- {allowed: false, at_limit, scenario, limit_usd, spent_usd}. `p_models` is a jsonb array of strings, not
-- text[]: list arguments travel as JSON arrays on every transport, PostgREST request bodies and the
-- handlers' TenantData.rpc (which sends lists as jsonb).
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

revoke all on function private.ai_budget_mark_exceeded(uuid, text, date, numeric, numeric, text) from public;
revoke all on function public.ai_settle_budget(uuid),
  public.ai_reserve_budget(uuid, text, text, jsonb, integer, integer)
  from public, anon, authenticated;
grant execute on function public.ai_settle_budget(uuid),
  public.ai_reserve_budget(uuid, text, text, jsonb, integer, integer)
  to service_role;

alter table public.ai_budgets enable row level security;
alter table public.ai_budget_periods enable row level security;
alter table public.ai_budget_reservations enable row level security;

drop policy if exists "members read their tenant's AI budgets" on public.ai_budgets;
create policy "members read their tenant's AI budgets" on public.ai_budgets
  for select to authenticated
  using (tenant_id = private.tenant_id());

drop policy if exists "owners and admins set their tenant's AI budgets" on public.ai_budgets;
create policy "owners and admins set their tenant's AI budgets" on public.ai_budgets
  for all to authenticated
  using (tenant_id = private.tenant_id() and private.tenant_role() in ('owner', 'admin'))
  with check (tenant_id = private.tenant_id() and private.tenant_role() in ('owner', 'admin'));

drop policy if exists "members read their tenant's AI spending" on public.ai_budget_periods;
create policy "members read their tenant's AI spending" on public.ai_budget_periods
  for select to authenticated
  using (tenant_id = private.tenant_id());

drop policy if exists "members read their tenant's AI reservations" on public.ai_budget_reservations;
create policy "members read their tenant's AI reservations" on public.ai_budget_reservations
  for select to authenticated
  using (tenant_id = private.tenant_id());

revoke all on table public.ai_budgets, public.ai_budget_periods, public.ai_budget_reservations from anon, authenticated;
grant select, insert, update, delete on table public.ai_budgets to authenticated;
grant select on table public.ai_budget_periods, public.ai_budget_reservations to authenticated;
grant all on table public.ai_budgets, public.ai_budget_periods, public.ai_budget_reservations to service_role;
