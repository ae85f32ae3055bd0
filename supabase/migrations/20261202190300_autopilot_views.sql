-- What the dashboard reads about the autopilot, as the member (security_invoker: RLS of autopilot_actions):
-- autopilot_queue            drafts waiting for a person and not yet expired, oldest first (a draft past
--                            expires_at stays queued_for_approval in the table until someone decides it, when
--                            autopilot_decide marks it expired; here it is already gone)
-- autopilot_prompt_feedback  per scenario and prompt version: drafts, automatic sends, approvals, edits (with
--                            the mean edit distance), rejections, expiries and AI failures

create or replace view public.autopilot_queue with (security_invoker = true) as
  select a.id, a.tenant_id, a.lead_id, a.conversation_id, a.trigger_message_id, a.channel, a.mode, a.scenario,
         a.prompt_version, a.draft, a.confidence, a.reasons, a.guards, a.cost_usd, a.expires_at, a.created_at
  from public.autopilot_actions a
  where a.status = 'queued_for_approval' and a.expires_at > now();

create or replace view public.autopilot_prompt_feedback with (security_invoker = true) as
  select a.tenant_id, a.scenario, a.prompt_version,
         count(*) as actions,
         count(*) filter (where a.status = 'sent' and a.verdict is null) as sent_automatically,
         count(*) filter (where a.verdict = 'approved') as approved,
         count(*) filter (where a.verdict = 'edited') as edited,
         count(*) filter (where a.verdict = 'rejected') as rejected,
         count(*) filter (where a.status = 'expired'
                          or (a.status = 'queued_for_approval' and a.expires_at <= now())) as expired,
         count(*) filter (where a.status = 'failed') as failed,
         round(avg(a.edit_distance) filter (where a.verdict = 'edited'), 1) as mean_edit_distance,
         sum(a.cost_usd) as cost_usd
  from public.autopilot_actions a
  group by a.tenant_id, a.scenario, a.prompt_version;

revoke all on public.autopilot_queue, public.autopilot_prompt_feedback from anon, authenticated;
grant select on public.autopilot_queue, public.autopilot_prompt_feedback to authenticated;
grant all on public.autopilot_queue, public.autopilot_prompt_feedback to service_role;
