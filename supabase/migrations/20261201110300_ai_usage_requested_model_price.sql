-- A usage row is priced by the model the API reported, else by the model that was requested.
--
-- Before: a row whose reported model had no price cost NULL, and budgets settled it as 0. An
-- OpenAI-compatible server (OPENAI_BASE_URL) may report a model name of its own for a request to an
-- allowed, priced model; such a row now costs what the requested model costs. Rows bring the requested
-- model as `requested_model` (not stored: `model` stays what the API reported). A row with neither
-- priced still costs NULL, and `ai_settle_budget` counts it at its reservation's amount.
-- The signature is unchanged, so its grants (service_role only) stay.

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
      outcome text, error_class text, error text, reservation_id uuid, requested_model text)
  ), priced as (
    -- The reported model's price, else the requested model's: an OpenAI-compatible server may answer
    -- under a name of its own, and the call was allowed (and reserved) at the requested model's price.
    select m.provider, m.model, m.requested_model, (pr.price).input_usd_per_mtok,
           (pr.price).cached_input_usd_per_mtok, (pr.price).output_usd_per_mtok
    from (select distinct i.provider, i.model, i.requested_model from input i) m
    cross join lateral (
      select coalesce(private.ai_model_price(m.provider, m.model),
                      private.ai_model_price(m.provider, m.requested_model)) as price
    ) pr
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
      and pr.requested_model is not distinct from i.requested_model
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
