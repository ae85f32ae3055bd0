-- The one price table for AI calls (USD per million tokens). Editable: cost is computed from it when a
-- usage row is written, so a price change applies to calls from then on and history keeps its cost.
-- A model matches its exact name or a dated snapshot of it (`gpt-4o-mini` prices `gpt-4o-mini-2024-07-18`).

create table if not exists public.ai_model_prices (
  provider text not null check (provider ~ '^[a-z][a-z0-9_-]{0,39}$'),
  model text not null check (length(btrim(model)) between 1 and 200),
  input_usd_per_mtok numeric(12, 6) not null check (input_usd_per_mtok >= 0),
  cached_input_usd_per_mtok numeric(12, 6) not null check (cached_input_usd_per_mtok >= 0),
  output_usd_per_mtok numeric(12, 6) not null check (output_usd_per_mtok >= 0),
  updated_at timestamptz not null default now(),
  primary key (provider, model)
);

insert into public.ai_model_prices (provider, model, input_usd_per_mtok, cached_input_usd_per_mtok, output_usd_per_mtok)
values
  ('openai', 'gpt-4o-mini', 0.15, 0.075, 0.60),
  ('openai', 'gpt-4o', 2.50, 1.25, 10.00),
  ('openai', 'gpt-4.1-nano', 0.10, 0.025, 0.40),
  ('openai', 'gpt-4.1-mini', 0.40, 0.10, 1.60),
  ('openai', 'gpt-4.1', 2.00, 0.50, 8.00),
  ('local', 'local-rules', 0, 0, 0)
on conflict (provider, model) do nothing;

-- The price row for a provider's model: the exact name, else the longest priced prefix followed by '-'.
create or replace function private.ai_model_price(p_provider text, p_model text)
returns public.ai_model_prices
language sql stable
set search_path = ''
as $$
  select pr.* from public.ai_model_prices pr
  where pr.provider = p_provider
    and (pr.model = p_model or starts_with(p_model, pr.model || '-'))
  order by length(pr.model) desc
  limit 1
$$;

-- Cost in USD of one call; NULL when the model has no price (the usage report lists such calls).
-- Cached input tokens are part of the input tokens (as the API reports them) and billed at the cached rate.
create or replace function private.ai_cost_usd(
  p_provider text, p_model text, p_input_tokens integer, p_cached_tokens integer, p_output_tokens integer
) returns numeric
language sql stable
set search_path = ''
as $$
  select round((
      greatest(coalesce(p_input_tokens, 0) - coalesce(p_cached_tokens, 0), 0) * pr.input_usd_per_mtok
      + coalesce(p_cached_tokens, 0) * pr.cached_input_usd_per_mtok
      + coalesce(p_output_tokens, 0) * pr.output_usd_per_mtok
    ) / 1000000.0, 8)
  from private.ai_model_price(p_provider, p_model) pr
  where pr.provider is not null
$$;

revoke all on function private.ai_model_price(text, text), private.ai_cost_usd(text, text, integer, integer, integer)
  from public;
grant execute on function private.ai_model_price(text, text), private.ai_cost_usd(text, text, integer, integer, integer)
  to service_role;

alter table public.ai_model_prices enable row level security;

drop policy if exists "signed-in users read model prices" on public.ai_model_prices;
create policy "signed-in users read model prices" on public.ai_model_prices
  for select to authenticated using (true);

revoke all on table public.ai_model_prices from anon, authenticated;
grant select on table public.ai_model_prices to authenticated;
grant all on table public.ai_model_prices to service_role;
