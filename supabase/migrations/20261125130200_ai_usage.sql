-- The AI usage tracker: one row per call attempt (a retry or a fallback is its own row), with the token
-- counts the API reported and the cost from the price table. Rows are only ever inserted, so concurrent
-- calls never wait on each other here. Members read their tenant's usage.

create table if not exists public.ai_usage (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  lead_id uuid references public.leads (id) on delete set null,
  event_id uuid,
  call_id uuid not null, -- the orchestrator call this attempt belongs to
  attempt integer not null default 1 check (attempt >= 1),
  scenario text not null check (scenario ~ '^[a-z][a-z0-9_]{0,62}$'),
  prompt_name text,
  prompt_version integer, -- 0: the packaged prompt (database unreachable)
  prompt_locale text check (prompt_locale in ('de', 'en')),
  provider text not null,
  model text not null,
  input_tokens integer not null default 0 check (input_tokens >= 0),
  output_tokens integer not null default 0 check (output_tokens >= 0),
  cached_tokens integer not null default 0 check (cached_tokens >= 0),
  cost_usd numeric(14, 8),
  latency_ms double precision not null default 0 check (latency_ms >= 0),
  outcome text not null check (outcome in (
    'success', 'repaired', 'invalid_output', 'refusal', 'rate_limited', 'server_error', 'timeout',
    'connection_error', 'request_error', 'budget_exceeded', 'cache_hit')),
  error_class text,
  error text,
  reservation_id uuid,
  created_at timestamptz not null default now()
);
create index if not exists ai_usage_tenant_created_idx on public.ai_usage (tenant_id, created_at desc);
create index if not exists ai_usage_reservation_idx on public.ai_usage (reservation_id) where reservation_id is not null;
create index if not exists ai_usage_lead_idx on public.ai_usage (lead_id) where lead_id is not null;

-- Insert a batch of usage rows (the tracker groups concurrent calls into one statement); each row brings
-- its own id, and the result is [{id, cost_usd}] for the rows written. Cost comes from the price table
-- (looked up once per distinct model of the batch), never from the caller.
-- Usage rows commit durably (the default synchronous_commit, never turned off here): budgets settle from
-- these rows (`ai_settle_budget` sums their cost), so a row acknowledged to the caller must survive a
-- database crash -- nothing may be lost. The commit waits for its WAL flush; the tracker's group commit
-- makes that one flush per batch of concurrent calls, not one per call.
create or replace function public.ai_track_usage(p_rows jsonb) returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  written jsonb;
begin
  with input as (
    select * from jsonb_to_recordset(p_rows) as r(
      id uuid, tenant_id uuid, lead_id uuid, event_id uuid, call_id uuid, attempt integer, scenario text,
      prompt_name text, prompt_version integer, prompt_locale text, provider text, model text,
      input_tokens integer, output_tokens integer, cached_tokens integer, latency_ms double precision,
      outcome text, error_class text, error text, reservation_id uuid)
  ), priced as (
    select m.provider, m.model, pr.input_usd_per_mtok, pr.cached_input_usd_per_mtok, pr.output_usd_per_mtok
    from (select distinct i.provider, i.model from input i) m
    left join lateral (
      select p.* from public.ai_model_prices p
      where p.provider = m.provider and (p.model = m.model or starts_with(m.model, p.model || '-'))
      order by length(p.model) desc
      limit 1
    ) pr on true
  ), inserted as (
    insert into public.ai_usage (
      id, tenant_id, lead_id, event_id, call_id, attempt, scenario, prompt_name, prompt_version, prompt_locale,
      provider, model, input_tokens, output_tokens, cached_tokens, cost_usd, latency_ms, outcome, error_class,
      error, reservation_id)
    select
      i.id, i.tenant_id, l.id, i.event_id, i.call_id, coalesce(i.attempt, 1), i.scenario, i.prompt_name,
      i.prompt_version, i.prompt_locale, i.provider, i.model, coalesce(i.input_tokens, 0),
      coalesce(i.output_tokens, 0), coalesce(i.cached_tokens, 0),
      round((greatest(coalesce(i.input_tokens, 0) - coalesce(i.cached_tokens, 0), 0) * pr.input_usd_per_mtok
             + coalesce(i.cached_tokens, 0) * pr.cached_input_usd_per_mtok
             + coalesce(i.output_tokens, 0) * pr.output_usd_per_mtok) / 1000000.0, 8),
      coalesce(i.latency_ms, 0), i.outcome, i.error_class, left(i.error, 2000), i.reservation_id
    from input i
    join priced pr on pr.provider = i.provider and pr.model = i.model
    -- a lead of another tenant is not recorded as this call's lead
    left join public.leads l on l.id = i.lead_id and l.tenant_id = i.tenant_id
    returning id, cost_usd
  )
  select coalesce(jsonb_agg(jsonb_build_object('id', ins.id, 'cost_usd', ins.cost_usd)), '[]'::jsonb)
    into written
  from inserted ins;
  return written;
end
$$;

revoke all on function public.ai_track_usage(jsonb) from public, anon, authenticated;
grant execute on function public.ai_track_usage(jsonb) to service_role;

alter table public.ai_usage enable row level security;

drop policy if exists "members read their tenant's AI usage" on public.ai_usage;
create policy "members read their tenant's AI usage" on public.ai_usage
  for select to authenticated
  using (tenant_id = private.tenant_id());

revoke all on table public.ai_usage from anon, authenticated;
grant select on table public.ai_usage to authenticated;
grant all on table public.ai_usage to service_role;
