-- The sequence events' payloads as the sequence engine publishes them (the catalogue rows existed with shorter
-- descriptions; salesflow/events/types.py and docs/events.md say the same).
update public.event_types set description =
  'A follow-up sequence step is due (delayed with run_after). Payload: enrollment_id, lead_id, sequence_id, step, '
  'version.'
where name = 'sequence.step_due';
update public.event_types set description =
  'A sequence step ran. Payload: enrollment_id, lead_id, sequence_id, step, channel, ai_personalized, message_id, '
  'run_id.'
where name = 'sequence.step_executed';
