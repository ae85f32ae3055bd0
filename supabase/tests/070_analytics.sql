-- Analytics (20261202170000..170700): facts are idempotent and keep their tenant, the rollups follow the facts,
-- members read and report on their own tenant only, anon gets nothing, only service code writes facts.
-- Anna owns Acme (A), Bea owns Nordlicht (B).
begin;
select no_plan();

-- Facts for one lead of each tenant, through the handlers' call.
select is(public.analytics_record('11111111-1111-4111-8111-111111111111',
  '[{"lead_id": "10000000-0000-4000-8000-000000000001", "message_id": "e0000000-0000-4000-8000-0000000000a1",
     "channel": "whatsapp", "direction": "in", "actor": "lead", "occurred_at": "2026-06-01T10:00:00Z", "handler": "t"}]',
  '[{"lead_id": "10000000-0000-4000-8000-000000000001", "stage": "lead_created", "handler": "t"},
    {"lead_id": "10000000-0000-4000-8000-000000000001", "stage": "deal_closed_won",
     "entered_at": "2026-06-03T10:00:00Z", "handler": "t"}]',
  '[]',
  '[{"lead_id": "10000000-0000-4000-8000-000000000001", "outcome": "won", "value": 1200, "currency": "EUR",
     "closed_at": "2026-06-03T10:00:00Z", "handler": "t"}]'),
  '{"meetings": 0, "touchpoints": 1, "deal_outcomes": 1, "stage_entries": 2}'::jsonb,
  'analytics_record writes the facts it is given');
select is(public.analytics_record('11111111-1111-4111-8111-111111111111',
  '[{"lead_id": "10000000-0000-4000-8000-000000000001", "message_id": "e0000000-0000-4000-8000-0000000000a1",
     "channel": "whatsapp", "direction": "in", "actor": "lead", "occurred_at": "2026-06-01T10:00:00Z", "handler": "t"}]',
  '[{"lead_id": "10000000-0000-4000-8000-000000000001", "stage": "lead_created", "handler": "t"}]', '[]',
  '[{"lead_id": "10000000-0000-4000-8000-000000000001", "outcome": "won", "value": 1200, "currency": "EUR",
     "closed_at": "2026-06-03T10:00:00Z", "handler": "t"}]'),
  '{"meetings": 0, "touchpoints": 0, "deal_outcomes": 0, "stage_entries": 0}'::jsonb,
  'the same facts again write nothing (a redelivered event)');
select is(public.analytics_record('11111111-1111-4111-8111-111111111111',
  '[{"lead_id": "20000000-0000-4000-8000-000000000001", "message_id": "e0000000-0000-4000-8000-0000000000b9",
     "channel": "sms", "direction": "in", "actor": "lead", "occurred_at": "2026-06-01T10:00:00Z", "handler": "t"}]'),
  '{"meetings": 0, "touchpoints": 0, "deal_outcomes": 0, "stage_entries": 0}'::jsonb,
  'a fact about another tenant''s lead is skipped, not written into this tenant');
select lives_ok($$select public.analytics_record('22222222-2222-4222-8222-222222222222',
  '[{"lead_id": "20000000-0000-4000-8000-000000000001", "message_id": "e0000000-0000-4000-8000-0000000000b1",
     "channel": "sms", "direction": "in", "actor": "lead", "occurred_at": "2026-06-02T10:00:00Z", "handler": "t"}]',
  '[{"lead_id": "20000000-0000-4000-8000-000000000001", "stage": "lead_created", "handler": "t"}]')$$,
  'facts of tenant B');

select is((select count(*)::int from (
  select * from public.analytics_daily_rollups where tenant_id = '11111111-1111-4111-8111-111111111111'
  except select * from private.analytics_rollups_recomputed('11111111-1111-4111-8111-111111111111')) d), 0,
  'the rollups hold exactly what a recomputation from the facts gives');
select is((select amount from public.analytics_daily_rollups
           where tenant_id = '11111111-1111-4111-8111-111111111111' and metric = 'deals_won'), 1200::numeric,
  'the won deal''s value is in its day''s rollup');

-- service_role cannot move a fact to another tenant
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select throws_ok($$update public.analytics_touchpoints set tenant_id = '22222222-2222-4222-8222-222222222222'
  where message_id = 'e0000000-0000-4000-8000-0000000000a1'$$, '42501', null,
  'a touchpoint never moves to another tenant');
reset role;

-- anon: nothing
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok(format('select count(*) from public.%I', t), '42501', null, format('anon cannot read %s', t))
from unnest(array['analytics_touchpoints', 'analytics_stage_entries', 'analytics_meetings', 'analytics_deal_outcomes',
                  'analytics_lead_journeys', 'analytics_daily_rollups']) t;
select throws_ok($$select public.analytics_funnel()$$, '42501', null, 'anon cannot call the funnel');
select throws_ok($$select public.analytics_attribution()$$, '42501', null, 'anon cannot call attribution');
select throws_ok($$select public.analytics_touch_paths()$$, '42501', null, 'anon cannot call touch paths');
select throws_ok($$select public.record_meeting('10000000-0000-4000-8000-000000000001', now())$$, '42501', null,
  'anon cannot record meetings');
reset role;

-- Anna (A)
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select is((select count(*)::int from public.analytics_touchpoints), 1, 'a member reads their tenant''s touchpoints only');
select is((select count(*)::int from public.analytics_lead_journeys where tenant_id <> '11111111-1111-4111-8111-111111111111'),
  0, 'and none of another tenant''s journeys');
select is((public.analytics_funnel() ->> 'leads')::int, 1,
  'the funnel counts the member''s tenant (no tenant argument needed)');
select is((public.analytics_attribution('linear', 'channel', '2026-06-01', '2026-06-30', 'UTC') -> 'revenue'),
  '{"EUR": 1200}'::jsonb, 'attribution reports the member''s won deal');
select throws_ok($$select public.analytics_funnel(p_tenant_id => '22222222-2222-4222-8222-222222222222')$$,
  '42501', null, 'a member cannot ask for another tenant''s funnel');
select throws_ok($$select public.analytics_record('11111111-1111-4111-8111-111111111111')$$, '42501', null,
  'a member cannot write facts');
select throws_ok($$select public.analytics_rebuild('11111111-1111-4111-8111-111111111111')$$, '42501', null,
  'a member cannot run the rebuild');
select throws_ok($$insert into public.analytics_touchpoints (lead_id, message_id, channel, direction, actor, occurred_at, handler)
  values ('10000000-0000-4000-8000-000000000001', gen_random_uuid(), 'sms', 'in', 'lead', now(), 'forged')$$,
  '42501', null, 'a member cannot forge a touchpoint');
select throws_ok($$select public.record_meeting('20000000-0000-4000-8000-000000000001', now())$$, '23503', null,
  'a member cannot book a meeting for another tenant''s lead');
select isnt(public.record_meeting('10000000-0000-4000-8000-000000000001', now() + interval '1 day'), null,
  'a member books a meeting for their lead');
reset role;
select is((select count(*)::int from public.events where type = 'meeting.booked'
           and tenant_id = '11111111-1111-4111-8111-111111111111'
           and payload ->> 'lead_id' = '10000000-0000-4000-8000-000000000001'
           and payload ->> 'booked_by' = 'a0000000-0000-4000-8000-000000000001'), 1,
  'booking publishes meeting.booked in the lead''s tenant, naming who booked it');

select * from finish();
rollback;
