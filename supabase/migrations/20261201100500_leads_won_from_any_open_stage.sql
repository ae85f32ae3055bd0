-- A deal closes won from any open stage, as the leads migration's comment always said.
--
-- The transition list allowed won only after negotiation, so a buyer who signs right after the proposal (or
-- an inbound order on first contact) had to be walked through stages that never happened, which falsifies
-- the pipeline history and every stage-conversion report built on it. CRMs that sales teams use (HubSpot,
-- Pipedrive) close a deal won from whatever stage it is in; this one does too. Everything else stays:
-- forward one stage at a time, any open stage to lost, lost back to new. Mirrored by salesflow/leads.py.

create or replace function private.lead_status_transition_allowed(old_status text, new_status text)
returns boolean
language sql immutable
set search_path = ''
as $$
  select old_status = new_status or (old_status, new_status) in (
    ('new', 'contacted'), ('contacted', 'qualified'), ('qualified', 'proposal'), ('proposal', 'negotiation'),
    ('new', 'won'), ('contacted', 'won'), ('qualified', 'won'), ('proposal', 'won'), ('negotiation', 'won'),
    ('new', 'lost'), ('contacted', 'lost'), ('qualified', 'lost'), ('proposal', 'lost'), ('negotiation', 'lost'),
    ('lost', 'new')
  )
$$;

-- The refusal's hint lists the rule as it now is.
create or replace function private.leads_before_write() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'UPDATE' then
    if new.tenant_id is distinct from old.tenant_id then
      raise exception 'leads.tenant_id cannot change (a lead stays in its tenant)'
        using errcode = '23514', column = 'tenant_id';
    end if;
    if not private.lead_status_transition_allowed(old.status, new.status) then
      raise exception 'leads.status cannot move from % to %', old.status, new.status
        using errcode = '23514', column = 'status',
              hint = 'allowed: new → contacted → qualified → proposal → negotiation one stage at a time; any open stage → won or lost; lost → new';
    end if;
    new.updated_at := now();
  end if;
  if new.email is not null then
    new.email := btrim(new.email);
  end if;
  return new;
end
$$;

comment on function private.lead_status_transition_allowed(text, text) is
  'The pipeline: forward one stage at a time (new, contacted, qualified, proposal, negotiation), won or lost '
  'from any open stage, lost back to new. Mirrored by salesflow/leads.py STATUS_TRANSITIONS.';
