-- The last-owner check holds under REPEATABLE READ and SERIALIZABLE too.
--
-- 20261201100400_tenant_member_roles.sql serialised owner removals by locking the tenant row, which is
-- enough under READ COMMITTED (the check's query then sees the other transaction's committed demotion). A
-- REPEATABLE READ transaction keeps its snapshot after the lock wait, so two owners demoting each other at
-- once both saw the other still an owner and both committed: no owner left. Writing the tenant row instead
-- of only locking it makes the second transaction fail with a serialization error under REPEATABLE READ or
-- SERIALIZABLE (its client retries, and the retry sees the truth); READ COMMITTED waits as before. The
-- write changes nothing (same id, a non-key update) and happens only when an owner is demoted or removed.

create or replace function private.tenant_members_keep_an_owner() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if old.role <> 'owner' or (tg_op = 'UPDATE' and new.role = 'owner' and new.tenant_id = old.tenant_id) then
    return null;
  end if;
  update public.tenants t set id = t.id where t.id = old.tenant_id;
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
