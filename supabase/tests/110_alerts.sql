-- Alerting: who reads and manages alert rules, notification targets and alerts; bad rule input is refused
-- naming the field; every tenant (existing and new) starts with the default rules.
-- Seed: Acme (A: Anna owner, Ben member), Nordlicht (B: Bea owner).
begin;
select no_plan();

-- Fixtures, as service code: a webhook target of A, a firing alert of A and one of B.
insert into public.notification_targets (id, tenant_id, name, kind, url) values
  ('a1000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 'ops-slack', 'webhook', 'https://hooks.example/a');
insert into public.alerts (tenant_id, metric, dedup_key, severity, summary) values
  ('11111111-1111-4111-8111-111111111111', 'failed_events', 'failed_events', 'critical', 'A is failing'),
  ('22222222-2222-4222-8222-222222222222', 'failed_events', 'failed_events', 'critical', 'B is failing');

-- Defaults for every tenant, and for a new one by the trigger.
select is((select count(*) from public.alert_rules where tenant_id = '11111111-1111-4111-8111-111111111111')::int, 8,
  'an existing tenant has the 8 default rules');
insert into public.tenants (id, name) values ('33333333-3333-4333-8333-333333333333', 'Neu GmbH');
select is((select array_agg(name order by name) from public.alert_rules where tenant_id = '33333333-3333-4333-8333-333333333333'),
  array['ai_budget_100', 'ai_budget_80', 'channel_send_failures', 'failed_events', 'handler_failure_rate',
        'listener_heartbeat_missing', 'oldest_pending_age', 'webhook_signature_failures'],
  'a new tenant starts with the default rules');
select ok((select secret ~ '^whsec_[A-Za-z0-9+/]{43}=$' from private.notification_target_secrets
           where target_id = 'a1000000-0000-4000-8000-000000000001'),
  'a webhook target gets a Standard Webhooks secret (whsec_ + 32 bytes base64)');

-- Bad rule input names the field.
select throws_ok($$insert into public.alert_rules (tenant_id, name, metric, threshold)
  values ('11111111-1111-4111-8111-111111111111', 'x', 'cpu_load', 1)$$,
  '22023', null, 'an unknown metric is refused');
select throws_like($$insert into public.alert_rules (tenant_id, name, metric, threshold)
  values ('11111111-1111-4111-8111-111111111111', 'x', 'cpu_load', 1)$$,
  'alert_rules.metric: unknown metric%', 'the refusal names alert_rules.metric and lists the allowed metrics');
select throws_like($$insert into public.alert_rules (tenant_id, name, metric, window_seconds, threshold)
  values ('11111111-1111-4111-8111-111111111111', 'x', 'failed_events', -60, 1)$$,
  'alert_rules.window_seconds:%', 'a negative window is refused naming window_seconds');
select throws_like($$insert into public.alert_rules (tenant_id, name, metric, window_seconds, threshold)
  values ('11111111-1111-4111-8111-111111111111', 'x', 'failed_events', 60, -1)$$,
  'alert_rules.threshold:%', 'a negative threshold is refused naming threshold');
select throws_like($$update public.alert_rules set threshold = 2 where name = 'handler_failure_rate'$$,
  'alert_rules.threshold: metric handler_failure_rate is a rate%', 'a rate above 1 is refused');
select throws_like($$update public.alert_rules set cooldown_seconds = -1 where name = 'failed_events'$$,
  'alert_rules.cooldown_seconds:%', 'a negative cooldown is refused naming cooldown_seconds');
select throws_like($$update public.alert_rules set severity = 'panic' where name = 'failed_events'$$,
  'alert_rules.severity:%', 'an unknown severity is refused naming severity');
select throws_like($$insert into public.notification_targets (tenant_id, name, kind, url)
  values ('11111111-1111-4111-8111-111111111111', 'x', 'pager', null)$$,
  'notification_targets.kind:%', 'an unknown target kind is refused naming kind');
select throws_like($$insert into public.notification_targets (tenant_id, name, kind)
  values ('11111111-1111-4111-8111-111111111111', 'x', 'webhook')$$,
  'notification_targets.url:%', 'a webhook target without a URL is refused naming url');

-- anon: nothing.
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok($$select count(*) from public.alerts$$, '42501', null, 'anon cannot read alerts');
select throws_ok($$select count(*) from public.alert_rules$$, '42501', null, 'anon cannot read alert rules');
select throws_ok($$select count(*) from public.notification_targets$$, '42501', null, 'anon cannot read targets');
select throws_ok($$select public.evaluate_alerts('anon', 0)$$, '42501', null, 'anon cannot evaluate');
reset role;

-- Ben, member of A: reads A's alerts and rules, manages nothing, sees no targets or secrets.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000002","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select is((select array_agg(summary) from public.alerts), array['A is failing'], 'a member reads only his tenant''s alerts');
select is((select count(*) from public.alert_rules)::int, 8, 'a member reads his tenant''s rules');
with u as (update public.alert_rules set enabled = false returning 1)
select is(count(*)::int, 0, 'a member cannot change rules') from u;
select throws_ok($$insert into public.alert_rules (name, metric, window_seconds, threshold) values ('mine', 'failed_events', 60, 1)$$,
  '42501', null, 'a member cannot add rules');
select is((select count(*) from public.notification_targets)::int, 0, 'a member sees no notification targets');
select throws_ok($$select public.notification_target_secret('a1000000-0000-4000-8000-000000000001')$$,
  '42501', null, 'a member cannot read a target''s secret');
select throws_ok($$select count(*) from private.notification_target_secrets$$, '42501', null,
  'a member cannot read the secrets table');
select throws_ok($$update public.alerts set status = 'resolved', resolved_at = now()$$, '42501', null,
  'a member cannot resolve alerts by hand');
select throws_ok($$select public.evaluate_alerts('ben', 0)$$, '42501', null, 'a member cannot evaluate');
select throws_ok($$select public.claim_alert_notifications('ben', 10, 60)$$, '42501', null,
  'a member cannot claim notifications (they carry secrets)');
reset role;

-- Anna, owner of A: manages rules and targets, reads the secret.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
with u as (update public.alert_rules set threshold = 3 where name = 'failed_events' returning 1)
select is(count(*)::int, 1, 'an owner changes a rule') from u;
select lives_ok($$insert into public.alert_rules (name, metric, window_seconds, threshold) values ('many_failures', 'failed_events', 300, 10)$$,
  'an owner adds a rule (tenant from the token)');
select lives_ok($$insert into public.notification_targets (name, kind, email) values ('oncall', 'email', 'oncall@acme.test')$$,
  'an owner adds an email target');
select is((select count(*) from public.notification_targets)::int, 2, 'an owner reads the tenant''s targets');
select ok(public.notification_target_secret('a1000000-0000-4000-8000-000000000001') like 'whsec_%',
  'an owner reads the webhook target''s secret');
select throws_ok($$insert into public.alert_rules (tenant_id, name, metric, window_seconds, threshold)
  values ('22222222-2222-4222-8222-222222222222', 'sneaky', 'failed_events', 60, 1)$$,
  '42501', null, 'an owner of A cannot add a rule to B');
reset role;

-- Bea, owner of B: none of A's.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"b0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"22222222-2222-4222-8222-222222222222"}', true);
select is((select array_agg(summary) from public.alerts), array['B is failing'], 'tenant B reads none of A''s alerts');
select is((select count(*) from public.alert_rules where tenant_id = '11111111-1111-4111-8111-111111111111')::int, 0,
  'tenant B reads none of A''s rules');
select is((select count(*) from public.notification_targets)::int, 0, 'tenant B sees none of A''s targets');
with u as (update public.alert_rules set enabled = false where tenant_id = '11111111-1111-4111-8111-111111111111' returning 1)
select is(count(*)::int, 0, 'tenant B cannot change A''s rules') from u;
select throws_ok($$select public.notification_target_secret('a1000000-0000-4000-8000-000000000001')$$,
  '42501', null, 'tenant B cannot read A''s secret');
reset role;

-- Realtime.
select ok(exists (select 1 from pg_publication_tables where pubname = 'supabase_realtime' and tablename = 'alerts'),
  'alerts are in the Realtime publication');

select * from finish();
rollback;
