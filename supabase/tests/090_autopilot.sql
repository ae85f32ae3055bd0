-- Autopilot settings and drafts: members of A read A's settings and drafts only, owners/admins change settings,
-- members decide drafts through autopilot_decide only (a verdict once; an expired draft never sends, and no
-- autopilot message is queued for an action that is not live), and a member of B neither reads nor decides
-- A's drafts. Anna owns Acme (A), Ben is a member of A, Bea owns Nordlicht (B).
begin;
select no_plan();

insert into public.conversations (id, tenant_id, lead_id, channel) values
  ('c0000000-0000-4000-8000-0000000000c1', '11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000005', 'whatsapp');
insert into public.messages (id, conversation_id, direction, body) values
  ('e0000000-0000-4000-8000-0000000000c1', 'c0000000-0000-4000-8000-0000000000c1', 'in', 'Passt Dienstag?'),
  ('e0000000-0000-4000-8000-0000000000c2', 'c0000000-0000-4000-8000-0000000000c1', 'in', 'Oder Donnerstag?'),
  ('e0000000-0000-4000-8000-0000000000c3', 'c0000000-0000-4000-8000-0000000000c1', 'in', 'Oder Freitag?');
insert into public.autopilot_actions (id, tenant_id, lead_id, conversation_id, trigger_message_id, channel, mode,
                                      scenario, prompt_version, draft, confidence, status, expires_at) values
  ('ac000000-0000-4000-8000-000000000001', '11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000005',
   'c0000000-0000-4000-8000-0000000000c1', 'e0000000-0000-4000-8000-0000000000c1', 'whatsapp', 'assist',
   'reply_suggestion', 1, 'Sehr gern! Dienstag 10 Uhr?', 0.9, 'queued_for_approval', now() + interval '1 day'),
  ('ac000000-0000-4000-8000-000000000002', '11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000005',
   'c0000000-0000-4000-8000-0000000000c1', 'e0000000-0000-4000-8000-0000000000c2', 'whatsapp', 'assist',
   'reply_suggestion', 1, 'Donnerstag passt!', 0.9, 'queued_for_approval', now() - interval '1 minute'),
  ('ac000000-0000-4000-8000-000000000003', '11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000005',
   'c0000000-0000-4000-8000-0000000000c1', 'e0000000-0000-4000-8000-0000000000c3', 'whatsapp', 'assist',
   'reply_suggestion', 1, 'Freitag passt!', 0.9, 'queued_for_approval', now() + interval '1 day');
insert into public.autopilot_settings (tenant_id, mode) values
  ('11111111-1111-4111-8111-111111111111', 'assist'), ('22222222-2222-4222-8222-222222222222', 'off');

select throws_ok($$insert into public.autopilot_actions (tenant_id, lead_id, conversation_id, trigger_message_id, channel,
  mode, scenario, status, expires_at) values ('11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000005',
  'c0000000-0000-4000-8000-0000000000c1', 'e0000000-0000-4000-8000-0000000000c1', 'whatsapp', 'auto', 'reply_suggestion',
  'queued_for_approval', now())$$, '23505', null, 'one action per trigger message');
select throws_ok($$insert into public.messages (conversation_id, direction, status, body, sent_by, idempotency_key)
  values ('c0000000-0000-4000-8000-0000000000c1', 'out', 'queued', 'sneaky', 'autopilot', 'autopilot:ac000000-0000-4000-8000-000000000002')$$,
  '23514', null, 'no autopilot message is queued for an expired draft, whoever inserts it');
select throws_ok($$insert into public.messages (conversation_id, direction, status, body, sent_by, idempotency_key)
  values ('c0000000-0000-4000-8000-0000000000c1', 'out', 'queued', 'sneaky', 'autopilot', 'autopilot:ac000000-0000-4000-8000-000000000001')$$,
  '23514', null, 'nor for a draft nobody approved');
select throws_ok($$insert into public.autopilot_settings (tenant_id, mode) values ('11111111-1111-4111-8111-111111111111', 'yolo')$$,
  '23514', null, 'modes are off, assist, one_click, auto');
select is(private.edit_distance('kitten', 'sitting'), 3, 'edit distance is Levenshtein''s');

-- anon: nothing.
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok('select count(*) from public.autopilot_actions', '42501', null, 'anon cannot read drafts');
select throws_ok($$select public.autopilot_decide('ac000000-0000-4000-8000-000000000001', 'approved')$$, '42501', null,
  'anon cannot approve');
reset role;

-- Bea (B) sees none of A's drafts or settings and cannot decide them.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"b0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"22222222-2222-4222-8222-222222222222"}', true);
select is((select count(*)::int from public.autopilot_actions), 0, 'a member of B reads none of A''s drafts');
select is((select array_agg(mode) from public.autopilot_settings), array['off'], 'a member of B reads B''s settings only');
select throws_ok($$select public.autopilot_decide('ac000000-0000-4000-8000-000000000001', 'approved')$$, 'PT404',
  'autopilot_decide.p_action_id: there is no autopilot draft ac000000-0000-4000-8000-000000000001 in your tenant',
  'a member of B cannot approve A''s draft (it reads as missing)');
select throws_ok($$select public.autopilot_decide('ac000000-0000-4000-8000-000000000001', 'approved', null,
  '11111111-1111-4111-8111-111111111111')$$, '42501', null, 'nor by naming A''s tenant');
reset role;

-- Ben (member of A): reads, cannot change settings or drafts directly, decides through autopilot_decide.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000002","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select is((select count(*)::int from public.autopilot_actions), 3, 'a member of A reads A''s drafts');
update public.autopilot_settings set mode = 'auto';
reset role;
select is((select mode from public.autopilot_settings where tenant_id = '11111111-1111-4111-8111-111111111111'), 'assist',
  'a member (not owner/admin) changes no settings');
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000002","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select throws_ok($$update public.autopilot_actions set status = 'approved'$$, '42501', null,
  'members do not write drafts directly');
select throws_ok($$select public.autopilot_decide('ac000000-0000-4000-8000-000000000001', 'approve')$$, '22023',
  'autopilot_decide.p_verdict: ''approve'' is not a verdict; allowed: approved, edited, rejected', 'an unknown verdict is named');
select is(public.autopilot_decide('ac000000-0000-4000-8000-000000000001', 'approved') ->> 'status', 'sent',
  'an approved draft is sent');
select throws_ok($$select public.autopilot_decide('ac000000-0000-4000-8000-000000000001', 'rejected')$$, '23514', null,
  'a draft is decided once');
select is(public.autopilot_decide('ac000000-0000-4000-8000-000000000002', 'approved') ->> 'status', 'expired',
  'a draft past expires_at expires instead of sending');
select is(public.autopilot_decide('ac000000-0000-4000-8000-000000000003', 'edited', 'Freitag 9 Uhr passt!') ->> 'edit_distance',
  '6', 'an edit records its distance');
reset role;

select results_eq($$select body, sent_by, sent_by_user_id::text from public.messages where direction = 'out' order by body$$,
  $$values ('Freitag 9 Uhr passt!', 'autopilot', 'a0000000-0000-4000-8000-000000000002'),
           ('Sehr gern! Dienstag 10 Uhr?', 'autopilot', 'a0000000-0000-4000-8000-000000000002')$$,
  'the approved and the edited draft are queued, the expired one is not');
select is((select count(*)::int from public.events where type = 'autopilot.action_executed'), 2,
  'each sent action published autopilot.action_executed');

-- The dashboard's views, as Ben: the queue holds neither decided nor expired drafts; feedback per version.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000002","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select is((select count(*)::int from public.autopilot_queue), 0, 'decided and expired drafts leave the queue');
select results_eq($$select scenario, prompt_version, actions::int, approved::int, edited::int, expired::int,
  mean_edit_distance::float8 from public.autopilot_prompt_feedback$$,
  $$values ('reply_suggestion', 1, 3, 1, 1, 1, 6::float8)$$, 'feedback per prompt version');
reset role;
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"b0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"22222222-2222-4222-8222-222222222222"}', true);
select is((select count(*)::int from public.autopilot_prompt_feedback), 0, 'B sees none of A''s feedback');
reset role;

-- Anna (owner of A) changes settings.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
update public.autopilot_settings set mode = 'auto';
select is((select mode from public.autopilot_settings), 'auto', 'an owner changes the tenant''s settings');
reset role;

select * from finish();
rollback;
