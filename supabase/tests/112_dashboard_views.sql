-- What the dashboard's Analytics and AI view reads about AI spending (public.ai_spend): a member sees the
-- token's tenant's usage by model and its budget against the period's spending; a member of another tenant
-- sees none of it, even naming the tenant; anon is refused; bad input names the parameter.
begin;
select no_plan();

select has_function('public', 'ai_spend', array['date', 'uuid'], 'ai_spend(p_period, p_tenant_id) exists');
select is((select prosecdef from pg_proc where oid = 'public.ai_spend(date, uuid)'::regprocedure), false,
  'ai_spend is security invoker (RLS of ai_usage, ai_budgets and ai_budget_periods applies)');

select public.ai_track_usage(jsonb_build_array(
  jsonb_build_object('id', 'e1000000-0000-4000-8000-000000000001', 'tenant_id', '11111111-1111-4111-8111-111111111111',
                     'call_id', gen_random_uuid(), 'scenario', 'reply_suggestion', 'provider', 'openai',
                     'model', 'gpt-4o-mini', 'input_tokens', 1000000, 'output_tokens', 0, 'outcome', 'success'),
  jsonb_build_object('id', 'e1000000-0000-4000-8000-000000000002', 'tenant_id', '11111111-1111-4111-8111-111111111111',
                     'call_id', gen_random_uuid(), 'scenario', 'lead_scoring', 'provider', 'openai',
                     'model', 'gpt-4o-mini', 'input_tokens', 10, 'output_tokens', 0, 'outcome', 'timeout'),
  jsonb_build_object('id', 'e1000000-0000-4000-8000-000000000003', 'tenant_id', '22222222-2222-4222-8222-222222222222',
                     'call_id', gen_random_uuid(), 'scenario', 'reply_suggestion', 'provider', 'openai',
                     'model', 'gpt-4o', 'input_tokens', 5000, 'output_tokens', 500, 'outcome', 'success')));
insert into public.ai_budgets (tenant_id, monthly_limit_usd) values ('11111111-1111-4111-8111-111111111111', 2);
insert into public.ai_budget_periods (tenant_id, scenario, period, spent_usd, reserved_usd)
values ('11111111-1111-4111-8111-111111111111', null, date_trunc('month', now() at time zone 'utc')::date, 1.5, 0.1);

set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000002","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select is((public.ai_spend() ->> 'calls')::integer, 2, 'a member of Acme counts Acme''s two calls this month');
select is((public.ai_spend() ->> 'failed_calls')::integer, 1, 'the timed-out call counts as failed');
select is(public.ai_spend() -> 'by_model' -> 0 ->> 'model', 'gpt-4o-mini', 'usage by model');
select is((public.ai_spend() -> 'budgets' -> 0 ->> 'spent_usd')::numeric, 1.5,
  'the budget shows what its period row says was spent');
select is((public.ai_spend() -> 'budgets' -> 0 ->> 'used_share')::numeric, 0.75, '1.50 of 2.00 USD is 75 %');
select is((public.ai_spend('2020-01-15') ->> 'calls')::integer, 0, 'another month has no calls');
select is(public.ai_spend('2020-01-15') ->> 'period', '2020-01', 'a day names its budget month');
select throws_ok($$select public.ai_spend(p_tenant_id => '22222222-2222-4222-8222-222222222222')$$, '42501', null,
  'a member cannot name another tenant');
select throws_ok($$select public.ai_spend('1900-01-01')$$, '22023', null, 'a month out of range names p_period');

select set_config('request.jwt.claims',
  '{"sub":"b0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"22222222-2222-4222-8222-222222222222"}', true);
select is((public.ai_spend() ->> 'calls')::integer, 1, 'a member of Nordlicht counts Nordlicht''s call only');
select is(public.ai_spend() -> 'budgets', '[]'::jsonb, 'and sees none of Acme''s budgets');
select is(public.ai_spend() -> 'by_model' -> 0 ->> 'model', 'gpt-4o', 'nor Acme''s models');
reset role;

set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok($$select public.ai_spend()$$, '42501', null, 'anon cannot read AI spending');
reset role;
select set_config('request.jwt.claims', '', true);

select throws_ok($$select public.ai_spend()$$, '22023', null, 'service code names p_tenant_id');
select is((public.ai_spend(p_tenant_id => '11111111-1111-4111-8111-111111111111') ->> 'calls')::integer, 2,
  'service code reads the tenant it names');

select ok(exists (select 1 from pg_publication_tables where pubname = 'supabase_realtime'
                  and schemaname = 'public' and tablename = 'autopilot_actions'),
  'autopilot_actions is in the supabase_realtime publication (the approval queue updates live)');

select * from finish();
rollback;
