-- The dashboard's Events RPCs: the summary counts only the token tenant's events (security invoker under
-- RLS), the replay is allowed to owners and admins of the event's tenant and refuses everyone else.
begin;
select plan(17);

-- Two failed events, one per tenant (as the engine leaves them).
insert into public.events (id, tenant_id, type, status, attempts, max_attempts, failed_at, last_error) values
  ('e1000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', 'lead.created', 'failed', 5, 5,
   now(), 'crm_sync: boom'),
  ('e2000000-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222', 'lead.created', 'failed', 5, 5,
   now(), 'crm_sync: boom');
insert into public.event_deliveries (event_id, handler, tenant_id, status, attempts) values
  ('e1000000-0000-4000-8000-000000000001', 'crm_sync', '11111111-1111-4111-8111-111111111111', 'failed', 5),
  ('e1000000-0000-4000-8000-000000000001', 'touchpoint', '11111111-1111-4111-8111-111111111111', 'succeeded', 1);

set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok($$select public.dashboard_event_summary()$$, '42501', null, 'anon cannot read the summary');
select throws_ok($$select public.dashboard_replay_event('e1000000-0000-4000-8000-000000000001')$$, '42501', null,
  'anon cannot replay');
reset role;

-- Ben, member of Acme.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000002","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select is((public.dashboard_event_summary() ->> 'tenant_id'), '11111111-1111-4111-8111-111111111111',
  'the summary is the token tenant''s');
select is((public.dashboard_event_summary() ->> 'failed')::int, 1, 'a member counts his tenant''s failed event only');
select throws_ok($$select public.dashboard_replay_event('e1000000-0000-4000-8000-000000000001')$$, '42501',
  'dashboard_replay_event: only owners and admins of the tenant may replay events (your role: member)',
  'a member may not replay');
select throws_ok($$select public.dashboard_event_summary(now() - interval '30 days')$$, '22023', null,
  'a window longer than 7 days is refused naming p_since');
select throws_ok($$select public.dashboard_event_summary(null, 'Not A Type')$$, '22023', null,
  'a malformed type is refused naming p_type');
select throws_ok($$select public.replay_event('e1000000-0000-4000-8000-000000000001')$$, '42501', null,
  'the engine''s replay_event stays a service function');
reset role;

-- Anna, owner of Acme.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select throws_ok($$select public.dashboard_replay_event('e2000000-0000-4000-8000-000000000001')$$, 'PT404', null,
  'an owner of Acme cannot replay (or learn of) Nordlicht''s event');
select throws_ok($$select public.dashboard_replay_event(null)$$, '22023', null, 'no event id is refused naming p_event_id');
select is(public.dashboard_replay_event('e1000000-0000-4000-8000-000000000001') ->> 'status', 'pending',
  'an owner replays her tenant''s failed event');
select throws_ok($$select public.dashboard_replay_event('e1000000-0000-4000-8000-000000000001')$$, 'PT409', null,
  'a pending event is not replayed again');
reset role;
select is((select status from public.events where id = 'e1000000-0000-4000-8000-000000000001'), 'pending',
  'the replayed event is pending again');
select is((select array_agg(handler order by handler) from public.event_deliveries
           where event_id = 'e1000000-0000-4000-8000-000000000001'), array['crm_sync', 'touchpoint'],
  'failed handlers only: the deliveries are kept (the succeeded one does not run again)');
select is((select status from public.events where id = 'e2000000-0000-4000-8000-000000000001'), 'failed',
  'Nordlicht''s event is untouched');

-- Max, admin of Nordlicht (his token names Nordlicht): all handlers.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"c0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"22222222-2222-4222-8222-222222222222"}', true);
select is(public.dashboard_replay_event('e2000000-0000-4000-8000-000000000001', true) ->> 'all_handlers', 'true',
  'an admin replays all handlers');
reset role;
select is((select count(*) from public.event_deliveries where event_id = 'e2000000-0000-4000-8000-000000000001')::int, 0,
  'all handlers: the deliveries are forgotten');

select * from finish();
rollback;
