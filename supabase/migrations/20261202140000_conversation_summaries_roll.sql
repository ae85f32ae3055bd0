-- Rolling conversation summaries (salesflow/conversations/summaries.py, handler salesflow/handlers/summaries.py):
--
-- * a summary keeps its key facts and the lead's sentiment next to the text (the memory context pins them);
-- * one summary per (conversation, last message it covers): a redelivered event that summarises the same tail
--   again inserts nothing (`on conflict do nothing`), so a summary is never written twice;
-- * `conversation.summary_due`: the unsummarised tail of a conversation passed the token threshold. Published
--   by the message.received handler with the ordering key `summary:<conversation_id>`, not the lead's, so the
--   AI call that writes the summary never holds up the lead's next message.received (its reply path);
-- * public.conversation_summary_tail: the previous summary and the messages after it, in one call;
-- * the conversation_summary prompt, version 2: it merges the previous summary with the new messages.

alter table public.conversation_summaries add column if not exists key_facts jsonb not null default '[]'::jsonb;
alter table public.conversation_summaries add column if not exists sentiment text;
alter table public.conversation_summaries drop constraint if exists conversation_summaries_key_facts_array;
alter table public.conversation_summaries add constraint conversation_summaries_key_facts_array
  check (jsonb_typeof(key_facts) = 'array');
alter table public.conversation_summaries drop constraint if exists conversation_summaries_sentiment_allowed;
alter table public.conversation_summaries add constraint conversation_summaries_sentiment_allowed
  check (sentiment is null or sentiment in ('positive', 'neutral', 'negative'));

create unique index if not exists conversation_summaries_covers_once
  on public.conversation_summaries (conversation_id, last_message_id);

comment on column public.conversation_summaries.token_count is
  'Estimated tokens (private.estimate_tokens) of the messages this summary covers, first to last message.';

insert into public.event_types (name, description) values
  ('conversation.summary_due', 'A conversation''s unsummarised messages passed the summary threshold. Payload: '
                               'conversation_id, lead_id, message_id, tail_tokens.')
on conflict (name) do update set description = excluded.description;

-- The previous summary of a conversation and its tail: the messages after the summary's last message, oldest
-- first, as many as fit p_max_tokens (at least one), plus the whole tail's size. With p_max_tokens = 0 only
-- the size (what the message.received handler checks). Messages are ordered by (created_at, id); a summary's
-- covered_until is its last message's created_at.
create or replace function public.conversation_summary_tail(
  p_tenant_id uuid,
  p_conversation_id uuid,
  p_max_tokens integer default 6000
) returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
  v_conv record;
  v_previous record;
  v_after_at timestamptz;
  v_after_id uuid;
  v_tail_tokens bigint;
  v_tail_count bigint;
  v_chunk jsonb;
  v_previous_json jsonb;
begin
  select c.id, c.lead_id, c.channel, coalesce(l.locale, t.locale) as locale into v_conv
  from public.conversations c
  join public.leads l on l.id = c.lead_id and l.tenant_id = c.tenant_id
  join public.tenants t on t.id = c.tenant_id
  where c.id = p_conversation_id and c.tenant_id = p_tenant_id;
  if not found then
    return null;
  end if;

  select cs.id, cs.summary, cs.key_facts, cs.sentiment, cs.first_message_id, cs.last_message_id, cs.covered_until,
         cs.message_count, cs.token_count
    into v_previous
  from public.conversation_summaries cs
  where cs.conversation_id = p_conversation_id and cs.tenant_id = p_tenant_id
  order by cs.covered_until desc, cs.created_at desc
  limit 1;
  if found then
    v_previous_json := jsonb_build_object(
      'id', v_previous.id, 'summary', v_previous.summary, 'key_facts', v_previous.key_facts,
      'sentiment', v_previous.sentiment, 'first_message_id', v_previous.first_message_id,
      'last_message_id', v_previous.last_message_id, 'covered_until', v_previous.covered_until,
      'message_count', v_previous.message_count, 'token_count', v_previous.token_count);
    v_after_at := v_previous.covered_until;
    v_after_id := v_previous.last_message_id;
  end if;

  select coalesce(sum(private.estimate_tokens(coalesce(m.body, m.template_name, '')) + 4), 0), count(*)
    into v_tail_tokens, v_tail_count
  from public.messages m
  where m.conversation_id = p_conversation_id and m.tenant_id = p_tenant_id
    and m.lead_id = v_conv.lead_id and m.channel = v_conv.channel
    and (v_after_at is null or m.created_at > v_after_at
         or (m.created_at = v_after_at and v_after_id is not null and m.id > v_after_id));

  if coalesce(p_max_tokens, 0) > 0 and v_tail_count > 0 then
    select jsonb_agg(jsonb_build_object('id', w.id, 'direction', w.direction, 'content_type', w.content_type,
                                        'body', w.body, 'template_name', w.template_name, 'at', w.created_at,
                                        'tokens', w.tokens) order by w.created_at, w.id)
      into v_chunk
    from (
      select n.*, sum(n.tokens) over (order by n.created_at, n.id) as running
      from (
        select m.id, m.direction, m.content_type, m.body, m.template_name, m.created_at,
               private.estimate_tokens(coalesce(m.body, m.template_name, '')) + 4 as tokens
        from public.messages m
        where m.conversation_id = p_conversation_id and m.tenant_id = p_tenant_id
          and m.lead_id = v_conv.lead_id and m.channel = v_conv.channel
          and (v_after_at is null or m.created_at > v_after_at
               or (m.created_at = v_after_at and v_after_id is not null and m.id > v_after_id))
        order by m.created_at, m.id
        limit 2000
      ) n
    ) w
    where w.running - w.tokens < p_max_tokens or w.running = w.tokens;
  end if;

  return jsonb_build_object(
    'conversation_id', v_conv.id, 'lead_id', v_conv.lead_id, 'channel', v_conv.channel, 'locale', v_conv.locale,
    'previous', v_previous_json,
    'tail_tokens', v_tail_tokens, 'tail_count', v_tail_count, 'chunk', coalesce(v_chunk, '[]'::jsonb));
end
$$;

comment on function public.conversation_summary_tail(uuid, uuid, integer) is
  'A conversation''s newest summary and the messages after it (oldest first, up to p_max_tokens), with the '
  'whole tail''s estimated tokens. For the conversation_summary handler (service code).';

revoke all on function public.conversation_summary_tail(uuid, uuid, integer) from public, anon, authenticated;
grant execute on function public.conversation_summary_tail(uuid, uuid, integer) to service_role;

-- Version 2 of the conversation_summary prompt (the packaged text of salesflow/ai/scenarios/conversation_summary.py),
-- labelled production; published once (a re-run finds the same text already in production).
do $$
declare
  v_prompt record;
begin
  for v_prompt in
    select * from (values
      ('de', $json$[{"role": "system", "content": "Fasse Verkaufsgespräche für das Vertriebsteam zusammen: summary (2–4 Sätze), key_facts (bis zu 8 Fakten wie Budget, Termine, Anforderungen) und sentiment des Leads (positive, neutral, negative). Die bisherige Zusammenfassung deckt die älteren Nachrichten ab: führe sie mit den neuen Nachrichten zu einer Zusammenfassung des ganzen Gesprächs zusammen. Antworte nur mit JSON, auf Deutsch."}, {"role": "user", "content": "Bisherige Zusammenfassung:\n{{previous_summary}}\n\nNeue Nachrichten:\n{{conversation}}"}]$json$::jsonb),
      ('en', $json$[{"role": "system", "content": "Summarise sales conversations for the sales team: summary (2–4 sentences), key_facts (up to 8 facts such as budget, dates, requirements) and the lead's sentiment (positive, neutral, negative). The previous summary covers the older messages: merge it with the new messages into one summary of the whole conversation. Answer only with JSON, in English."}, {"role": "user", "content": "Previous summary:\n{{previous_summary}}\n\nNew messages:\n{{conversation}}"}]$json$::jsonb)
    ) as v(locale, messages)
  loop
    if not exists (
      select 1 from public.ai_prompt_labels l join public.ai_prompts p on p.id = l.prompt_id
      where l.name = 'conversation_summary' and l.locale = v_prompt.locale and l.tenant_id is null
        and l.label = 'production' and p.messages = v_prompt.messages
    ) then
      perform public.ai_publish_prompt('conversation_summary', v_prompt.locale, v_prompt.messages,
        '{"temperature": 0.2, "max_tokens": 500}'::jsonb, null, '["production"]'::jsonb,
        'rolling: merges the previous summary with the new messages');
    end if;
  end loop;
end
$$;
