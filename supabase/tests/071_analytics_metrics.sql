-- Sales metrics (20261203130000..130200): the metrics report runs as the caller (RLS), members get their own
-- tenant only, anon gets nothing, bad input names the parameter; stage probabilities are seeded per tenant,
-- read by members, changed by owners and admins only; the new rollups follow the facts.
-- Anna owns Acme (A), Ben is a member of Acme, Bea owns Nordlicht (B).
begin;
select no_plan();

select is(public.analytics_record('11111111-1111-4111-8111-111111111111',
  '[{"lead_id": "10000000-0000-4000-8000-000000000001", "message_id": "e0000000-0000-4000-8000-0000000071a1",
     "channel": "whatsapp", "direction": "out", "actor": "human", "occurred_at": "2026-06-01T10:00:00Z", "handler": "t"},
    {"lead_id": "10000000-0000-4000-8000-000000000001", "message_id": "e0000000-0000-4000-8000-0000000071a2",
     "channel": "whatsapp", "direction": "in", "actor": "lead", "occurred_at": "2026-06-01T11:00:00Z", "handler": "t"}]',
  '[{"lead_id": "10000000-0000-4000-8000-000000000001", "stage": "deal_closed_won",
     "entered_at": "2026-06-03T10:00:00Z", "handler": "t"}]',
  '[]',
  '[{"lead_id": "10000000-0000-4000-8000-000000000001", "outcome": "won", "value": 4242, "currency": "EUR",
     "closed_at": "2026-06-03T10:00:00Z", "handler": "t"}]') ->> 'touchpoints', '2',
  'facts of tenant A');
select is((select count::int from public.analytics_daily_rollups
           where tenant_id = '11111111-1111-4111-8111-111111111111' and metric = 'replies' and day = '2026-06-01'),
  1, 'an outbound message is replied by the lead''s next inbound one (on the send''s day)');
select is((select count(*)::int from (
  select * from public.analytics_daily_rollups where tenant_id = '11111111-1111-4111-8111-111111111111'
  except select * from private.analytics_rollups_recomputed('11111111-1111-4111-8111-111111111111')) d), 0,
  'the rollups (replies included) equal a recomputation from the facts');
select is((select count(*)::int from public.analytics_stage_probabilities
           where tenant_id = '22222222-2222-4222-8222-222222222222'), 5, 'every tenant has its five probabilities');

-- anon: nothing
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok($$select public.analytics_metrics()$$, '42501', null, 'anon cannot call the metrics');
select throws_ok($$select count(*) from public.analytics_stage_probabilities$$, '42501', null,
  'anon cannot read stage probabilities');
reset role;

-- Bea (B): nothing of A
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"b0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"22222222-2222-4222-8222-222222222222"}', true);
select is((public.analytics_metrics('2026-06-01', '2026-06-30') #>> '{win_rate,won}')::int, 0,
  'a member of B counts no won deal of A');
select is((public.analytics_metrics('2026-06-01', '2026-06-30') #>> '{reply_rate,sends}')::int, 0,
  'and no message of A');
select throws_ok($$select public.analytics_metrics(p_tenant_id => '11111111-1111-4111-8111-111111111111')$$,
  '42501', null, 'a member of B cannot ask for A''s metrics');
select is((select count(*)::int from public.analytics_stage_probabilities
           where tenant_id = '11111111-1111-4111-8111-111111111111'), 0, 'nor read A''s probabilities');
update public.analytics_stage_probabilities set probability = 0
where tenant_id = '11111111-1111-4111-8111-111111111111';
reset role;
select is((select count(*)::int from public.analytics_stage_probabilities
           where tenant_id = '11111111-1111-4111-8111-111111111111' and probability = 0), 0,
  'nor change them');

-- Ben (member of A): reads, may not change
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000002","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select is((public.analytics_metrics('2026-06-01', '2026-06-30') #>> '{win_rate,value,EUR,won}')::numeric, 4242::numeric,
  'a member of A gets A''s won value');
select is((public.analytics_metrics('2026-06-01', '2026-06-30') #>> '{reply_rate,rate}')::float, 1::float,
  'and its reply rate');
select throws_ok($$select public.analytics_metrics('2026-06-01', '2026-06-30', 'Mars/Olympus')$$, '22023',
  'analytics_metrics.p_tz: ''Mars/Olympus'' is not a known time zone', 'an unknown time zone is refused, naming p_tz');
select throws_ok($$select public.analytics_metrics('2026-07-01', '2026-06-01')$$, '22023',
  'analytics_metrics.p_from: 2026-07-01 is after p_to 2026-06-01', 'a reversed range is refused, naming p_from');
select throws_ok($$select public.analytics_metrics(p_model => 'markov')$$, '22023', null,
  'markov is not a model of the metrics (no per-touch credits)');
update public.analytics_stage_probabilities set probability = 0.9;
select throws_ok($$insert into public.analytics_stage_probabilities (status, probability) values ('new', 0.5)$$,
  '42501', null, 'a member adds no probability');
reset role;
select is((select count(*)::int from public.analytics_stage_probabilities where probability = 0.9), 0,
  'and changes none');

-- Anna (owner of A): changes them
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
update public.analytics_stage_probabilities set probability = 0.6 where status = 'proposal';
select is((public.analytics_metrics('2026-06-01', '2026-06-30') #>> '{pipeline,by_status,3,probability}')::float,
  0.6::float, 'an owner changes a probability, and the pipeline weighs by it');
select throws_ok($$update public.analytics_stage_probabilities set probability = 2 where status = 'proposal'$$,
  '23514', null, 'a probability stays between 0 and 1');
select throws_ok($$update public.analytics_stage_probabilities set tenant_id = '22222222-2222-4222-8222-222222222222'$$,
  '42501', null, 'and in its tenant');
reset role;

select * from finish();
rollback;
