-- Erasing a lead (GDPR art. 17): `salesflow leads forget ID` (salesflow/conversations/forget.py) calls
-- public.forget_lead, which in one transaction
--
--   * deletes the lead's messages and conversations (and with them the summaries), facts, channel identities,
--     and the rows of every other table that names the lead (lead_id or *_lead_id: review tasks, identity
--     links, ... whatever later migrations add), but for the tables kept below;
--   * keeps the lead row, anonymised: name '[erased]', every contact field, notes, tags and score reasons
--     cleared; status, source channel, score, deal value and dates stay, so pipeline and revenue reports
--     still add up and nothing in them points to a person;
--   * keeps each consent row (channel, status, method, when) but clears its evidence and source message,
--     and, for every channel the lead had opted out of, keeps a suppression record (below);
--   * redacts what the outbox and the audit trails hold about the lead: event payloads (only ids, statuses,
--     channels and times stay, see private.redact_payload), events' and deliveries' errors, analytics
--     properties, AI usage errors, and the raw bodies and headers of its provider webhooks (matched by the
--     message they recorded, the provider ids of its messages, or its addresses in the body). The rows stay:
--     counts, costs and the webhook's external id (which keeps a redelivery from recreating the lead).
--
-- Why a suppression record survives the erasure: the duty to stop messaging someone who opted out (UWG §7,
-- the TCPA, WhatsApp's policy) outlives their data, and GDPR art. 17(3)(b)/(e) and recital 66 allow keeping
-- what is needed to honour an objection. Without it, the next message from the same number would create a
-- new lead with no opt-out, and the team would message someone who said stop. The record is minimal and not
-- readable as personal data: tenant, channel, how and when they opted out, and a keyed SHA-256 of the
-- normalised address (the key is random per database and lives in private.suppression_key, so the hash
-- cannot be reversed by hashing every phone number without it). When an identity with that address is
-- created again, private.channel_identities_reapply_opt_out records the opt-out on the new lead (method as
-- before, evidence naming the suppression), so the refusal in the database (sends_respect_opt_outs) applies.

create table if not exists private.suppression_key (
  id boolean primary key default true check (id),
  key text not null default (gen_random_uuid()::text || gen_random_uuid()::text)
);
insert into private.suppression_key (id) values (true) on conflict (id) do nothing;
revoke all on table private.suppression_key from public, anon, authenticated, service_role;

create table if not exists private.suppressed_addresses (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  channel public.message_channel not null,
  address_hash bytea not null,
  method text not null,
  opted_out_at timestamptz not null,
  created_at timestamptz not null default now()
);
create unique index if not exists suppressed_addresses_key
  on private.suppressed_addresses (tenant_id, channel, address_hash);
revoke all on table private.suppressed_addresses from public, anon, authenticated, service_role;

create or replace function private.address_hash(p_tenant_id uuid, p_channel text, p_address text)
returns bytea
language sql stable
set search_path = ''
as $$
  select pg_catalog.sha256(pg_catalog.convert_to(
    k.key || ':' || p_tenant_id::text || ':' || p_channel || ':' || p_address, 'UTF8'))
  from private.suppression_key k
$$;
revoke all on function private.address_hash(uuid, text, text) from public, anon, authenticated;

-- An identity created for an address that was erased after an opt-out: the opt-out applies to the new lead.
create or replace function private.channel_identities_reapply_opt_out() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_suppression record;
begin
  select s.id, s.method, s.opted_out_at into v_suppression
  from private.suppressed_addresses s
  where s.tenant_id = new.tenant_id and s.channel = new.channel
    and s.address_hash = private.address_hash(new.tenant_id, new.channel, new.address);
  if found then
    insert into public.consents (tenant_id, lead_id, channel, status, method, evidence, changed_at, recorded_by)
    values (new.tenant_id, new.lead_id, new.channel, 'opted_out', v_suppression.method,
            'opted out before an erasure (suppression ' || v_suppression.id::text || ')',
            v_suppression.opted_out_at, null)
    on conflict (tenant_id, lead_id, channel) do nothing;
  end if;
  return null;
end
$$;
revoke all on function private.channel_identities_reapply_opt_out() from public, anon, authenticated;

drop trigger if exists channel_identities_reapply_opt_out on public.channel_identities;
create trigger channel_identities_reapply_opt_out after insert on public.channel_identities
  for each row execute function private.channel_identities_reapply_opt_out();

-- What of an event payload (or analytics properties) survives an erasure: ids, statuses, channels, times and
-- numbers, never free text (a name, an address, a changed field's old value, an error message).
create or replace function private.redact_payload(p_payload jsonb)
returns jsonb
language sql immutable
set search_path = ''
as $$
  select coalesce(pg_catalog.jsonb_object_agg(e.key, e.value), '{}'::jsonb) || '{"redacted": true}'::jsonb
  from pg_catalog.jsonb_each(coalesce(p_payload, '{}'::jsonb)) e
  where pg_catalog.jsonb_typeof(e.value) in ('string', 'number', 'boolean', 'null')
    and e.key <> 'provider_message_id'
    and (e.key ~ '(_id|_at)$'
         or e.key in ('channel', 'status', 'from', 'to', 'content_type', 'method', 'sent_by', 'direction',
                      'source_channel', 'latency_ms', 'step', 'tail_tokens', 'redelivery', 'funnel_stage'))
    -- from / to / status are statuses; a longer string there is not one
    and (e.key !~ '^(from|to|status)$' or length(e.value #>> '{}') <= 40)
$$;
revoke all on function private.redact_payload(jsonb) from public, anon, authenticated;

create or replace function public.forget_lead(p_tenant_id uuid, p_lead_id uuid)
returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  v_lead record;
  v_conversations uuid[];
  v_messages uuid[];
  v_provider_ids text[];
  v_addresses text[];
  v_needles bytea[];
  v_events uuid[];
  v_table record;
  v_where text;
  v_count bigint;
  v_counts jsonb := '{}'::jsonb;
  v_keep constant text[] := array['leads', 'consents', 'analytics_events', 'ai_usage', 'events',
                                  'event_deliveries', 'inbound_webhooks'];
begin
  select l.id, l.email into v_lead from public.leads l
  where l.id = p_lead_id and l.tenant_id = p_tenant_id
  for update;
  if not found then
    raise exception 'forget_lead.p_lead_id: there is no lead % in tenant %', p_lead_id, p_tenant_id
      using errcode = 'P0002';
  end if;

  select coalesce(array_agg(c.id), '{}'::uuid[]) into v_conversations
  from public.conversations c where c.tenant_id = p_tenant_id and c.lead_id = p_lead_id;
  select coalesce(array_agg(m.id), '{}'::uuid[]),
         coalesce(array_agg(m.provider_message_id) filter (where m.provider_message_id is not null), '{}'::text[])
    into v_messages, v_provider_ids
  from public.messages m where m.tenant_id = p_tenant_id and m.lead_id = p_lead_id;
  select coalesce(array_agg(distinct a.address), '{}'::text[]) into v_addresses
  from (
    select i.address from public.channel_identities i where i.tenant_id = p_tenant_id and i.lead_id = p_lead_id
    union all
    select lower(v_lead.email) where v_lead.email is not null
  ) a;
  -- How the addresses appear in a provider's raw body: as stored, and phone numbers without their + (Meta).
  select coalesce(array_agg(distinct pg_catalog.convert_to(n.needle, 'UTF8')), '{}'::bytea[]) into v_needles
  from (
    select a as needle from unnest(v_addresses) a
    union all
    select ltrim(a, '+') from unnest(v_addresses) a where a ~ '^\+[0-9]{7,15}$'
  ) n
  where length(n.needle) >= 5;

  -- The suppression records, before the identities go.
  insert into private.suppressed_addresses (tenant_id, channel, address_hash, method, opted_out_at)
  select p_tenant_id, c.channel, private.address_hash(p_tenant_id, c.channel, a.address), c.method, c.changed_at
  from public.consents c
  join (
    select i.channel::text as channel, i.address from public.channel_identities i
    where i.tenant_id = p_tenant_id and i.lead_id = p_lead_id
    union
    select 'email', lower(v_lead.email) where v_lead.email is not null
  ) a on a.channel = c.channel
  where c.tenant_id = p_tenant_id and c.lead_id = p_lead_id and c.status = 'opted_out'
  on conflict (tenant_id, channel, address_hash) do nothing;
  get diagnostics v_count = row_count;
  v_counts := v_counts || jsonb_build_object('suppressions', v_count);

  -- Rows of other tables that name the lead (review tasks, identity links, later ones), first: they may
  -- reference the identities, conversations and messages deleted next.
  for v_table in
    select c.table_schema, c.table_name,
           array_agg(c.column_name::text order by c.column_name) as lead_columns,
           bool_or(exists (select 1 from information_schema.columns t
                           where t.table_schema = c.table_schema and t.table_name = c.table_name
                             and t.column_name = 'tenant_id')) as has_tenant
    from information_schema.columns c
    join information_schema.tables tb on tb.table_schema = c.table_schema and tb.table_name = c.table_name
    where c.table_schema = 'public' and tb.table_type = 'BASE TABLE' and c.data_type = 'uuid'
      and (c.column_name = 'lead_id' or c.column_name like '%\_lead\_id')
      and c.table_name <> all (v_keep || array['lead_facts', 'channel_identities', 'conversations', 'messages',
                                               'conversation_summaries'])
      and c.table_name not like 'analytics\_%'
    group by c.table_schema, c.table_name
    order by c.table_name
  loop
    select string_agg(format('%I = $2', col), ' or ') into v_where from unnest(v_table.lead_columns) col;
    if v_table.has_tenant then
      execute format('delete from %I.%I where tenant_id = $1 and (%s)', v_table.table_schema, v_table.table_name,
                     v_where) using p_tenant_id, p_lead_id;
    else
      execute format('delete from %I.%I where %s', v_table.table_schema, v_table.table_name, v_where)
        using p_tenant_id, p_lead_id;
    end if;
    get diagnostics v_count = row_count;
    v_counts := v_counts || jsonb_build_object(v_table.table_name, v_count);
  end loop;

  delete from public.lead_facts f where f.tenant_id = p_tenant_id and f.lead_id = p_lead_id;
  get diagnostics v_count = row_count;
  v_counts := v_counts || jsonb_build_object('lead_facts', v_count);
  delete from public.channel_identities i where i.tenant_id = p_tenant_id and i.lead_id = p_lead_id;
  get diagnostics v_count = row_count;
  v_counts := v_counts || jsonb_build_object('channel_identities', v_count,
                                             'messages', cardinality(v_messages));
  -- Conversations take their messages and summaries with them (on delete cascade).
  delete from public.conversations c where c.tenant_id = p_tenant_id and c.lead_id = p_lead_id;
  get diagnostics v_count = row_count;
  v_counts := v_counts || jsonb_build_object('conversations', v_count);

  update public.consents c set evidence = null, source_message_id = null
  where c.tenant_id = p_tenant_id and c.lead_id = p_lead_id;
  get diagnostics v_count = row_count;
  v_counts := v_counts || jsonb_build_object('consents_kept', v_count);

  update public.leads l
  set name = '[erased]', email = null, phone = null, whatsapp = null, instagram = null, linkedin = null,
      company = null, notes = null, tags = '{}', score_reasons = '[]'::jsonb, source = null, timezone = null
  where l.id = p_lead_id and l.tenant_id = p_tenant_id;

  -- The outbox, after the update above (its lead.updated names the old values).
  select coalesce(array_agg(e.id), '{}'::uuid[]) into v_events
  from public.events e
  where e.tenant_id = p_tenant_id
    and (e.ordering_key = p_lead_id::text
         or e.payload ->> 'lead_id' = p_lead_id::text
         or e.payload ->> 'conversation_id' = any (v_conversations::text[])
         or e.payload ->> 'message_id' = any (v_messages::text[]));
  update public.events e
  set payload = private.redact_payload(e.payload),
      last_error = case when e.last_error is null then null else 'redacted: the lead was erased' end
  where e.id = any (v_events);
  get diagnostics v_count = row_count;
  v_counts := v_counts || jsonb_build_object('events_redacted', v_count);
  update public.event_deliveries d set last_error = 'redacted: the lead was erased'
  where d.event_id = any (v_events) and d.last_error is not null;

  update public.analytics_events a set properties = private.redact_payload(a.properties) - 'redacted'
  where a.tenant_id = p_tenant_id
    and (a.lead_id = p_lead_id or a.event_id = any (v_events)
         or a.properties ->> 'conversation_id' = any (v_conversations::text[]));
  get diagnostics v_count = row_count;
  v_counts := v_counts || jsonb_build_object('analytics_events_redacted', v_count);

  update public.ai_usage u set error = 'redacted: the lead was erased'
  where u.tenant_id = p_tenant_id and u.error is not null
    and (u.lead_id = p_lead_id or u.event_id = any (v_events));

  update public.inbound_webhooks w
  set raw_body = '\x'::bytea, headers = '{}'::jsonb,
      outcome_detail = case when w.outcome_detail is null then null else 'redacted: the lead was erased' end
  where w.tenant_id = p_tenant_id
    and (w.outcome_detail = any (array(select 'message ' || m::text from unnest(v_messages) m))
         or w.external_id = any (v_provider_ids)
         or exists (select 1 from unnest(v_needles) n where position(n in w.raw_body) > 0));
  get diagnostics v_count = row_count;
  v_counts := v_counts || jsonb_build_object('inbound_webhooks_redacted', v_count);

  return jsonb_build_object('lead_id', p_lead_id, 'tenant_id', p_tenant_id, 'erased', v_counts);
end
$$;

comment on function public.forget_lead(uuid, uuid) is
  'Erase a lead (GDPR art. 17), in one transaction: its messages, conversations, summaries, facts, identities '
  'and every row naming it; the lead row and consents kept anonymised; a keyed-hash suppression record per '
  'opted-out channel; event payloads, errors, analytics, AI usage errors and provider webhook bodies redacted. '
  'Service code and operators only (salesflow leads forget).';

revoke all on function public.forget_lead(uuid, uuid) from public, anon, authenticated;
grant execute on function public.forget_lead(uuid, uuid) to service_role;
