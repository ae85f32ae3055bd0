-- Undoing an identity link (a wrong match: two people sharing a phone, an old email address): the identity
-- goes back to the lead it had before the link, or, for a link made at ingest (there was none), to a new lead
-- of its own (named by the identity's profile name or address, source_channel its channel: what Zero-Input
-- would have made). The conversation the link started goes with it, messages included (they came from this
-- identity); a conversation the lead had before stays. The link row keeps the history: undone_at,
-- undone_by_user_id, undone_to_lead_id. Undoing twice is a no-op that answers the same lead.
--
-- Who: a member of the link's tenant (any role: whoever reads the inbox can tell a wrong match), or service
-- code. Returns the lead the identity now belongs to.

create or replace function public.undo_identity_link(p_link_id uuid)
returns uuid
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  v_link public.identity_links%rowtype;
  v_identity public.channel_identities%rowtype;
  v_target uuid;
  v_existing uuid;
begin
  select * into v_link from public.identity_links k where k.id = p_link_id for update;
  if not found or (coalesce(auth.role(), '') <> 'service_role'
                   and v_link.tenant_id is distinct from (select private.tenant_id())) then
    raise exception 'undo_identity_link.p_link_id: there is no identity link % in your tenant', p_link_id
      using errcode = 'P0002';
  end if;
  if v_link.undone_at is not null then
    return v_link.undone_to_lead_id;
  end if;

  select * into v_identity from public.channel_identities i where i.id = v_link.identity_id for update;
  if v_identity.lead_id is distinct from v_link.lead_id then
    raise exception 'undo_identity_link: identity % has moved to lead % since this link; undo the later link first',
      v_identity.id, v_identity.lead_id
      using errcode = '55000';
  end if;

  v_target := v_link.previous_lead_id;
  if v_target is null then
    insert into public.leads (tenant_id, owner_id, name, source, source_channel, phone, whatsapp, email)
    values (v_link.tenant_id, null, coalesce(v_identity.display_name, v_identity.address),
            'inbound_' || v_identity.channel, v_identity.channel,
            case when v_identity.channel = 'sms' then v_identity.address end,
            case when v_identity.channel = 'whatsapp' then v_identity.address end,
            case when v_identity.channel = 'email' then v_identity.address end)
    returning id into v_target;
  end if;

  update public.channel_identities i set lead_id = v_target where i.id = v_identity.id;

  if v_link.conversation_id is not null then
    select c.id into v_existing
    from public.conversations c
    where c.tenant_id = v_link.tenant_id and c.lead_id = v_target and c.channel = v_identity.channel;
    if v_existing is null then
      -- messages follow by the cascading composite key
      update public.conversations c set lead_id = v_target
      where c.id = v_link.conversation_id and c.lead_id = v_link.lead_id;
    else
      update public.messages m set conversation_id = v_existing, lead_id = v_target
      where m.conversation_id = v_link.conversation_id and m.tenant_id = v_link.tenant_id;
    end if;
  end if;

  update public.identity_links k
  set undone_at = now(), undone_by_user_id = auth.uid(), undone_to_lead_id = v_target
  where k.id = v_link.id;
  return v_target;
end
$$;

comment on function public.undo_identity_link(uuid) is
  'Undo an identity link: the identity (and the conversation the link started) goes back to its previous lead or '
  'to a new lead of its own; recorded on the link. Members of the tenant and service code.';

revoke all on function public.undo_identity_link(uuid) from public, anon;
grant execute on function public.undo_identity_link(uuid) to authenticated, service_role;
