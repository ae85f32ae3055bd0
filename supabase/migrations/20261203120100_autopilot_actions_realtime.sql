-- The dashboard's Autopilot view learns of a new draft (and of one decided elsewhere) through Realtime
-- postgres_changes on autopilot_actions, as a wake-up only: the view re-reads autopilot_queue. Realtime checks
-- the table's RLS per subscriber ("members read their tenant's autopilot actions"), so a member of another
-- tenant receives nothing of them.
do $$
begin
  if exists (select 1 from pg_publication where pubname = 'supabase_realtime') and not exists (
    select 1 from pg_publication_tables
    where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'autopilot_actions'
  ) then
    alter publication supabase_realtime add table public.autopilot_actions;
  end if;
end
$$;
