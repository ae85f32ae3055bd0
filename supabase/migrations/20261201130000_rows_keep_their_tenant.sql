-- A row never moves to another tenant, whoever writes it.
--
-- Members cannot move rows (RLS `using` and `with check` both name their tenant), but service code runs as
-- service_role, which bypasses RLS. A service-role upsert that merges (`on conflict … do update set …`, what
-- PostgREST's `resolution=merge-duplicates` sends, tenant_id among the columns) would take over another
-- tenant's row whose key it happens to match. PostgREST cannot add `where t.tenant_id = excluded.tenant_id`
-- to its `do update`, and looking first then upserting leaves a window between the two. This trigger refuses
-- the move in the statement itself: a handler's upsert onto a foreign row fails atomically (SQLSTATE 42501),
-- however it races, on both transports.
--
-- Named `a_row_keeps_its_tenant` because row triggers fire in name order: it comes before a table's own
-- before-write triggers (leads_before_write refuses the same move as a check violation), so the refusal is
-- the same on every table, 42501, which both transports hand to a handler as PermissionError.
--
-- `before update of tenant_id`: only statements that set tenant_id pay for the check (the engine's updates
-- of events never do). tenant_members is left out: its key contains tenant_id, so no upsert can conflict
-- across tenants, and its own trigger (tenant_members_check_roles) refuses moves with its own message.

create or replace function private.refuse_tenant_move() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  -- The other tenant's id is not named: the writer has no business knowing whose row it is.
  raise exception '%: the row with this key belongs to another tenant (a row never moves to another tenant)',
    tg_table_name
    using errcode = '42501', column = 'tenant_id',
          hint = 'write rows of your own tenant only; an upsert whose conflict key matches another tenant''s row is refused';
end
$$;

revoke all on function private.refuse_tenant_move() from public;

do $$
declare
  t record;
begin
  for t in
    select c.table_name
    from information_schema.columns c
    join information_schema.tables tb on tb.table_schema = c.table_schema and tb.table_name = c.table_name
    where c.table_schema = 'public' and c.column_name = 'tenant_id' and tb.table_type = 'BASE TABLE'
      and c.table_name <> 'tenant_members'
  loop
    execute format('drop trigger if exists a_row_keeps_its_tenant on public.%I', t.table_name);
    execute format(
      'create trigger a_row_keeps_its_tenant before update of tenant_id on public.%I for each row '
      'when (old.tenant_id is distinct from new.tenant_id) execute function private.refuse_tenant_move()',
      t.table_name);
  end loop;
end
$$;
