-- Autopilot settings: how far the AI may answer a lead on its own, per tenant, overridable per channel and
-- per lead. A row with neither channel nor lead_id is the tenant's; a channel row overrides it for that
-- channel, a lead row for that lead (the most specific non-null value wins, field by field; a field left
-- null inherits). salesflow.autopilot.settings resolves them; what no row says takes the defaults there
-- (mode off: nobody gets automatic drafts without choosing them).
--
-- mode                     off | assist (a draft waits in the approval queue) | one_click (a draft a member
--                          sends with one call) | auto (sent when confident, allowed and unguarded)
-- min_confidence           0-1, auto sends only at or above it
-- max_per_lead_per_day     automatic sends to one lead within 24 hours
-- max_per_tenant_per_day   automatic sends of the tenant within 24 hours
-- quiet_start, quiet_end   no automatic send between them, in the lead's time zone (may wrap midnight)
-- kill_switch              true: nothing is drafted or sent by the autopilot at all
-- draft_ttl_hours          a draft not approved within this many hours expires and never sends
-- Owners and admins change settings; members read them.

create table if not exists public.autopilot_settings (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  channel public.message_channel,
  lead_id uuid,
  mode text,
  min_confidence numeric(4, 3),
  max_per_lead_per_day integer,
  max_per_tenant_per_day integer,
  quiet_start time,
  quiet_end time,
  kill_switch boolean,
  draft_ttl_hours integer,
  updated_by uuid references auth.users (id) on delete set null,
  updated_at timestamptz not null default now(),
  constraint autopilot_settings_lead_fk foreign key (lead_id, tenant_id)
    references public.leads (id, tenant_id) on delete cascade,
  constraint autopilot_settings_one_scope unique nulls not distinct (tenant_id, channel, lead_id),
  constraint autopilot_settings_channel_or_lead check (channel is null or lead_id is null),
  constraint autopilot_settings_mode_allowed check (mode is null or mode in ('off', 'assist', 'one_click', 'auto')),
  constraint autopilot_settings_confidence_range check (min_confidence is null or min_confidence between 0 and 1),
  constraint autopilot_settings_caps_range check (
    (max_per_lead_per_day is null or max_per_lead_per_day between 0 and 1000)
    and (max_per_tenant_per_day is null or max_per_tenant_per_day between 0 and 1000000)),
  constraint autopilot_settings_quiet_hours check ((quiet_start is null) = (quiet_end is null)),
  constraint autopilot_settings_ttl_range check (draft_ttl_hours is null or draft_ttl_hours between 1 and 720)
);

create index if not exists autopilot_settings_lead_idx on public.autopilot_settings (lead_id, tenant_id)
  where lead_id is not null;
create index if not exists autopilot_settings_updated_by_idx on public.autopilot_settings (updated_by)
  where updated_by is not null;

drop trigger if exists a_row_keeps_its_tenant on public.autopilot_settings;
create trigger a_row_keeps_its_tenant before update of tenant_id on public.autopilot_settings
  for each row when (old.tenant_id is distinct from new.tenant_id) execute function private.refuse_tenant_move();

alter table public.autopilot_settings enable row level security;

drop policy if exists "members read their tenant's autopilot settings" on public.autopilot_settings;
create policy "members read their tenant's autopilot settings" on public.autopilot_settings
  for select to authenticated
  using (tenant_id = (select private.tenant_id()));

drop policy if exists "owners and admins add autopilot settings" on public.autopilot_settings;
create policy "owners and admins add autopilot settings" on public.autopilot_settings
  for insert to authenticated
  with check (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'));

drop policy if exists "owners and admins change autopilot settings" on public.autopilot_settings;
create policy "owners and admins change autopilot settings" on public.autopilot_settings
  for update to authenticated
  using (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'))
  with check (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'));

drop policy if exists "owners and admins remove autopilot settings" on public.autopilot_settings;
create policy "owners and admins remove autopilot settings" on public.autopilot_settings
  for delete to authenticated
  using (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'));

revoke all on table public.autopilot_settings from anon, authenticated;
grant select, insert, update, delete on table public.autopilot_settings to authenticated;
grant all on table public.autopilot_settings to service_role;
