-- leads.timezone was checked against pg_catalog.pg_timezone_names on every insert and update, and that view
-- reads the whole time zone database each time: ~25 ms a row, so 100,000 leads with time zones took ~40 minutes
-- to insert (measured by ./scripts/bench sequences). The names are copied once into an indexed table and
-- looked up there; a name not in the copy (tzdata updated after this migration) is still looked up in
-- pg_timezone_names, so nothing valid is refused and names stay exact (case matters: zoneinfo is case-sensitive).
-- private.is_time_zone is the one check of a zone name: leads, sequences, analytics and the autopilot use it.
create table if not exists private.time_zone_names (name text primary key);
insert into private.time_zone_names (name) select z.name from pg_catalog.pg_timezone_names z on conflict do nothing;
alter table private.time_zone_names enable row level security;
revoke all on table private.time_zone_names from public, anon, authenticated;
grant select on table private.time_zone_names to service_role;

create or replace function private.is_time_zone(p_name text) returns boolean
language plpgsql stable security definer
set search_path = ''
as $$
begin
  if exists (select 1 from private.time_zone_names t where t.name = p_name) then
    return true;  -- the common case: an index probe
  end if;
  return exists (select 1 from pg_catalog.pg_timezone_names z where z.name = p_name);
end
$$;
revoke all on function private.is_time_zone(text) from public, anon;
grant execute on function private.is_time_zone(text) to authenticated, service_role;

create or replace function private.leads_check_timezone() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if not private.is_time_zone(new.timezone) then
    raise exception 'leads.timezone: % is not a known time zone', quote_literal(new.timezone)
      using errcode = '23514', column = 'timezone',
            hint = 'use an IANA time zone name such as Europe/Berlin (the names in pg_timezone_names), or null';
  end if;
  return new;
end
$$;
