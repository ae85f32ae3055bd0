-- AI-personalised steps the autopilot keeps for a person: sequence_execute_steps with status `drafted` records an
-- autopilot_actions draft (followup_message, queued_for_approval), the run `drafted` with the action and no
-- message, and pauses the enrollment (approval). Approving the draft records the run `sent` with the message
-- autopilot_decide queued, publishes sequence.step_executed, and resumes the enrollment (a sequence.step_due);
-- rejecting it records the run skipped. Another tenant's member neither reads the draft nor decides it.
begin;
select no_plan();

insert into public.sequences (id, tenant_id, name, timezone, send_days, send_from, send_until) values
  ('5e000000-0000-4000-8000-0000000082a1', '11111111-1111-4111-8111-111111111111', 'AI steps', 'UTC',
   '{1,2,3,4,5,6,7}', '00:00', '23:59:59');
insert into public.sequence_steps (tenant_id, sequence_id, position, channel, kind, template)
values ('11111111-1111-4111-8111-111111111111', '5e000000-0000-4000-8000-0000000082a1', 1, 'email', 'ai_message', null);
insert into public.leads (id, tenant_id, name, email) values
  ('1e000000-0000-4000-8000-0000000082a1', '11111111-1111-4111-8111-111111111111', 'Lea Draft', 'lea.draft@example.test'),
  ('1e000000-0000-4000-8000-0000000082a2', '11111111-1111-4111-8111-111111111111', 'Max Draft', 'max.draft@example.test');
select public.enroll_leads('5e000000-0000-4000-8000-0000000082a1',
  array['1e000000-0000-4000-8000-0000000082a1', '1e000000-0000-4000-8000-0000000082a2']::uuid[],
  '11111111-1111-4111-8111-111111111111');

create temp table draft_items as
select e.lead_id, jsonb_build_object(
  'enrollment_id', e.id, 'version', e.schedule_version, 'step_id', st.id, 'status', 'drafted',
  'body', 'Hallo ' || split_part(l.name, ' ', 1) || ', ich wollte mich kurz melden.', 'address', l.email,
  'seen_inbound', '[]'::jsonb, 'ai_personalised', true, 'autopilot_mode', 'assist', 'confidence', 0.85,
  'reasons', '["assist mode: a member approves every draft"]'::jsonb, 'guards', '[]'::jsonb,
  'expires_at', now() + interval '1 day', 'next', jsonb_build_object('state', 'completed')) as item
from public.sequence_enrollments e
join public.sequence_steps st on st.sequence_id = e.sequence_id and st.position = 1
join public.leads l on l.id = e.lead_id
where e.sequence_id = '5e000000-0000-4000-8000-0000000082a1';
grant select on draft_items to service_role;

set local role service_role;
select is((select jsonb_agg(r ->> 'outcome') from jsonb_array_elements(public.sequence_execute_steps(
  '11111111-1111-4111-8111-111111111111', (select jsonb_agg(item order by lead_id) from draft_items))) r),
  '["drafted", "drafted"]'::jsonb, 'both steps are drafted');
reset role;

select is((select count(*)::int from public.messages where lead_id in
  ('1e000000-0000-4000-8000-0000000082a1', '1e000000-0000-4000-8000-0000000082a2')), 0, 'a drafted step sends nothing');
select is((select array_agg(distinct a.status || '/' || a.scenario) from public.autopilot_actions a
           where a.lead_id in ('1e000000-0000-4000-8000-0000000082a1', '1e000000-0000-4000-8000-0000000082a2')),
  array['queued_for_approval/followup_message'], 'each draft waits in the approval queue');
select is((select array_agg(distinct r.status) from public.sequence_step_runs r
           join public.autopilot_actions a on a.id = r.autopilot_action_id
           where r.sequence_id = '5e000000-0000-4000-8000-0000000082a1'), array['drafted'],
  'the runs are drafted with their action');
select is((select array_agg(distinct e.state || '/' || e.pause_reason) from public.sequence_enrollments e
           where e.sequence_id = '5e000000-0000-4000-8000-0000000082a1'), array['paused/approval'],
  'the enrollments wait for the verdict');

-- Another tenant's member: no draft to read, none to decide.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"b0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"22222222-2222-4222-8222-222222222222"}', true);
select is((select count(*)::int from public.autopilot_actions where scenario = 'followup_message'), 0,
  'tenant B reads no sequence draft of tenant A');
select is((select count(*)::int from public.sequence_step_runs where status = 'drafted'), 0,
  'tenant B reads no drafted run of tenant A');
reset role;
create temp table lea_action as
select a.id from public.autopilot_actions a where a.lead_id = '1e000000-0000-4000-8000-0000000082a1';
grant select on lea_action to authenticated;
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"b0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"22222222-2222-4222-8222-222222222222"}', true);
select throws_ok($$select public.autopilot_decide((select id from lea_action), 'approved')$$, 'PT404', null,
  'tenant B cannot approve tenant A''s sequence draft');
reset role;
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000002","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select is((select count(*)::int from public.sequence_step_runs r
           where r.sequence_id = '5e000000-0000-4000-8000-0000000082a1' and r.status = 'drafted'), 2,
  'a member of A reads the drafted runs');
reset role;

-- Approve Lea's draft, reject Max's.
select public.autopilot_decide(a.id, 'approved', null, '11111111-1111-4111-8111-111111111111')
from public.autopilot_actions a where a.lead_id = '1e000000-0000-4000-8000-0000000082a1';
select public.autopilot_decide(a.id, 'rejected', null, '11111111-1111-4111-8111-111111111111')
from public.autopilot_actions a where a.lead_id = '1e000000-0000-4000-8000-0000000082a2';

select is((select r.status || '/' || (r.message_id = m.id)::text from public.sequence_step_runs r
           join public.messages m on m.lead_id = r.lead_id and m.sent_by = 'autopilot'
           where r.lead_id = '1e000000-0000-4000-8000-0000000082a1'), 'sent/true',
  'the approved draft''s run is sent with the autopilot''s message');
select is((select count(*)::int from public.events e where e.type = 'sequence.step_executed'
           and e.payload ->> 'lead_id' = '1e000000-0000-4000-8000-0000000082a1'
           and (e.payload ->> 'ai_personalized')::boolean), 1, 'the approved step publishes sequence.step_executed');
select is((select r.status || ': ' || r.skip_reason from public.sequence_step_runs r
           where r.lead_id = '1e000000-0000-4000-8000-0000000082a2'), 'skipped: autopilot draft rejected',
  'the rejected draft''s run is skipped with the reason');
select is((select count(*)::int from public.events e where e.type = 'sequence.step_executed'
           and e.payload ->> 'lead_id' = '1e000000-0000-4000-8000-0000000082a2'), 0,
  'a rejected step publishes no step_executed');
select is((select count(*)::int from public.sequence_enrollments e
           where e.sequence_id = '5e000000-0000-4000-8000-0000000082a1' and e.state = 'active'
             and exists (select 1 from public.events ev where ev.type = 'sequence.step_due'
                         and ev.payload ->> 'enrollment_id' = e.id::text
                         and (ev.payload ->> 'version')::int = e.schedule_version)), 2,
  'both enrollments resume (a step_due for their new version: the handler plans on)');

select * from finish();
rollback;
