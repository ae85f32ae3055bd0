-- The alert evaluator and the notification queue (service role only).
--
-- public.listener_heartbeat(worker, stopped)  a listener's beat (every maintenance round) and its clean stop.
-- public.evaluate_alerts(worker, min_interval)  beats, then, under a transaction-scoped advisory lock taken
--     with try (so exactly one evaluator runs at a time across any number of listeners; the others return at
--     once), and at most once per min_interval seconds: computes every enabled rule's conditions, opens or
--     updates firing alerts (last_seen_at, count, event ids), resolves those whose condition cleared, and
--     queues notifications (firing: unless the dedup key was notified within the rule's cooldown; resolved:
--     when the firing was notified). Nothing is sent inside this transaction.
-- public.claim_alert_notifications(worker, limit, lease)  hands out due notifications (SKIP LOCKED, leased),
--     with what sending needs (the alert, the target, its secret), so four listeners never send one twice.
-- public.finish_alert_notifications(worker, results)  records each attempt: sent, failed (permanent), or
--     pending again with the retry time the sender chose (backoff).
-- public.notification_target_secret(target)  a webhook target's signing secret, for its tenant's owners and
--     admins (to set up their receiver) and service code.

create or replace function public.listener_heartbeat(p_worker text, p_stopped boolean default false)
returns void
language plpgsql volatile
set search_path = ''
as $$
begin
  if p_worker is null or length(p_worker) not between 1 and 200 then
    raise exception 'listener_heartbeat.p_worker: a worker name of 1 to 200 characters is required'
      using errcode = '22023';
  end if;
  insert into private.listener_heartbeats as h (worker, beat_at, stopped_at)
  values (p_worker, now(), case when p_stopped then now() end)
  on conflict (worker) do update set beat_at = now(), stopped_at = case when p_stopped then now() end;
end
$$;

-- The conditions that hold now, one row per (tenant, dedup key). Each metric is one index-backed query:
--   failed_events               events_failed_at_idx (failed_at) where status = 'failed', the window's range
--   oldest_pending_age          events_claim_idx (run_after, seq) where pending: the oldest 10,000 past the
--                               smallest threshold (bounded however large the backlog)
--   handler_failure_rate        events_tenant_created_idx (tenant_id, created_at) for the window, then the
--                               deliveries by primary key
--   listener_heartbeat_missing  private.listener_heartbeats (one row per listener)
--   ai_budget                   ai_budgets / ai_budget_periods by their keys (this month, UTC)
--   webhook_signature_failures  inbound_webhooks_tenant_received_idx (tenant_id, received_at)
--   channel_send_failures       messages_failed_at_idx (tenant_id, failed_at) where status = 'failed'
create or replace function private.alert_conditions()
returns table (rule_id uuid, tenant_id uuid, metric text, dedup_key text, severity text, summary text,
               event_ids uuid[], details jsonb, cooldown_seconds integer)
language plpgsql stable
set search_path = ''
as $$
declare
  v_min_age numeric;
begin
  return query
  select r.id, r.tenant_id, r.metric, r.name, r.severity,
         format('%s event(s) failed in the last %s min', f.n, round(r.window_seconds / 60.0, 1)),
         f.ids, jsonb_build_object('failed', f.n, 'window_seconds', r.window_seconds, 'threshold', r.threshold),
         r.cooldown_seconds
  from public.alert_rules r
  cross join lateral (
    select count(*)::integer as n, (array_agg(e.id order by e.failed_at desc))[1:20] as ids
    from public.events e
    where e.status = 'failed' and e.failed_at >= now() - make_interval(secs => r.window_seconds)
      and e.tenant_id = r.tenant_id
  ) f
  where r.enabled and r.metric = 'failed_events' and f.n >= r.threshold;

  select min(r.threshold) into v_min_age from public.alert_rules r where r.enabled and r.metric = 'oldest_pending_age';
  if v_min_age is not null then
    return query
    with stale as (
      select e.id, e.tenant_id, e.run_after from public.events e
      where e.status = 'pending' and not e.held_back and e.run_after <= now() - make_interval(secs => v_min_age::float8)
      order by e.run_after, e.seq
      limit 10000
    )
    select r.id, r.tenant_id, r.metric, r.name, r.severity,
           format('the oldest pending event has waited %s s', round(extract(epoch from now() - min(s.run_after)))),
           (array_agg(s.id order by s.run_after))[1:20],
           jsonb_build_object('oldest_age_seconds', round(extract(epoch from now() - min(s.run_after))::numeric, 1),
                              'pending_past_threshold', count(*), 'threshold', r.threshold),
           r.cooldown_seconds
    from public.alert_rules r
    join stale s on s.tenant_id = r.tenant_id and s.run_after <= now() - make_interval(secs => r.threshold::float8)
    where r.enabled and r.metric = 'oldest_pending_age'
    group by r.id;
  end if;

  return query
  select r.id, r.tenant_id, r.metric, r.name || ':' || h.handler, r.severity,
         format('handler %s failed %s of %s deliveries (%s %%) in the last %s min', h.handler, h.failed, h.total,
                round(100.0 * h.failed / h.total, 1), round(r.window_seconds / 60.0, 1)),
         h.ids,
         jsonb_build_object('handler', h.handler, 'failed', h.failed, 'total', h.total,
                            'rate', round(h.failed::numeric / h.total, 4), 'threshold', r.threshold,
                            'window_seconds', r.window_seconds),
         r.cooldown_seconds
  from public.alert_rules r
  cross join lateral (
    select d.handler, count(*)::integer as total, (count(*) filter (where d.status = 'failed'))::integer as failed,
           ((array_agg(e.id order by e.created_at desc) filter (where d.status = 'failed'))[1:20]) as ids
    from public.events e
    join public.event_deliveries d on d.event_id = e.id
    where e.tenant_id = r.tenant_id and e.created_at >= now() - make_interval(secs => r.window_seconds)
      and d.status in ('succeeded', 'failed')
    group by d.handler
  ) h
  where r.enabled and r.metric = 'handler_failure_rate' and h.total >= r.min_count
    and h.failed::numeric / h.total >= r.threshold;

  return query
  select r.id, r.tenant_id, r.metric, r.name || ':' || l.worker, r.severity,
         format('listener %s has not sent a heartbeat for %s s', l.worker, round(extract(epoch from now() - l.beat_at))),
         '{}'::uuid[],
         jsonb_build_object('worker', l.worker, 'last_beat_at', l.beat_at, 'started_at', l.started_at,
                            'threshold', r.threshold),
         r.cooldown_seconds
  from public.alert_rules r
  join private.listener_heartbeats l
    on l.stopped_at is null and l.beat_at < now() - make_interval(secs => r.threshold::float8)
   and l.beat_at > now() - interval '1 day'
  where r.enabled and r.metric = 'listener_heartbeat_missing';

  return query
  select r.id, r.tenant_id, r.metric,
         r.name || ':' || coalesce(b.scenario, 'all') || ':' || to_char(p.period, 'YYYY-MM'), r.severity,
         format('AI spend %s USD is %s %% of the %s budget of %s USD (%s)', round(p.spent_usd, 2),
                round(100 * p.spent_usd / b.monthly_limit_usd, 1), coalesce(b.scenario, 'monthly'),
                round(b.monthly_limit_usd, 2), to_char(p.period, 'YYYY-MM')),
         '{}'::uuid[],
         jsonb_build_object('scenario', b.scenario, 'period', p.period, 'spent_usd', p.spent_usd,
                            'limit_usd', b.monthly_limit_usd, 'threshold_percent', r.threshold),
         r.cooldown_seconds
  from public.alert_rules r
  join public.ai_budgets b on b.tenant_id = r.tenant_id and b.monthly_limit_usd > 0
  join public.ai_budget_periods p
    on p.tenant_id = b.tenant_id and p.scenario is not distinct from b.scenario
   and p.period = date_trunc('month', now() at time zone 'UTC')::date
  where r.enabled and r.metric = 'ai_budget' and p.spent_usd >= b.monthly_limit_usd * r.threshold / 100;

  return query
  select r.id, r.tenant_id, r.metric, r.name, r.severity,
         format('%s of %s inbound webhooks failed (%s %%) in the last %s min', w.failed, w.total,
                round(100.0 * w.failed / w.total, 1), round(r.window_seconds / 60.0, 1)),
         '{}'::uuid[],
         jsonb_build_object('failed', w.failed, 'total', w.total, 'rate', round(w.failed::numeric / w.total, 4),
                            'threshold', r.threshold, 'window_seconds', r.window_seconds),
         r.cooldown_seconds
  from public.alert_rules r
  cross join lateral (
    select count(*)::integer as total, (count(*) filter (where iw.outcome = 'failed'))::integer as failed
    from public.inbound_webhooks iw
    where iw.tenant_id = r.tenant_id and iw.received_at >= now() - make_interval(secs => r.window_seconds)
  ) w
  where r.enabled and r.metric = 'webhook_signature_failures' and w.total >= r.min_count and w.total > 0
    and w.failed::numeric / w.total >= r.threshold;

  return query
  select r.id, r.tenant_id, r.metric, r.name || ':' || m.channel, r.severity,
         format('%s %s message(s) failed to send in the last %s min', m.n, m.channel, round(r.window_seconds / 60.0, 1)),
         '{}'::uuid[],
         jsonb_build_object('channel', m.channel, 'failed', m.n, 'message_ids', m.ids, 'threshold', r.threshold,
                            'window_seconds', r.window_seconds),
         r.cooldown_seconds
  from public.alert_rules r
  cross join lateral (
    select ms.channel::text as channel, count(*)::integer as n, (array_agg(ms.id order by ms.failed_at desc))[1:20] as ids
    from public.messages ms
    where ms.tenant_id = r.tenant_id and ms.status = 'failed'
      and ms.failed_at >= now() - make_interval(secs => r.window_seconds)
    group by ms.channel
  ) m
  where r.enabled and r.metric = 'channel_send_failures' and m.n >= r.threshold;
end
$$;
revoke all on function private.alert_conditions() from public, anon, authenticated;
grant execute on function private.alert_conditions() to service_role;

create table if not exists private.alert_evaluator_state (
  id boolean primary key default true check (id),
  last_run_at timestamptz,
  last_worker text
);
insert into private.alert_evaluator_state (id) values (true) on conflict do nothing;
revoke all on table private.alert_evaluator_state from public, anon, authenticated;
grant select, insert, update on table private.alert_evaluator_state to service_role;

-- The conditions of the current round, read several times by evaluate_alerts. A private table rather than a
-- temporary one (which the plpgsql checker cannot see): only the evaluator holding the advisory lock writes
-- it, and it empties it first, so rounds never mix.
create unlogged table if not exists private.alert_conditions_now (
  rule_id uuid, tenant_id uuid, metric text, dedup_key text, severity text, summary text, event_ids uuid[],
  details jsonb, cooldown_seconds integer
);
revoke all on table private.alert_conditions_now from public, anon, authenticated;
grant select, insert, delete on table private.alert_conditions_now to service_role;

create or replace function public.evaluate_alerts(p_worker text, p_min_interval_seconds double precision default 30)
returns jsonb
language plpgsql volatile
set search_path = ''
as $$
declare
  v_fired integer := 0;
  v_updated integer := 0;
  v_resolved integer := 0;
  v_queued integer := 0;
  v_n integer;
  v_due integer;
begin
  if p_min_interval_seconds is null or p_min_interval_seconds < 0 then
    raise exception 'evaluate_alerts.p_min_interval_seconds: must be >= 0, got %', p_min_interval_seconds
      using errcode = '22023';
  end if;
  perform public.listener_heartbeat(p_worker);
  select count(*) into v_due from (
    select 1 from public.alert_notifications n
    where n.status in ('pending', 'sending') and n.next_attempt_at <= now()
      and (n.status = 'pending' or n.locked_until < now())
    limit 1000) d;
  -- One evaluator at a time: the others (and a round inside the interval) return at once.
  if not pg_try_advisory_xact_lock(hashtext('salesflow.evaluate_alerts')) then
    return jsonb_build_object('evaluated', false, 'reason', 'another listener is evaluating', 'due', v_due);
  end if;
  if exists (select 1 from private.alert_evaluator_state s
             where s.last_run_at > now() - make_interval(secs => p_min_interval_seconds)) then
    return jsonb_build_object('evaluated', false, 'reason', 'evaluated recently', 'due', v_due);
  end if;
  update private.alert_evaluator_state set last_run_at = now(), last_worker = p_worker;

  delete from private.alert_conditions_now;
  insert into private.alert_conditions_now select * from private.alert_conditions();

  -- Still firing: seen again.
  update public.alerts a
  set last_seen_at = now(), count = a.count + 1, severity = c.severity, summary = c.summary,
      details = c.details, rule_id = c.rule_id,
      event_ids = (select coalesce(array_agg(distinct x), '{}') from unnest(c.event_ids || a.event_ids) x)[1:50]
  from private.alert_conditions_now c
  where a.status = 'firing' and a.tenant_id = c.tenant_id and a.dedup_key = c.dedup_key;
  get diagnostics v_updated = row_count;

  -- Newly firing.
  insert into public.alerts (tenant_id, rule_id, metric, dedup_key, status, severity, summary, event_ids, details)
  select c.tenant_id, c.rule_id, c.metric, c.dedup_key, 'firing', c.severity, c.summary, coalesce(c.event_ids, '{}'),
         c.details
  from private.alert_conditions_now c
  where not exists (select 1 from public.alerts a
                    where a.status = 'firing' and a.tenant_id = c.tenant_id and a.dedup_key = c.dedup_key);
  get diagnostics v_fired = row_count;

  -- Firing alerts to notify: their dedup key was not notified within the rule's cooldown.
  with due as (
    select a.id, a.tenant_id, a.dedup_key, a.severity
    from public.alerts a
    join private.alert_conditions_now c on c.tenant_id = a.tenant_id and c.dedup_key = a.dedup_key
    left join private.alert_dedup_state s on s.tenant_id = a.tenant_id and s.dedup_key = a.dedup_key
    where a.status = 'firing'
      and (s.last_notified_at is null or s.last_notified_at <= now() - make_interval(secs => c.cooldown_seconds))
  ), marked as (
    insert into private.alert_dedup_state as s (tenant_id, dedup_key, last_notified_at)
    select d.tenant_id, d.dedup_key, now() from due d
    on conflict (tenant_id, dedup_key) do update set last_notified_at = now()
  ), queued as (
    insert into public.alert_notifications (tenant_id, alert_id, target_id, transition)
    select d.tenant_id, d.id, t.id, 'firing'
    from due d
    join public.notification_targets t
      on t.tenant_id = d.tenant_id and t.enabled and t.kind in ('webhook', 'email')
     and private.alert_severity_rank(d.severity) >= private.alert_severity_rank(t.min_severity)
    returning 1
  )
  select count(*) into v_n from queued;
  v_queued := v_queued + v_n;

  -- Cleared: resolved, and the resolve is sent wherever the firing was.
  with resolved as (
    update public.alerts a set status = 'resolved', resolved_at = now()
    where a.status = 'firing' and a.metric <> 'test'
      and not exists (select 1 from private.alert_conditions_now c where c.tenant_id = a.tenant_id and c.dedup_key = a.dedup_key)
    returning a.id, a.tenant_id
  ), queued as (
    insert into public.alert_notifications (tenant_id, alert_id, target_id, transition)
    select distinct r.tenant_id, r.id, n.target_id, 'resolved'
    from resolved r
    join public.alert_notifications n on n.alert_id = r.id and n.tenant_id = r.tenant_id and n.transition = 'firing'
    join public.notification_targets t on t.id = n.target_id and t.enabled
    returning 1
  ), counted as (select count(*) as n from resolved)
  select (select n from counted), (select count(*) from queued) into v_resolved, v_n;
  v_queued := v_queued + v_n;

  -- Housekeeping, bounded per round: listeners gone for a week, dedup keys past the longest cooldown (30
  -- days), resolved alerts (their send records cascade) after 90 days.
  delete from private.listener_heartbeats h where h.beat_at < now() - interval '7 days';
  delete from private.alert_dedup_state s where s.last_notified_at < now() - interval '31 days';
  delete from public.alerts a where a.id in (
    select o.id from public.alerts o
    where o.status = 'resolved' and o.resolved_at < now() - interval '90 days'
    limit 1000);

  return jsonb_build_object('evaluated', true, 'fired', v_fired, 'updated', v_updated, 'resolved', v_resolved,
                            'queued', v_queued, 'due', v_due + v_queued);
end
$$;

create or replace function public.claim_alert_notifications(p_worker text, p_limit integer default 20,
                                                            p_lease_seconds double precision default 60)
returns jsonb
language plpgsql volatile
set search_path = ''
as $$
declare
  v_claimed jsonb;
begin
  if p_worker is null or length(p_worker) not between 1 and 200 then
    raise exception 'claim_alert_notifications.p_worker: a worker name of 1 to 200 characters is required'
      using errcode = '22023';
  end if;
  if p_limit is null or p_limit not between 1 and 1000 then
    raise exception 'claim_alert_notifications.p_limit: must be between 1 and 1000, got %', p_limit
      using errcode = '22023';
  end if;
  if p_lease_seconds is null or p_lease_seconds <= 0 then
    raise exception 'claim_alert_notifications.p_lease_seconds: must be > 0, got %', p_lease_seconds
      using errcode = '22023';
  end if;
  with picked as (
    select n.id from public.alert_notifications n
    where n.status in ('pending', 'sending') and n.next_attempt_at <= now()
      and (n.status = 'pending' or n.locked_until < now())
    order by n.next_attempt_at
    limit p_limit
    for update skip locked
  ), taken as (
    update public.alert_notifications n
    set status = 'sending', attempts = n.attempts + 1, locked_by = p_worker,
        locked_until = now() + make_interval(secs => p_lease_seconds)
    from picked p where n.id = p.id
    returning n.*
  )
  select coalesce(jsonb_agg(jsonb_build_object(
    'id', k.id, 'tenant_id', k.tenant_id, 'tenant_name', tn.name, 'transition', k.transition,
    'attempts', k.attempts,
    'target', jsonb_build_object('id', t.id, 'name', t.name, 'kind', t.kind, 'url', t.url, 'email', t.email,
                                 'secret', s.secret),
    'alert', case when a.id is null then null else to_jsonb(a) end
  ) order by k.next_attempt_at), '[]'::jsonb) into v_claimed
  from taken k
  join public.notification_targets t on t.id = k.target_id
  join public.tenants tn on tn.id = k.tenant_id
  left join private.notification_target_secrets s on s.target_id = t.id
  left join public.alerts a on a.id = k.alert_id;
  return v_claimed;
end
$$;

-- p_results: [{id, outcome: sent | failed | retry, error, response_status, retry_in_seconds}]
create or replace function public.finish_alert_notifications(p_worker text, p_results jsonb)
returns integer
language plpgsql volatile
set search_path = ''
as $$
declare
  v_n integer;
begin
  if p_results is null or jsonb_typeof(p_results) <> 'array' then
    raise exception 'finish_alert_notifications.p_results: must be a JSON array of {id, outcome, ...}'
      using errcode = '22023';
  end if;
  if exists (select 1 from jsonb_array_elements(p_results) r
             where coalesce(r ->> 'outcome', '') not in ('sent', 'failed', 'retry')) then
    raise exception 'finish_alert_notifications.p_results: outcome must be sent, failed or retry'
      using errcode = '22023';
  end if;
  update public.alert_notifications n
  set status = case r ->> 'outcome' when 'sent' then 'sent' when 'failed' then 'failed' else 'pending' end,
      sent_at = case when r ->> 'outcome' = 'sent' then now() end,
      last_error = left(r ->> 'error', 2000),
      response_status = (r ->> 'response_status')::integer,
      next_attempt_at = case when r ->> 'outcome' = 'retry'
                             then now() + make_interval(secs => greatest(coalesce((r ->> 'retry_in_seconds')::float8, 60), 0))
                             else n.next_attempt_at end,
      locked_by = null, locked_until = null
  from jsonb_array_elements(p_results) r
  where n.id = (r ->> 'id')::uuid and n.status = 'sending' and n.locked_by = p_worker;
  get diagnostics v_n = row_count;
  return v_n;
end
$$;

create or replace function public.notification_target_secret(p_target_id uuid)
returns text
language plpgsql stable security definer
set search_path = ''
as $$
declare
  v_tenant uuid;
  v_secret text;
begin
  select t.tenant_id, s.secret into v_tenant, v_secret
  from public.notification_targets t
  left join private.notification_target_secrets s on s.target_id = t.id
  where t.id = p_target_id;
  -- current_setting('role') is the caller's role even inside this security definer function: 'none' for a
  -- direct connection (service code, the CLI), the API role under PostgREST.
  if current_setting('role') not in ('none', 'service_role')
     and (v_tenant is null or v_tenant is distinct from private.tenant_id()
          or coalesce(private.tenant_role(), '') not in ('owner', 'admin')) then
    raise exception 'notification_target_secret.p_target_id: no webhook target of yours with this id (owners and admins only)'
      using errcode = '42501';
  end if;
  if v_tenant is null then
    raise exception 'notification_target_secret.p_target_id: no notification target %', p_target_id
      using errcode = '22023';
  end if;
  return v_secret;
end
$$;

do $$
declare
  fn text;
begin
  foreach fn in array array[
    'public.listener_heartbeat(text, boolean)',
    'public.evaluate_alerts(text, double precision)',
    'public.claim_alert_notifications(text, integer, double precision)',
    'public.finish_alert_notifications(text, jsonb)'
  ] loop
    execute format('revoke all on function %s from public, anon, authenticated', fn);
    execute format('grant execute on function %s to service_role', fn);
  end loop;
end
$$;
revoke all on function public.notification_target_secret(uuid) from public, anon;
grant execute on function public.notification_target_secret(uuid) to authenticated, service_role;
