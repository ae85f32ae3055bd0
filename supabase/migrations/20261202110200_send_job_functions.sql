-- The send job's SQL (salesflow/handlers/sending.py), for service code only (service_role; each names its
-- tenant, so TenantData's tenant check applies on both transports).
--
--   message_for_sending(tenant, message)   the message with all its provider needs: the lead's normalised
--                                          address on the channel, the tenant's active connection (provider,
--                                          address, secrets; none means the outbox adapter), the conversation's
--                                          last inbound time (24 h windows), email threading ids, the latest attempt
--   begin_sending(tenant, message, event)  queued → sending (or a new attempt after a refused one), committed
--                                          before the provider call; `in_doubt` when an attempt has no outcome
--   record_send_outcome(...)               an attempt's outcome (see 20261202110100_message_send_attempts.sql),
--                                          applied only to the attempt still open (compare and set)
--   requeue_stalled_sends(older than)      the sweep: a message still queued or sending whose send job is
--                                          no longer running gets a new message.queued (redelivery), so
--                                          nothing stays `sending` forever (`salesflow messages reconcile`)

create or replace function public.message_for_sending(p_tenant_id uuid, p_message_id uuid)
returns jsonb
language sql stable
set search_path = ''
as $$
  select jsonb_build_object(
    'message', to_jsonb(m) - 'search_vector',
    'to', (select i.address from public.channel_identities i
           where i.tenant_id = m.tenant_id and i.lead_id = m.lead_id and i.channel = m.channel
           order by i.created_at desc limit 1),
    'connection', (select jsonb_build_object('id', c.id, 'provider', c.provider, 'address', c.address,
                                             'external_account_id', c.external_account_id,
                                             'secrets', coalesce(k.secrets, '{}'::jsonb))
                   from public.channel_connections c
                   left join private.channel_credentials k on k.connection_id = c.id and k.tenant_id = c.tenant_id
                   where c.tenant_id = m.tenant_id and c.channel = m.channel and c.status = 'active'
                   order by (c.provider = 'outbox'), c.created_at limit 1),
    'last_inbound_at', cv.last_inbound_at,
    'locale', coalesce(l.locale, t.locale),
    'in_reply_to', (select i.provider_message_id from public.messages i
                    where i.conversation_id = m.conversation_id and i.tenant_id = m.tenant_id
                      and i.lead_id = m.lead_id and i.channel = m.channel
                      and i.direction = 'in' and i.provider_message_id is not null
                    order by i.created_at desc limit 1),
    'references', coalesce((select jsonb_agg(r.provider_message_id order by r.created_at)
                            from (select i.provider_message_id, i.created_at from public.messages i
                                  where i.conversation_id = m.conversation_id and i.tenant_id = m.tenant_id
                                    and i.lead_id = m.lead_id and i.channel = m.channel
                                    and i.provider_message_id is not null and i.id <> m.id
                                  order by i.created_at desc limit 20) r), '[]'::jsonb),
    'attempt', (select to_jsonb(a) from private.message_send_attempts a
                where a.message_id = m.id order by a.attempt desc limit 1))
  from public.messages m
  join public.conversations cv on cv.id = m.conversation_id and cv.tenant_id = m.tenant_id
  join public.leads l on l.id = m.lead_id and l.tenant_id = m.tenant_id
  join public.tenants t on t.id = m.tenant_id
  where m.id = p_message_id and m.tenant_id = p_tenant_id and m.direction = 'out'
$$;
comment on function public.message_for_sending(uuid, uuid) is
  'An outbound message with what its provider needs (address, connection and secrets, last inbound, threading, '
  'latest send attempt); null when there is none. service_role only.';

create or replace function public.begin_sending(p_tenant_id uuid, p_message_id uuid, p_event_id uuid default null)
returns jsonb
language plpgsql volatile
set search_path = ''
as $$
declare
  current_status text;
  lead uuid;
  on_channel text;
  last_attempt integer;
  last_outcome text;
  last_started timestamptz;
  consent_id uuid;
  consent_at timestamptz;
  consent_method text;
  refusal text;
begin
  select m.status, m.lead_id, m.channel into current_status, lead, on_channel
  from public.messages m
  where m.id = p_message_id and m.tenant_id = p_tenant_id and m.direction = 'out'
  for update;
  if not found then
    return jsonb_build_object('outcome', 'gone');
  end if;
  if current_status not in ('queued', 'sending') then
    return jsonb_build_object('outcome', 'done', 'status', current_status);
  end if;
  select a.attempt, a.outcome, a.started_at into last_attempt, last_outcome, last_started
  from private.message_send_attempts a
  where a.message_id = p_message_id
  order by a.attempt desc limit 1;
  if current_status = 'sending' and (last_attempt is null or last_outcome is null) then
    -- In the provider's hands, or it was when a job stopped: reconcile, never send again blindly.
    return jsonb_build_object('outcome', 'in_doubt', 'attempt', last_attempt, 'started_at', last_started);
  end if;
  -- The opt-out trigger refuses queued → sending; a retry stays `sending`, so consent is checked here too.
  select c.id, c.changed_at, c.method into consent_id, consent_at, consent_method
  from public.consents c
  where c.tenant_id = p_tenant_id and c.lead_id = lead and c.channel = on_channel and c.status = 'opted_out';
  if found then
    refusal := format('lead opted out of %s (consent %s, opted out at %s by %s)',
                      on_channel, consent_id, consent_at, consent_method);
    update public.messages m set status = 'failed', error_code = 'opted_out', error_message = refusal
    where m.id = p_message_id;
    return jsonb_build_object('outcome', 'refused', 'status', 'failed', 'error_code', 'opted_out',
                              'error_message', refusal);
  end if;
  if current_status = 'queued' then
    update public.messages m set status = 'sending' where m.id = p_message_id;
  end if;
  insert into private.message_send_attempts (message_id, tenant_id, attempt, event_id)
  values (p_message_id, p_tenant_id, coalesce(last_attempt, 0) + 1, p_event_id);
  return jsonb_build_object('outcome', 'begun', 'attempt', coalesce(last_attempt, 0) + 1, 'started_at', now());
end
$$;
comment on function public.begin_sending(uuid, uuid, uuid) is
  'Record a send attempt before the provider call: queued → sending, or the next attempt after a refused or '
  'not-found one. Returns outcome begun (with attempt) | in_doubt (an attempt has no outcome: reconcile) | '
  'refused (opted out: the message failed) | done (status) | gone. service_role only.';

create or replace function public.record_send_outcome(
  p_tenant_id uuid,
  p_message_id uuid,
  p_attempt integer,
  p_outcome text,
  p_provider_message_id text default null,
  p_provider_detail jsonb default null,
  p_error_code text default null,
  p_error_message text default null,
  p_at timestamptz default null
) returns jsonb
language plpgsql volatile
set search_path = ''
as $$
declare
  current_status text;
  on_channel text;
  open_attempt integer;
  new_status text;
begin
  if p_outcome is null or p_outcome not in ('accepted', 'refused', 'rejected', 'not_found', 'unanswered') then
    raise exception 'record_send_outcome.p_outcome: must be one of accepted, refused, rejected, not_found, unanswered (got %)',
      coalesce(quote_literal(p_outcome), 'null')
      using errcode = '22023';
  end if;
  if p_outcome = 'accepted' and coalesce(length(p_provider_message_id), 0) = 0 then
    raise exception 'record_send_outcome.p_provider_message_id: an accepted send needs the provider''s id'
      using errcode = '22023';
  end if;
  select m.status, m.channel into current_status, on_channel
  from public.messages m
  where m.id = p_message_id and m.tenant_id = p_tenant_id and m.direction = 'out'
  for update;
  if not found then
    return jsonb_build_object('applied', false, 'status', null);
  end if;
  if p_outcome = 'accepted' and exists (
    select 1 from public.messages o
    where o.tenant_id = p_tenant_id and o.channel = on_channel and o.provider_message_id = p_provider_message_id
      and o.id <> p_message_id) then
    -- A look-up that matched another message (the same text twice): nothing is recorded, the caller decides.
    return jsonb_build_object('applied', false, 'status', current_status, 'conflict', true);
  end if;
  select a.attempt into open_attempt
  from private.message_send_attempts a
  where a.message_id = p_message_id and a.outcome is null
  order by a.attempt desc limit 1;

  if p_attempt is null then
    -- Decided before any provider call (the job's own check): only a refusal, and only with no attempt open.
    if p_outcome <> 'rejected' then
      raise exception 'record_send_outcome.p_attempt: only a rejected outcome may be recorded without an attempt'
        using errcode = '22023';
    end if;
    if current_status not in ('queued', 'sending') or open_attempt is not null then
      return jsonb_build_object('applied', false, 'status', current_status);
    end if;
  else
    if open_attempt is distinct from p_attempt then
      return jsonb_build_object('applied', false, 'status', current_status);  -- recorded already, or not the latest
    end if;
    update private.message_send_attempts a
    set outcome = p_outcome, error_code = p_error_code, error_message = left(p_error_message, 2000),
        finished_at = now()
    where a.message_id = p_message_id and a.attempt = p_attempt;
  end if;

  new_status := case p_outcome when 'accepted' then 'sent' when 'rejected' then 'failed'
                               when 'unanswered' then 'unknown' else current_status end;
  update public.messages m
  set status = new_status,
      provider_message_id = coalesce(p_provider_message_id, m.provider_message_id),
      provider_detail = coalesce(p_provider_detail, m.provider_detail),
      sent_at = case when p_outcome = 'accepted' then coalesce(p_at, m.sent_at) else m.sent_at end,
      error_code = case when p_outcome = 'accepted' then null
                        when p_outcome = 'not_found' then m.error_code else p_error_code end,
      error_message = case when p_outcome = 'accepted' then null
                           when p_outcome = 'not_found' then m.error_message else left(p_error_message, 2000) end
  where m.id = p_message_id
  returning m.status into new_status;
  return jsonb_build_object('applied', true, 'status', new_status);
end
$$;
comment on function public.record_send_outcome(uuid, uuid, integer, text, text, jsonb, text, text, timestamptz) is
  'Record how a send attempt ended (accepted → sent, refused → may retry, rejected → failed, not_found → may '
  'retry, unanswered → unknown); applied only to the open attempt named. service_role only.';

create or replace function public.requeue_stalled_sends(p_older_than_seconds double precision default 600)
returns table (tenant_id uuid, message_id uuid, status text, event_id uuid)
language plpgsql volatile
set search_path = ''
as $$
begin
  if p_older_than_seconds is null or p_older_than_seconds < 0 then
    raise exception 'requeue_stalled_sends.p_older_than_seconds: must be >= 0 (got %)', p_older_than_seconds
      using errcode = '22023';
  end if;
  return query
  with stalled as (
    select m.id, m.tenant_id, m.lead_id, m.channel, m.conversation_id, m.sent_by, m.queued_at, m.status
    from public.messages m
    where m.status in ('queued', 'sending')
      and m.direction = 'out'
      and coalesce(m.sending_at, m.queued_at) < now() - make_interval(secs => p_older_than_seconds)
      and coalesce((select a.started_at from private.message_send_attempts a
                    where a.message_id = m.id order by a.attempt desc limit 1), m.queued_at)
          < now() - make_interval(secs => p_older_than_seconds)
      -- no send job of the lead pending or running (events_active_key_idx): this one's job is finished
      and not exists (select 1 from public.events e
                      where e.ordering_key = 'send:' || m.lead_id::text and e.status in ('pending', 'processing'))
    order by m.queued_at
    limit 1000
    for update of m skip locked
  )
  select s.tenant_id, s.id, s.status,
         private.emit_event(s.tenant_id, 'message.queued',
           jsonb_build_object('conversation_id', s.conversation_id, 'lead_id', s.lead_id, 'channel', s.channel,
                              'message_id', s.id, 'sent_by', s.sent_by, 'queued_at', s.queued_at,
                              'redelivery', true),
           'send:' || s.lead_id::text, 'reconcile', null, null, null, 10)
  from stalled s;
end
$$;
comment on function public.requeue_stalled_sends(double precision) is
  'Give every outbound message still queued or sending, whose send job is no longer pending or running and '
  'whose last attempt is older than the given seconds, a new message.queued (redelivery): the send job then '
  'sends, reconciles or marks it unknown. Returns what it requeued. service_role only.';

revoke all on function public.message_for_sending(uuid, uuid) from public, anon, authenticated;
revoke all on function public.begin_sending(uuid, uuid, uuid) from public, anon, authenticated;
revoke all on function public.record_send_outcome(uuid, uuid, integer, text, text, jsonb, text, text, timestamptz)
  from public, anon, authenticated;
revoke all on function public.requeue_stalled_sends(double precision) from public, anon, authenticated;
grant execute on function public.message_for_sending(uuid, uuid) to service_role;
grant execute on function public.begin_sending(uuid, uuid, uuid) to service_role;
grant execute on function public.record_send_outcome(uuid, uuid, integer, text, text, jsonb, text, text, timestamptz)
  to service_role;
grant execute on function public.requeue_stalled_sends(double precision) to service_role;
