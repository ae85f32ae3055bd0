-- The memory manager's one read (salesflow/conversations/memory.py): everything a prompt needs about a lead,
-- in one round trip, so building the context for a lead with 10,000 messages stays a few index lookups.
--
--   lead       the pinned profile: the lead's describing fields and the language its messages are searched in
--   facts      the current lead_facts (valid_to is null)
--   summaries  the newest rolling summary of each of the lead's conversations, newest first
--   recent     the newest messages, newest first, while their estimated tokens fit p_token_budget
--              (messages_lead_idx; Python trims further to what is left after the profile and summary)
--   recalled   up to p_recall_k older messages (before the recent window) that best match p_query, else the
--              newest inbound text: full-text search in the lead's language over messages.search_vector
--              (GIN messages_search_idx), any of the query's lexemes, ranked by ts_rank
--
-- Tokens are estimated, never counted by a tokenizer: private.estimate_tokens is ceil(UTF-8 bytes / 3), which
-- overestimates English (about 4 bytes a token) and is close for German (about 3), plus 4 for a message's
-- role and separators. salesflow/conversations/memory.py estimate_tokens() is the same rule.
--
-- Security invoker: a member (RLS) sees their own tenant's lead only; service code (which bypasses RLS) is
-- scoped by p_tenant_id, which TenantData checks is the event's tenant.

create or replace function private.estimate_tokens(p_text text)
returns integer
language sql immutable parallel safe
set search_path = ''
as $$
  select ((coalesce(pg_catalog.octet_length(p_text), 0) + 2) / 3)::integer
$$;
comment on function private.estimate_tokens(text) is
  'Estimated tokens of a text: ceil(UTF-8 bytes / 3). Mirrored by salesflow/conversations/memory.py.';
revoke all on function private.estimate_tokens(text) from public, anon;
grant execute on function private.estimate_tokens(text) to authenticated, service_role;

create or replace function public.lead_memory(
  p_tenant_id uuid,
  p_lead_id uuid,
  p_query text default null,
  p_token_budget integer default 2000,
  p_recall_k integer default 5,
  p_recent_limit integer default 200
) returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
  v_lead jsonb;
  v_config text;
  v_query text;
  v_tsquery tsquery;
  v_facts jsonb;
  v_summaries jsonb;
  v_recent jsonb;
  v_oldest_at timestamptz;
  v_recalled jsonb;
begin
  if p_token_budget is null or p_token_budget < 0 then
    raise exception 'lead_memory.p_token_budget: must be 0 or more (got %)', coalesce(p_token_budget::text, 'null')
      using errcode = '22023';
  end if;
  if p_recall_k is null or p_recall_k not between 0 and 50 then
    raise exception 'lead_memory.p_recall_k: must be between 0 and 50 (got %)', coalesce(p_recall_k::text, 'null')
      using errcode = '22023';
  end if;

  select jsonb_build_object(
           'id', l.id, 'name', l.name, 'company', l.company, 'email', l.email, 'phone', l.phone,
           'whatsapp', l.whatsapp, 'instagram', l.instagram, 'linkedin', l.linkedin, 'status', l.status,
           'source', l.source, 'source_channel', l.source_channel, 'notes', l.notes, 'tags', l.tags,
           'score', l.score, 'temperature', l.temperature, 'timezone', l.timezone,
           'locale', coalesce(l.locale, t.locale), 'deal_value', l.deal_value, 'currency', l.currency),
         case coalesce(l.locale, t.locale) when 'de' then 'german' when 'en' then 'english' else 'simple' end
    into v_lead, v_config
  from public.leads l join public.tenants t on t.id = l.tenant_id
  where l.id = p_lead_id and l.tenant_id = p_tenant_id;
  if v_lead is null then
    return null;
  end if;

  select coalesce(jsonb_agg(jsonb_build_object('key', f.key, 'value', f.value, 'confidence', f.confidence,
                                               'valid_from', f.valid_from) order by f.key), '[]'::jsonb)
    into v_facts
  from public.lead_facts f
  where f.tenant_id = p_tenant_id and f.lead_id = p_lead_id and f.valid_to is null;

  select coalesce(jsonb_agg(s.summary order by s.covered_until desc), '[]'::jsonb) into v_summaries
  from (
    select jsonb_build_object('conversation_id', c.id, 'channel', c.channel, 'summary', latest.summary,
                              'key_facts', latest.key_facts, 'sentiment', latest.sentiment,
                              'covered_until', latest.covered_until, 'message_count', latest.message_count,
                              'last_message_id', latest.last_message_id) as summary,
           latest.covered_until
    from public.conversations c
    cross join lateral (
      select cs.summary, cs.key_facts, cs.sentiment, cs.covered_until, cs.message_count, cs.last_message_id
      from public.conversation_summaries cs
      where cs.conversation_id = c.id and cs.tenant_id = c.tenant_id
      order by cs.covered_until desc
      limit 1
    ) latest
    where c.tenant_id = p_tenant_id and c.lead_id = p_lead_id
    order by latest.covered_until desc
    limit 4
  ) s;

  -- The newest messages while they fit the budget (the first always, so a lead's last word is never lost).
  select coalesce(jsonb_agg(jsonb_build_object('id', w.id, 'direction', w.direction, 'channel', w.channel,
                                               'content_type', w.content_type, 'body', w.body,
                                               'template_name', w.template_name, 'at', w.created_at)
                            order by w.created_at desc, w.id desc), '[]'::jsonb),
         min(w.created_at)
    into v_recent, v_oldest_at
  from (
    select n.*, sum(n.tokens) over (order by n.created_at desc, n.id desc) as running
    from (
      select m.id, m.direction, m.channel, m.content_type, m.body, m.template_name, m.created_at,
             private.estimate_tokens(coalesce(m.body, m.template_name, '')) + 4 as tokens
      from public.messages m
      where m.lead_id = p_lead_id and m.tenant_id = p_tenant_id
      order by m.created_at desc, m.id desc
      limit greatest(p_recent_limit, 1)
    ) n
  ) w
  where w.running - w.tokens <= p_token_budget;

  v_query := coalesce(nullif(btrim(p_query), ''), (
    select m.body from public.messages m
    where m.lead_id = p_lead_id and m.tenant_id = p_tenant_id and m.direction = 'in' and m.body is not null
    order by m.created_at desc
    limit 1));
  if p_recall_k > 0 and v_query is not null and v_oldest_at is not null then
    -- Any of the query's lexemes (an AND of a whole chat message would match almost nothing), stemmed in the
    -- lead's language: "Angebote" finds "Angebot". The lexemes are already normalised, so they are quoted
    -- and cast rather than parsed again.
    select string_agg(pg_catalog.quote_literal(u.lexeme), ' | ')::tsquery into v_tsquery
    from (
      select x.lexeme from pg_catalog.unnest(pg_catalog.to_tsvector(v_config::regconfig, left(v_query, 4000))) x
      limit 32
    ) u;
    if v_tsquery is not null then
      select coalesce(jsonb_agg(jsonb_build_object('id', r.id, 'direction', r.direction, 'channel', r.channel,
                                                   'content_type', r.content_type, 'body', r.body,
                                                   'template_name', r.template_name, 'at', r.created_at,
                                                   'rank', round(r.rank::numeric, 4))
                                order by r.rank desc, r.created_at desc), '[]'::jsonb)
        into v_recalled
      from (
        select m.id, m.direction, m.channel, m.content_type, m.body, m.template_name, m.created_at,
               pg_catalog.ts_rank(m.search_vector, v_tsquery) as rank
        from public.messages m
        where m.search_vector @@ v_tsquery
          and m.lead_id = p_lead_id and m.tenant_id = p_tenant_id and m.created_at < v_oldest_at
        order by rank desc, m.created_at desc
        limit p_recall_k
      ) r;
    end if;
  end if;

  return jsonb_build_object(
    'lead', v_lead, 'search_language', v_config, 'facts', v_facts, 'summaries', v_summaries,
    'recent', v_recent, 'recalled', coalesce(v_recalled, '[]'::jsonb), 'query', v_query);
end
$$;

comment on function public.lead_memory(uuid, uuid, text, integer, integer, integer) is
  'The memory context of a lead: profile, current facts, newest summaries, newest messages within '
  'p_token_budget, and p_recall_k older messages recalled by full-text search for p_query (default: the '
  'newest inbound text). salesflow/conversations/memory.py build_context() renders it.';

revoke all on function public.lead_memory(uuid, uuid, text, integer, integer, integer) from public, anon;
grant execute on function public.lead_memory(uuid, uuid, text, integer, integer, integer)
  to authenticated, service_role;
