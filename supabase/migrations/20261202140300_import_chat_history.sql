-- `salesflow leads import-chat FILE` (salesflow/conversations/chat_import.py): a WhatsApp chat export becomes a
-- lead with its conversation history. public.import_chat_history takes one batch of parsed messages and, in one
-- transaction,
--
--   * finds the lead by its identity (tenant, channel, normalised address), else creates it (source
--     `chat_import`, source_channel the channel) with the identity: like an inbound message from an unknown
--     number, but the name is the one the chat shows;
--   * opens (or reuses) the lead's conversation on the channel;
--   * inserts the messages with the time the chat shows (created_at, received_at / sent_at): the lead's lines
--     inbound (`received`), the tenant's outbound as `sent` by `user`; each with the idempotency key
--     `chat-import:<key>` (Python derives it from the channel, address, time, author, text and occurrence), so
--     a re-import, or an import interrupted and run again, inserts nothing twice;
--   * withdraws the message.received events its inbound history published: history is not news, like outbound
--     history inserted past `queued` that publishes nothing (20261201151100_conversation_events.sql). Without
--     this, every imported line would run the inbound handlers (opt-out on a year-old STOPP, fact extraction,
--     replies). The conversation's unread count stays what it was (an export is read).
--
-- Service code and operators only.

create or replace function public.import_chat_history(
  p_tenant_id uuid,
  p_channel text,
  p_address text,
  p_name text,
  p_messages jsonb
) returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  v_lead_id uuid;
  v_lead_created boolean := false;
  v_conversation_id uuid;
  v_unread integer;
  v_inserted integer;
  v_inbound uuid[];
  v_outbound integer;
  v_given integer;
begin
  if p_channel is null or p_channel not in ('whatsapp', 'sms') then
    raise exception 'import_chat_history.p_channel: whatsapp or sms (got %)', coalesce(quote_literal(p_channel), 'null')
      using errcode = '22023';
  end if;
  if p_address is null or not private.channel_address_well_formed(p_channel, p_address) then
    raise exception 'import_chat_history.p_address: an E.164 phone number such as +4915112345678 (got %)',
      coalesce(quote_literal(p_address), 'null')
      using errcode = '22023';
  end if;
  if p_messages is null or jsonb_typeof(p_messages) <> 'array' or jsonb_array_length(p_messages) > 5000 then
    raise exception 'import_chat_history.p_messages: an array of at most 5000 messages'
      using errcode = '22023';
  end if;
  v_given := jsonb_array_length(p_messages);

  -- Two imports of the same chat take turns (the identity and the lead are created once).
  perform pg_catalog.pg_advisory_xact_lock(
    pg_catalog.hashtextextended('chat_import:' || p_tenant_id::text || ':' || p_channel || ':' || p_address, 0));

  select i.lead_id into v_lead_id from public.channel_identities i
  where i.tenant_id = p_tenant_id and i.channel = p_channel and i.address = p_address;
  if v_lead_id is null then
    insert into public.leads (tenant_id, name, phone, whatsapp, source, source_channel, owner_id)
    values (p_tenant_id, left(coalesce(nullif(btrim(p_name), ''), p_address), 300), p_address,
            case when p_channel = 'whatsapp' then p_address end, 'chat_import', p_channel, null)
    returning id into v_lead_id;
    insert into public.channel_identities (tenant_id, lead_id, channel, address)
    values (p_tenant_id, v_lead_id, p_channel, p_address);
    v_lead_created := true;
  end if;

  insert into public.conversations (tenant_id, lead_id, channel)
  values (p_tenant_id, v_lead_id, p_channel)
  on conflict (tenant_id, lead_id, channel) do nothing;
  select c.id, c.unread_count into v_conversation_id, v_unread from public.conversations c
  where c.tenant_id = p_tenant_id and c.lead_id = v_lead_id and c.channel = p_channel;

  with given as (
    select r.key, r.direction, coalesce(r.content_type, 'text') as content_type, r.body, r.media, r.at
    from jsonb_to_recordset(p_messages) as r(key text, direction text, content_type text, body text, media jsonb,
                                             at timestamptz)
  ), inserted as (
    insert into public.messages (tenant_id, conversation_id, lead_id, channel, direction, content_type, body, media,
                                 status, sent_by, sent_by_user_id, idempotency_key, received_at, queued_at, sent_at,
                                 created_at)
    select p_tenant_id, v_conversation_id, v_lead_id, p_channel, g.direction, g.content_type, g.body, g.media,
           case g.direction when 'in' then 'received' else 'sent' end,
           case g.direction when 'out' then 'user' end, null,
           'chat-import:' || g.key,
           case g.direction when 'in' then g.at end,
           case g.direction when 'out' then g.at end,
           case g.direction when 'out' then g.at end,
           g.at
    from given g
    on conflict (tenant_id, idempotency_key) do nothing
    returning id, direction
  )
  select count(*)::integer, coalesce(array_agg(i.id) filter (where i.direction = 'in'), '{}'::uuid[]),
         (count(*) filter (where i.direction = 'out'))::integer
    into v_inserted, v_inbound, v_outbound
  from inserted i;

  delete from public.events e
  where e.tenant_id = p_tenant_id and e.type = 'message.received' and e.status = 'pending'
    and e.ordering_key = v_lead_id::text
    and e.payload ->> 'message_id' = any (v_inbound::text[]);

  update public.conversations c set unread_count = v_unread
  where c.id = v_conversation_id and c.unread_count is distinct from v_unread;

  return jsonb_build_object(
    'lead_id', v_lead_id, 'lead_created', v_lead_created, 'conversation_id', v_conversation_id,
    'inserted', v_inserted, 'inbound', cardinality(v_inbound), 'outbound', v_outbound,
    'already_imported', v_given - v_inserted);
end
$$;

comment on function public.import_chat_history(uuid, text, text, text, jsonb) is
  'One batch of an imported chat: finds or creates the lead by its identity, the conversation, and inserts the '
  'messages idempotently (chat-import:<key>) with their own times; imported inbound history publishes no '
  'message.received. Service code and operators only (salesflow leads import-chat).';

revoke all on function public.import_chat_history(uuid, text, text, text, jsonb) from public, anon, authenticated;
grant execute on function public.import_chat_history(uuid, text, text, text, jsonb) to service_role;
