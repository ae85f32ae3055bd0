-- Leads gain what sending and reporting need: the lead's time zone (sending windows and quiet hours are the
-- lead's), their language (which prompts, templates and full-text configuration apply), and the deal's value.
--
-- timezone  an IANA name known to this server (pg_timezone_names); null = unknown, the tenant's applies.
--           Checked by a trigger, not a CHECK: pg_timezone_names reads the zone files on every call, and a
--           CHECK would run on every update of the row (status changes included); the trigger only when the
--           column is written.
-- locale    de | en (the same list as tenants.locale); null = the tenant's.
-- deal_value, currency  numeric amount, ISO 4217 code (three capital letters); a value needs its currency.
--
-- And (id, tenant_id) is unique, so conversation tables can reference a lead *of their own tenant*: a
-- composite foreign key makes a row that points at another tenant's lead impossible, even for service code
-- (which bypasses RLS).

alter table public.leads add column if not exists timezone text;
alter table public.leads add column if not exists locale text;
alter table public.leads add column if not exists deal_value numeric(14, 2);
alter table public.leads add column if not exists currency text;

alter table public.leads drop constraint if exists leads_locale_allowed;
alter table public.leads add constraint leads_locale_allowed check (locale is null or locale in ('de', 'en'));
alter table public.leads drop constraint if exists leads_deal_value_range;
alter table public.leads add constraint leads_deal_value_range check (deal_value is null or deal_value >= 0);
alter table public.leads drop constraint if exists leads_currency_format;
alter table public.leads add constraint leads_currency_format check (currency is null or currency ~ '^[A-Z]{3}$');
alter table public.leads drop constraint if exists leads_deal_value_has_currency;
alter table public.leads add constraint leads_deal_value_has_currency
  check (deal_value is null or currency is not null);

create unique index if not exists leads_id_tenant_key on public.leads (id, tenant_id);

create or replace function private.leads_check_timezone() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if not exists (select 1 from pg_catalog.pg_timezone_names z where z.name = new.timezone) then
    raise exception 'leads.timezone: % is not a known time zone', quote_literal(new.timezone)
      using errcode = '23514', column = 'timezone',
            hint = 'use an IANA time zone name such as Europe/Berlin (the names in pg_timezone_names), or null';
  end if;
  return new;
end
$$;
revoke all on function private.leads_check_timezone() from public, anon, authenticated;

drop trigger if exists leads_check_timezone on public.leads;
create trigger leads_check_timezone before insert or update of timezone on public.leads
  for each row when (new.timezone is not null) execute function private.leads_check_timezone();

comment on column public.leads.timezone is 'IANA time zone of the lead (pg_timezone_names); null: the tenant''s.';
comment on column public.leads.locale is 'de | en; null: the tenant''s locale.';
comment on column public.leads.deal_value is 'Expected deal value in currency (ISO 4217).';
