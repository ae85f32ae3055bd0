-- What lead scoring writes back (score and temperature exist on leads already) and the lead as the
-- orchestrator reads it. The score update is an ordinary update, so it emits lead.updated like any other.

alter table public.leads add column if not exists score_reasons jsonb not null default '[]'::jsonb;
alter table public.leads add column if not exists scored_at timestamptz;
do $$
begin
  if not exists (select 1 from pg_constraint where conname = 'leads_score_reasons_array') then
    alter table public.leads add constraint leads_score_reasons_array
      check (jsonb_typeof(score_reasons) = 'array');
  end if;
end
$$;

-- The lead's fields plus its tenant's locale, or NULL when the tenant has no such lead.
create or replace function public.ai_lead_context(p_tenant_id uuid, p_lead_id uuid) returns jsonb
language sql stable security definer
set search_path = ''
as $$
  select to_jsonb(l) || jsonb_build_object('tenant_locale', t.locale)
  from public.leads l
  join public.tenants t on t.id = l.tenant_id
  where l.id = p_lead_id and l.tenant_id = p_tenant_id
$$;

revoke all on function public.ai_lead_context(uuid, uuid) from public, anon, authenticated;
grant execute on function public.ai_lead_context(uuid, uuid) to service_role;
