-- Usage rows are durable: `ai_track_usage` no longer turns synchronous_commit off for its transaction.
-- Budgets settle from these rows (`ai_settle_budget` sums their cost), so a row acknowledged to the
-- caller must survive a database crash ("nothing lost"). The commit now waits for its WAL flush; the
-- tracker's group commit makes that one flush per batch of concurrent calls, not one per call. Otherwise
-- identical to
-- 20261125130200_ai_usage.sql: insert a batch of usage rows, each with its own id, cost from the price
-- table (looked up once per distinct model of the batch); the result is [{id, cost_usd}].

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
