-- Alerting: rules per tenant, the places alerts are sent, the alerts themselves and every send attempt.
--
-- alert_rules          one row per rule and tenant: a metric from a closed list (private.alert_metrics()),
--                      its window, threshold, minimum count (rates), cooldown, severity, enabled. Defaults are
--                      seeded for every tenant, existing ones here and new ones by a trigger on tenants.
--                      Members read them; owners and admins manage them. Bad input is refused by a check
--                      trigger naming the field (SQLSTATE 22023, `alert_rules.<field>: ...`).
-- notification_targets where alerts go: webhook (Slack-compatible JSON, Standard Webhooks signature), email
--                      (SMTP), dashboard (the alerts row itself, nothing is sent). Owners and admins only (a
--                      Slack webhook URL is a secret of its own); the signing secret lives apart in
--                      private.notification_target_secrets, which no member reads (like channel_credentials).
-- alerts               the dashboard contract: firing / resolved, dedup key, first and last seen, count, the
--                      failing events' ids. In the Realtime publication; members read their tenant's; only the
--                      evaluator (service role) writes.
-- alert_notifications  each queued send (firing, resolved, test) with its status, attempts and next retry.
-- private.listener_heartbeats  one row per listener process, beaten by its maintenance loop.
--
-- Metric semantics (threshold units in brackets):
--   failed_events               events failed in the last window_seconds >= threshold [count]
--   oldest_pending_age          a due pending event older than threshold [seconds]
--   handler_failure_rate        per handler: failed / finished deliveries of events created in the window
--                               >= threshold [0..1], with at least min_count deliveries
--   listener_heartbeat_missing  a listener that did not stop cleanly has not beaten for threshold [seconds]
--   ai_budget                   this month's AI spend >= threshold % of a budget [percent, e.g. 80 or 100]
--   webhook_signature_failures  failed / all inbound webhooks of the window >= threshold [0..1], min_count
--   channel_send_failures       per channel: outbound messages failed in the window >= threshold [count]

create or replace function private.alert_metrics() returns text[]
language sql immutable
set search_path = ''
as $$
  select array['failed_events', 'oldest_pending_age', 'handler_failure_rate', 'listener_heartbeat_missing',
               'ai_budget', 'webhook_signature_failures', 'channel_send_failures']
$$;
comment on function private.alert_metrics() is
  'The metrics an alert rule may watch. Mirrored by salesflow/alerts/rules.py METRICS.';
revoke all on function private.alert_metrics() from public, anon;
grant execute on function private.alert_metrics() to authenticated, service_role;

create or replace function private.alert_severity_rank(p_severity text) returns integer
language sql immutable
set search_path = ''
as $$
  select case p_severity when 'info' then 1 when 'warning' then 2 when 'critical' then 3 end
$$;
revoke all on function private.alert_severity_rank(text) from public, anon;
grant execute on function private.alert_severity_rank(text) to authenticated, service_role;

-- Rules ---------------------------------------------------------------------------------------------------

create table if not exists public.alert_rules (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  name text not null,
  metric text not null,
  window_seconds integer not null default 0,
  threshold numeric not null,
  min_count integer not null default 1,
  cooldown_seconds integer not null default 3600,
  severity text not null default 'warning',
  enabled boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- The check trigger below explains a bad value; these keep the promise should it ever be dropped.
  constraint alert_rules_metric_known check (metric = any (private.alert_metrics())),
  constraint alert_rules_window_range check (window_seconds between 0 and 2592000),
  constraint alert_rules_threshold_not_negative check (threshold >= 0),
  constraint alert_rules_min_count_range check (min_count between 1 and 1000000),
  constraint alert_rules_cooldown_range check (cooldown_seconds between 0 and 2592000),
  constraint alert_rules_severity_allowed check (severity in ('info', 'warning', 'critical'))
);
create unique index if not exists alert_rules_tenant_name_key on public.alert_rules (tenant_id, name);
create unique index if not exists alert_rules_id_tenant_key on public.alert_rules (id, tenant_id);
create index if not exists alert_rules_enabled_metric_idx on public.alert_rules (metric) where enabled;

create or replace function private.alert_rules_check() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  v_rate boolean := new.metric in ('handler_failure_rate', 'webhook_signature_failures');
  v_windowed boolean := new.metric in ('failed_events', 'handler_failure_rate', 'webhook_signature_failures',
                                       'channel_send_failures');
begin
  if new.name is null or new.name !~ '^[a-z][a-z0-9_.-]{0,62}$' then
    raise exception 'alert_rules.name: % is not a rule name (lower-case letters, digits, _ . -, up to 63, starting with a letter)',
      coalesce(quote_literal(new.name), 'null') using errcode = '22023', column = 'name';
  end if;
  if new.metric is null or not (new.metric = any (private.alert_metrics())) then
    raise exception 'alert_rules.metric: unknown metric % (allowed: %)', coalesce(quote_literal(new.metric), 'null'),
      array_to_string(private.alert_metrics(), ', ') using errcode = '22023', column = 'metric';
  end if;
  if new.severity is null or new.severity not in ('info', 'warning', 'critical') then
    raise exception 'alert_rules.severity: % is not one of info, warning, critical',
      coalesce(quote_literal(new.severity), 'null') using errcode = '22023', column = 'severity';
  end if;
  if new.window_seconds is null or new.window_seconds < 0 or new.window_seconds > 2592000 then
    raise exception 'alert_rules.window_seconds: must be between 0 and 2592000 seconds (30 days), got %',
      coalesce(new.window_seconds::text, 'null') using errcode = '22023', column = 'window_seconds';
  end if;
  if v_windowed and new.window_seconds = 0 then
    raise exception 'alert_rules.window_seconds: metric % counts over a window, so it must be > 0', new.metric
      using errcode = '22023', column = 'window_seconds';
  end if;
  if new.threshold is null or new.threshold < 0 then
    raise exception 'alert_rules.threshold: must be >= 0, got %', coalesce(new.threshold::text, 'null')
      using errcode = '22023', column = 'threshold';
  end if;
  if v_rate and new.threshold > 1 then
    raise exception 'alert_rules.threshold: metric % is a rate between 0 and 1, got %', new.metric, new.threshold
      using errcode = '22023', column = 'threshold';
  end if;
  if new.metric = 'ai_budget' and (new.threshold <= 0 or new.threshold > 1000) then
    raise exception 'alert_rules.threshold: metric ai_budget is a percentage of the budget (> 0 and <= 1000), got %',
      new.threshold using errcode = '22023', column = 'threshold';
  end if;
  if new.metric in ('failed_events', 'channel_send_failures') and new.threshold < 1 then
    raise exception 'alert_rules.threshold: metric % is a count, so it must be >= 1, got %', new.metric, new.threshold
      using errcode = '22023', column = 'threshold';
  end if;
  if new.metric in ('oldest_pending_age', 'listener_heartbeat_missing') and new.threshold <= 0 then
    raise exception 'alert_rules.threshold: metric % is an age in seconds, so it must be > 0, got %', new.metric,
      new.threshold using errcode = '22023', column = 'threshold';
  end if;
  if new.min_count is null or new.min_count < 1 or new.min_count > 1000000 then
    raise exception 'alert_rules.min_count: must be between 1 and 1000000, got %', coalesce(new.min_count::text, 'null')
      using errcode = '22023', column = 'min_count';
  end if;
  if new.cooldown_seconds is null or new.cooldown_seconds < 0 or new.cooldown_seconds > 2592000 then
    raise exception 'alert_rules.cooldown_seconds: must be between 0 and 2592000 seconds (30 days), got %',
      coalesce(new.cooldown_seconds::text, 'null') using errcode = '22023', column = 'cooldown_seconds';
  end if;
  new.updated_at := now();
  return new;
end
$$;
revoke all on function private.alert_rules_check() from public, anon, authenticated;

drop trigger if exists alert_rules_check on public.alert_rules;
create trigger alert_rules_check before insert or update on public.alert_rules
  for each row execute function private.alert_rules_check();

drop trigger if exists a_row_keeps_its_tenant on public.alert_rules;
create trigger a_row_keeps_its_tenant before update of tenant_id on public.alert_rules
  for each row when (old.tenant_id is distinct from new.tenant_id) execute function private.refuse_tenant_move();

-- The defaults every tenant starts with (owners and admins tune or disable them).
create or replace function private.seed_alert_rules(p_tenant_id uuid) returns void
language sql volatile security definer
set search_path = ''
as $$
  insert into public.alert_rules (tenant_id, name, metric, window_seconds, threshold, min_count, cooldown_seconds,
                                  severity)
  values
    (p_tenant_id, 'failed_events', 'failed_events', 900, 1, 1, 3600, 'critical'),
    (p_tenant_id, 'oldest_pending_age', 'oldest_pending_age', 0, 600, 1, 3600, 'warning'),
    (p_tenant_id, 'handler_failure_rate', 'handler_failure_rate', 900, 0.2, 20, 3600, 'warning'),
    (p_tenant_id, 'listener_heartbeat_missing', 'listener_heartbeat_missing', 0, 120, 1, 3600, 'critical'),
    (p_tenant_id, 'ai_budget_80', 'ai_budget', 0, 80, 1, 86400, 'warning'),
    (p_tenant_id, 'ai_budget_100', 'ai_budget', 0, 100, 1, 86400, 'critical'),
    (p_tenant_id, 'webhook_signature_failures', 'webhook_signature_failures', 900, 0.5, 5, 3600, 'warning'),
    (p_tenant_id, 'channel_send_failures', 'channel_send_failures', 900, 5, 1, 3600, 'warning')
  on conflict (tenant_id, name) do nothing
$$;
revoke all on function private.seed_alert_rules(uuid) from public, anon, authenticated;
grant execute on function private.seed_alert_rules(uuid) to service_role;

create or replace function private.tenants_seed_alert_rules() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform private.seed_alert_rules(new.id);
  return null;
end
$$;
revoke all on function private.tenants_seed_alert_rules() from public, anon, authenticated;

drop trigger if exists tenants_seed_alert_rules on public.tenants;
create trigger tenants_seed_alert_rules after insert on public.tenants
  for each row execute function private.tenants_seed_alert_rules();

select private.seed_alert_rules(t.id) from public.tenants t;

alter table public.alert_rules enable row level security;

drop policy if exists "members read their tenant's alert rules" on public.alert_rules;
create policy "members read their tenant's alert rules" on public.alert_rules
  for select to authenticated
  using (tenant_id = (select private.tenant_id()));

drop policy if exists "owners and admins add alert rules to their tenant" on public.alert_rules;
create policy "owners and admins add alert rules to their tenant" on public.alert_rules
  for insert to authenticated
  with check (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'));

drop policy if exists "owners and admins change alert rules of their tenant" on public.alert_rules;
create policy "owners and admins change alert rules of their tenant" on public.alert_rules
  for update to authenticated
  using (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'))
  with check (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'));

drop policy if exists "owners and admins remove alert rules of their tenant" on public.alert_rules;
create policy "owners and admins remove alert rules of their tenant" on public.alert_rules
  for delete to authenticated
  using (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'));

revoke all on table public.alert_rules from anon, authenticated;
grant select, insert, update, delete on table public.alert_rules to authenticated;
grant all on table public.alert_rules to service_role;

-- Targets -------------------------------------------------------------------------------------------------

create table if not exists public.notification_targets (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  name text not null,
  kind text not null,
  url text,
  email text,
  min_severity text not null default 'info',
  enabled boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint notification_targets_kind_allowed check (kind in ('webhook', 'email', 'dashboard')),
  constraint notification_targets_name_format check (name ~ '^[a-z][a-z0-9_.-]{0,62}$'),
  constraint notification_targets_webhook_url
    check ((kind = 'webhook') = (url is not null) and (url is null or url ~ '^https?://[^\s]+$' and length(url) <= 2000)),
  constraint notification_targets_email_address
    check ((kind = 'email') = (email is not null) and (email is null or email ~ '^[^@\s]+@[^@\s]+$' and length(email) <= 320)),
  constraint notification_targets_min_severity_allowed check (min_severity in ('info', 'warning', 'critical'))
);
create unique index if not exists notification_targets_tenant_name_key on public.notification_targets (tenant_id, name);
create unique index if not exists notification_targets_id_tenant_key on public.notification_targets (id, tenant_id);

create or replace function private.notification_targets_check() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.name is null or new.name !~ '^[a-z][a-z0-9_.-]{0,62}$' then
    raise exception 'notification_targets.name: % is not a target name (lower-case letters, digits, _ . -, up to 63, starting with a letter)',
      coalesce(quote_literal(new.name), 'null') using errcode = '22023', column = 'name';
  end if;
  if new.kind is null or new.kind not in ('webhook', 'email', 'dashboard') then
    raise exception 'notification_targets.kind: % is not one of webhook, email, dashboard',
      coalesce(quote_literal(new.kind), 'null') using errcode = '22023', column = 'kind';
  end if;
  if new.kind = 'webhook' and (new.url is null or new.url !~ '^https?://[^\s]+$' or length(new.url) > 2000) then
    raise exception 'notification_targets.url: a webhook target needs an http(s) URL, got %',
      coalesce(quote_literal(new.url), 'null') using errcode = '22023', column = 'url';
  end if;
  if new.kind <> 'webhook' and new.url is not null then
    raise exception 'notification_targets.url: only a webhook target has a URL' using errcode = '22023', column = 'url';
  end if;
  if new.kind = 'email' and (new.email is null or new.email !~ '^[^@\s]+@[^@\s]+$' or length(new.email) > 320) then
    raise exception 'notification_targets.email: an email target needs an address, got %',
      coalesce(quote_literal(new.email), 'null') using errcode = '22023', column = 'email';
  end if;
  if new.kind <> 'email' and new.email is not null then
    raise exception 'notification_targets.email: only an email target has an address' using errcode = '22023',
      column = 'email';
  end if;
  if new.min_severity is null or new.min_severity not in ('info', 'warning', 'critical') then
    raise exception 'notification_targets.min_severity: % is not one of info, warning, critical',
      coalesce(quote_literal(new.min_severity), 'null') using errcode = '22023', column = 'min_severity';
  end if;
  new.updated_at := now();
  return new;
end
$$;
revoke all on function private.notification_targets_check() from public, anon, authenticated;

drop trigger if exists notification_targets_check on public.notification_targets;
create trigger notification_targets_check before insert or update on public.notification_targets
  for each row execute function private.notification_targets_check();

drop trigger if exists a_row_keeps_its_tenant on public.notification_targets;
create trigger a_row_keeps_its_tenant before update of tenant_id on public.notification_targets
  for each row when (old.tenant_id is distinct from new.tenant_id) execute function private.refuse_tenant_move();

-- The signing secrets of webhook targets: service_role only (members never read them, owners fetch theirs
-- through public.notification_target_secret).
create table if not exists private.notification_target_secrets (
  target_id uuid primary key,
  tenant_id uuid not null,
  secret text not null,
  updated_at timestamptz not null default now(),
  constraint notification_target_secrets_target_fk foreign key (target_id, tenant_id)
    references public.notification_targets (id, tenant_id) on delete cascade,
  constraint notification_target_secrets_format check (secret ~ '^whsec_[A-Za-z0-9+/]+={0,2}$')
);
create index if not exists notification_target_secrets_target_tenant_idx
  on private.notification_target_secrets (target_id, tenant_id);
alter table private.notification_target_secrets enable row level security;
revoke all on table private.notification_target_secrets from public, anon, authenticated;
grant select, insert, update, delete on table private.notification_target_secrets to service_role;
comment on table private.notification_target_secrets is
  'Standard Webhooks signing secrets (whsec_<base64>) of webhook targets. service_role only.';

-- A fresh 32-byte secret (two gen_random_uuid()s: strong randomness without pgcrypto).
create or replace function private.new_webhook_secret() returns text
language sql volatile
set search_path = ''
as $$
  select 'whsec_' || encode(decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'), 'base64')
$$;
revoke all on function private.new_webhook_secret() from public, anon, authenticated;
grant execute on function private.new_webhook_secret() to service_role;

create or replace function private.notification_targets_make_secret() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if new.kind = 'webhook' then
    insert into private.notification_target_secrets (target_id, tenant_id, secret)
    values (new.id, new.tenant_id, private.new_webhook_secret())
    on conflict (target_id) do nothing;
  end if;
  return null;
end
$$;
revoke all on function private.notification_targets_make_secret() from public, anon, authenticated;

drop trigger if exists notification_targets_make_secret on public.notification_targets;
create trigger notification_targets_make_secret after insert or update of kind on public.notification_targets
  for each row execute function private.notification_targets_make_secret();

alter table public.notification_targets enable row level security;

drop policy if exists "owners and admins read their tenant's notification targets" on public.notification_targets;
create policy "owners and admins read their tenant's notification targets" on public.notification_targets
  for select to authenticated
  using (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'));

drop policy if exists "owners and admins add notification targets to their tenant" on public.notification_targets;
create policy "owners and admins add notification targets to their tenant" on public.notification_targets
  for insert to authenticated
  with check (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'));

drop policy if exists "owners and admins change notification targets of their tenant" on public.notification_targets;
create policy "owners and admins change notification targets of their tenant" on public.notification_targets
  for update to authenticated
  using (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'))
  with check (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'));

drop policy if exists "owners and admins remove notification targets of their tenant" on public.notification_targets;
create policy "owners and admins remove notification targets of their tenant" on public.notification_targets
  for delete to authenticated
  using (tenant_id = (select private.tenant_id()) and (select private.tenant_role()) in ('owner', 'admin'));

revoke all on table public.notification_targets from anon, authenticated;
grant select, insert, update, delete on table public.notification_targets to authenticated;
grant all on table public.notification_targets to service_role;

-- Alerts (the dashboard contract) ------------------------------------------------------------------------

create table if not exists public.alerts (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  rule_id uuid,
  metric text not null,
  dedup_key text not null,
  status text not null default 'firing',
  severity text not null,
  summary text not null,
  first_seen_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  resolved_at timestamptz,
  count integer not null default 1,
  event_ids uuid[] not null default '{}',
  details jsonb not null default '{}'::jsonb,
  constraint alerts_rule_fk foreign key (rule_id, tenant_id)
    references public.alert_rules (id, tenant_id) on delete set null (rule_id),
  -- 'test': a test notification shown on the dashboard (`salesflow alerts test`).
  constraint alerts_metric_known check (metric = any (private.alert_metrics() || 'test'::text)),
  constraint alerts_status_allowed check (status in ('firing', 'resolved')),
  constraint alerts_resolved_at check ((status = 'resolved') = (resolved_at is not null)),
  constraint alerts_severity_allowed check (severity in ('info', 'warning', 'critical')),
  constraint alerts_count_positive check (count >= 1),
  constraint alerts_details_object check (jsonb_typeof(details) = 'object')
);
-- One firing alert per tenant and dedup key: the evaluator's upsert target.
create unique index if not exists alerts_firing_key on public.alerts (tenant_id, dedup_key) where status = 'firing';
create index if not exists alerts_tenant_seen_idx on public.alerts (tenant_id, last_seen_at desc);
create index if not exists alerts_resolved_at_idx on public.alerts (resolved_at) where status = 'resolved';
create index if not exists alerts_rule_idx on public.alerts (rule_id, tenant_id) where rule_id is not null;
create unique index if not exists alerts_id_tenant_key on public.alerts (id, tenant_id);

drop trigger if exists a_row_keeps_its_tenant on public.alerts;
create trigger a_row_keeps_its_tenant before update of tenant_id on public.alerts
  for each row when (old.tenant_id is distinct from new.tenant_id) execute function private.refuse_tenant_move();

alter table public.alerts enable row level security;

drop policy if exists "members read their tenant's alerts" on public.alerts;
create policy "members read their tenant's alerts" on public.alerts
  for select to authenticated
  using (tenant_id = (select private.tenant_id()));

revoke all on table public.alerts from anon, authenticated;
grant select on table public.alerts to authenticated;
grant all on table public.alerts to service_role;

do $$
begin
  if exists (select 1 from pg_publication where pubname = 'supabase_realtime') and not exists (
    select 1 from pg_publication_tables
    where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'alerts'
  ) then
    alter publication supabase_realtime add table public.alerts;
  end if;
end
$$;

-- When each dedup key was last notified: the cooldown outlives one alert row (a flapping condition that
-- resolves and fires again inside the cooldown is not re-sent).
create table if not exists private.alert_dedup_state (
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  dedup_key text not null,
  last_notified_at timestamptz not null,
  primary key (tenant_id, dedup_key)
);
revoke all on table private.alert_dedup_state from public, anon, authenticated;
grant select, insert, update, delete on table private.alert_dedup_state to service_role;

-- Send attempts -------------------------------------------------------------------------------------------

create table if not exists public.alert_notifications (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  alert_id uuid,
  target_id uuid not null,
  transition text not null,
  status text not null default 'pending',
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  locked_by text,
  locked_until timestamptz,
  last_error text,
  response_status integer,
  created_at timestamptz not null default now(),
  sent_at timestamptz,
  constraint alert_notifications_alert_fk foreign key (alert_id, tenant_id)
    references public.alerts (id, tenant_id) on delete cascade,
  constraint alert_notifications_target_fk foreign key (target_id, tenant_id)
    references public.notification_targets (id, tenant_id) on delete cascade,
  constraint alert_notifications_transition_allowed check (transition in ('firing', 'resolved', 'test')),
  constraint alert_notifications_status_allowed check (status in ('pending', 'sending', 'sent', 'failed')),
  constraint alert_notifications_attempts_not_negative check (attempts >= 0),
  constraint alert_notifications_alert_unless_test check ((alert_id is null) = (transition = 'test'))
);
-- The sender's claim: only open rows are in it.
create index if not exists alert_notifications_due_idx on public.alert_notifications (next_attempt_at)
  where status in ('pending', 'sending');
create index if not exists alert_notifications_alert_idx on public.alert_notifications (alert_id, tenant_id);
create index if not exists alert_notifications_target_idx on public.alert_notifications (target_id, tenant_id);
create index if not exists alert_notifications_tenant_created_idx
  on public.alert_notifications (tenant_id, created_at desc);

drop trigger if exists a_row_keeps_its_tenant on public.alert_notifications;
create trigger a_row_keeps_its_tenant before update of tenant_id on public.alert_notifications
  for each row when (old.tenant_id is distinct from new.tenant_id) execute function private.refuse_tenant_move();

alter table public.alert_notifications enable row level security;

drop policy if exists "members read their tenant's alert notifications" on public.alert_notifications;
create policy "members read their tenant's alert notifications" on public.alert_notifications
  for select to authenticated
  using (tenant_id = (select private.tenant_id()));

revoke all on table public.alert_notifications from anon, authenticated;
grant select on table public.alert_notifications to authenticated;
grant all on table public.alert_notifications to service_role;

-- Listener heartbeats -------------------------------------------------------------------------------------

create table if not exists private.listener_heartbeats (
  worker text primary key,
  started_at timestamptz not null default now(),
  beat_at timestamptz not null default now(),
  stopped_at timestamptz
);
create index if not exists listener_heartbeats_beat_idx on private.listener_heartbeats (beat_at)
  where stopped_at is null;
revoke all on table private.listener_heartbeats from public, anon, authenticated;
grant select, insert, update, delete on table private.listener_heartbeats to service_role;
comment on table private.listener_heartbeats is
  'One row per listener process (its worker name), beaten by its maintenance loop; stopped_at on a clean stop.';

-- Indexes the evaluator's queries need (none on public.events: its failed_at and claim indexes serve).
create index if not exists messages_failed_at_idx on public.messages (tenant_id, failed_at) where status = 'failed';
