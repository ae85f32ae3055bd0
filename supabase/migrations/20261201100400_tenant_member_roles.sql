-- Who may grant, change and revoke which role in a tenant, and that a tenant always keeps an owner.
--
-- The policies on tenant_members only say that owners and admins manage their own tenant's memberships;
-- with them alone an admin could make themselves owner, demote or remove the owner, or remove the last one.
-- The rules, enforced here for everyone RLS binds (members signed in through the API):
--   * only an owner grants or revokes the roles `owner` and `admin` (an admin manages plain members only);
--   * nobody changes their own role or removes their own membership (another owner does);
--   * a membership stays the same user's in the same tenant (remove it and add a new one instead).
-- And for everyone, service code and the database owner included:
--   * a tenant always keeps at least one owner; removing the last one is refused unless the tenant itself
--     is being deleted. A hand-over in one transaction may `set constraints tenant_members_keep_an_owner
--     deferred` to remove the old owner before adding the new one.
-- Each refusal names its rule (SQLSTATE 42501 for a missing right, 23514 for the last owner).

create or replace function private.tenant_members_check_roles() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  bound_by_rls boolean;
  actor uuid := auth.uid();
  actor_role text;
  old_role text;
  new_role text;
begin
  -- Service code (service_role bypasses RLS) and the database owner are trusted with roles; only the last
  -- owner rule below binds them.
  select not (r.rolsuper or r.rolbypassrls) into bound_by_rls from pg_catalog.pg_roles r
   where r.rolname = current_user;
  if not coalesce(bound_by_rls, true) then
    return case when tg_op = 'DELETE' then old else new end;
  end if;

  actor_role := private.tenant_role();  -- the caller's role in the tenant of their token (RLS kept it that one)

  if tg_op = 'UPDATE' and (new.tenant_id is distinct from old.tenant_id or new.user_id is distinct from old.user_id) then
    raise exception 'tenant_members: a membership cannot move to another user or tenant (remove it and add a new one)'
      using errcode = '42501', column = case when new.user_id is distinct from old.user_id then 'user_id' else 'tenant_id' end;
  end if;

  if tg_op <> 'INSERT' and old.user_id = actor then
    if tg_op = 'DELETE' then
      raise exception 'tenant_members: nobody can remove their own membership (another owner does)'
        using errcode = '42501';
    elsif new.role is distinct from old.role then
      raise exception 'tenant_members.role: nobody can change their own role (another owner does)'
        using errcode = '42501', column = 'role';
    end if;
  end if;

  old_role := case when tg_op <> 'INSERT' then old.role end;
  new_role := case when tg_op <> 'DELETE' then new.role end;
  if old_role is not distinct from new_role or actor_role = 'owner' then
    return case when tg_op = 'DELETE' then old else new end;
  end if;
  -- The caller is an admin (a plain member is stopped by the policies): plain members only.
  if new_role in ('owner', 'admin') then
    raise exception 'tenant_members.role: only an owner can grant the % role', new_role
      using errcode = '42501', column = 'role', hint = 'an admin grants and revokes the role member only';
  end if;
  if old_role in ('owner', 'admin') then
    raise exception 'tenant_members.role: only an owner can revoke the % role', old_role
      using errcode = '42501', column = 'role', hint = 'an admin grants and revokes the role member only';
  end if;
  return case when tg_op = 'DELETE' then old else new end;
end
$$;
revoke execute on function private.tenant_members_check_roles() from public, anon, authenticated;

drop trigger if exists tenant_members_check_roles on public.tenant_members;
create trigger tenant_members_check_roles before insert or update or delete on public.tenant_members
  for each row execute function private.tenant_members_check_roles();

-- After the change: does the tenant still have an owner? Security definer, because the caller's RLS view of
-- tenant_members is not the whole tenant when they act for another one, and service code must be bound too.
create or replace function private.tenant_members_keep_an_owner() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if old.role <> 'owner' or (tg_op = 'UPDATE' and new.role = 'owner' and new.tenant_id = old.tenant_id) then
    return null;
  end if;
  -- Serialise owner removals per tenant: two owners demoting each other at once must not both succeed.
  -- NO KEY UPDATE does not conflict with the KEY SHARE locks that foreign key checks take.
  perform 1 from public.tenants t where t.id = old.tenant_id for no key update;
  if not found then
    return null;  -- the tenant itself is being deleted (its memberships go with it)
  end if;
  if not exists (select 1 from public.tenant_members m where m.tenant_id = old.tenant_id and m.role = 'owner') then
    raise exception 'tenant_members: a tenant always keeps at least one owner (make another member owner first)'
      using errcode = '23514', column = 'role';
  end if;
  return null;
end
$$;
revoke execute on function private.tenant_members_keep_an_owner() from public, anon, authenticated;

drop trigger if exists tenant_members_keep_an_owner on public.tenant_members;
create constraint trigger tenant_members_keep_an_owner after update or delete on public.tenant_members
  deferrable initially immediate
  for each row execute function private.tenant_members_keep_an_owner();
