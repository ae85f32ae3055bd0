-- Sequences: a member of A reads and writes A's sequences and steps, reads A's enrollments and runs only, and
-- changes enrollments only through the RPCs (scoped by the token's tenant); a member of B can neither see nor
-- enrol into, pause or preview A's; one open enrollment per lead and sequence; one run per enrollment and step;
-- the window, cap and step rules are checked by the database.
-- Anna owns Acme (A), Ben is a member of A, Bea owns Nordlicht (B).
begin;
select no_plan();

insert into public.sequences (id, tenant_id, name, timezone) values
  ('5e000000-0000-4000-8000-0000000000a1', '11111111-1111-4111-8111-111111111111', 'Acme follow-up', 'Europe/Vienna'),
  ('5e000000-0000-4000-8000-0000000000b1', '22222222-2222-4222-8222-222222222222', 'Nordlicht follow-up', 'Europe/Berlin');
insert into public.sequence_steps (id, tenant_id, sequence_id, position, channel, template) values
  ('5f000000-0000-4000-8000-0000000000a1', '11111111-1111-4111-8111-111111111111', '5e000000-0000-4000-8000-0000000000a1',
   1, 'email', 'Hallo {{first_name}}'),
  ('5f000000-0000-4000-8000-0000000000b1', '22222222-2222-4222-8222-222222222222', '5e000000-0000-4000-8000-0000000000b1',
   1, 'email', 'Hi {{first_name}}');

-- The database's own rules.
select throws_ok($$insert into public.sequences (tenant_id, name, timezone) values
  ('11111111-1111-4111-8111-111111111111', 'Mars', 'Mars/Olympus')$$, '23514',
  'sequences.timezone: ''Mars/Olympus'' is not a known time zone', 'an unknown time zone is refused naming it');
select throws_ok($$insert into public.sequences (tenant_id, name, send_from, send_until) values
  ('11111111-1111-4111-8111-111111111111', 'Backwards', '17:00', '09:00')$$, '23514', null,
  'a window must start before it ends');
select throws_ok($$insert into public.sequences (tenant_id, name, send_days) values
  ('11111111-1111-4111-8111-111111111111', 'Eighth day', '{1,8}')$$, '23514', null, 'weekdays are 1 to 7');
select throws_ok($$insert into public.sequences (tenant_id, name, daily_cap_tenant) values
  ('11111111-1111-4111-8111-111111111111', 'No sends', 0)$$, '23514', null, 'a daily cap is at least 1');
select throws_ok($$insert into public.sequence_steps (tenant_id, sequence_id, position, channel) values
  ('11111111-1111-4111-8111-111111111111', '5e000000-0000-4000-8000-0000000000a1', 2, 'email')$$, '23514', null,
  'a message step needs a template');
select throws_ok($$insert into public.sequence_steps (tenant_id, sequence_id, position, channel, template) values
  ('11111111-1111-4111-8111-111111111111', '5e000000-0000-4000-8000-0000000000a1', 1, 'sms', 'again')$$, '23505', null,
  'one step per position');
select throws_ok($$insert into public.sequence_steps (tenant_id, sequence_id, position, channel, template) values
  ('11111111-1111-4111-8111-111111111111', '5e000000-0000-4000-8000-0000000000b1', 2, 'sms', 'x')$$, '23503', null,
  'a step belongs to a sequence of its own tenant');

-- anon: nothing.
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok('select count(*) from public.sequences', '42501', null, 'anon cannot read sequences');
select throws_ok($$select public.enroll_leads('5e000000-0000-4000-8000-0000000000a1', '{}'::uuid[])$$, '42501', null,
  'anon cannot enrol');
reset role;

-- Ben (member of A) enrols leads of A; leads of B's tenant count as unknown.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000002","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select results_eq('select name from public.sequences', $$values ('Acme follow-up')$$, 'a member of A reads A''s sequences only');
select is(public.enroll_leads('5e000000-0000-4000-8000-0000000000a1',
  array['10000000-0000-4000-8000-000000000001', '10000000-0000-4000-8000-000000000002',
        '20000000-0000-4000-8000-000000000001']::uuid[]) -> 'skipped' ->> 'unknown_lead', '1',
  'a lead of another tenant is not enrolled (it reads as unknown)');
select is((select count(*)::int from public.sequence_enrollments), 2, 'two of A''s leads are enrolled');
select is(public.enroll_leads('5e000000-0000-4000-8000-0000000000a1',
  array['10000000-0000-4000-8000-000000000001']::uuid[]),
  '{"enrolled": 0, "skipped": {"already_enrolled": 1}}'::jsonb, 'one open enrollment per lead and sequence');
select is((select count(*)::int from public.events where type = 'sequence.step_due'), 2,
  'each new enrollment has its step_due event');
select throws_ok($$update public.sequence_enrollments set state = 'stopped', stop_reason = 'x'$$, '42501', null,
  'members change enrollments through the RPCs only');
select is(public.set_enrollment_state('pause', p_lead_id => '10000000-0000-4000-8000-000000000001'), 1, 'pausing a lead''s enrollment');
select is(public.set_enrollment_state('resume', p_lead_id => '10000000-0000-4000-8000-000000000001'), 1, 'resuming it');
select is((select count(*)::int from public.events where type = 'sequence.step_due'), 3, 'resuming schedules the step again');
select is((select schedule_version from public.sequence_enrollments where lead_id = '10000000-0000-4000-8000-000000000001'), 3,
  'pause and resume each raise the schedule version (older step events are ignored)');
select is((select count(*)::int from public.preview_sequence_sends('5e000000-0000-4000-8000-0000000000a1')), 2,
  'the preview lists the two planned sends');
select throws_ok($$select public.enroll_leads('5e000000-0000-4000-8000-0000000000b1', array['10000000-0000-4000-8000-000000000003']::uuid[])$$,
  '22023', 'enroll_leads.p_sequence_id: there is no sequence 5e000000-0000-4000-8000-0000000000b1 in your tenant',
  'a member of A cannot enrol into B''s sequence');
select throws_ok($$select public.sequence_step_context('11111111-1111-4111-8111-111111111111', '5e000000-0000-4000-8000-0000000000a1')$$,
  '42501', null, 'members cannot call the step handler''s functions');
reset role;

-- Bea (B) sees nothing of A and changes nothing of A's.
select set_config('test.a_enrollments', (select array_agg(id)::text from public.sequence_enrollments), true);
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"b0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"22222222-2222-4222-8222-222222222222"}', true);
select is((select count(*)::int from public.sequence_enrollments), 0, 'a member of B reads none of A''s enrollments');
select is((select count(*)::int from public.preview_sequence_sends('5e000000-0000-4000-8000-0000000000a1')), 0,
  'a member of B previews nothing of A''s sequence');
select is(public.set_enrollment_state('stop', p_lead_id => '10000000-0000-4000-8000-000000000001'), 0,
  'a member of B cannot stop A''s enrollments');
select is(public.set_enrollment_state('stop', current_setting('test.a_enrollments')::uuid[]), 0,
  'nor name them by id');
select throws_ok($$select public.set_enrollment_state('stop', p_lead_id => '10000000-0000-4000-8000-000000000001',
  p_tenant_id => '11111111-1111-4111-8111-111111111111')$$, '42501', null, 'nor name A as the tenant');
update public.sequences set name = 'taken over' where id = '5e000000-0000-4000-8000-0000000000a1';
reset role;
select is((select name from public.sequences where id = '5e000000-0000-4000-8000-0000000000a1'), 'Acme follow-up',
  'a member of B cannot rename A''s sequence');
select is((select count(*)::int from public.sequence_enrollments where state = 'active'), 2, 'A''s enrollments are untouched');

-- One run per enrollment and step; archiving a sequence stops its enrollments.
select is(public.sequence_claim_step('11111111-1111-4111-8111-111111111111',
  (select id from public.sequence_enrollments where lead_id = '10000000-0000-4000-8000-000000000002'),
  '5f000000-0000-4000-8000-0000000000a1', now()) ->> 'outcome', 'claimed', 'the first claim of a step takes its run');
select is(public.sequence_claim_step('11111111-1111-4111-8111-111111111111',
  (select id from public.sequence_enrollments where lead_id = '10000000-0000-4000-8000-000000000002'),
  '5f000000-0000-4000-8000-0000000000a1', now()) ->> 'outcome', 'exists', 'a second claim finds the same run');
update public.sequences set status = 'archived' where id = '5e000000-0000-4000-8000-0000000000a1';
select results_eq($$select state, stop_reason from public.sequence_enrollments order by lead_id$$,
  $$values ('stopped', 'sequence_archived'), ('stopped', 'sequence_archived')$$, 'archiving stops every open enrollment');

select * from finish();
rollback;
