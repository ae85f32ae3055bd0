-- The inbox (IDPS): the status column and its check, the triggers that move it, the priority formula, and the
-- inbox RPC under RLS (a member of another tenant sees nothing, even naming the tenant).
begin;
select no_plan();

select has_column('public', 'conversations', 'inbox_status', 'conversations have an inbox status');
select col_default_is('public', 'conversations', 'inbox_status', 'new', 'a conversation starts new');
select has_trigger('public', 'messages', 'messages_inbox_status', 'messages move the inbox status');
select has_trigger('public', 'messages', 'messages_inbox_read', 'a read message moves the inbox status');
select has_trigger('public', 'consents', 'consents_inbox_unsubscribed', 'an opt-out unsubscribes');
select has_trigger('public', 'leads', 'leads_inbox_converted', 'a won lead converts');

insert into public.conversations (id, tenant_id, lead_id, channel) values
  ('c0000000-0000-4000-8000-0000000001a1', '11111111-1111-4111-8111-111111111111', '10000000-0000-4000-8000-000000000003', 'instagram');
insert into public.messages (conversation_id, direction, body, sent_by) values
  ('c0000000-0000-4000-8000-0000000001a1', 'out', 'Hallo Lena', 'user');
select is((select inbox_status from public.conversations where id = 'c0000000-0000-4000-8000-0000000001a1'),
  'dm_initiated_no_response', 'our first DM waits for the lead');
insert into public.messages (conversation_id, direction, body) values
  ('c0000000-0000-4000-8000-0000000001a1', 'in', 'Preis?');
select is((select inbox_status from public.conversations where id = 'c0000000-0000-4000-8000-0000000001a1'),
  'replied', 'the lead''s answer makes it replied');
select throws_ok($$update public.conversations set inbox_status = 'waiting'
                   where id = 'c0000000-0000-4000-8000-0000000001a1'$$,
  '23514', null, 'an unknown inbox status is refused');

select is(private.inbox_priority(3, '2026-12-02 00:00+00', 'positive', true, 80, '2026-12-02 12:00+00'), 79,
  'priority: 15 + 23.21 + 15 + 10 + 16 = 79.21 → 79');
select is(private.inbox_priority(10, '2026-11-28 12:00+00', 'negative', false, 50, '2026-12-02 00:00+00'), 53,
  'priority: 30 + 12.5 + 0 + 0 + 10 = 52.5 → 53');

set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"b0000000-0000-4000-8000-000000000001","role":"authenticated","tenant_id":"22222222-2222-4222-8222-222222222222"}', true);
select is((select count(*)::integer from public.inbox(p_tenant_id => '11111111-1111-4111-8111-111111111111')), 0,
  'a member of Nordlicht sees nothing of Acme''s inbox, even naming Acme');
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-000000000002","role":"authenticated","tenant_id":"11111111-1111-4111-8111-111111111111"}', true);
select is((select inbox_status from public.inbox() where conversation_id = 'c0000000-0000-4000-8000-0000000001a1'),
  'replied', 'a member of Acme sees the conversation in the inbox');
select throws_ok($$select public.inbox_apply_signal('11111111-1111-4111-8111-111111111111',
                    gen_random_uuid(), 'interest')$$, '42501', null, 'members cannot apply signals');
reset role;

select * from finish();
rollback;
