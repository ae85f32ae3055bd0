-- Follow-up sequences and their steps (issue 11): what is sent, on which channel, how long after the previous
-- step, and when sending is allowed.
--
-- sequences
--   status         active | paused (due steps wait; resuming schedules them again) | archived (every enrollment
--                  stops). A status change applies itself by trigger (20261202180300_sequence_functions.sql).
--   send_days      ISO weekdays (1 = Monday … 7 = Sunday) on which steps are sent; send_from / send_until the
--                  hours, both in the LEAD's time zone (leads.timezone, else the sequence's `timezone`).
--   holiday_country / holiday_subdivision  public holidays (the Python `holidays` package, ISO 3166 codes such
--                  as DE / BY, AT, US / NY) on which nothing is sent; null = none.
--   daily_cap_tenant  at most this many sequence messages per day across the tenant's sequences; daily_cap_sender
--                  at most this many per sending channel; the day is the sequence time zone's. A step over a
--                  cap moves to the next allowed day, it is never skipped. null = no cap.
--   on_reply       stop | pause: what an inbound message from the lead (not an auto-reply) does to its enrollments.
-- sequence_steps
--   position       1, 2, …: the order. delay_hours or delay_business_days after the previous step (the first
--                  step: after enrolling). kind message (`template` with {{placeholders}}), ai_message (the
--                  followup_message scenario) or task (`task` for a person; the enrollment pauses until a member
--                  completes it). condition always | no_reply (skipped once the lead replied) | engaged (sent
--                  only if the lead replied or read a message).

create table if not exists public.sequences (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  name text not null,
  status text not null default 'active',
  send_days smallint[] not null default '{1,2,3,4,5}'::smallint[],
  send_from time not null default '09:00',
  send_until time not null default '17:00',
  timezone text not null default 'Europe/Berlin',
  holiday_country text,
  holiday_subdivision text,
  daily_cap_tenant integer,
  daily_cap_sender integer,
  on_reply text not null default 'stop',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint sequences_name_length check (length(btrim(name)) between 1 and 200),
  constraint sequences_status_allowed check (status in ('active', 'paused', 'archived')),
  constraint sequences_send_days_allowed
    check (cardinality(send_days) between 1 and 7 and send_days <@ '{1,2,3,4,5,6,7}'::smallint[]),
  constraint sequences_window_order check (send_from < send_until),
  constraint sequences_holiday_country_code check (holiday_country is null or holiday_country ~ '^[A-Z]{2}$'),
  constraint sequences_holiday_subdivision_needs_country
    check (holiday_subdivision is null or (holiday_country is not null and length(holiday_subdivision) <= 10)),
  constraint sequences_caps_positive
    check (coalesce(daily_cap_tenant, 1) >= 1 and coalesce(daily_cap_sender, 1) >= 1),
  constraint sequences_on_reply_allowed check (on_reply in ('stop', 'pause'))
);

create unique index if not exists sequences_id_tenant_key on public.sequences (id, tenant_id);
create unique index if not exists sequences_tenant_name_key on public.sequences (tenant_id, lower(name))
  where status <> 'archived';

-- The time zone must be one this server knows (as leads.timezone): a trigger, because pg_timezone_names reads
-- the zone files and a CHECK would run on every update.
create or replace function private.sequences_check_timezone() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if not private.is_time_zone(new.timezone) then
    raise exception 'sequences.timezone: % is not a known time zone', quote_literal(new.timezone)
      using errcode = '23514', column = 'timezone',
            hint = 'use an IANA time zone name such as Europe/Vienna (the names in pg_timezone_names)';
  end if;
  new.updated_at := now();
  return new;
end
$$;
revoke all on function private.sequences_check_timezone() from public, anon, authenticated;

drop trigger if exists sequences_check_timezone on public.sequences;
create trigger sequences_check_timezone before insert or update on public.sequences
  for each row execute function private.sequences_check_timezone();

drop trigger if exists a_row_keeps_its_tenant on public.sequences;
create trigger a_row_keeps_its_tenant before update of tenant_id on public.sequences
  for each row when (old.tenant_id is distinct from new.tenant_id) execute function private.refuse_tenant_move();

create table if not exists public.sequence_steps (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  sequence_id uuid not null,
  position integer not null,
  kind text not null default 'message',
  channel public.message_channel,
  template text,
  task text,
  delay_hours numeric(8, 2) not null default 0,
  delay_business_days integer not null default 0,
  condition text not null default 'always',
  created_at timestamptz not null default now(),
  constraint sequence_steps_sequence_fk foreign key (sequence_id, tenant_id)
    references public.sequences (id, tenant_id) on delete cascade,
  constraint sequence_steps_position_positive check (position between 1 and 100),
  constraint sequence_steps_kind_allowed check (kind in ('message', 'ai_message', 'task')),
  constraint sequence_steps_message_has_channel check (kind = 'task' or channel is not null),
  constraint sequence_steps_message_has_template
    check (kind <> 'message' or coalesce(length(btrim(template)), 0) between 1 and 4096),
  constraint sequence_steps_task_has_text check (kind <> 'task' or coalesce(length(btrim(task)), 0) between 1 and 500),
  constraint sequence_steps_delay_range
    check (delay_hours between 0 and 8760 and delay_business_days between 0 and 365),
  constraint sequence_steps_one_delay check (delay_hours = 0 or delay_business_days = 0),
  constraint sequence_steps_condition_allowed check (condition in ('always', 'no_reply', 'engaged'))
);

create unique index if not exists sequence_steps_position_key on public.sequence_steps (sequence_id, tenant_id, position);
create unique index if not exists sequence_steps_id_tenant_key on public.sequence_steps (id, tenant_id);
create index if not exists sequence_steps_tenant_idx on public.sequence_steps (tenant_id);

drop trigger if exists a_row_keeps_its_tenant on public.sequence_steps;
create trigger a_row_keeps_its_tenant before update of tenant_id on public.sequence_steps
  for each row when (old.tenant_id is distinct from new.tenant_id) execute function private.refuse_tenant_move();

alter table public.sequences enable row level security;
alter table public.sequence_steps enable row level security;

drop policy if exists "members read their tenant's sequences" on public.sequences;
create policy "members read their tenant's sequences" on public.sequences
  for select to authenticated using (tenant_id = (select private.tenant_id()));
drop policy if exists "members create their tenant's sequences" on public.sequences;
create policy "members create their tenant's sequences" on public.sequences
  for insert to authenticated with check (tenant_id = (select private.tenant_id()));
drop policy if exists "members change their tenant's sequences" on public.sequences;
create policy "members change their tenant's sequences" on public.sequences
  for update to authenticated using (tenant_id = (select private.tenant_id()))
  with check (tenant_id = (select private.tenant_id()));
drop policy if exists "members delete their tenant's sequences" on public.sequences;
create policy "members delete their tenant's sequences" on public.sequences
  for delete to authenticated using (tenant_id = (select private.tenant_id()));

drop policy if exists "members read their tenant's sequence steps" on public.sequence_steps;
create policy "members read their tenant's sequence steps" on public.sequence_steps
  for select to authenticated using (tenant_id = (select private.tenant_id()));
drop policy if exists "members create their tenant's sequence steps" on public.sequence_steps;
create policy "members create their tenant's sequence steps" on public.sequence_steps
  for insert to authenticated with check (tenant_id = (select private.tenant_id()));
drop policy if exists "members change their tenant's sequence steps" on public.sequence_steps;
create policy "members change their tenant's sequence steps" on public.sequence_steps
  for update to authenticated using (tenant_id = (select private.tenant_id()))
  with check (tenant_id = (select private.tenant_id()));
drop policy if exists "members delete their tenant's sequence steps" on public.sequence_steps;
create policy "members delete their tenant's sequence steps" on public.sequence_steps
  for delete to authenticated using (tenant_id = (select private.tenant_id()));

revoke all on table public.sequences, public.sequence_steps from anon, authenticated;
grant select, insert, update, delete on table public.sequences, public.sequence_steps to authenticated;
grant all on table public.sequences, public.sequence_steps to service_role;
