-- The DM inbox (IDPS): where each conversation stands for the sales team, beside the thread state.
--
-- conversations.status (open / snoozed / closed) is the thread's state; inbox_status is the persistence
-- system's view of it (mirrored by salesflow/inbox/vocabulary.py):
--   new                       nothing sent or received yet
--   dm_initiated_no_response  we wrote (a member, the inbox, autopilot), the lead has not answered
--   read_no_reply             the lead read our message and did not answer
--   replied                   the lead wrote last
--   needs_human_attention     the lead's message shows interest (salesflow/inbox/signals.py)
--   in_sequence               a sequence step wrote last
--   delay_requested           the lead asked to be contacted later (snoozed_until, 14 days)
--   converted                 the lead was won
--   archived                  a member put it away
--   unsubscribed              the lead opted out of the channel
-- Triggers keep it in the transaction of the change (message in/out, read, opt-out, won); the inbox handler
-- (salesflow/handlers/inbox.py) adds what needs reading the text. converted, archived and unsubscribed stay
-- until a member changes them (a later message does not revive an unsubscribed conversation).
--
-- inbound_count / outbound_count feed the engagement part of the priority; sentiment and interest_at the
-- signal parts (private.inbox_priority, docs/inbox.md). inbox_signal_message_id: the inbound message whose
-- signal was last applied (a redelivered event applies nothing twice).

alter table public.conversations add column if not exists inbox_status text not null default 'new';
alter table public.conversations add column if not exists inbox_status_at timestamptz not null default now();
alter table public.conversations add column if not exists inbound_count integer not null default 0;
alter table public.conversations add column if not exists outbound_count integer not null default 0;
alter table public.conversations add column if not exists sentiment text;
alter table public.conversations add column if not exists interest_at timestamptz;
alter table public.conversations add column if not exists snoozed_until timestamptz;
alter table public.conversations add column if not exists inbox_signal_message_id uuid;

alter table public.conversations drop constraint if exists conversations_inbox_status_allowed;
alter table public.conversations add constraint conversations_inbox_status_allowed check (inbox_status in (
  'new', 'dm_initiated_no_response', 'read_no_reply', 'replied', 'needs_human_attention', 'in_sequence',
  'delay_requested', 'converted', 'archived', 'unsubscribed'));
alter table public.conversations drop constraint if exists conversations_sentiment_allowed;
alter table public.conversations add constraint conversations_sentiment_allowed
  check (sentiment is null or sentiment in ('positive', 'neutral', 'negative'));
alter table public.conversations drop constraint if exists conversations_message_counts_range;
alter table public.conversations add constraint conversations_message_counts_range
  check (inbound_count >= 0 and outbound_count >= 0);

-- Conversations that existed before: counts and a status from their messages.
update public.conversations c
set inbound_count = x.inbound, outbound_count = x.outbound,
    inbox_status = case when x.last_direction = 'in' then 'replied'
                        when x.last_direction = 'out' then 'dm_initiated_no_response' else 'new' end
from (
  select c2.id,
         (select count(*) from public.messages m where m.conversation_id = c2.id and m.direction = 'in')::integer as inbound,
         (select count(*) from public.messages m where m.conversation_id = c2.id and m.direction = 'out')::integer as outbound,
         (select m.direction from public.messages m where m.conversation_id = c2.id
           order by m.created_at desc limit 1) as last_direction
  from public.conversations c2
) x
where x.id = c.id and c.inbox_status = 'new' and (x.inbound > 0 or x.outbound > 0);

-- The inbox lists a tenant's conversations by status (needs attention first of all).
create index if not exists conversations_inbox_status_idx on public.conversations (tenant_id, inbox_status);

-- When the inbox status changed (the inbox shows how long a conversation has waited).
create or replace function private.conversations_inbox_status_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.inbox_status is distinct from old.inbox_status then
    new.inbox_status_at := now();
  end if;
  return new;
end
$$;
revoke all on function private.conversations_inbox_status_at() from public, anon, authenticated;

drop trigger if exists conversations_inbox_status_at on public.conversations;
create trigger conversations_inbox_status_at before update of inbox_status on public.conversations
  for each row execute function private.conversations_inbox_status_at();

-- A message in or out moves the inbox status (same transaction as the message).
create or replace function private.messages_inbox_status() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.direction = 'in' then
    update public.conversations c
    set inbound_count = c.inbound_count + 1,
        inbox_status = case when c.inbox_status in ('converted', 'archived', 'unsubscribed') then c.inbox_status
                            else 'replied' end
    where c.id = new.conversation_id;
  else
    update public.conversations c
    set outbound_count = c.outbound_count + 1,
        inbox_status = case
          when c.inbox_status in ('converted', 'archived', 'unsubscribed') then c.inbox_status
          -- A sequence step takes over a conversation nobody answered; a reply or a delay is left to people.
          when new.sent_by = 'sequence' then
            case when c.inbox_status in ('new', 'dm_initiated_no_response', 'read_no_reply', 'in_sequence')
                 then 'in_sequence' else c.inbox_status end
          else 'dm_initiated_no_response' end
    where c.id = new.conversation_id;
  end if;
  return null;
end
$$;
revoke all on function private.messages_inbox_status() from public, anon, authenticated;

drop trigger if exists messages_inbox_status on public.messages;
create trigger messages_inbox_status after insert on public.messages
  for each row execute function private.messages_inbox_status();

-- The lead read our message and has not written since: read_no_reply.
create or replace function private.messages_inbox_read() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  update public.conversations c
  set inbox_status = 'read_no_reply'
  where c.id = new.conversation_id and c.inbox_status = 'dm_initiated_no_response'
    and (c.last_inbound_at is null or c.last_inbound_at < coalesce(new.read_at, now()));
  return null;
end
$$;
revoke all on function private.messages_inbox_read() from public, anon, authenticated;

drop trigger if exists messages_inbox_read on public.messages;
create trigger messages_inbox_read after update of status on public.messages
  for each row when (new.direction = 'out' and new.status = 'read' and old.status is distinct from 'read')
  execute function private.messages_inbox_read();

-- An opt-out of a channel: that conversation is unsubscribed.
create or replace function private.consents_inbox_unsubscribed() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  update public.conversations c
  set inbox_status = 'unsubscribed'
  where c.tenant_id = new.tenant_id and c.lead_id = new.lead_id and c.channel = new.channel
    and c.inbox_status <> 'unsubscribed';
  return null;
end
$$;
revoke all on function private.consents_inbox_unsubscribed() from public, anon, authenticated;

drop trigger if exists consents_inbox_unsubscribed on public.consents;
create trigger consents_inbox_unsubscribed after insert or update of status on public.consents
  for each row when (new.status = 'opted_out') execute function private.consents_inbox_unsubscribed();

-- A lead won: its conversations are converted (an unsubscribed one stays unsubscribed).
create or replace function private.leads_inbox_converted() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  update public.conversations c
  set inbox_status = 'converted'
  where c.tenant_id = new.tenant_id and c.lead_id = new.id and c.inbox_status not in ('converted', 'unsubscribed');
  return null;
end
$$;
revoke all on function private.leads_inbox_converted() from public, anon, authenticated;

drop trigger if exists leads_inbox_converted on public.leads;
create trigger leads_inbox_converted after update of status on public.leads
  for each row when (new.status = 'won' and old.status is distinct from 'won')
  execute function private.leads_inbox_converted();
