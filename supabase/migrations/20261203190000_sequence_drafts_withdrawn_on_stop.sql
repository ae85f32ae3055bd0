-- A sequence step's draft waits in the approval queue while its enrollment is paused for it
-- (20261203180000). When that enrollment stops or completes meanwhile (the lead replied, opted out, was won or
-- lost, the sequence was archived), the draft is withdrawn: it becomes `expired` with the reason, so nobody can
-- approve a follow-up written for a conversation that has moved on (autopilot_decide refuses an expired draft,
-- and so does the messages trigger), and the run is recorded skipped by sequence_draft_decided.
create or replace function private.sequence_drafts_withdrawn() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  update public.autopilot_actions a
     set status = 'expired',
         reasons = a.reasons || array['withdrawn: the enrollment ' ||
                                      case when new.state = 'stopped' then 'stopped (' || new.stop_reason || ')'
                                           else 'completed' end]
   where a.tenant_id = new.tenant_id and a.status = 'queued_for_approval'
     and a.id in (select r.autopilot_action_id from public.sequence_step_runs r
                  where r.enrollment_id = new.id and r.tenant_id = new.tenant_id and r.status = 'drafted'
                    and r.autopilot_action_id is not null);
  return null;
end
$$;
revoke all on function private.sequence_drafts_withdrawn() from public, anon, authenticated;

drop trigger if exists sequence_drafts_withdrawn on public.sequence_enrollments;
create trigger sequence_drafts_withdrawn after update of state on public.sequence_enrollments
  for each row when (new.state in ('stopped', 'completed') and old.state in ('active', 'paused'))
  execute function private.sequence_drafts_withdrawn();
