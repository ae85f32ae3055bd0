-- sequence_execute_steps: a due step in one transaction. It queues exactly one message per step (a second call
-- with the same schedule version is stale and queues nothing), records the sent run and publishes
-- sequence.step_executed and the next sequence.step_due with the message.queued of the send path; an inbound
-- message the handler did not judge, an opt-out or a closed lead answer `recheck` and write nothing; a daily cap
-- moves the step instead of sending; bad input is refused naming the argument; only service code may call it.
begin;
select no_plan();

insert into public.sequences (id, tenant_id, name, timezone, send_days, send_from, send_until, daily_cap_tenant) values
  ('5e000000-0000-4000-8000-0000000081a1', '11111111-1111-4111-8111-111111111111', 'Steps', 'UTC',
   '{1,2,3,4,5,6,7}', '00:00', '23:59:59', null),
  ('5e000000-0000-4000-8000-0000000081a2', '11111111-1111-4111-8111-111111111111', 'Capped', 'UTC',
   '{1,2,3,4,5,6,7}', '00:00', '23:59:59', 1);
insert into public.sequence_steps (tenant_id, sequence_id, position, channel, template, delay_hours)
select '11111111-1111-4111-8111-111111111111', s.id, p, 'email', 'Hallo {{first_name}}', case p when 1 then 0 else 24 end
from (values ('5e000000-0000-4000-8000-0000000081a1'::uuid), ('5e000000-0000-4000-8000-0000000081a2'::uuid)) s(id),
     generate_series(1, 2) p;
insert into public.leads (id, tenant_id, name, email) values
  ('1e000000-0000-4000-8000-0000000081a1', '11111111-1111-4111-8111-111111111111', 'Lea Step', 'lea.step@example.test'),
  ('1e000000-0000-4000-8000-0000000081a2', '11111111-1111-4111-8111-111111111111', 'Max Step', 'max.step@example.test'),
  ('1e000000-0000-4000-8000-0000000081a3', '11111111-1111-4111-8111-111111111111', 'Ida Step', 'ida.step@example.test');
select public.enroll_leads('5e000000-0000-4000-8000-0000000081a1',
  array['1e000000-0000-4000-8000-0000000081a1', '1e000000-0000-4000-8000-0000000081a2']::uuid[],
  '11111111-1111-4111-8111-111111111111');
select public.enroll_leads('5e000000-0000-4000-8000-0000000081a2',
  array['1e000000-0000-4000-8000-0000000081a2', '1e000000-0000-4000-8000-0000000081a3']::uuid[],
  '11111111-1111-4111-8111-111111111111');

create temp table step_items as
select e.lead_id, e.sequence_id, jsonb_build_object(
  'enrollment_id', e.id, 'version', e.schedule_version, 'step_id', st.id, 'status', 'sent',
  'body', 'Hallo ' || split_part(l.name, ' ', 1), 'address', l.email, 'seen_inbound', '[]'::jsonb,
  'day_start', date_trunc('day', now()), 'day_end', date_trunc('day', now()) + interval '1 day',
  'cap_tenant', s.daily_cap_tenant, 'capped_due_at', date_trunc('day', now()) + interval '1 day',
  'next', jsonb_build_object('state', 'active', 'position', 2, 'due_at', now() + interval '1 day',
                             'run_after_seconds', 86400)) as item
from public.sequence_enrollments e
join public.sequences s on s.id = e.sequence_id
join public.sequence_steps st on st.sequence_id = e.sequence_id and st.position = 1
join public.leads l on l.id = e.lead_id
where e.sequence_id in ('5e000000-0000-4000-8000-0000000081a1', '5e000000-0000-4000-8000-0000000081a2');
grant select on step_items to service_role;

-- Only service code.
set local role authenticated;
select throws_ok($$select public.sequence_execute_steps('11111111-1111-4111-8111-111111111111', '[]'::jsonb)$$,
  '42501', null, 'a member cannot execute steps');
reset role;
set local role anon;
select throws_ok($$select public.sequence_execute_steps('11111111-1111-4111-8111-111111111111', '[]'::jsonb)$$,
  '42501', null, 'anon cannot execute steps');
reset role;

set local role service_role;
select throws_ok($$select public.sequence_execute_steps(null, '[]'::jsonb)$$, '22023',
  'sequence_execute_steps.p_tenant_id: required (which tenant?)', 'the tenant is required');
select throws_ok($$select public.sequence_execute_steps('11111111-1111-4111-8111-111111111111', '{}'::jsonb)$$, '22023',
  'sequence_execute_steps.p_steps: a JSON array of at most 200 steps', 'the steps are an array');
select is((public.sequence_execute_steps('11111111-1111-4111-8111-111111111111',
  jsonb_build_array((select item || '{"status": "mailed"}' from step_items
                     where lead_id = '1e000000-0000-4000-8000-0000000081a1'))) -> 0 ->> 'outcome'), 'error',
  'a step with a status that does not exist answers an error (and writes nothing)');

-- Lea: an inbound message the handler has not judged → recheck, nothing written.
insert into public.conversations (tenant_id, lead_id, channel)
  values ('11111111-1111-4111-8111-111111111111', '1e000000-0000-4000-8000-0000000081a1', 'email');
insert into public.messages (tenant_id, conversation_id, direction, body, received_at, provider_message_id)
select '11111111-1111-4111-8111-111111111111', c.id, 'in', 'Danke, kein Interesse', now() + interval '1 second', 'in-081'
from public.conversations c where c.lead_id = '1e000000-0000-4000-8000-0000000081a1';
select is((public.sequence_execute_steps('11111111-1111-4111-8111-111111111111',
  (select jsonb_agg(item) from step_items where lead_id = '1e000000-0000-4000-8000-0000000081a1')) -> 0 ->> 'outcome'),
  'recheck', 'a reply the handler has not judged: the step is decided again');
select is((select count(*)::int from public.messages where lead_id = '1e000000-0000-4000-8000-0000000081a1'
           and direction = 'out'), 0, 'nothing was queued for the lead who replied');

-- Max and Ida in the capped sequence (one send a day for the tenant), in one batch: the first takes the day's
-- slot, the second moves to tomorrow; then Max's step of the uncapped sequence sends.
select is((select jsonb_agg(r ->> 'outcome' order by r ->> 'outcome')
           from jsonb_array_elements(public.sequence_execute_steps('11111111-1111-4111-8111-111111111111',
             (select jsonb_agg(item) from step_items
              where sequence_id = '5e000000-0000-4000-8000-0000000081a2'))) r),
  '["capped", "sent"]'::jsonb, 'one batch: the first capped step sends, the second is moved');
select is((select count(*)::int from public.sequence_enrollments where sequence_id = '5e000000-0000-4000-8000-0000000081a2'
           and current_step = 1 and next_due_at = date_trunc('day', now()) + interval '1 day'), 1,
  'the capped step is due tomorrow');
select is((public.sequence_execute_steps('11111111-1111-4111-8111-111111111111',
  (select jsonb_agg(item) from step_items where lead_id = '1e000000-0000-4000-8000-0000000081a2'
   and sequence_id = '5e000000-0000-4000-8000-0000000081a1')) -> 0 ->> 'outcome'), 'sent',
  'an uncapped step sends');
select is((select count(*)::int from public.messages where sent_by = 'sequence' and status = 'queued'
           and idempotency_key like 'seq:%:1'), 2, 'one queued message per sent step, keyed seq:<enrollment>:1');
select is((select count(*)::int from public.events where type = 'message.queued'
           and payload ->> 'lead_id' in ('1e000000-0000-4000-8000-0000000081a2', '1e000000-0000-4000-8000-0000000081a3')),
  2, 'the send job gets its message.queued for each');
select is((select count(*)::int from public.events where type = 'sequence.step_executed'
           and payload ->> 'lead_id' in ('1e000000-0000-4000-8000-0000000081a2', '1e000000-0000-4000-8000-0000000081a3')),
  2, 'sequence.step_executed once per sent step');
select is((select count(*)::int from public.sequence_step_runs where status = 'sent'
           and lead_id in ('1e000000-0000-4000-8000-0000000081a2', '1e000000-0000-4000-8000-0000000081a3')),
  2, 'a sent run per sent step');
select is((select count(*)::int from public.sequence_enrollments where current_step = 2 and state = 'active'
           and lead_id in ('1e000000-0000-4000-8000-0000000081a2', '1e000000-0000-4000-8000-0000000081a3')),
  2, 'the sent enrollments are on step 2');

-- The same calls again (a redelivered event with the old version): stale, nothing new.
select is((select jsonb_agg(distinct r ->> 'outcome')
           from jsonb_array_elements(public.sequence_execute_steps('11111111-1111-4111-8111-111111111111',
             (select jsonb_agg(item) from step_items where lead_id <> '1e000000-0000-4000-8000-0000000081a1'))) r),
  '["stale"]'::jsonb, 'a second call with the same versions is stale');
select is((select count(*)::int from public.messages where sent_by = 'sequence'), 2,
  'still one message per step');

-- Another tenant's id sees nothing of A's enrollments.
select is((public.sequence_execute_steps('22222222-2222-4222-8222-222222222222',
  (select jsonb_agg(item) from step_items where lead_id = '1e000000-0000-4000-8000-0000000081a1')) -> 0 ->> 'outcome'),
  'gone', 'tenant B''s call finds no enrollment of A');
reset role;

select * from finish();
rollback;
