-- A lead who opted out of a channel is never sent to on it, whoever sends: an outbound message inserted as or
-- moved to `queued` or `sending` while the lead's consent for that channel says opted_out is refused here,
-- for members, service code (service_role) and the database owner alike. The message names the consent
-- record (id, channel, when, how), so whoever meets it can tell the person why. Checking at `sending` too
-- catches an opt-out that arrived while the message waited in the queue.
--
-- And the moment a lead opts out, their queued messages on that channel fail (error_code `opted_out`, the
-- consent named), so no send job keeps retrying them. A message already `sending` is in the provider's hands
-- and keeps its course. A new opt-in (status opted_in) lifts the refusal for messages queued afterwards.

create or replace function private.messages_respect_opt_outs() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  refusal record;
begin
  if new.direction <> 'out' or new.status not in ('queued', 'sending') then
    return new;
  end if;
  select c.id, c.channel, c.changed_at, c.method into refusal
  from public.consents c
  where c.tenant_id = new.tenant_id and c.lead_id = new.lead_id and c.channel = new.channel
    and c.status = 'opted_out';
  if found then
    raise exception 'messages: lead % opted out of % (consent %, opted out at % by %): nothing is sent to them on %',
      new.lead_id, refusal.channel, refusal.id, refusal.changed_at, refusal.method, refusal.channel
      using errcode = '23514', constraint = 'messages_respect_opt_outs',
            hint = 'only a new opt-in (the consent''s status opted_in) lets messages be sent on this channel again';
  end if;
  return new;
end
$$;
revoke all on function private.messages_respect_opt_outs() from public, anon, authenticated;

drop trigger if exists messages_respect_opt_outs on public.messages;
create trigger messages_respect_opt_outs before insert or update of status on public.messages
  for each row execute function private.messages_respect_opt_outs();

create or replace function private.consents_stop_queued_sends() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  update public.messages m
  set status = 'failed',
      error_code = 'opted_out',
      error_message = format('lead opted out of %s (consent %s, opted out at %s by %s)',
                             new.channel, new.id, new.changed_at, new.method)
  where m.tenant_id = new.tenant_id and m.lead_id = new.lead_id and m.channel = new.channel
    and m.direction = 'out' and m.status = 'queued';
  return null;
end
$$;
revoke all on function private.consents_stop_queued_sends() from public, anon, authenticated;

drop trigger if exists consents_stop_queued_sends on public.consents;
create trigger consents_stop_queued_sends after insert or update of status on public.consents
  for each row when (new.status = 'opted_out') execute function private.consents_stop_queued_sends();
