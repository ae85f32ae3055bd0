-- Messages: every inbound and outbound message on every channel (the spine of the sales flows, DESIGN.md).
--
-- A message is on its conversation's lead and channel, in its tenant: the composite foreign key to
-- conversations (id, tenant_id, lead_id, channel) makes anything else impossible, and follows a conversation
-- moved to another lead (on update cascade). Service code may leave tenant_id, lead_id and channel out; the
-- trigger takes them from the conversation.
--
-- direction  in (status `received`) | out (queued → sending → sent → delivered → read, or failed / unknown;
--            the rules are in 20261201150600_message_status.sql). Each status has its timestamp column.
-- provider_message_id  the provider's id (wamid, Twilio SID, Message-ID): unique per tenant and channel, so a
--            redelivered webhook or status callback finds its message and never inserts a second one.
-- idempotency_key  the sender's key (a sequence step, an autopilot action, an inbox click): unique per tenant,
--            so a retried send job or a double click queues one message.
-- sent_by    user | sequence | autopilot | inbox for outbound messages (sent_by_user_id: which member).
-- search_language / search_vector  full-text search in the lead's language. A generated column cannot read the
--            lead, so the language is stored on the message (set from the lead's locale, else the tenant's, by
--            the trigger) and the tsvector is generated from it. Text rather than regconfig: pg_upgrade refuses
--            tables with regconfig columns (an OID), which would block a major-version upgrade.

create table if not exists public.messages (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null default private.tenant_id() references public.tenants (id) on delete cascade,
  conversation_id uuid not null,
  lead_id uuid not null,
  channel public.message_channel not null,
  direction text not null,
  content_type text not null default 'text',
  body text,
  template_name text,
  template_variables jsonb,
  media jsonb,
  status text not null,
  provider_message_id text,
  idempotency_key text,
  sent_by text,
  sent_by_user_id uuid default auth.uid(),
  error_code text,
  error_message text,
  search_language text not null,
  search_vector tsvector generated always as (
    case search_language
      when 'german' then to_tsvector('german'::regconfig, coalesce(body, ''))
      when 'english' then to_tsvector('english'::regconfig, coalesce(body, ''))
      else to_tsvector('simple'::regconfig, coalesce(body, ''))
    end) stored,
  received_at timestamptz,
  queued_at timestamptz,
  sending_at timestamptz,
  sent_at timestamptz,
  delivered_at timestamptz,
  read_at timestamptz,
  failed_at timestamptz,
  unknown_at timestamptz,
  created_at timestamptz not null default now(),
  constraint messages_conversation_fk foreign key (conversation_id, tenant_id, lead_id, channel)
    references public.conversations (id, tenant_id, lead_id, channel) on update cascade on delete cascade,
  constraint messages_sent_by_user_fk foreign key (tenant_id, sent_by_user_id)
    references public.tenant_members (tenant_id, user_id) on delete set null (sent_by_user_id),
  constraint messages_direction_allowed check (direction in ('in', 'out')),
  constraint messages_content_type_allowed check (content_type in ('text', 'image', 'audio', 'document', 'template')),
  constraint messages_status_allowed check (status in
    ('received', 'queued', 'sending', 'sent', 'delivered', 'read', 'failed', 'unknown')),
  constraint messages_status_matches_direction check ((direction = 'in') = (status = 'received')),
  constraint messages_sent_by_allowed check (sent_by in ('user', 'sequence', 'autopilot', 'inbox')),
  constraint messages_sent_by_only_outbound check ((direction = 'out') = (sent_by is not null)),
  constraint messages_sent_by_user_only_outbound check (direction = 'out' or sent_by_user_id is null),
  constraint messages_text_has_body check (content_type <> 'text' or coalesce(length(body), 0) > 0),
  constraint messages_template_has_name
    check (content_type <> 'template' or coalesce(length(btrim(template_name)), 0) > 0),
  constraint messages_body_length check (body is null or length(body) <= 100000),
  constraint messages_template_variables_object
    check (template_variables is null or jsonb_typeof(template_variables) in ('object', 'array')),
  constraint messages_media_object check (media is null or jsonb_typeof(media) = 'object'),
  constraint messages_provider_message_id_length
    check (provider_message_id is null or length(provider_message_id) between 1 and 300),
  constraint messages_idempotency_key_length
    check (idempotency_key is null or length(idempotency_key) between 1 and 200),
  constraint messages_search_language_allowed check (search_language in ('german', 'english', 'simple')),
  constraint messages_inbound_received_at check (direction = 'out' or received_at is not null)
);

create unique index if not exists messages_provider_message_id_key
  on public.messages (tenant_id, channel, provider_message_id);
create unique index if not exists messages_idempotency_key on public.messages (tenant_id, idempotency_key);
create unique index if not exists messages_id_tenant_key on public.messages (id, tenant_id);
-- A conversation's messages in order (and the foreign key's index).
create index if not exists messages_conversation_idx
  on public.messages (conversation_id, tenant_id, lead_id, channel, created_at);
-- A lead's messages across channels, newest first (the memory manager's tail).
create index if not exists messages_lead_idx on public.messages (lead_id, created_at desc);
create index if not exists messages_sent_by_user_idx on public.messages (tenant_id, sent_by_user_id)
  where sent_by_user_id is not null;
-- Send jobs and crash reconciliation look for outbound messages still on their way.
create index if not exists messages_in_flight_idx on public.messages (status, queued_at)
  where status in ('queued', 'sending', 'unknown');
create index if not exists messages_search_idx on public.messages using gin (search_vector);

-- Before insert: what service code may leave out, from the conversation, the lead and the direction.
create or replace function private.messages_fill_in() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  conv record;
begin
  select c.tenant_id, c.lead_id, c.channel into conv from public.conversations c where c.id = new.conversation_id;
  if found then
    new.tenant_id := coalesce(new.tenant_id, conv.tenant_id);
    new.lead_id := coalesce(new.lead_id, conv.lead_id);
    new.channel := coalesce(new.channel, conv.channel);
  elsif new.lead_id is null or new.channel is null then
    raise exception 'messages.conversation_id: there is no conversation % in this tenant', new.conversation_id
      using errcode = '23503', column = 'conversation_id',
            hint = 'start the conversation first (public.conversations), then add its messages';
  end if;  -- else the foreign key checks what was given
  if new.search_language is null then
    select case coalesce(l.locale, t.locale) when 'de' then 'german' when 'en' then 'english' else 'simple' end
      into new.search_language
    from public.leads l join public.tenants t on t.id = l.tenant_id
    where l.id = new.lead_id and l.tenant_id = new.tenant_id;
    new.search_language := coalesce(new.search_language, 'simple');
  end if;
  if new.direction = 'in' then
    new.status := coalesce(new.status, 'received');
    new.received_at := coalesce(new.received_at, now());
  elsif new.direction = 'out' then
    new.status := coalesce(new.status, 'queued');
    new.queued_at := coalesce(new.queued_at, now());
    -- A message recorded further along (an imported chat) keeps the time of each status it names.
    case new.status
      when 'sending' then new.sending_at := coalesce(new.sending_at, now());
      when 'sent' then new.sent_at := coalesce(new.sent_at, now());
      when 'delivered' then new.delivered_at := coalesce(new.delivered_at, now());
                            new.sent_at := coalesce(new.sent_at, new.delivered_at);
      when 'read' then new.read_at := coalesce(new.read_at, now());
                       new.sent_at := coalesce(new.sent_at, new.delivered_at, new.read_at);
      when 'failed' then new.failed_at := coalesce(new.failed_at, now());
      when 'unknown' then new.unknown_at := coalesce(new.unknown_at, now());
      else null;
    end case;
  end if;
  return new;
end
$$;
revoke all on function private.messages_fill_in() from public, anon, authenticated;

drop trigger if exists messages_fill_in on public.messages;
create trigger messages_fill_in before insert on public.messages
  for each row execute function private.messages_fill_in();

-- After insert: the conversation's bookkeeping, in the same transaction. An inbound message counts as unread
-- and reopens a closed or snoozed conversation.
create or replace function private.messages_update_conversation() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.direction = 'in' then
    update public.conversations c
    set last_inbound_at = greatest(c.last_inbound_at, new.received_at),
        unread_count = c.unread_count + 1,
        status = 'open'
    where c.id = new.conversation_id;
  else
    update public.conversations c
    set last_outbound_at = greatest(c.last_outbound_at, new.created_at)
    where c.id = new.conversation_id;
  end if;
  return null;
end
$$;
revoke all on function private.messages_update_conversation() from public, anon, authenticated;

drop trigger if exists messages_update_conversation on public.messages;
create trigger messages_update_conversation after insert on public.messages
  for each row execute function private.messages_update_conversation();

drop trigger if exists a_row_keeps_its_tenant on public.messages;
create trigger a_row_keeps_its_tenant before update of tenant_id on public.messages
  for each row when (old.tenant_id is distinct from new.tenant_id) execute function private.refuse_tenant_move();

alter table public.messages enable row level security;

drop policy if exists "members read their tenant's messages" on public.messages;
create policy "members read their tenant's messages" on public.messages
  for select to authenticated
  using (tenant_id = (select private.tenant_id()));

-- Members queue outbound messages (the inbox, a manual send); inbound messages and status changes come from
-- providers through service code only, so a member can neither forge a lead's message nor mark one delivered.
drop policy if exists "members queue outbound messages in their tenant" on public.messages;
create policy "members queue outbound messages in their tenant" on public.messages
  for insert to authenticated
  with check (tenant_id = (select private.tenant_id()) and direction = 'out' and status = 'queued');

revoke all on table public.messages from anon, authenticated;
grant select, insert on table public.messages to authenticated;
grant all on table public.messages to service_role;

do $$
begin
  if not exists (
    select 1 from pg_publication_tables
    where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'messages'
  ) then
    alter publication supabase_realtime add table public.messages;
  end if;
end
$$;
