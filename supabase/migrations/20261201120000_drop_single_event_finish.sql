-- complete_event and fail_event were one-event wrappers of finish_events that nothing calls: both transports
-- finish events in batches through finish_events. Dropped rather than kept in step with it.
drop function if exists public.complete_event(uuid, text, jsonb);
drop function if exists public.fail_event(uuid, text, text, jsonb, double precision, boolean, double precision);
