-- Meetings: `meeting.booked` and the call that records one.
--
-- public.record_meeting(p_lead_id, p_starts_at, p_held, p_meeting_id, p_booked_at) is for members (the
-- browser, with the user's token) and service code alike: the tenant is the token's (a member) or the lead's
-- (service_role), the lead must be that tenant's, and the call publishes `meeting.booked`; the analytics
-- handler turns the event into a row of analytics_meetings (stages meeting_scheduled / meeting_completed).
-- Calling it again with the same p_meeting_id and p_held = true records that the meeting took place.
-- Returns the meeting id.

insert into public.event_types (name, description) values
  ('meeting.booked', 'A meeting with a lead was booked, or recorded as held. Payload: meeting_id, lead_id, '
                     'starts_at, booked_at, held_at, booked_by.')
on conflict (name) do update set description = excluded.description;

create or replace function public.record_meeting(
  p_lead_id uuid,
  p_starts_at timestamptz,
  p_held boolean default false,
  p_meeting_id uuid default null,
  p_booked_at timestamptz default null
) returns uuid
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  caller_tenant uuid := private.tenant_id();
  lead_tenant uuid;
  meeting uuid := coalesce(p_meeting_id, gen_random_uuid());
  -- service code (the service-role key), or a direct database session without request claims (the CLI)
  is_service boolean := coalesce(private.jwt_claims() ->> 'role', 'service_role') = 'service_role';
begin
  if p_lead_id is null then
    raise exception 'record_meeting.p_lead_id: a lead is required' using errcode = '22023';
  end if;
  if p_held and p_starts_at > now() then
    raise exception 'record_meeting.p_held: a meeting that starts in the future cannot have been held'
      using errcode = '22023';
  end if;
  if p_starts_at is null then
    raise exception 'record_meeting.p_starts_at: when the meeting starts is required' using errcode = '22023';
  end if;
  if caller_tenant is null and not is_service then
    raise exception 'record_meeting: sign in as a member of a tenant' using errcode = '42501';
  end if;
  select l.tenant_id into lead_tenant from public.leads l
  where l.id = p_lead_id and (caller_tenant is null or l.tenant_id = caller_tenant);
  if lead_tenant is null then
    raise exception 'record_meeting.p_lead_id: there is no lead % in this tenant', p_lead_id
      using errcode = '23503', hint = 'name a lead of the tenant you are signed in to';
  end if;
  perform private.emit_event(lead_tenant, 'meeting.booked',
    jsonb_build_object('meeting_id', meeting, 'lead_id', p_lead_id, 'starts_at', p_starts_at,
                       'booked_at', coalesce(p_booked_at, now()),
                       'held_at', case when p_held then p_starts_at end,
                       'booked_by', auth.uid()),
    p_lead_id::text, 'rpc');
  return meeting;
end
$$;

revoke all on function public.record_meeting(uuid, timestamptz, boolean, uuid, timestamptz) from public, anon;
grant execute on function public.record_meeting(uuid, timestamptz, boolean, uuid, timestamptz)
  to authenticated, service_role;

comment on function public.record_meeting(uuid, timestamptz, boolean, uuid, timestamptz) is
  'Record a meeting booked with a lead of the caller''s tenant (held: p_held); publishes meeting.booked.';
