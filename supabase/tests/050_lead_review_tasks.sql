-- Review tasks of extracted lead fields: a member of A reads and decides A's tasks only (through
-- review_lead_task; no direct writes), a verdict applies the value and records it as a fact in one step, a
-- task is decided once, and a member of B can neither read nor decide A's tasks.
-- Anna owns Acme (A), Ben is a member of A, Bea owns Nordlicht (B).
begin;
select no_plan();

insert into public.conversations (id, tenant_id, lead_id, channel) values
  ('c0000000-0000-4000-8000-0000000000a1', '11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000005', 'whatsapp');
insert into public.messages (id, conversation_id, direction, body) values
  ('e0000000-0000-4000-8000-0000000000a1', 'c0000000-0000-4000-8000-0000000000a1', 'in', 'Ich bin bei Schulz Design, mia@schulz.example');
insert into public.lead_review_tasks (id, tenant_id, lead_id, field, proposed_value, confidence, reason, source_message_id) values
  ('7a000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000005',
   'company', 'Schulz Design', 0.6, 'low_confidence', 'e0000000-0000-4000-8000-0000000000a1'),
  ('7a000000-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000005',
   'email', 'mia@schulz.example', 0.7, 'low_confidence', 'e0000000-0000-4000-8000-0000000000a1'),
  ('7a000000-0000-4000-8000-000000000003', '11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000005',
   'name', 'Mia Schulz-Berg', 0.8, 'conflicts_with_lead', 'e0000000-0000-4000-8000-0000000000a1'),
  ('7b000000-0000-4000-8000-000000000001', '22222222-2222-4222-8222-222222222222', '20000000-0000-4000-8000-000000000001',
   'company', 'Carter Holdings', 0.5, 'low_confidence', null);

select throws_ok($$insert into public.lead_review_tasks (tenant_id, lead_id, field, proposed_value, confidence, reason, source_message_id)
  values ('11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000005', 'company', 'Again', 0.5,
          'low_confidence', 'e0000000-0000-4000-8000-0000000000a1')$$,
  '23505', null, 'one task per message and field');

-- anon: nothing.
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok('select count(*) from public.lead_review_tasks', '42501', null, 'anon cannot read review tasks');
select throws_ok($$select public.review_lead_task('7a000000-0000-4000-8000-000000000001', 'accepted')$$, '42501', null,
  'anon cannot review');
reset role;

-- Bea (B) sees none of A's tasks and cannot decide them.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"b0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"22222222-2222-4222-8222-222222222222"}', true);
select results_eq('select id::text from public.lead_review_tasks', $$values ('7b000000-0000-4000-8000-000000000001')$$,
  'a member of B reads B''s tasks only');
select throws_ok($$select public.review_lead_task('7a000000-0000-4000-8000-000000000001', 'accepted')$$, 'P0002',
  'review_lead_task.p_task_id: there is no review task 7a000000-0000-4000-8000-000000000001 in your tenant',
  'a member of B cannot decide A''s task (it reads as missing)');
reset role;

-- Ben (member of A) decides.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000002","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select is((select count(*)::int from public.lead_review_tasks), 3, 'a member of A reads A''s tasks');
select throws_ok($$update public.lead_review_tasks set status = 'accepted'$$, '42501', null,
  'members do not write tasks directly');
select throws_ok($$select public.review_lead_task('7a000000-0000-4000-8000-000000000001', 'approve')$$, '22023',
  'review_lead_task.p_verdict: ''approve'' is not a verdict; allowed: accepted, edited, discarded', 'an unknown verdict is named');
select throws_ok($$select public.review_lead_task('7a000000-0000-4000-8000-000000000001', 'edited')$$, '22023', null,
  'an edited verdict needs a value');

select is(public.review_lead_task('7a000000-0000-4000-8000-000000000001', 'accepted') ->> 'status', 'accepted',
  'accepting a task');
select is(public.review_lead_task('7a000000-0000-4000-8000-000000000002', 'edited', ' mia@schulz-design.example ') ->> 'final_value',
  'mia@schulz-design.example', 'editing a task applies the member''s value');
select is(public.review_lead_task('7a000000-0000-4000-8000-000000000003', 'discarded') ->> 'status', 'discarded',
  'discarding a task');
select throws_ok($$select public.review_lead_task('7a000000-0000-4000-8000-000000000001', 'discarded')$$, '23514', null,
  'a task is decided once');
reset role;

select results_eq($$select name, company, email from public.leads where id = '10000000-0000-4000-8000-000000000005'$$,
  $$values ('Mia Schulz'::text, 'Schulz Design'::text, 'mia@schulz-design.example'::text)$$,
  'accepted and edited values are applied; the discarded name is not');
select results_eq($$select key, value #>> '{}', origin, source_message_id::text from public.lead_facts
    where lead_id = '10000000-0000-4000-8000-000000000005' order by key$$,
  $$values ('company'::text, 'Schulz Design'::text, 'member'::text, 'e0000000-0000-4000-8000-0000000000a1'::text),
           ('email', 'mia@schulz-design.example', 'member', 'e0000000-0000-4000-8000-0000000000a1')$$,
  'each applied value is a fact of origin member with the task''s message');
select results_eq($$select status, reviewed_by::text, reviewed_at is not null from public.lead_review_tasks
    where tenant_id = '11111111-1111-4111-8111-111111111111' order by id$$,
  $$values ('accepted'::text, 'a0000000-0000-4000-8000-000000000002'::text, true),
           ('edited', 'a0000000-0000-4000-8000-000000000002', true),
           ('discarded', 'a0000000-0000-4000-8000-000000000002', true)$$,
  'each verdict records the reviewer and when');
select is((select status from public.lead_review_tasks where id = '7b000000-0000-4000-8000-000000000001'), 'pending',
  'B''s task is untouched');

select * from finish();
rollback;
