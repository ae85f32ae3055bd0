-- The operator's allow-list of paid models: the only models a prompt may name (`model_config.models`) and the
-- only models the orchestrator sends requests to. Tenant admins publish prompts, so without it a tenant
-- could route calls to any model the API key reaches, at the operator's expense. Members read the list
-- (to choose among its models); only the operator writes it (service_role, or the database owner through
-- `salesflow ai models allow | remove`). A model is named exactly as it is requested; its price comes from
-- `ai_model_prices` (an allowed model without a price is still refused, at publish and at call time).
-- The local provider is not listed: it costs nothing and every route ends with it.

create table if not exists public.ai_models (
  provider text not null check (provider ~ '^[a-z][a-z0-9_-]{0,39}$'),
  model text not null check (length(btrim(model)) between 1 and 200),
  created_at timestamptz not null default now(),
  primary key (provider, model)
);

-- The models the packaged routes use (salesflow/ai/routes.py MODEL_GROUPS) and the other priced ones.
insert into public.ai_models (provider, model)
values
  ('openai', 'gpt-4o-mini'),
  ('openai', 'gpt-4o'),
  ('openai', 'gpt-4.1-nano'),
  ('openai', 'gpt-4.1-mini'),
  ('openai', 'gpt-4.1')
on conflict (provider, model) do nothing;

alter table public.ai_models enable row level security;

drop policy if exists "signed-in users read the allowed models" on public.ai_models;
create policy "signed-in users read the allowed models" on public.ai_models
  for select to authenticated using (true);

revoke all on table public.ai_models from public, anon, authenticated;
grant select on table public.ai_models to authenticated;
grant all on table public.ai_models to service_role;
