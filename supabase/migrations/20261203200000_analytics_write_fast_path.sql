-- One message's analytics write, cheap (issue 12 point 5: the listener drained 1,000 message.received at 4 % of
-- the no-op handler's rate). The statement triggers of 20261203130000 / 20261203140000 built their queries with
-- format() and ran them with execute (planned at every call), and the replies trigger recomputed the lead's
-- reply pairs twice (now and before) with window functions, for every event.
--
-- Now a statement that inserts ONE touchpoint (the listener's common case: one message), or changes ONE journey
-- row, takes a fast path of static statements (plans cached per session) with the tenant's zone looked up once:
--   replies    the delta is determined by the new touch's neighbours in the lead's time order (ordered by
--              occurred_at, direction, message_id as private.analytics_replied_sql; message_id is unique, so
--              the order is total). With P the lead's last outbound touch before the new touch X, N the first
--              one after it, and "a reply in (A, B)" an inbound non-auto-reply touch strictly between A and B:
--              X outbound: X is replied iff a reply in (X, N); then P loses its reply iff it had none in (P, X).
--              X an inbound non-auto-reply: P gains a reply iff it had none in (P, N) (X aside).
--              X an auto-reply, or inbound before any outbound: no reply changes.
--              Each is an index probe on analytics_touchpoints_lead_idx (tenant_id, lead_id, occurred_at).
--   rollups    step_sends / auto_replies / touchpoints of X, and a journey's stages and win, bumped key by key
--              (private.analytics_bump: the upsert, and the row deleted when it drops to zero).
-- A statement that wrote no rows (a duplicate touch; a journey refresh that changed nothing, whose insert ... on
-- conflict and delete still fire the statement triggers) returns at once: it has no deltas.
-- Any other statement (several rows, updates and deletes of touchpoints) keeps the general path, unchanged.
-- tests/analytics/test_write_path.py compares the fast path with a fresh recomputation.

create or replace function private.analytics_touch_metrics_changed() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  rows_ text;
  cols constant text := 't.id, t.tenant_id, t.lead_id, t.message_id, t.occurred_at, t.channel, t.direction, t.actor, '
                        't.step_id, t.auto_reply';
  leads_ text;
  now_ text;
  before_ text;
  zero_tenants uuid[];
  zero_days date[];
  x public.analytics_touchpoints%rowtype;
  p public.analytics_touchpoints%rowtype;
  single boolean := false;
  n_at timestamptz;
  n_dir text;
  n_msg uuid;
  zone text;
  replied_after boolean;
  replied_before boolean;
  rows_n bigint;
begin
  if private.analytics_in_bulk() then
    return null;
  end if;
  -- (nested: `added` exists only in the insert and update triggers' statements)
  if tg_op = 'INSERT' then
    rows_n := (select count(*) from added);
    if rows_n = 0 then
      return null;  -- nothing inserted (a duplicate): no deltas
    end if;
    single := rows_n = 1;
  end if;
  if single then
    select * into x from added;
    zone := private.analytics_tenant_timezone(x.tenant_id);
    if x.direction = 'out' and x.step_id is not null then
      perform private.analytics_bump(x.tenant_id, (x.occurred_at at time zone zone)::date, 'step_sends',
        x.channel::text, 'out', x.actor, x.step_id::text, '', 1, 0);
    end if;
    if x.direction = 'in' and x.auto_reply then
      perform private.analytics_bump(x.tenant_id, (x.occurred_at at time zone zone)::date, 'auto_replies',
        x.channel::text, 'in', 'lead', '', '', 1, 0);
    end if;
    if x.direction = 'in' and x.auto_reply then
      return null;
    end if;
    -- P: the lead's last outbound touch before X
    select t.* into p from public.analytics_touchpoints t
    where t.tenant_id = x.tenant_id and t.lead_id = x.lead_id and t.direction = 'out' and t.id <> x.id
      and t.occurred_at <= x.occurred_at
      and (t.occurred_at, t.direction, t.message_id) < (x.occurred_at, x.direction, x.message_id)
    order by t.occurred_at desc, t.direction desc, t.message_id desc limit 1;
    if x.direction = 'in' and p.id is null then
      return null;
    end if;
    -- N: the lead's first outbound touch after X (none: unbounded)
    select t.occurred_at, t.direction, t.message_id into n_at, n_dir, n_msg from public.analytics_touchpoints t
    where t.tenant_id = x.tenant_id and t.lead_id = x.lead_id and t.direction = 'out' and t.id <> x.id
      and t.occurred_at >= x.occurred_at
      and (t.occurred_at, t.direction, t.message_id) > (x.occurred_at, x.direction, x.message_id)
    order by t.occurred_at, t.direction, t.message_id limit 1;
    if x.direction = 'out' then
      replied_after := exists (select 1 from public.analytics_touchpoints t
        where t.tenant_id = x.tenant_id and t.lead_id = x.lead_id and t.direction = 'in' and not t.auto_reply
          and t.occurred_at >= x.occurred_at
          and (t.occurred_at, t.direction, t.message_id) > (x.occurred_at, x.direction, x.message_id)
          and (n_at is null or (t.occurred_at <= n_at
               and (t.occurred_at, t.direction, t.message_id) < (n_at, n_dir, n_msg))));
      if replied_after then
        perform private.analytics_bump(x.tenant_id, (x.occurred_at at time zone zone)::date, 'replies',
          x.channel::text, 'out', x.actor, coalesce(x.step_id::text, ''), '', 1, 0);
        if p.id is not null and not exists (select 1 from public.analytics_touchpoints t
            where t.tenant_id = x.tenant_id and t.lead_id = x.lead_id and t.direction = 'in' and not t.auto_reply
              and t.occurred_at >= p.occurred_at and t.occurred_at <= x.occurred_at
              and (t.occurred_at, t.direction, t.message_id) > (p.occurred_at, p.direction, p.message_id)
              and (t.occurred_at, t.direction, t.message_id) < (x.occurred_at, x.direction, x.message_id)) then
          perform private.analytics_bump(p.tenant_id, (p.occurred_at at time zone zone)::date, 'replies',
            p.channel::text, 'out', p.actor, coalesce(p.step_id::text, ''), '', -1, 0);
        end if;
      end if;
    else
      replied_before := exists (select 1 from public.analytics_touchpoints t
        where t.tenant_id = x.tenant_id and t.lead_id = x.lead_id and t.direction = 'in' and not t.auto_reply
          and t.id <> x.id and t.occurred_at >= p.occurred_at
          and (t.occurred_at, t.direction, t.message_id) > (p.occurred_at, p.direction, p.message_id)
          and (n_at is null or (t.occurred_at <= n_at
               and (t.occurred_at, t.direction, t.message_id) < (n_at, n_dir, n_msg))));
      if not replied_before then
        perform private.analytics_bump(p.tenant_id, (p.occurred_at at time zone zone)::date, 'replies',
          p.channel::text, 'out', p.actor, coalesce(p.step_id::text, ''), '', 1, 0);
      end if;
    end if;
    return null;
  end if;
  -- the general path (20261203130000), unchanged
  rows_ := private.analytics_signed_rows(tg_op);
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

-- A statement that inserted one touchpoint: its touchpoints rollup bumped, the lead's journey refreshed (static
-- statements). Anything else: the general path of 20261203140000, unchanged.
create or replace function private.analytics_facts_changed() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  rows_ text;
  lead_sets record;
  zero_tenants uuid[];
  zero_days date[];
  x public.analytics_touchpoints%rowtype;
  single boolean := false;
  rows_n bigint;
begin
  if private.analytics_in_bulk() then
    return null;
  end if;
  if tg_op = 'INSERT' then
    rows_n := (select count(*) from added);
  elsif tg_op = 'DELETE' then
    rows_n := (select count(*) from removed);
  else
    rows_n := (select count(*) from added) + (select count(*) from removed);
  end if;
  if rows_n = 0 then
    return null;  -- no rows: no deltas, no journeys to refresh
  end if;
  single := tg_table_name = 'analytics_touchpoints' and tg_op = 'INSERT' and rows_n = 1;
  if single then
    select * into x from added;
    perform private.analytics_bump(x.tenant_id,
      (x.occurred_at at time zone private.analytics_tenant_timezone(x.tenant_id))::date, 'touchpoints',
      x.channel::text, x.direction, x.actor, '', '', 1, x.ai_cost_usd);
    perform private.analytics_refresh_journeys(x.tenant_id, array[x.lead_id]);
    return null;
  end if;
  rows_ := private.analytics_signed_rows(tg_op);
  if tg_table_name = 'analytics_touchpoints' then
    execute private.analytics_apply_sql(format(
      'with s as (%s), z as materialized (select t.tenant_id, private.analytics_tenant_timezone(t.tenant_id) as zone '
      'from (select distinct s.tenant_id from s) t) '
      'select s.tenant_id, (s.occurred_at at time zone z.zone)::date as day, ''touchpoints'' as metric, '
      's.channel::text as channel, s.direction, s.actor, '''' as dimension, '''' as currency, s.sign_ as count, '
      's.sign_ * s.ai_cost_usd as amount from s join z on z.tenant_id = s.tenant_id', rows_)) into zero_tenants, zero_days;
    perform private.analytics_drop_zeros(zero_tenants, zero_days);
  elsif tg_table_name = 'analytics_meetings' then
    execute private.analytics_apply_sql(format(
      'with s as (%s), z as materialized (select t.tenant_id, private.analytics_tenant_timezone(t.tenant_id) as zone '
      'from (select distinct s.tenant_id from s) t) '
      'select s.tenant_id, (s.booked_at at time zone z.zone)::date as day, ''meetings_booked'' as metric, '
      'null as channel, null as direction, null as actor, null as dimension, null as currency, s.sign_ as count, '
      '0 as amount from s join z on z.tenant_id = s.tenant_id', rows_)) into zero_tenants, zero_days;
    perform private.analytics_drop_zeros(zero_tenants, zero_days);
  end if;
  -- the journeys of every lead the statement touched (old and new lead of a moved fact), one call per tenant
  for lead_sets in execute format(
      'select s.tenant_id, array_agg(distinct s.lead_id) as leads from (%s) s group by s.tenant_id', rows_) loop
    perform private.analytics_refresh_journeys(lead_sets.tenant_id, lead_sets.leads);
  end loop;
  return null;
end
$$;

-- A statement that changed one journey row (the refresh of one lead): the stages whose day moved and the win,
-- bumped key by key (an unchanged day cancels out, as in the general path's group-by). Anything else: the general
-- path of 20261203140000, unchanged.
create or replace function private.analytics_journeys_changed() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  zero_tenants uuid[];
  zero_days date[];
  o public.analytics_lead_journeys%rowtype;
  n public.analytics_lead_journeys%rowtype;
  tenant uuid;
  zone text;
  st record;
  od date;
  nd date;
  single boolean := false;
  n_added bigint := 0;
  n_removed bigint := 0;
begin
  if private.analytics_in_bulk() then
    return null;
  end if;
  if tg_op = 'INSERT' then
    n_added := (select count(*) from added);
  elsif tg_op = 'DELETE' then
    n_removed := (select count(*) from removed);
  else
    n_added := (select count(*) from added);
    n_removed := (select count(*) from removed);
  end if;
  if n_added + n_removed = 0 then
    return null;  -- no rows (a refresh that changed nothing): no deltas
  end if;
  single := (tg_op = 'INSERT' and n_added = 1) or (tg_op = 'DELETE' and n_removed = 1)
            or (tg_op = 'UPDATE' and n_added = 1 and n_removed = 1);
  if single then
    if tg_op <> 'DELETE' then
      select * into n from added;
    end if;
    if tg_op <> 'INSERT' then
      select * into o from removed;
    end if;
    if tg_op = 'UPDATE' and o.tenant_id is distinct from n.tenant_id then
      null;  -- a journey moved between tenants: the general path below
    else
      tenant := coalesce(n.tenant_id, o.tenant_id);
      zone := private.analytics_tenant_timezone(tenant);
      for st in select v.stage, v.o_at, v.n_at from (values
          ('lead_created', o.lead_created, n.lead_created), ('lead_qualified', o.lead_qualified, n.lead_qualified),
          ('first_contact', o.first_contact, n.first_contact), ('first_response', o.first_response, n.first_response),
          ('engaged', o.engaged, n.engaged), ('meeting_scheduled', o.meeting_scheduled, n.meeting_scheduled),
          ('meeting_completed', o.meeting_completed, n.meeting_completed),
          ('proposal_sent', o.proposal_sent, n.proposal_sent), ('negotiation', o.negotiation, n.negotiation),
          ('deal_closed_won', o.deal_closed_won, n.deal_closed_won), ('lost', o.lost, n.lost),
          ('churned', o.churned, n.churned)) as v(stage, o_at, n_at) loop
        od := (st.o_at at time zone zone)::date;
        nd := (st.n_at at time zone zone)::date;
        if od is distinct from nd then
          if nd is not null then
            perform private.analytics_bump(tenant, nd, 'stage_entries', '', '', '', st.stage, '', 1, 0);
          end if;
          if od is not null then
            perform private.analytics_bump(tenant, od, 'stage_entries', '', '', '', st.stage, '', -1, 0);
          end if;
        end if;
      end loop;
      od := (o.deal_closed_won at time zone zone)::date;
      nd := (n.deal_closed_won at time zone zone)::date;
      if (od, coalesce(o.won_currency, ''), coalesce(o.won_value, 0))
         is distinct from (nd, coalesce(n.won_currency, ''), coalesce(n.won_value, 0)) then
        if nd is not null then
          perform private.analytics_bump(tenant, nd, 'deals_won', '', '', '', '', coalesce(n.won_currency, ''), 1,
            coalesce(n.won_value, 0));
        end if;
        if od is not null then
          perform private.analytics_bump(tenant, od, 'deals_won', '', '', '', '', coalesce(o.won_currency, ''), -1,
            -coalesce(o.won_value, 0));
        end if;
      end if;
      return null;
    end if;
  end if;
  -- An unchanged stage adds −1 and +1 on the same day and cancels out in the group-by.
  execute private.analytics_apply_sql(format(
    'with s as (%s), z as materialized (select t.tenant_id, private.analytics_tenant_timezone(t.tenant_id) as zone '
      'from (select distinct s.tenant_id from s) t) '
    'select s.tenant_id, (e.at at time zone z.zone)::date as day, ''stage_entries'' as metric, null as channel, '
    'null as direction, null as actor, e.stage as dimension, null as currency, s.sign_ as count, 0 as amount '
    'from s join z on z.tenant_id = s.tenant_id, '
    'lateral (values (''lead_created'', s.lead_created), (''lead_qualified'', s.lead_qualified), '
    '(''first_contact'', s.first_contact), (''first_response'', s.first_response), (''engaged'', s.engaged), '
    '(''meeting_scheduled'', s.meeting_scheduled), (''meeting_completed'', s.meeting_completed), '
    '(''proposal_sent'', s.proposal_sent), (''negotiation'', s.negotiation), '
    '(''deal_closed_won'', s.deal_closed_won), (''lost'', s.lost), (''churned'', s.churned)) as e(stage, at) '
    'where e.at is not null '
    'union all '
    'select s.tenant_id, (s.deal_closed_won at time zone z.zone)::date, ''deals_won'', null, null, null, null, '
    's.won_currency, s.sign_, s.sign_ * coalesce(s.won_value, 0) '
    'from s join z on z.tenant_id = s.tenant_id where s.deal_closed_won is not null',
    private.analytics_signed_rows(tg_op))) into zero_tenants, zero_days;
  perform private.analytics_drop_zeros(zero_tenants, zero_days);
  return null;
end
$$;

revoke all on function private.analytics_touch_metrics_changed(), private.analytics_facts_changed(),
  private.analytics_journeys_changed() from public, anon, authenticated;
