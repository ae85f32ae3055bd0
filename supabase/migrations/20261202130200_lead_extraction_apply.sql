-- Applying what the lead_extraction scenario read from an inbound message (the `conversations.extract_facts`
-- handler), in one transaction per message:
--
--   * a field whose email or phone belongs to another lead of the tenant → a review task naming that lead
--     (matches_other_lead: maybe one person on two channels; leads are never merged automatically);
--   * a field that differs from a value the lead already has → a review task (conflicts_with_lead: a member's
--     value is never overwritten silently); the same value → only a fact, when no current fact says so;
--   * at or above tenants.extraction_confidence_threshold → applied to the empty field and recorded as a fact
--     (origin extraction, the source message, the previous fact closed by the facts trigger); an applied
--     email or phone also becomes a channel identity of the lead (email; whatsapp and sms), so the person's
--     messages on those channels reach this lead: the identity is recorded with the fact's source message
--     and undone by deleting it;
--   * below the threshold → a review task (low_confidence).
--
-- messages.facts_extracted_at marks a message whose extraction was applied: a second call for the same
-- message (a redelivered event) changes nothing, and the handler reads it before paying for an AI call.
--
-- Stitching from extracted addresses, with ingest's link representation (identity_links,
-- 20261202120000_identity_links.sql). apply_lead_extraction:
--
--   * an email or phone read at or above the threshold that belongs to another lead L2, written by a lead L1
--     that Zero-Input made (source inbound_*, no owner yet) while L2 has no conversation on this channel:
--     L1's identity on the message's channel and its conversation (messages included) move to L2, recorded
--     as an identity link (matched_on and linked_by `extraction`, previous_lead_id L1, the conversation), so
--     public.undo_identity_link() puts both back; the remaining fields of the message then apply to L2 (by
--     the same rules: L2's values are never overwritten). L1 stays, without that identity.
--   * otherwise such a match is a review task (matches_other_lead).
--   * a Zero-Input lead named after its identity's profile name counts as unnamed, like one named after its
--     address: a provider's display name is nobody's value.
--
-- Returns also "stitched": [{identity_id, link_id, from_lead_id, to_lead_id, field}].

alter table public.messages add column if not exists facts_extracted_at timestamptz;

-- What the inbound handlers need about one message, in one round trip: the message, its lead (the columns
-- the scenarios read), the lead's address on the message's channel, the tenant's locale and threshold, and the lead's latest messages as a transcript
-- (oldest first, at most p_limit).
create or replace function public.inbound_message_context(p_tenant_id uuid, p_message_id uuid, p_limit integer default 20)
returns jsonb
language sql stable security definer
set search_path = ''
as $$
  select jsonb_build_object(
    'message', jsonb_build_object('id', m.id, 'lead_id', m.lead_id, 'conversation_id', m.conversation_id,
                                  'channel', m.channel, 'direction', m.direction, 'content_type', m.content_type,
                                  'body', m.body, 'received_at', m.received_at,
                                  'facts_extracted_at', m.facts_extracted_at),
    'lead', to_jsonb(l),
    'sender_address', (select i.address from public.channel_identities i
                       where i.tenant_id = m.tenant_id and i.lead_id = m.lead_id and i.channel = m.channel
                       order by i.created_at limit 1),
    'tenant_locale', t.locale,
    'threshold', t.extraction_confidence_threshold,
    'transcript', coalesce((
      select string_agg(case r.direction when 'in' then 'Lead: ' else 'Team: ' end || r.body, E'\n'
                        order by r.created_at, r.id)
      from (select h.direction, h.body, h.created_at, h.id from public.messages h
            where h.tenant_id = m.tenant_id and h.lead_id = m.lead_id and h.body is not null
            order by h.created_at desc, h.id desc
            limit greatest(1, least(coalesce(p_limit, 20), 200))) r), ''))
  from public.messages m
  join public.leads l on l.id = m.lead_id and l.tenant_id = m.tenant_id
  join public.tenants t on t.id = m.tenant_id
  where m.id = p_message_id and m.tenant_id = p_tenant_id
$$;

revoke all on function public.inbound_message_context(uuid, uuid, integer) from public, anon, authenticated;
grant execute on function public.inbound_message_context(uuid, uuid, integer) to service_role;

-- p_fields: [{"field": "email", "value": "Paul@Weber.de", "confidence": 0.95, "address": "paul@weber.de"}, ...]
-- (address: the normalised email or E.164 phone for identity matching, null when the value is not one).
-- Returns {"already": bool, "applied": [field...], "review": [{field, reason, task_id}...], "identities": [...]}.
create or replace function public.apply_lead_extraction(p_tenant_id uuid, p_message_id uuid, p_fields jsonb)
returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  v_message record;
  v_lead public.leads;
  v_threshold numeric;
  v_item jsonb;
  v_field text;
  v_value text;
  v_address text;
  v_confidence numeric;
  v_current text;
  v_matched uuid;
  v_reason text;
  v_task uuid;
  v_placeholder boolean;
  v_applied text[] := array[]::text[];
  v_identities text[] := array[]::text[];
  v_review jsonb := '[]'::jsonb;
  v_channel text;
  v_lead_id uuid;
  v_channel_of_message public.message_channel;
  v_conversation uuid;
  v_identity uuid;
  v_link uuid;
  v_stitched jsonb := '[]'::jsonb;
begin
  if jsonb_typeof(p_fields) is distinct from 'array' then
    raise exception 'apply_lead_extraction.p_fields: must be a JSON array of {field, value, confidence, address}'
      using errcode = '22023';
  end if;
  update public.messages m set facts_extracted_at = now()
  where m.id = p_message_id and m.tenant_id = p_tenant_id and m.facts_extracted_at is null
  returning m.id, m.lead_id, m.channel, m.conversation_id into v_message;
  if not found then
    return jsonb_build_object('already', true, 'applied', '[]'::jsonb, 'review', '[]'::jsonb,
                              'identities', '[]'::jsonb, 'stitched', '[]'::jsonb);
  end if;
  v_lead_id := v_message.lead_id;
  v_channel_of_message := v_message.channel;
  v_conversation := v_message.conversation_id;
  select t.extraction_confidence_threshold into v_threshold from public.tenants t where t.id = p_tenant_id;

  for v_item in select e from jsonb_array_elements(p_fields) as e loop
    v_field := v_item ->> 'field';
    v_value := nullif(btrim(coalesce(v_item ->> 'value', '')), '');
    v_address := nullif(v_item ->> 'address', '');
    v_confidence := least(greatest(coalesce((v_item ->> 'confidence')::numeric, 0), 0), 1);
    if v_field is null or v_field not in ('name', 'email', 'phone', 'company') or v_value is null
       or length(v_value) > 300 or v_confidence = 0 then
      continue;
    end if;
    -- A phone is applied in its normal form when it has one (E.164 reads the same on every channel).
    if v_field = 'phone' and v_address is not null then
      v_value := v_address;
    end if;
    select l.* into v_lead from public.leads l where l.id = v_lead_id and l.tenant_id = p_tenant_id;
    v_current := case v_field when 'name' then v_lead.name when 'email' then v_lead.email
                              when 'phone' then coalesce(v_lead.phone, v_lead.whatsapp)
                              else v_lead.company end;
    -- A Zero-Input lead is named after its address until someone knows better: that name is no one's value.
    v_placeholder := v_field = 'name' and (
      v_current in (v_lead.email, v_lead.phone, v_lead.whatsapp) or v_current ~ '^\+?[0-9 ()/.-]+$'
      or exists (select 1 from public.channel_identities i
                 where i.tenant_id = p_tenant_id and i.lead_id = v_lead.id
                   and (i.address = v_current
                        or (i.display_name = v_current and v_lead.source like 'inbound\_%' and v_lead.owner_id is null))));
    if v_placeholder then
      v_current := null;
    end if;

    v_matched := null;
    if v_field = 'email' then
      select x.id into v_matched from (
        select l.id from public.leads l
        where l.tenant_id = p_tenant_id and l.id <> v_lead.id and l.email is not null
          and lower(l.email) = lower(coalesce(v_address, v_value))
        union all
        select i.lead_id from public.channel_identities i
        where i.tenant_id = p_tenant_id and i.lead_id <> v_lead.id and i.channel = 'email'
          and i.address = lower(coalesce(v_address, v_value))) x
      limit 1;
    elsif v_field = 'phone' and v_address is not null then
      select x.id into v_matched from (
        select i.lead_id as id from public.channel_identities i
        where i.tenant_id = p_tenant_id and i.lead_id <> v_lead.id and i.channel in ('whatsapp', 'sms')
          and i.address = v_address
        union all
        select l.id from public.leads l
        where l.tenant_id = p_tenant_id and l.id <> v_lead.id
          and v_address in (regexp_replace(coalesce(l.phone, ''), '[^0-9+]', '', 'g'),
                            regexp_replace(coalesce(l.whatsapp, ''), '[^0-9+]', '', 'g'))) x
      limit 1;
    end if;

    if v_matched = v_message.lead_id then
      v_matched := null;  -- the lead this message came from, before a stitch moved it: not another person
    end if;
    v_reason := null;
    if v_matched is not null then
      -- The same person on another channel: a sure address from a lead Zero-Input made moments ago (nobody
      -- owns it yet) stitches its identity and conversation to the known lead, as ingest would have had it
      -- known the address; recorded in identity_links, undone by public.undo_identity_link(). Anything less
      -- sure, or a lead a person works on, or a known lead already talking on this channel: a member decides.
      v_identity := null;
      if v_confidence >= v_threshold and v_lead.source like 'inbound\_%' and v_lead.owner_id is null
         and not exists (select 1 from public.conversations c
                         where c.tenant_id = p_tenant_id and c.lead_id = v_matched and c.channel = v_channel_of_message) then
        select i.id into v_identity from public.channel_identities i
        where i.tenant_id = p_tenant_id and i.lead_id = v_lead.id and i.channel = v_channel_of_message
        order by i.created_at limit 1
        for update;
      end if;
      if v_identity is not null then
        update public.channel_identities i set lead_id = v_matched where i.id = v_identity;
        -- messages follow by the cascading composite key
        update public.conversations c set lead_id = v_matched where c.id = v_conversation and c.lead_id = v_lead.id;
        insert into public.identity_links (tenant_id, identity_id, lead_id, previous_lead_id, conversation_id,
                                           matched_on, linked_by)
        values (p_tenant_id, v_identity, v_matched, v_lead.id, v_conversation, 'extraction', 'extraction')
        returning id into v_link;
        v_stitched := v_stitched || jsonb_build_object('identity_id', v_identity, 'link_id', v_link,
                                                       'from_lead_id', v_lead.id, 'to_lead_id', v_matched,
                                                       'field', v_field);
        v_lead_id := v_matched;
        continue;
      end if;
      v_reason := 'matches_other_lead';
    elsif v_current is not null then
      if lower(v_current) = lower(v_value) then
        -- Nothing new for the lead; the fact says where it was read, unless a current fact says it already.
        if not exists (select 1 from public.lead_facts f
                       where f.tenant_id = p_tenant_id and f.lead_id = v_lead.id and f.key = v_field
                         and f.valid_to is null and f.value = to_jsonb(v_current)) then
          insert into public.lead_facts (tenant_id, lead_id, key, value, confidence, origin, source_message_id)
          values (p_tenant_id, v_lead.id, v_field, to_jsonb(v_current), v_confidence, 'extraction', p_message_id);
        end if;
        continue;
      end if;
      v_reason := 'conflicts_with_lead';
    elsif v_confidence < v_threshold then
      v_reason := 'low_confidence';
    elsif v_field = 'phone' and (v_address is null or v_value !~ '^\+?[0-9][0-9 ()/.-]{5,25}[0-9]$') then
      v_reason := 'low_confidence';  -- not a phone number in normal form: a person reads it
    elsif v_field = 'email' and v_value !~* '^[A-Z0-9._%+''-]+@[A-Z0-9-]+(\.[A-Z0-9-]+)*\.[A-Z]{2,}$' then
      v_reason := 'low_confidence';
    end if;

    if v_reason is not null then
      insert into public.lead_review_tasks (tenant_id, lead_id, field, proposed_value, confidence, current_value,
                                            reason, matched_lead_id, source_message_id)
      values (p_tenant_id, v_lead.id, v_field, v_value, v_confidence,
              case when v_placeholder then null else v_current end, v_reason, v_matched, p_message_id)
      on conflict (tenant_id, source_message_id, field) do nothing
      returning id into v_task;
      v_review := v_review || jsonb_build_object('field', v_field, 'reason', v_reason, 'task_id', v_task,
                                                 'matched_lead_id', v_matched);
      continue;
    end if;

    update public.leads l
    set name = case v_field when 'name' then v_value else l.name end,
        email = case v_field when 'email' then v_value else l.email end,
        phone = case v_field when 'phone' then v_value else l.phone end,
        company = case v_field when 'company' then v_value else l.company end
    where l.id = v_lead.id and l.tenant_id = p_tenant_id;
    insert into public.lead_facts (tenant_id, lead_id, key, value, confidence, origin, source_message_id)
    values (p_tenant_id, v_lead.id, v_field, to_jsonb(v_value), v_confidence, 'extraction', p_message_id);
    v_applied := v_applied || v_field;

    if v_address is not null and v_field in ('email', 'phone') then
      foreach v_channel in array case v_field when 'email' then array['email'] else array['whatsapp', 'sms'] end loop
        insert into public.channel_identities (tenant_id, lead_id, channel, address)
        values (p_tenant_id, v_lead.id, v_channel::public.message_channel, v_address)
        on conflict (tenant_id, channel, address) do nothing;
        if found then
          v_identities := v_identities || (v_channel || ':' || v_address);
        end if;
      end loop;
    end if;
  end loop;

  return jsonb_build_object('already', false, 'applied', to_jsonb(v_applied), 'review', v_review,
                            'identities', to_jsonb(v_identities), 'stitched', v_stitched);
end
$$;

revoke all on function public.apply_lead_extraction(uuid, uuid, jsonb) from public, anon, authenticated;
grant execute on function public.apply_lead_extraction(uuid, uuid, jsonb) to service_role;
