-- Refused webhook signatures, counted (issue #13): a delivery whose signature does not verify is answered 401
-- and stores nothing (inbound_webhooks keeps verified deliveries only), so the alert metric
-- webhook_signature_failures could not see the refusals it is named after. This counter keeps how many were
-- refused, per connection and minute, and nothing of the request (no body, headers, sender or address).
--
-- private.webhook_signature_failures  (tenant_id, connection_id, minute) -> count; no member reads it.
-- public.note_webhook_signature_failure(connection_id)  service_role only: the webhook functions call it after
--     they resolved the connection and refused the signature (one upsert; the 401 never waits on more).
-- private.alert_conditions()  webhook_signature_failures is now refused / (refused + stored) of the window,
--     where the stored deliveries' `failed` outcomes count as failed too; otherwise unchanged.

create table if not exists private.webhook_signature_failures (
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  connection_id uuid not null,
  minute timestamptz not null,
  count integer not null default 1 check (count > 0),
  primary key (tenant_id, minute, connection_id)
);
-- No foreign key to channel_connections: a disconnected channel keeps its recent refusals (and the cascade
-- from the tenant removes them); a connection id names no content of the request.
revoke all on table private.webhook_signature_failures from public, anon, authenticated;
grant select, insert, update, delete on table private.webhook_signature_failures to service_role;
comment on table private.webhook_signature_failures is
  'Webhook deliveries refused with 401 (signature or basic auth did not verify), per connection and minute. '
  'Counts only: nothing of the request is kept. Read by private.alert_conditions().';

create or replace function public.note_webhook_signature_failure(p_connection_id uuid)
returns void
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  v_tenant_id uuid;
begin
  if p_connection_id is null then
    raise exception 'note_webhook_signature_failure.p_connection_id: a channel connection id is required'
      using errcode = '22023';
  end if;
  select c.tenant_id into v_tenant_id from public.channel_connections c where c.id = p_connection_id;
  if v_tenant_id is null then
    return;  -- disconnected meanwhile: nothing to count against
  end if;
  insert into private.webhook_signature_failures as f (tenant_id, connection_id, minute, count)
  values (v_tenant_id, p_connection_id, date_trunc('minute', now()), 1)
  on conflict (tenant_id, minute, connection_id) do update set count = f.count + 1;
  -- Old minutes are of no use past the longest alert window (30 days): trimmed now and then, by this call.
  if random() < 0.01 then
    delete from private.webhook_signature_failures where minute < now() - interval '31 days';
  end if;
end
$$;
comment on function public.note_webhook_signature_failure(uuid) is
  'Counts one webhook delivery refused with 401 for this connection (private.webhook_signature_failures, per '
  'minute; nothing of the request is stored). service_role only: the webhook functions call it.';
revoke all on function public.note_webhook_signature_failure(uuid) from public, anon, authenticated;
grant execute on function public.note_webhook_signature_failure(uuid) to service_role;

-- The conditions that hold now, one row per (tenant, dedup key). Each metric is one index-backed query:
--   failed_events               events_failed_at_idx (failed_at) where status = 'failed', the window's range
--   oldest_pending_age          events_claim_idx (run_after, seq) where pending: the oldest 10,000 past the
--                               smallest threshold (bounded however large the backlog)
--   handler_failure_rate        events_tenant_created_idx (tenant_id, created_at) for the window, then the
--                               deliveries by primary key
--   listener_heartbeat_missing  private.listener_heartbeats (one row per listener)
--   ai_budget                   ai_budgets / ai_budget_periods by their keys (this month, UTC)
--   webhook_signature_failures  inbound_webhooks_tenant_received_idx (tenant_id, received_at) and
--                               private.webhook_signature_failures by its key (tenant_id, minute)
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
         format('%s of %s inbound webhooks failed (%s %%, %s refused signatures) in the last %s min', w.failed,
                w.total, round(100.0 * w.failed / w.total, 1), w.refused, round(r.window_seconds / 60.0, 1)),
         '{}'::uuid[],
         jsonb_build_object('failed', w.failed, 'total', w.total, 'rate', round(w.failed::numeric / w.total, 4),
                            'refused', w.refused, 'stored', w.stored, 'stored_failed', w.stored_failed,
                            'threshold', r.threshold, 'window_seconds', r.window_seconds),
         r.cooldown_seconds
  from public.alert_rules r
  cross join lateral (
    -- failed = refused (401, counted per minute: the window starts at the minute it falls in) + stored
    -- deliveries whose outcome is failed; total = refused + stored.
    select s.stored + f.refused as total, s.stored_failed + f.refused as failed, s.stored, s.stored_failed,
           f.refused
    from (
      select count(*)::integer as stored, (count(*) filter (where iw.outcome = 'failed'))::integer as stored_failed
      from public.inbound_webhooks iw
      where iw.tenant_id = r.tenant_id and iw.received_at >= now() - make_interval(secs => r.window_seconds)
    ) s
    cross join (
      select coalesce(sum(sf.count), 0)::integer as refused
      from private.webhook_signature_failures sf
      where sf.tenant_id = r.tenant_id
        and sf.minute >= date_trunc('minute', now() - make_interval(secs => r.window_seconds))
    ) f
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
