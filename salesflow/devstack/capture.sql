-- Change capture for Realtime on a vanilla Postgres (installed by the local stack, never a migration:
-- real Supabase Realtime reads the WAL itself).
--
-- Every table in the publication `supabase_realtime` gets an AFTER row trigger that sends the change on
-- channel `salesflow_realtime` when it commits. A change whose JSON does not fit a NOTIFY payload (8,000
-- bytes) is parked in realtime.dev_changes and only its id travels; the stack reads and deletes it.
-- Rows therefore arrive exactly as they were written, whatever their size.
--
-- realtime.dev_subscriptions mirrors the bindings of the joined channels (kept by the stack, keyed by the
-- pid of its LISTEN connection): a change nobody subscribed to is not serialized or sent at all, the way
-- real Realtime only does work for subscribed tables.

create schema if not exists realtime;
revoke all on schema realtime from public;

create table if not exists realtime.dev_changes (
  id bigserial primary key,
  change jsonb not null,
  created_at timestamptz not null default now()
);
alter table realtime.dev_changes enable row level security;
revoke all on table realtime.dev_changes from public;
do $$
begin
  if not exists (select 1 from pg_policies where schemaname = 'realtime' and tablename = 'dev_changes') then
    create policy "only the local stack reads parked changes" on realtime.dev_changes
      for all to public using (false) with check (false);
  end if;
end
$$;

create table if not exists realtime.dev_subscriptions (
  listener_pid integer not null,
  schema_name text not null,
  table_name text not null,
  event text not null check (event in ('INSERT', 'UPDATE', 'DELETE', '*')),
  primary key (listener_pid, schema_name, table_name, event)
);
alter table realtime.dev_subscriptions enable row level security;
revoke all on table realtime.dev_subscriptions from public;
do $$
begin
  if not exists (select 1 from pg_policies where schemaname = 'realtime' and tablename = 'dev_subscriptions') then
    create policy "only the local stack reads subscriptions" on realtime.dev_subscriptions
      for all to public using (false) with check (false);
  end if;
end
$$;

create or replace function realtime.dev_capture() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  change jsonb;
  payload text;
  parked bigint;
begin
  if not exists (
    select 1 from realtime.dev_subscriptions s
    where s.schema_name in (tg_table_schema, '*') and s.table_name in (tg_table_name, '*')
      and s.event in (tg_op, '*')
  ) then
    return null;
  end if;
  change := jsonb_build_object(
    'schema', tg_table_schema,
    'table', tg_table_name,
    'type', tg_op,
    'commit_timestamp', to_char(now() at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'record', case when tg_op <> 'DELETE' then to_jsonb(new) end,
    'old_record', case when tg_op <> 'INSERT' then to_jsonb(old) end
  );
  payload := change::text;
  if octet_length(payload) > 7900 then
    insert into realtime.dev_changes (change) values (change) returning id into parked;
    payload := jsonb_build_object('parked', parked)::text;
  end if;
  perform pg_notify('salesflow_realtime', payload);
  return null;
end
$$;
revoke all on function realtime.dev_capture() from public;

-- Idempotent: adds the trigger to publication tables that lack it, drops it from tables that left.
create or replace function realtime.dev_install_capture() returns integer
language plpgsql
set search_path = ''
as $$
declare
  t record;
  added integer := 0;
begin
  for t in
    select p.schemaname, p.tablename from pg_publication_tables p
    where p.pubname = 'supabase_realtime'
      and not exists (
        select 1 from pg_trigger g
        join pg_class c on c.oid = g.tgrelid join pg_namespace n on n.oid = c.relnamespace
        where g.tgname = 'zz_realtime_dev_capture' and n.nspname = p.schemaname and c.relname = p.tablename)
  loop
    execute format('create trigger zz_realtime_dev_capture after insert or update or delete on %I.%I '
                   'for each row execute function realtime.dev_capture()', t.schemaname, t.tablename);
    added := added + 1;
  end loop;
  for t in
    select n.nspname as schemaname, c.relname as tablename from pg_trigger g
    join pg_class c on c.oid = g.tgrelid join pg_namespace n on n.oid = c.relnamespace
    where g.tgname = 'zz_realtime_dev_capture'
      and not exists (select 1 from pg_publication_tables p where p.pubname = 'supabase_realtime'
                      and p.schemaname = n.nspname and p.tablename = c.relname)
  loop
    execute format('drop trigger zz_realtime_dev_capture on %I.%I', t.schemaname, t.tablename);
  end loop;
  return added;
end
$$;
revoke all on function realtime.dev_install_capture() from public;
