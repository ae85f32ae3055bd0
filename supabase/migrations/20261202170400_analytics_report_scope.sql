-- What every analytics report function starts from: whose data, which days, in which time zone.
--
-- private.analytics_scope(function, tenant, from, to, tz) checks the report arguments and returns the tenant
-- (a member's own: the token's, and p_tenant_id may only repeat it; service code and direct sessions name one
-- with p_tenant_id), the time zone (p_tz, else the tenant's, else UTC), the first and last day (default the
-- last 90 days up to today in that zone) and the half-open instant range [starts, ends) those days cover.
-- Errors name the parameter (SQLSTATE 22023), or 42501 for a caller without a tenant.

create or replace function private.analytics_scope(
  p_function text, p_tenant_id uuid, p_from date, p_to date, p_tz text,
  out tenant_id uuid, out zone text, out first_day date, out last_day date, out starts timestamptz,
  out ends timestamptz
)
language plpgsql stable
set search_path = ''
as $$
declare
  member_tenant uuid := private.tenant_id();
  role_ text := coalesce(private.jwt_claims() ->> 'role', 'service_role');
begin
  if member_tenant is not null then
    if p_tenant_id is not null and p_tenant_id <> member_tenant then
      raise exception '%.p_tenant_id: you can only report on the tenant you are signed in to', p_function
        using errcode = '42501';
    end if;
    tenant_id := member_tenant;
  elsif role_ = 'service_role' then
    if p_tenant_id is null then
      raise exception '%.p_tenant_id: service code names the tenant to report on', p_function
        using errcode = '22023';
    end if;
    tenant_id := p_tenant_id;
  else
    raise exception '%: sign in as a member of a tenant', p_function using errcode = '42501';
  end if;
  if p_tz is not null and not private.is_time_zone(p_tz) then
    raise exception '%.p_tz: % is not a known time zone', p_function, quote_literal(p_tz)
      using errcode = '22023', hint = 'use an IANA time zone name such as Europe/Berlin';
  end if;
  zone := coalesce(p_tz, private.analytics_tenant_timezone(tenant_id));
  last_day := coalesce(p_to, (now() at time zone zone)::date);
  first_day := coalesce(p_from, last_day - 89);
  if first_day > last_day then
    raise exception '%.p_from: % is after p_to %', p_function, first_day, last_day using errcode = '22023';
  end if;
  starts := first_day::timestamp at time zone zone;
  ends := (last_day + 1)::timestamp at time zone zone;
end
$$;

revoke all on function private.analytics_scope(text, uuid, date, date, text) from public, anon;
grant execute on function private.analytics_scope(text, uuid, date, date, text) to authenticated, service_role;
