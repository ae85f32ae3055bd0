-- A prompt version may only name models from the operator's allow-list that have a price. Checked by a
-- trigger on `ai_prompts`, so it holds for every way a version is written: `ai_publish_prompt` (the CLI,
-- service code) and a tenant admin's direct insert over PostgREST. The rest of `model_config` is checked
-- too, so a setting the orchestrator would ignore or misread is refused instead of stored.
-- Versions stored before this migration are not re-checked here; the orchestrator refuses an unlisted or
-- unpriced model at call time, before any request (ai_reserve_budget), so they cannot spend either.

-- Checks a prompt's model config; the message names the setting (and the model), the hint what is allowed.
create or replace function private.ai_check_model_config(p_model_config jsonb) returns void
language plpgsql stable security definer
set search_path = ''
as $$
declare
  setting text;
  model_name text;
  listed text;
begin
  if p_model_config is null or jsonb_typeof(p_model_config) <> 'object' then
    raise exception 'ai_prompts.model_config: must be an object'
      using errcode = '22023', column = 'model_config';
  end if;
  for setting in select jsonb_object_keys(p_model_config) loop
    if setting not in ('models', 'model_group', 'temperature', 'max_tokens') then
      raise exception 'ai_prompts.model_config.%: unknown setting', setting
        using errcode = '22023', column = 'model_config',
              hint = 'allowed settings: models, model_group, temperature, max_tokens';
    end if;
  end loop;
  if p_model_config ? 'model_group' and (jsonb_typeof(p_model_config -> 'model_group') <> 'string'
      or (p_model_config ->> 'model_group') !~ '^[a-z][a-z0-9_-]{0,39}$') then
    raise exception 'ai_prompts.model_config.model_group: must be a group name like "fast" or "smart"'
      using errcode = '22023', column = 'model_config';
  end if;
  -- Numbers are cast only once they are known to be numbers (OR does not promise to short-circuit).
  if p_model_config ? 'temperature' and (jsonb_typeof(p_model_config -> 'temperature') <> 'number'
      or case when jsonb_typeof(p_model_config -> 'temperature') = 'number'
              then (p_model_config ->> 'temperature')::numeric not between 0 and 2 end) then
    raise exception 'ai_prompts.model_config.temperature: must be a number from 0 to 2 (got %)',
      p_model_config -> 'temperature'
      using errcode = '22023', column = 'model_config';
  end if;
  if p_model_config ? 'max_tokens' and (jsonb_typeof(p_model_config -> 'max_tokens') <> 'number'
      or case when jsonb_typeof(p_model_config -> 'max_tokens') = 'number'
              then (p_model_config ->> 'max_tokens')::numeric < 1
                   or (p_model_config ->> 'max_tokens')::numeric <> trunc((p_model_config ->> 'max_tokens')::numeric)
         end) then
    raise exception 'ai_prompts.model_config.max_tokens: must be a whole number of at least 1 (got %)',
      p_model_config -> 'max_tokens'
      using errcode = '22023', column = 'model_config';
  end if;
  if not p_model_config ? 'models' then
    return;
  end if;
  if jsonb_typeof(p_model_config -> 'models') <> 'array' or jsonb_array_length(p_model_config -> 'models') = 0 then
    raise exception 'ai_prompts.model_config.models: must be a non-empty list of model names'
      using errcode = '22023', column = 'model_config';
  end if;
  select coalesce(string_agg(distinct a.model, ', ' order by a.model), 'none') into listed
  from public.ai_models a
  where (private.ai_model_price(a.provider, a.model)).provider is not null;
  for i in 0 .. jsonb_array_length(p_model_config -> 'models') - 1 loop
    if jsonb_typeof(p_model_config -> 'models' -> i) <> 'string' then
      raise exception 'ai_prompts.model_config.models[%]: must be a model name (a string)', i
        using errcode = '22023', column = 'model_config';
    end if;
    model_name := p_model_config -> 'models' ->> i;
    if not exists (select 1 from public.ai_models a where a.model = model_name) then
      raise exception 'ai_prompts.model_config.models[%]: model "%" is not on the operator''s allow-list', i, model_name
        using errcode = '22023', column = 'model_config', hint = 'allowed models: ' || listed;
    end if;
    if not exists (select 1 from public.ai_models a
                   where a.model = model_name and (private.ai_model_price(a.provider, a.model)).provider is not null) then
      raise exception 'ai_prompts.model_config.models[%]: model "%" has no price in ai_model_prices', i, model_name
        using errcode = '22023', column = 'model_config', hint = 'allowed models: ' || listed;
    end if;
  end loop;
end
$$;

create or replace function private.ai_prompts_check_model_config() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform private.ai_check_model_config(new.model_config);
  return new;
end
$$;

drop trigger if exists ai_prompts_check_model_config on public.ai_prompts;
create trigger ai_prompts_check_model_config before insert or update of model_config on public.ai_prompts
  for each row execute function private.ai_prompts_check_model_config();

revoke all on function private.ai_check_model_config(jsonb), private.ai_prompts_check_model_config()
  from public, anon, authenticated;
