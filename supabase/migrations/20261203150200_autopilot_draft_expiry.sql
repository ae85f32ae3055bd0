-- Drafts expire on their own: a draft waiting for a person past expires_at becomes `expired`, not only when
-- someone tries to decide it (autopilot_decide marked it then, and the approval queue hid it). Every draft
-- that is queued for approval publishes autopilot.draft_expiry, delayed until its expires_at (run_after); the
-- handler (salesflow/handlers/autopilot.py, autopilot.expire_draft) marks it expired if it is still waiting.
-- An expired draft never sends: autopilot_decide refuses it (only a draft waiting for approval is decided), and
-- the messages trigger (20261202190200) refuses an autopilot message of an action past expires_at whoever
-- inserts it. Ordering key autopilot:<action id>. The payload names no lead: the event is the draft's timer, not
-- something that happened to the lead (followers of a lead's events, like the demo, do not wait for it).

insert into public.event_types (name, description) values
  ('autopilot.draft_expiry', 'An autopilot draft''s time to be approved ran out (delayed with run_after = '
                             'expires_at). Payload: action_id, expires_at.')
on conflict (name) do update set description = excluded.description;

create or replace function private.autopilot_actions_schedule_expiry() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform private.emit_event(new.tenant_id, 'autopilot.draft_expiry',
    jsonb_build_object('action_id', new.id, 'expires_at', new.expires_at),
    'autopilot:' || new.id::text, 'db', new.expires_at, null, null, 5);
  return null;
end
$$;
revoke all on function private.autopilot_actions_schedule_expiry() from public, anon, authenticated;

drop trigger if exists autopilot_actions_schedule_expiry on public.autopilot_actions;
create trigger autopilot_actions_schedule_expiry after insert on public.autopilot_actions
  for each row when (new.status = 'queued_for_approval') execute function private.autopilot_actions_schedule_expiry();
drop trigger if exists autopilot_actions_schedule_expiry_update on public.autopilot_actions;
create trigger autopilot_actions_schedule_expiry_update after update of status, expires_at on public.autopilot_actions
  for each row when (new.status = 'queued_for_approval'
                     and (old.status is distinct from new.status or old.expires_at is distinct from new.expires_at))
  execute function private.autopilot_actions_schedule_expiry();
