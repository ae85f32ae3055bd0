-- private.analytics_tenant_timezone is executable by members (their reports and the rollup triggers their
-- writes fire call it), so it answered any tenant's time zone to anyone who knew the tenant's id. A member now
-- gets only their own tenant's zone; for another tenant the answer is UTC, which tells nothing. Service code
-- (service_role, the database owner) still gets every tenant's.
create or replace function private.analytics_tenant_timezone(p_tenant_id uuid) returns text
language plpgsql stable security definer
set search_path = ''
as $$
declare
  zone text;
begin
  if (select auth.role()) in ('authenticated', 'anon') and p_tenant_id is distinct from (select private.tenant_id()) then
    return 'UTC';
  end if;
  select t.settings ->> 'timezone' into zone from public.tenants t where t.id = p_tenant_id;
  if zone is null or zone = 'UTC' then
    return 'UTC';
  end if;
  if private.is_time_zone(zone) then
    return zone;
  end if;
  return 'UTC';
end
$$;

comment on function private.analytics_tenant_timezone(uuid) is
  'The reporting time zone of a tenant (tenants.settings.timezone, UTC when unset or unknown); members get their own tenant''s only.';
