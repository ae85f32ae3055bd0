-- The shape every tenant table and every policy keeps, checked over the whole `public` schema so a new table
-- or policy is held to it without anyone remembering to add an assertion.
begin;
select no_plan();

-- Every table with a tenant_id column: tenant_id defaults to the caller's tenant, RLS is on, and there is at
-- least one policy (RLS without a policy refuses every row, which would hide a forgotten grant).
select is(
  (select array_agg(c.relname::text order by c.relname)
   from pg_class c join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
   left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
   where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
     and pg_get_expr(d.adbin, d.adrelid) is distinct from 'private.tenant_id()'),
  null, 'every public table with a tenant_id column defaults it to private.tenant_id()');
select is(
  (select array_agg(c.relname::text order by c.relname)
   from pg_class c join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
   where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and not c.relrowsecurity),
  null, 'every public table with a tenant_id column has row-level security enabled');
select is(
  (select array_agg(c.relname::text order by c.relname)
   from pg_class c join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
   where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
     and not exists (select 1 from pg_policy p where p.polrelid = c.oid)),
  null, 'every public table with a tenant_id column has policies');
-- Not only tenant tables: no table in public is without RLS.
select is(
  (select array_agg(c.relname::text order by c.relname) from pg_class c
   where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and not c.relrowsecurity),
  null, 'every public table has row-level security enabled');

-- Policies evaluate the claim helpers once per statement: every call of a private.* or auth.* function in a
-- policy is a scalar subquery `(select f())` (an initPlan), never a per-row call (Supabase's
-- `auth_rls_initplan`).
select is(
  (select array_agg(format('%s: %s', tablename, policyname) order by tablename, policyname)
   from pg_policies
   where schemaname = 'public'
     and regexp_replace(coalesce(qual, '') || ' ' || coalesce(with_check, ''),
                        '\(\s*SELECT\s+(private|auth)\.[a-z_]+\(\)\s+AS\s+[a-z_]+\)', '', 'g')
         ~ '(private|auth)\.[a-z_]+\('),
  null, 'no policy calls private.* or auth.* per row');

-- One permissive policy per table, role and action (Supabase's `multiple_permissive_policies`): FOR ALL
-- counts for select, insert, update and delete.
select is(
  (select array_agg(format('%s %s %s: %s', tablename, role, action, policies) order by tablename, role, action)
   from (
     select p.tablename, r.role, a.action, string_agg(p.policyname, ' + ' order by p.policyname) as policies
     from pg_policies p
     cross join lateral unnest(p.roles) as r(role)
     cross join lateral unnest(case when p.cmd = 'ALL' then array['SELECT', 'INSERT', 'UPDATE', 'DELETE']
                                    else array[p.cmd] end) as a(action)
     where p.schemaname = 'public' and p.permissive = 'PERMISSIVE'
     group by 1, 2, 3
     having count(*) > 1
   ) doubled),
  null, 'no table has two permissive policies for one role and action');

-- Every foreign key has an index on its referencing columns (Supabase's `unindexed_foreign_keys`).
select is(
  (select array_agg(format('%s.%s', c.conrelid::regclass, c.conname) order by 1)
   from pg_constraint c
   where c.contype = 'f' and c.connamespace = 'public'::regnamespace
     and not exists (
       select 1 from pg_index i
       where i.indrelid = c.conrelid
         and (i.indkey::int2[])[0:array_length(c.conkey, 1) - 1] @> c.conkey
         and (i.indkey::int2[])[0:array_length(c.conkey, 1) - 1] <@ c.conkey)),
  null, 'every foreign key in public has an index leading with its columns');
select has_index('public', 'leads', 'leads_owner_idx', array['owner_id'], 'leads.owner_id is indexed');

-- The outbox wakes listeners once per statement with a constant payload (the listener ignores it): no row
-- trigger on events notifies its channel, one statement trigger does.
select is(
  (select array_agg(format('%s %s', t.tgname, case when t.tgtype & 1 = 1 then 'per row' else 'per statement' end)
                    order by t.tgname)
   from pg_trigger t join pg_proc f on f.oid = t.tgfoid
   where t.tgrelid = 'public.events'::regclass and not t.tgisinternal and f.prosrc ~ 'salesflow_events'),
  array['events_notify per statement'], 'the outbox NOTIFYs salesflow_events once per statement');

select * from finish();
rollback;
