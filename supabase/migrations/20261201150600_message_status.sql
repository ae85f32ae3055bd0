-- An outbound message's status only moves forward, whoever writes it and in whatever order the provider's
-- callbacks arrive.
--
--   queued → sending → sent → delivered → read        failed / unknown from queued, sending or sent
--
-- Provider callbacks (sent, delivered, read, failed) arrive out of order and are redelivered: a report that
-- would move a message backwards (a `delivered` after `read`, a `sent` after `delivered`, anything after
-- `failed`, a `failed` after `delivered`) is *ignored*, not an error: the furthest status stays, and the late
-- report only fills its own timestamp if that was still empty (a `delivered` after `read` records when it was
-- delivered). An error would make the webhook fail and the provider retry a report that can never apply.
-- Forward jumps are fine (`sent` → `read` when the delivery report is lost).
--
-- What SalesFlow itself decides is *refused* when it goes backwards (SQLSTATE 23514, naming both statuses):
--   * nothing goes back to `queued` or `sending`, so a message that was sent, failed or is `unknown` is never
--     handed to a provider again (effect-once sending: `unknown` is for a person to decide, never re-sent);
--   * `sending` only from `queued`, and `sent` / `delivered` / `read` never straight from `queued` (a message
--     is recorded `sending` before the provider call, so a crash in the call leaves a trace);
--   * `unknown` resolves to what the provider or a person says: sent, delivered, read or failed.
-- Inbound messages are `received` and stay so.
--
-- private.message_status_change(from, to) is the rule (same | apply | ignore | refuse), mirrored by
-- salesflow/conversations/vocabulary.py; the trigger applies it to every update, and
-- public.apply_message_status() is what a status callback calls.

create or replace function private.message_status_change(p_from text, p_to text)
returns text
language sql immutable
set search_path = ''
as $$
  select case
    when p_from = p_to then 'same'
    when p_from = 'received' or p_to = 'received' then 'refuse'
    when p_to in ('queued', 'sending') then
      case when p_from = 'queued' and p_to = 'sending' then 'apply' else 'refuse' end
    when p_from = 'queued' then
      case when p_to in ('failed', 'unknown') then 'apply' else 'refuse' end
    when p_from in ('sending', 'unknown') then 'apply'
    when p_from = 'sent' then 'apply'
    when p_from = 'delivered' then case when p_to = 'read' then 'apply' else 'ignore' end
    else 'ignore'  -- from read or failed: final
  end
$$;
comment on function private.message_status_change(text, text) is
  'How a message status change is taken: same | apply | ignore (a late report, the furthest status stays) | '
  'refuse. Mirrored by salesflow/conversations/vocabulary.py message_status_change().';

create or replace function private.messages_status_moves_forward() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  verdict text := private.message_status_change(old.status, new.status);
begin
  if verdict = 'same' then
    return new;
  end if;
  if verdict = 'refuse' then
    raise exception 'messages.status cannot move from % to %', old.status, new.status
      using errcode = '23514', column = 'status',
            hint = 'queued → sending → sent → delivered → read; failed or unknown from queued, sending or sent; '
                   'unknown resolves to sent, delivered, read or failed; nothing returns to queued or sending';
  end if;
  if verdict = 'ignore' then
    -- A late report: the furthest status stays; the report's own timestamp is kept if none was recorded.
    case new.status
      when 'sent' then new.sent_at := coalesce(old.sent_at, new.sent_at, now());
      when 'delivered' then new.delivered_at := coalesce(old.delivered_at, new.delivered_at, now());
      when 'read' then new.read_at := coalesce(old.read_at, new.read_at, now());
      else
        -- a late failure or unknown after the message got through (or failed): nothing of it is kept
        new.failed_at := old.failed_at;
        new.unknown_at := old.unknown_at;
        new.error_code := old.error_code;
        new.error_message := old.error_message;
    end case;
    new.status := old.status;
    return new;
  end if;
  -- apply: the status's timestamp (the provider's, when the writer gave it), now() otherwise
  case new.status
    when 'sending' then new.sending_at := coalesce(new.sending_at, now());
    when 'sent' then new.sent_at := coalesce(new.sent_at, now());
    when 'delivered' then new.delivered_at := coalesce(new.delivered_at, now());
    when 'read' then new.read_at := coalesce(new.read_at, now());
    when 'failed' then new.failed_at := coalesce(new.failed_at, now());
    when 'unknown' then new.unknown_at := coalesce(new.unknown_at, now());
    else null;
  end case;
  -- A message delivered or read was sent, at the latest then (its `sent` report may be late or lost); sent_at
  -- is set once, which is what publishes message.sent once.
  if new.status in ('delivered', 'read') then
    new.sent_at := coalesce(new.sent_at, new.delivered_at, new.read_at);
  end if;
  return new;
end
$$;
revoke all on function private.messages_status_moves_forward() from public, anon, authenticated;
revoke all on function private.message_status_change(text, text) from public, anon, authenticated;
grant execute on function private.message_status_change(text, text) to service_role;

drop trigger if exists messages_status_moves_forward on public.messages;
create trigger messages_status_moves_forward before update of status on public.messages
  for each row execute function private.messages_status_moves_forward();

-- A provider's status report, applied by provider message id: returns the message with the status it has
-- now and whether the report moved it (false for a late or repeated report); no row when no message of
-- that tenant and channel has the id. For service code (the status-callback webhooks).
create or replace function public.apply_message_status(
  p_tenant_id uuid,
  p_channel text,
  p_provider_message_id text,
  p_status text,
  p_at timestamptz default null,
  p_error_code text default null,
  p_error_message text default null
) returns table (message_id uuid, status text, applied boolean)
language plpgsql volatile
set search_path = ''
as $$
begin
  if p_status is null or p_status not in ('sent', 'delivered', 'read', 'failed') then
    raise exception 'apply_message_status.p_status: must be one of sent, delivered, read, failed (got %)',
      coalesce(quote_literal(p_status), 'null')
      using errcode = '22023';
  end if;
  return query
  with earlier as (
    select m.id, m.status from public.messages m
    where m.tenant_id = p_tenant_id and m.channel = p_channel and m.provider_message_id = p_provider_message_id
    for update
  ), changed as (
    update public.messages m
    set status = p_status,
        sent_at = case when p_status = 'sent' then coalesce(m.sent_at, p_at) else m.sent_at end,
        delivered_at = case when p_status = 'delivered' then coalesce(m.delivered_at, p_at) else m.delivered_at end,
        read_at = case when p_status = 'read' then coalesce(m.read_at, p_at) else m.read_at end,
        failed_at = case when p_status = 'failed' then coalesce(m.failed_at, p_at) else m.failed_at end,
        error_code = case when p_status = 'failed' then coalesce(p_error_code, m.error_code) else m.error_code end,
        error_message = case when p_status = 'failed' then coalesce(p_error_message, m.error_message)
                             else m.error_message end
    from earlier b
    where m.id = b.id
    returning m.id, m.status, b.status as was
  )
  select c.id, c.status, c.status is distinct from c.was from changed c;
end
$$;

revoke all on function public.apply_message_status(uuid, text, text, text, timestamptz, text, text)
  from public, anon, authenticated;
grant execute on function public.apply_message_status(uuid, text, text, text, timestamptz, text, text)
  to service_role;
