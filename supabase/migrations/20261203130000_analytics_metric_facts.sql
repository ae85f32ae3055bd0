-- The facts the sales metrics need (docs/analytics.md, "Sales metrics") beyond those of the funnel and
-- attribution, kept where the reports can read them without scanning raw rows:
--
--   analytics_touchpoints.auto_reply   an inbound message that is an automatic answer (out of office,
--                                      "Abwesenheitsnotiz", Auto-Submitted ...): private.is_auto_reply, the SQL
--                                      twin of salesflow/sequences/autoreply.py, set when the touchpoint is written
--                                      (the handler's and the rebuild's alike) from the message row.
--   replies (no column: a rule over the touches) an outbound message is replied when the lead's next inbound
--                                      message that is not an auto-reply comes after it and at or before the
--                                      lead's next outbound message. private.analytics_replied_sql is that rule
--                                      over any set of touches (a window count, no per-pair search).
--
-- New rollup kinds in analytics_daily_rollups (maintained by triggers in the writer's transaction, standing
-- aside in a rebuild, which recomputes them with the rest through private.analytics_rollups_recomputed):
--   step_sends    outbound touches of a sequence step: channel, direction out, actor, dimension = step id
--   replies       outbound touches that got a reply, on the day of the SEND: channel, actor, dimension = step
--                 id ('' outside sequences)
--   auto_replies  inbound auto-replies: channel
--   deals_lost    deals closed lost (analytics_deal_outcomes): currency, count, amount = value
--   autopilot     autopilot actions by what became of them (dimension: automatic | approved | edited |
--                 rejected | expired | failed | pending), on the day the action was created: channel, count,
--                 amount = the sum of the edit distances

-- The SQL twin of salesflow.sequences.autoreply.is_auto_reply (tests/analytics/test_metrics_facts.py checks both
-- give the same answers).
create or replace function private.is_auto_reply(p_body text, p_detail jsonb) returns boolean
language plpgsql immutable
set search_path = ''
as $$
declare
  headers jsonb := '{}'::jsonb;
  submitted text;
  pattern constant text :=
    'out[ -]of[ -](the[ -])?office|automatic reply|auto[- ]?reply|autoresponder|i am (currently )?away|'
    'i''m (currently )?(away|out of)|on (annual )?(leave|vacation|holiday) until|'
    'abwesenheitsnotiz|automatische antwort|nicht im büro|au(ß|ss)er haus|'
    'bin (ab dem|bis zum|bis) .{0,40}(wieder|nicht) (erreichbar|im büro|da)|derzeit nicht erreichbar|'
    'im urlaub|in urlaub';
begin
  p_detail := coalesce(p_detail, '{}'::jsonb);
  if jsonb_typeof(p_detail) <> 'object' then
    p_detail := '{}'::jsonb;
  end if;
  if jsonb_typeof(p_detail -> 'headers') = 'object' then
    select coalesce(jsonb_object_agg(lower(h.key), h.value #>> '{}'), '{}'::jsonb) into headers
    from jsonb_each(p_detail -> 'headers') h;
  end if;
  if p_detail -> 'auto-submitted' is not null and jsonb_typeof(p_detail -> 'auto-submitted') <> 'null' then
    headers := headers || jsonb_build_object('auto-submitted', p_detail ->> 'auto-submitted');
  end if;
  if p_detail -> 'auto_submitted' is not null and jsonb_typeof(p_detail -> 'auto_submitted') <> 'null' then
    headers := headers || jsonb_build_object('auto-submitted', p_detail ->> 'auto_submitted');
  end if;
  submitted := lower(btrim(coalesce(headers ->> 'auto-submitted', '')));
  if submitted <> '' and submitted <> 'no' then
    return true;
  end if;
  if headers ?| array['x-autoreply', 'x-autorespond', 'x-auto-response-suppress'] then
    return true;
  end if;
  if lower(btrim(coalesce(headers ->> 'precedence', ''))) in ('auto_reply', 'bulk', 'junk') then
    return true;
  end if;
  return coalesce(p_detail ->> 'subject', '') ~* pattern or left(coalesce(p_body, ''), 2000) ~* pattern;
end
$$;

alter table public.analytics_touchpoints add column if not exists auto_reply boolean not null default false;

-- The auto-reply flag, from the message (both the handler's analytics_record and the rebuild insert here).
create or replace function private.analytics_touch_auto_reply() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  flag boolean;
begin
  if new.direction = 'in' then
    select private.is_auto_reply(m.body, m.provider_detail) into flag
    from public.messages m where m.id = new.message_id and m.tenant_id = new.tenant_id;
    new.auto_reply := coalesce(flag, false);
  end if;
  return new;
end
$$;

drop trigger if exists analytics_touch_auto_reply on public.analytics_touchpoints;
create trigger analytics_touch_auto_reply before insert on public.analytics_touchpoints
  for each row when (new.direction = 'in') execute function private.analytics_touch_auto_reply();

-- The replied outbound touches among the touches a query returns (columns tenant_id, lead_id, message_id,
-- occurred_at, channel, direction, actor, step_id, auto_reply): per lead, in time order (at one instant inbound
-- first), g counts the outbound touches so far; an inbound non-auto-reply touch with g = k replies to the k-th.
create or replace function private.analytics_replied_sql(p_touches text) returns text
language sql immutable
set search_path = ''
as $$
  select format(
    'with s as ('
    '  select t.tenant_id, t.lead_id, t.occurred_at, t.channel, t.actor, t.step_id, t.direction, t.auto_reply,'
    '         count(*) filter (where t.direction = ''out'') over (partition by t.lead_id'
    '           order by t.occurred_at, t.direction, t.message_id) as g'
    '  from (%s) t) '
    'select s.tenant_id, s.occurred_at, s.channel, s.actor, s.step_id from s '
    'join (select distinct i.lead_id, i.g from s i where i.direction = ''in'' and not i.auto_reply and i.g > 0) r '
    'on r.lead_id = s.lead_id and r.g = s.g where s.direction = ''out''', p_touches)
$$;

alter table public.analytics_daily_rollups drop constraint if exists analytics_daily_rollups_metric_allowed;
alter table public.analytics_daily_rollups add constraint analytics_daily_rollups_metric_allowed check (metric in
  ('touchpoints', 'stage_entries', 'meetings_booked', 'deals_won', 'ai_cost', 'step_sends', 'replies',
   'auto_replies', 'deals_lost', 'autopilot'));

-- A statement wrote touchpoints (per statement, with transition tables `added` / `removed`, as the facts'
-- triggers of 20261203140000, whose helpers it uses at run time: analytics_signed_rows, analytics_apply_sql,
-- analytics_drop_zeros): the rollup deltas of step sends and auto-replies (+ the new rows, − the old ones) and of
-- replies: for the leads the statement touched, the replied sends among their touches now minus those among
-- their touches before the statement (now without the added rows, with the removed ones). A late or
-- out-of-order message thus moves a reply to the right send, a deleted one gives it back. Not in a rebuild
-- (which recomputes the rollups).
create or replace function private.analytics_touch_metrics_changed() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  rows_ text := private.analytics_signed_rows(tg_op);
  cols constant text := 't.id, t.tenant_id, t.lead_id, t.message_id, t.occurred_at, t.channel, t.direction, t.actor, '
                        't.step_id, t.auto_reply';
  leads_ text;
  now_ text;
  before_ text;
  zero_tenants uuid[];
  zero_days date[];
begin
  if private.analytics_in_bulk() then
    return null;
  end if;
  leads_ := format('select distinct s.tenant_id, s.lead_id from (%s) s', rows_);
  now_ := format('select %s from public.analytics_touchpoints t where (t.tenant_id, t.lead_id) in (%s)', cols, leads_);
  before_ := case tg_op
    when 'INSERT' then format('%s and not exists (select 1 from added a where a.id = t.id)', now_)
    when 'DELETE' then format('%s union all select %s from removed t', now_, cols)
    else format('%s and not exists (select 1 from added a where a.id = t.id) union all select %s from removed t', now_, cols)
  end;
  execute private.analytics_apply_sql(format(
    'with s as (%s), z as (select distinct s.tenant_id, private.analytics_tenant_timezone(s.tenant_id) as zone from s) '
    'select s.tenant_id, (s.occurred_at at time zone z.zone)::date as day, s.metric, s.channel::text as channel, '
    's.direction, s.actor, s.dimension, null as currency, s.sign_ as count, 0 as amount '
    'from s join z on z.tenant_id = s.tenant_id',
    format('select r.tenant_id, r.occurred_at, k.metric, r.channel, k.direction, k.actor, k.dimension, r.sign_ '
           'from (%s) r, lateral (values '
           '(''step_sends'', ''out'', r.actor, r.step_id::text, r.direction = ''out'' and r.step_id is not null), '
           '(''auto_replies'', ''in'', ''lead'', '''', r.direction = ''in'' and r.auto_reply)) '
           'as k(metric, direction, actor, dimension, counts) where k.counts '
           'union all select n.tenant_id, n.occurred_at, ''replies'', n.channel, ''out'', n.actor, '
           'coalesce(n.step_id::text, ''''), 1 from (%s) n '
           'union all select b.tenant_id, b.occurred_at, ''replies'', b.channel, ''out'', b.actor, '
           'coalesce(b.step_id::text, ''''), -1 from (%s) b',
           rows_, private.analytics_replied_sql(now_), private.analytics_replied_sql(before_))))
    into zero_tenants, zero_days;
  perform private.analytics_drop_zeros(zero_tenants, zero_days);
  return null;
end
$$;

-- Deals lost, by the day they closed and their currency.
create or replace function private.analytics_deal_lost_changed() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  sign_ integer;
  r record;
begin
  if private.analytics_in_bulk() then
    return null;
  end if;
  foreach sign_ in array array[-1, 1] loop
    if (sign_ = -1 and tg_op = 'INSERT') or (sign_ = 1 and tg_op = 'DELETE') then
      continue;
    end if;
    if sign_ = -1 then r := old; else r := new; end if;
    if r.outcome = 'lost' then
      perform private.analytics_bump(r.tenant_id,
        (r.closed_at at time zone private.analytics_tenant_timezone(r.tenant_id))::date, 'deals_lost', '', '', '',
        '', coalesce(r.currency, ''), sign_, sign_ * coalesce(r.value, 0));
    end if;
  end loop;
  return null;
end
$$;

drop trigger if exists analytics_deal_lost_changed on public.analytics_deal_outcomes;
create trigger analytics_deal_lost_changed
  after insert or delete or update of tenant_id, outcome, value, currency, closed_at on public.analytics_deal_outcomes
  for each row execute function private.analytics_deal_lost_changed();

-- What became of an autopilot action: a member's verdict, else sent without one (automatic), expired, failed,
-- or still waiting (pending, also when past its expiry: autopilot_decide marks those expired).
create or replace function private.analytics_autopilot_outcome(p_status text, p_verdict text) returns text
language sql immutable
set search_path = ''
as $$
  select case
    when p_verdict is not null then p_verdict
    when p_status in ('sent', 'drafted') then 'automatic'
    when p_status in ('expired', 'failed') then p_status
    else 'pending'
  end
$$;

create or replace function private.analytics_autopilot_changed() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  sign_ integer;
  r record;
begin
  if private.analytics_in_bulk() then
    return null;
  end if;
  if tg_op = 'UPDATE' and (old.tenant_id, old.created_at, old.channel, old.edit_distance,
                           private.analytics_autopilot_outcome(old.status, old.verdict))
                          is not distinct from
                          (new.tenant_id, new.created_at, new.channel, new.edit_distance,
                           private.analytics_autopilot_outcome(new.status, new.verdict)) then
    return null;
  end if;
  foreach sign_ in array array[-1, 1] loop
    if (sign_ = -1 and tg_op = 'INSERT') or (sign_ = 1 and tg_op = 'DELETE') then
      continue;
    end if;
    if sign_ = -1 then r := old; else r := new; end if;
    perform private.analytics_bump(r.tenant_id,
      (r.created_at at time zone private.analytics_tenant_timezone(r.tenant_id))::date, 'autopilot',
      r.channel::text, '', '', private.analytics_autopilot_outcome(r.status, r.verdict), '', sign_,
      sign_ * coalesce(r.edit_distance, 0));
  end loop;
  return null;
end
$$;

drop trigger if exists analytics_autopilot_changed on public.autopilot_actions;
create trigger analytics_autopilot_changed
  after insert or delete or update of tenant_id, status, verdict, edit_distance, channel, created_at
  on public.autopilot_actions
  for each row execute function private.analytics_autopilot_changed();

-- The rollups a fresh group-by over the facts gives, the new kinds included.
create or replace function private.analytics_rollups_recomputed(p_tenant_id uuid)
returns setof public.analytics_daily_rollups
language sql stable security definer
set search_path = ''
as $$
  with z as (select private.analytics_tenant_timezone(p_tenant_id) as zone),
  w as (
    -- the replied rule of private.analytics_replied_sql, over all the tenant's touches
    select t.occurred_at, t.channel, t.actor, t.step_id, t.direction, t.auto_reply, t.lead_id,
           count(*) filter (where t.direction = 'out') over (partition by t.lead_id
             order by t.occurred_at, t.direction, t.message_id) as g
    from public.analytics_touchpoints t where t.tenant_id = p_tenant_id
  ), rep as (
    select distinct w.lead_id, w.g from w where w.direction = 'in' and not w.auto_reply and w.g > 0
  )
  select p_tenant_id, (t.occurred_at at time zone z.zone)::date, 'touchpoints', t.channel::text, t.direction, t.actor,
         '', '', count(*), sum(t.ai_cost_usd)
  from public.analytics_touchpoints t, z where t.tenant_id = p_tenant_id group by 2, 4, 5, 6
  union all
  select p_tenant_id, (m.booked_at at time zone z.zone)::date, 'meetings_booked', '', '', '', '', '', count(*), 0
  from public.analytics_meetings m, z where m.tenant_id = p_tenant_id group by 2
  union all
  select p_tenant_id, (s.at at time zone z.zone)::date, 'stage_entries', '', '', '', s.stage, '', count(*), 0
  from public.analytics_lead_journeys j, z,
       lateral (values ('lead_created', j.lead_created), ('lead_qualified', j.lead_qualified),
                       ('first_contact', j.first_contact), ('first_response', j.first_response),
                       ('engaged', j.engaged), ('meeting_scheduled', j.meeting_scheduled),
                       ('meeting_completed', j.meeting_completed), ('proposal_sent', j.proposal_sent),
                       ('negotiation', j.negotiation), ('deal_closed_won', j.deal_closed_won), ('lost', j.lost),
                       ('churned', j.churned)) as s(stage, at)
  where j.tenant_id = p_tenant_id and s.at is not null group by 2, 7
  union all
  select p_tenant_id, (j.deal_closed_won at time zone z.zone)::date, 'deals_won', '', '', '', '',
         coalesce(j.won_currency, ''), count(*), coalesce(sum(j.won_value), 0)
  from public.analytics_lead_journeys j, z where j.tenant_id = p_tenant_id and j.deal_closed_won is not null
  group by 2, 8
  union all
  select p_tenant_id, (u.created_at at time zone z.zone)::date, 'ai_cost', '', '', '', u.scenario, '', count(*),
         coalesce(sum(u.cost_usd), 0)
  from public.ai_usage u, z where u.tenant_id = p_tenant_id group by 2, 7
  union all
  select p_tenant_id, (t.occurred_at at time zone z.zone)::date, 'step_sends', t.channel::text, 'out', t.actor,
         t.step_id::text, '', count(*), 0
  from public.analytics_touchpoints t, z
  where t.tenant_id = p_tenant_id and t.direction = 'out' and t.step_id is not null group by 2, 4, 6, 7
  union all
  select p_tenant_id, (w.occurred_at at time zone z.zone)::date, 'replies', w.channel::text, 'out', w.actor,
         coalesce(w.step_id::text, ''), '', count(*), 0
  from w join rep on rep.lead_id = w.lead_id and rep.g = w.g, z
  where w.direction = 'out' group by 2, 4, 6, 7
  union all
  select p_tenant_id, (t.occurred_at at time zone z.zone)::date, 'auto_replies', t.channel::text, 'in', 'lead', '',
         '', count(*), 0
  from public.analytics_touchpoints t, z
  where t.tenant_id = p_tenant_id and t.direction = 'in' and t.auto_reply group by 2, 4
  union all
  select p_tenant_id, (d.closed_at at time zone z.zone)::date, 'deals_lost', '', '', '', '', coalesce(d.currency, ''),
         count(*), coalesce(sum(d.value), 0)
  from public.analytics_deal_outcomes d, z where d.tenant_id = p_tenant_id and d.outcome = 'lost' group by 2, 8
  union all
  select p_tenant_id, (a.created_at at time zone z.zone)::date, 'autopilot', a.channel::text, '', '',
         private.analytics_autopilot_outcome(a.status, a.verdict), '', count(*), coalesce(sum(a.edit_distance), 0)
  from public.autopilot_actions a, z where a.tenant_id = p_tenant_id group by 2, 4, 7
$$;

-- The facts and rollups of what is already there.
do $$
declare
  t uuid;
begin
  perform set_config('salesflow.analytics_bulk', 'on', true);
  update public.analytics_touchpoints tp set auto_reply = private.is_auto_reply(m.body, m.provider_detail)
  from public.messages m
  where tp.direction = 'in' and m.id = tp.message_id and m.tenant_id = tp.tenant_id
    and tp.auto_reply is distinct from private.is_auto_reply(m.body, m.provider_detail);
  for t in select id from public.tenants loop
    delete from public.analytics_daily_rollups r
    where r.tenant_id = t and r.metric in ('step_sends', 'replies', 'auto_replies', 'deals_lost', 'autopilot');
    insert into public.analytics_daily_rollups
    select * from private.analytics_rollups_recomputed(t) x
    where x.metric in ('step_sends', 'replies', 'auto_replies', 'deals_lost', 'autopilot');
  end loop;
  perform set_config('salesflow.analytics_bulk', 'off', true);
end
$$;

-- The triggers last: the backfill above ran without them.
drop trigger if exists analytics_touch_metrics_inserted on public.analytics_touchpoints;
create trigger analytics_touch_metrics_inserted after insert on public.analytics_touchpoints
  referencing new table as added
  for each statement execute function private.analytics_touch_metrics_changed();
drop trigger if exists analytics_touch_metrics_updated on public.analytics_touchpoints;
create trigger analytics_touch_metrics_updated after update on public.analytics_touchpoints
  referencing old table as removed new table as added
  for each statement execute function private.analytics_touch_metrics_changed();
drop trigger if exists analytics_touch_metrics_deleted on public.analytics_touchpoints;
create trigger analytics_touch_metrics_deleted after delete on public.analytics_touchpoints
  referencing old table as removed
  for each statement execute function private.analytics_touch_metrics_changed();

revoke all on function private.is_auto_reply(text, jsonb), private.analytics_touch_auto_reply(),
  private.analytics_replied_sql(text), private.analytics_touch_metrics_changed(),
  private.analytics_deal_lost_changed(), private.analytics_autopilot_outcome(text, text),
  private.analytics_autopilot_changed(), private.analytics_rollups_recomputed(uuid)
  from public, anon, authenticated;
grant execute on function private.analytics_rollups_recomputed(uuid),
  private.is_auto_reply(text, jsonb) to service_role;
