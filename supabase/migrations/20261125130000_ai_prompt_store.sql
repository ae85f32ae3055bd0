-- The prompt store: versioned chat templates per scenario and locale, global or a tenant's own, with
-- labels (`production` is what is served by default). Mirrors Langfuse's prompt management: publishing
-- appends a version, moving a label is one upsert, and every AI call records the version it used.
-- The orchestrator calls the `public.ai_*` functions (service_role only), over psycopg or PostgREST.

create table if not exists public.ai_prompts (
  id uuid primary key default gen_random_uuid(),
  name text not null check (name ~ '^[a-z][a-z0-9_]{0,62}$'),
  locale text not null check (locale in ('de', 'en')),
  tenant_id uuid references public.tenants (id) on delete cascade, -- null: the global prompt
  version integer not null check (version >= 1),
  messages jsonb not null
    check (jsonb_typeof(messages) = 'array' and jsonb_array_length(messages) >= 1),
  model_config jsonb not null default '{}'::jsonb check (jsonb_typeof(model_config) = 'object'),
  commit_message text,
  created_at timestamptz not null default now(),
  constraint ai_prompts_version_key unique nulls not distinct (name, locale, tenant_id, version)
);
create index if not exists ai_prompts_tenant_idx on public.ai_prompts (tenant_id) where tenant_id is not null;

-- A label points at one version of one (name, locale, tenant) prompt. name/locale/tenant_id/version are
-- copied from the prompt by a trigger, so they cannot disagree with it.
create table if not exists public.ai_prompt_labels (
  prompt_id uuid not null references public.ai_prompts (id) on delete cascade,
  label text not null check (label ~ '^[a-z][a-z0-9_-]{0,39}$'),
  name text not null,
  locale text not null,
  tenant_id uuid references public.tenants (id) on delete cascade,
  version integer not null,
  updated_at timestamptz not null default now(),
  constraint ai_prompt_labels_key unique nulls not distinct (name, locale, tenant_id, label)
);
create index if not exists ai_prompt_labels_prompt_idx on public.ai_prompt_labels (prompt_id);

create or replace function private.ai_prompt_labels_fill() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  select p.name, p.locale, p.tenant_id, p.version
    into new.name, new.locale, new.tenant_id, new.version
  from public.ai_prompts p where p.id = new.prompt_id;
  new.updated_at := now();
  return new;
end
$$;

drop trigger if exists ai_prompt_labels_fill on public.ai_prompt_labels;
create trigger ai_prompt_labels_fill before insert or update on public.ai_prompt_labels
  for each row execute function private.ai_prompt_labels_fill();

-- Checks a chat template; the message names the element and field.
create or replace function private.ai_check_messages(p_messages jsonb) returns void
language plpgsql immutable
set search_path = ''
as $$
declare
  m jsonb;
begin
  if p_messages is null or jsonb_typeof(p_messages) <> 'array' or jsonb_array_length(p_messages) = 0 then
    raise exception 'ai_prompts.messages: must be a non-empty array of {role, content}'
      using errcode = '22023', column = 'messages';
  end if;
  for i in 0 .. jsonb_array_length(p_messages) - 1 loop
    m := p_messages -> i;
    if jsonb_typeof(m) <> 'object' or coalesce(m ->> 'role', '') not in ('system', 'user', 'assistant') then
      raise exception 'ai_prompts.messages[%].role: must be system, user or assistant', i
        using errcode = '22023', column = 'messages';
    end if;
    if jsonb_typeof(m -> 'content') is distinct from 'string' or btrim(m ->> 'content') = '' then
      raise exception 'ai_prompts.messages[%].content: must be a non-empty string', i
        using errcode = '22023', column = 'messages';
    end if;
  end loop;
end
$$;

-- Move (or create) a label: one statement, so readers see the old or the new version, never neither.
create or replace function public.ai_set_prompt_label(
  p_name text, p_locale text, p_version integer, p_label text, p_tenant_id uuid default null
) returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  pid uuid;
begin
  select p.id into pid from public.ai_prompts p
  where p.name = p_name and p.locale = p_locale and p.tenant_id is not distinct from p_tenant_id
    and p.version = p_version;
  if pid is null then
    raise exception 'ai_prompts: prompt % (locale %, %) has no version %', p_name, p_locale,
      coalesce('tenant ' || p_tenant_id::text, 'global'), p_version
      using errcode = 'P0002', column = 'version';
  end if;
  insert into public.ai_prompt_labels as l (prompt_id, label, name, locale, tenant_id, version)
  values (pid, p_label, p_name, p_locale, p_tenant_id, p_version)
  on conflict on constraint ai_prompt_labels_key do update set prompt_id = excluded.prompt_id;
  return jsonb_build_object('name', p_name, 'locale', p_locale, 'tenant_id', p_tenant_id,
                            'version', p_version, 'label', p_label);
end
$$;

-- Publish a new version (the next number for this name, locale and tenant) and attach labels to it.
-- `p_labels` is a jsonb array of strings, not text[]: list arguments travel as JSON arrays on every
-- transport, PostgREST request bodies and the handlers' TenantData.rpc (which sends lists as jsonb).
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

-- The prompt to serve: the labelled version, the tenant's locale before the other, the tenant's own
-- prompt before the global one. NULL when there is none.
create or replace function public.ai_resolve_prompt(
  p_name text, p_tenant_id uuid default null, p_label text default 'production', p_locale text default null
) returns jsonb
language sql stable security definer
set search_path = ''
as $$
  select jsonb_build_object(
    'name', p.name, 'version', p.version, 'locale', p.locale, 'tenant_id', p.tenant_id,
    'messages', p.messages, 'model_config', p.model_config, 'label', l.label)
  from public.ai_prompt_labels l
  join public.ai_prompts p on p.id = l.prompt_id
  where l.name = p_name
    and l.label = coalesce(p_label, 'production')
    and (l.tenant_id is null or l.tenant_id = p_tenant_id)
  order by
    l.locale = coalesce(p_locale, (select t.locale from public.tenants t where t.id = p_tenant_id), 'de') desc,
    l.tenant_id is not null desc
  limit 1
$$;

revoke all on function public.ai_set_prompt_label(text, text, integer, text, uuid),
  public.ai_publish_prompt(text, text, jsonb, jsonb, uuid, jsonb, text),
  public.ai_resolve_prompt(text, uuid, text, text)
  from public, anon, authenticated;
grant execute on function public.ai_set_prompt_label(text, text, integer, text, uuid),
  public.ai_publish_prompt(text, text, jsonb, jsonb, uuid, jsonb, text),
  public.ai_resolve_prompt(text, uuid, text, text)
  to service_role;
revoke all on function private.ai_check_messages(jsonb), private.ai_prompt_labels_fill() from public;

alter table public.ai_prompts enable row level security;
alter table public.ai_prompt_labels enable row level security;

drop policy if exists "members read global prompts and their tenant's own" on public.ai_prompts;
create policy "members read global prompts and their tenant's own" on public.ai_prompts
  for select to authenticated
  using (tenant_id is null or tenant_id = private.tenant_id());

drop policy if exists "owners and admins add their tenant's prompt versions" on public.ai_prompts;
create policy "owners and admins add their tenant's prompt versions" on public.ai_prompts
  for insert to authenticated
  with check (tenant_id = private.tenant_id() and private.tenant_role() in ('owner', 'admin'));

drop policy if exists "members read labels of global prompts and their tenant's own" on public.ai_prompt_labels;
create policy "members read labels of global prompts and their tenant's own" on public.ai_prompt_labels
  for select to authenticated
  using (tenant_id is null or tenant_id = private.tenant_id());

drop policy if exists "owners and admins move their tenant's prompt labels" on public.ai_prompt_labels;
create policy "owners and admins move their tenant's prompt labels" on public.ai_prompt_labels
  for all to authenticated
  using (tenant_id = private.tenant_id() and private.tenant_role() in ('owner', 'admin'))
  with check (tenant_id = private.tenant_id() and private.tenant_role() in ('owner', 'admin'));

revoke all on table public.ai_prompts, public.ai_prompt_labels from anon, authenticated;
grant select, insert on table public.ai_prompts to authenticated;
grant select, insert, update, delete on table public.ai_prompt_labels to authenticated;
grant all on table public.ai_prompts, public.ai_prompt_labels to service_role;
