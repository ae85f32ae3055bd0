"""Synthetic sales history for benchmarks, the dashboard and demos (`salesflow demo generate`).

Everything is written through the real tables and their triggers, in set-based statements (one
`insert ... select` per table and chunk of leads, pseudo-random numbers computed in SQL from the seed):

    leads (final status, deal value)   → lead.created events (leads_publish)
    conversations (one per lead and channel used)          → conversation.created
    autopilot_actions (approved drafts) → messages → the actions marked sent (autopilot.action_executed)
    messages (in: received; out: read/delivered, sent by sequence, user, inbox or autopilot)
                                        → message.received events, the conversations' counters and inbox status
    sequences + steps (once), sequence_enrollments (stopped by a reply, completed or active)
    analytics facts: touchpoints (one per message, with sequence and step and the AI cost), stage entries
        (lead_created, the status moves), meetings, deal outcomes → the statement triggers build the journeys
        and the daily rollups, exactly as for the listener's writes
    ai_usage (autopilot replies, lead extraction, conversation summaries) → the ai_cost rollups

Deterministic for a seed: every number is a function of (seed, lead number, what for), hashed with md5 in
SQL; ids are hashed from the seed, the tenant and the lead number, so two tenants generated with one seed
hold the same history (and a second run in the same tenant is refused). Times are relative to `until`
(default: today, 00:00 UTC): the history covers the `days` before it.

**The events these writes publish are marked processed in the same transaction.** They are history: the
facts the analytics handlers would derive from them are written directly (the same rows, keyed the same
way), and the other handlers (lead scoring, extraction, the autopilot, sequences) must not act on a year of
made-up past — an AI call per message, sends to made-up leads. Marking them processed (rather than not
publishing them) keeps the real triggers and leaves an audit trail the retention prunes like any other;
a listener never sees them pending (they commit already processed). No `lead.status_changed` or
`meeting.booked` event is published (the status is written as the lead's final one, the stages and meetings
as facts), so `analytics_rebuild` keeps the generated stage entries and meetings as they are (facts older
than the kept events) and re-derives touchpoints and `lead_created` from the generated messages and leads
to the same rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import psycopg

#: messages (touchpoints) per lead on average
TOUCHES_PER_LEAD = 20
CHUNK = 2000
HANDLER = "demo.generate"


@dataclass(frozen=True)
class GenerateSpec:
    tenant: UUID
    leads: int
    days: int = 365
    seed: int = 1
    until: date | None = None
    touches_per_lead: int = TOUCHES_PER_LEAD
    chunk: int = CHUNK

    def check(self) -> None:
        """Raise ValueError naming the option for input the generator refuses."""
        if not 1 <= self.leads <= 1_000_000:
            raise ValueError(f"--leads: must be between 1 and 1000000 (got {self.leads})")
        if not 1 <= self.days <= 3650:
            raise ValueError(f"--days: must be between 1 and 3650 (got {self.days})")
        if not 0 <= self.seed <= 2**31 - 1:
            raise ValueError(f"--seed: must be between 0 and 2147483647 (got {self.seed})")
        if not 1 <= self.touches_per_lead <= 200:
            raise ValueError(f"touches_per_lead: must be between 1 and 200 (got {self.touches_per_lead})")


@dataclass
class Generated:
    tenant: str
    seed: int
    leads: int = 0
    conversations: int = 0
    messages: int = 0
    touchpoints: int = 0
    enrollments: int = 0
    meetings: int = 0
    won: int = 0
    lost: int = 0
    ai_usage: int = 0
    events_marked_processed: int = 0
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


class GenerateError(Exception):
    """Input the database refuses (unknown tenant, a seed already generated there): `option: message`."""


# Session helpers (pg_temp: nothing is left in the schema). rnd: a uniform number in [0, 1) from the seed
# and a key; nrm: a standard normal (Box-Muller over two rnd); uid: a uuid from the seed, tenant and a key.
_HELPERS = """
create or replace function pg_temp.rnd(p_seed integer, p_key text) returns double precision
language sql immutable parallel safe as
$$ select ('x' || substr(md5(p_seed::text || ':' || p_key), 1, 12))::bit(48)::bigint / 281474976710656.0 $$;
create or replace function pg_temp.nrm(p_seed integer, p_key text) returns double precision
language sql immutable parallel safe as
$$ select sqrt(-2 * ln(1 - pg_temp.rnd(p_seed, p_key || ':a'))) * cos(2 * pi() * pg_temp.rnd(p_seed,
    p_key || ':b')) $$;
create or replace function pg_temp.uid(p_seed integer, p_tenant uuid, p_key text) returns uuid
language sql immutable parallel safe as
$$ select md5('salesflow-demo:' || p_seed::text || ':' || p_tenant::text || ':' || p_key)::uuid $$;
"""

_SEQUENCES = """
insert into public.sequences (id, tenant_id, name, status, send_days, send_from, send_until, timezone, on_reply,
                              created_at, updated_at)
select pg_temp.uid(%(seed)s, %(tenant)s, 'sequence:' || s.n), %(tenant)s, s.name, 'active', '{1,2,3,4,5}', '08:00',
       '18:00', 'Europe/Berlin', 'stop', %(start)s, %(start)s
from (values (1, 'Demo ' || %(seed)s || ': E-Mail-Erstkontakt'), (2, 'Demo ' || %(seed)s || ': WhatsApp-Nachfassen'),
             (3, 'Demo ' || %(seed)s || ': Messe-Follow-up')) as s(n, name);
insert into public.sequence_steps (id, tenant_id, sequence_id, position, kind, channel, template, delay_hours,
                                   condition, created_at)
select pg_temp.uid(%(seed)s, %(tenant)s, 'step:' || s.seq || ':' || s.pos), %(tenant)s,
       pg_temp.uid(%(seed)s, %(tenant)s, 'sequence:' || s.seq), s.pos, 'message', s.channel::public.message_channel,
       'Hallo {{first_name}}, ' || s.text, s.delay, case when s.pos = 1 then 'always' else 'no_reply' end, %(start)s
from (values (1, 1, 'email', 'darf ich Ihnen SalesFlow kurz vorstellen?', 0),
             (1, 2, 'email', 'kurze Nachfrage zu meiner letzten Mail.', 48),
             (1, 3, 'email', 'ein Kundenbeispiel aus Ihrer Branche.', 96),
             (1, 4, 'email', 'soll ich das Thema schliessen?', 168),
             (2, 1, 'whatsapp', 'danke fuer Ihr Interesse!', 0),
             (2, 2, 'whatsapp', 'passt Ihnen ein kurzer Call?', 24),
             (2, 3, 'whatsapp', 'ich melde mich naechste Woche nochmal.', 120),
             (3, 1, 'email', 'schoen, dass wir uns auf der Messe gesehen haben.', 0),
             (3, 2, 'email', 'hier die Unterlagen vom Stand.', 72),
             (3, 3, 'email', 'wann passt ein Termin?', 144)) as s(seq, pos, channel, text, delay);
"""

# One chunk of leads [lo, hi]: the lead attributes and every message, in temp tables the inserts read.
_PLAN = """
drop table if exists g_leads, g_msgs, g_path;
create temp table g_leads as
with base as (
  select n,
         pg_temp.uid(%(seed)s, %(tenant)s, 'lead:' || n) as id,
         -- more leads lately (a growing business): day = days * sqrt(u)
         %(start)s::timestamptz + floor(%(days)s * sqrt(pg_temp.rnd(%(seed)s, 'day:' || n))) * interval '1 day'
           + (7 + 12 * pg_temp.rnd(%(seed)s, 'hour:' || n)) * interval '1 hour' as created_at,
         pg_temp.rnd(%(seed)s, 'channel:' || n) as u_channel,
         pg_temp.rnd(%(seed)s, 'source:' || n) as u_source,
         pg_temp.rnd(%(seed)s, 'engagement:' || n) as engagement,
         pg_temp.rnd(%(seed)s, 'quality:' || n) as quality,
         pg_temp.rnd(%(seed)s, 'touches:' || n) as u_touches,
         pg_temp.rnd(%(seed)s, 'enrol:' || n) as u_enrol,
         pg_temp.rnd(%(seed)s, 'owner:' || n) as u_owner
  from generate_series(%(lo)s::integer, %(hi)s::integer) as n
)
select b.*,
       case when b.u_channel < 0.30 then 'whatsapp' when b.u_channel < 0.50 then 'email' when b.u_channel < 0.68
           then 'web'
            when b.u_channel < 0.78 then 'instagram' when b.u_channel < 0.88 then 'linkedin'
                when b.u_channel < 0.95 then 'referral'
            else 'sms' end as source_channel,
       case when b.u_source < 0.25 then 'google_ads' when b.u_source < 0.40 then 'linkedin_ads'
            when b.u_source < 0.52 then 'messe_2026' when b.u_source < 0.62 then 'newsletter' end as source,
       (%(owners)s::uuid[])[1 + floor(b.u_owner * greatest(cardinality(%(owners)s::uuid[]), 1))::integer] as owner_id,
       greatest(1, round(1 + (2 * %(touches)s - 2) * b.u_touches * (0.5 + b.engagement)))::integer as touches
from base b;
alter table g_leads add column primary_channel text, add column second_channel text, add column inbound_first boolean,
  add column sequence_no integer;
update g_leads set
  primary_channel = case source_channel when 'whatsapp' then 'whatsapp' when 'referral' then 'whatsapp'
                      when 'instagram' then 'instagram' when 'sms' then 'sms' else 'email' end,
  second_channel = case when source_channel in ('whatsapp', 'referral', 'instagram') then 'email' else 'whatsapp' end,
  inbound_first = source_channel in ('whatsapp', 'instagram', 'sms');
update g_leads set sequence_no = case
  when inbound_first or u_enrol >= 0.8 then null
  when primary_channel = 'whatsapp' then 2 when source = 'messe_2026' then 3 else 1 end;

create temp table g_msgs as
with raw as (
  select l.n, l.id as lead_id, l.created_at, l.owner_id, l.engagement, l.inbound_first, l.sequence_no,
         l.primary_channel, l.second_channel, i,
         case when i = 1 then l.inbound_first
              else pg_temp.rnd(%(seed)s, 'dir:' || l.n || ':' || i) < 0.12 + 0.45 * l.engagement end as inbound,
         pg_temp.rnd(%(seed)s, 'ch:' || l.n || ':' || i) < 0.12 as on_second,
         pg_temp.nrm(%(seed)s, 'gap:' || l.n || ':' || i) as z,
         pg_temp.rnd(%(seed)s, 'who:' || l.n || ':' || i) as u_who
  from g_leads l, generate_series(1, l.touches) as i
), directed as (
  select r.*, lag(r.inbound) over w as prev_inbound,
         coalesce(sum(r.inbound::integer) over (w rows between unbounded preceding and 1 preceding),
             0) as inbound_before,
         coalesce(sum((not r.inbound)::integer) over (w rows between unbounded preceding and 1 preceding),
             0) as outbound_before
  from raw r window w as (partition by r.n order by r.i)
), sender as (
  select d.*,
         case when d.inbound then null
              when d.sequence_no is not null and d.inbound_before = 0
                   and d.outbound_before < case d.sequence_no when 1 then 4 else 3 end then 'sequence'
              when d.prev_inbound and d.u_who < 0.35 then 'autopilot'
              when d.u_who < 0.75 then 'user' else 'inbox' end as sent_by
  from directed d
), gapped as (
  select s.*,
         -- seconds since the previous message (the first: since the lead's creation)
         case when s.i = 1 then case when s.inbound then 0 else 600 + 172800 * pg_temp.rnd(%(seed)s,
             'first:' || s.n) end
              when s.inbound and s.prev_inbound then 60 + 1800 * pg_temp.rnd(%(seed)s, 'burst:' || s.n || ':' || s.i)
              -- a reply: lognormal around 3 hours
              when s.inbound then least(14 * 86400, 10800 * exp(1.3 * s.z))
              -- the autopilot answers within minutes, people within ~20 minutes to hours
              when s.sent_by = 'autopilot' then 45 + 240 * pg_temp.rnd(%(seed)s, 'ap:' || s.n || ':' || s.i)
              when s.prev_inbound then least(3 * 86400, 1200 * exp(1.2 * s.z))
              when s.sent_by = 'sequence' then 86400 * (1 + 2 * pg_temp.rnd(%(seed)s, 'seq:' || s.n || ':' || s.i))
              else 86400 * (2 + 3 * pg_temp.rnd(%(seed)s, 'follow:' || s.n || ':' || s.i)) end as gap
  from sender s
)
select g.n, g.lead_id, g.i, g.inbound, g.sent_by, g.owner_id,
       pg_temp.uid(%(seed)s, %(tenant)s, 'message:' || g.n || ':' || g.i) as id,
       case when g.sent_by = 'sequence' then g.primary_channel
            when g.on_second then g.second_channel else g.primary_channel end as channel,
       g.created_at + make_interval(secs => sum(g.gap) over (partition by g.n order by g.i)) as at,
       case when g.sent_by = 'sequence' then g.sequence_no end as sequence_no,
       case when g.sent_by = 'sequence' then g.outbound_before + 1 end as step_position,
       case when g.sent_by = 'autopilot'
            then round((0.002 + 0.012 * pg_temp.rnd(%(seed)s, 'cost:' || g.n || ':' || g.i))::numeric, 6) else 0 end
         as ai_cost_usd
from gapped g;
delete from g_msgs where at >= %(until)s;
create index on g_msgs (lead_id);
create index on g_msgs (i);
analyze g_leads;
analyze g_msgs;

-- per lead: what the messages say, then the pipeline it went through (times before `until` only)
create temp table g_path as
with m as (
  select m.lead_id, min(m.at) filter (where not m.inbound) as first_out,
         min(m.at) filter (where m.inbound) as first_in,
         (array_agg(m.at order by m.at) filter (where m.inbound))[2] as second_in,
         count(*) filter (where m.inbound) as inbound, max(m.at) as last_at
  from g_msgs m group by m.lead_id
), p as (
  select l.n, l.id, l.created_at, l.quality, m.first_out, m.inbound, m.last_at,
         case when m.second_in is not null and l.quality > 0.30
              then m.second_in + interval '1 hour' * (1 + 20 * pg_temp.rnd(%(seed)s, 'q:' || l.n)) end as qualified_at
  from g_leads l left join m on m.lead_id = l.id
), p2 as (
  select p.*, case when p.qualified_at is not null and p.quality > 0.45
                   then p.qualified_at + interval '1 hour' * (2 + 70 * pg_temp.rnd(%(seed)s,
                       'mb:' || p.n)) end as booked_at
  from p
), p3 as (
  select p2.*, p2.booked_at + interval '1 hour' * (24 + 144 * pg_temp.rnd(%(seed)s, 'ms:' || p2.n)) as starts_at
  from p2
), p4 as (
  select p3.*,
         case when p3.starts_at < %(until)s and pg_temp.rnd(%(seed)s, 'held:' || p3.n) < 0.8
             then p3.starts_at end as held_at
  from p3
), p5 as (
  select p4.*,
         case when p4.held_at is not null and p4.quality > 0.55
              then p4.held_at + interval '1 hour' * (12 + 60 * pg_temp.rnd(%(seed)s,
                  'pr:' || p4.n)) end as proposal_at
  from p4
), p6 as (
  select p5.*,
         case when p5.proposal_at is not null and p5.quality > 0.62
              then p5.proposal_at + interval '1 hour' * (24 + 96 * pg_temp.rnd(%(seed)s,
                  'ng:' || p5.n)) end as negotiation_at
  from p5
), p7 as (
  select p6.*,
         case when p6.negotiation_at is not null and pg_temp.rnd(%(seed)s, 'win:' || p6.n) < 0.55
              then p6.negotiation_at + interval '1 hour' * (48 + 240 * pg_temp.rnd(%(seed)s,
                  'wt:' || p6.n)) end as won_at
  from p6
)
select p7.*,
       case when p7.won_at is null and p7.first_out is not null
                 and pg_temp.rnd(%(seed)s, 'lost:' || p7.n) < case when p7.negotiation_at is not null then 0.9
                                                                 when p7.qualified_at is not null
                                                                     then 0.5 else 0.3 end
            then greatest(p7.last_at, coalesce(p7.negotiation_at, p7.proposal_at, p7.held_at, p7.qualified_at,
                p7.last_at))
                 + interval '1 day' * (3 + 20 * pg_temp.rnd(%(seed)s, 'lt:' || p7.n)) end as lost_at,
       round((500 + 4000 * exp(0.8 * pg_temp.nrm(%(seed)s, 'value:' || p7.n)))::numeric / 50) * 50 as deal_value,
       case when pg_temp.rnd(%(seed)s, 'cur:' || p7.n) < 0.9 then 'EUR' else 'CHF' end as currency
from p7;
-- nothing after `until`: a stage that would come later has not happened yet
update g_path set booked_at = null, starts_at = null, held_at = null where booked_at >= %(until)s;
update g_path set qualified_at = null where qualified_at >= %(until)s;
update g_path set proposal_at = null where proposal_at >= %(until)s or held_at is null;
update g_path set negotiation_at = null where negotiation_at >= %(until)s or proposal_at is null;
update g_path set won_at = null where won_at >= %(until)s or negotiation_at is null;
update g_path set lost_at = null where lost_at >= %(until)s or won_at is not null;
analyze g_path;
"""

# The events the writes above published, marked processed in the writing transaction (the module docstring
# says why).
_EVENTS = """
update public.events e set status = 'processed', processed_at = now()
where e.tenant_id = %(tenant)s and e.status = 'pending' and e.xmin = pg_current_xact_id()::xid
"""

_BEFORE = [
    ("leads", """
insert into public.leads (id, tenant_id, owner_id, name, email, company, source, source_channel, status, score,
                          temperature, created_at, updated_at, locale, deal_value, currency)
select l.id, %(tenant)s, l.owner_id, 'Demo Lead ' || l.n, 'demo-' || %(seed)s || '-' || l.n || '@example.com',
       'Demo Firma ' || (1 + l.n %% 997), l.source, l.source_channel,
       case when p.won_at is not null then 'won' when p.lost_at is not null then 'lost'
            when p.negotiation_at is not null then 'negotiation' when p.proposal_at is not null then 'proposal'
            when p.qualified_at is not null then 'qualified' when p.first_out is not null
                then 'contacted' else 'new' end,
       least(100, round(100 * l.quality))::integer,
       case when l.engagement > 0.7 then 'hot' when l.engagement > 0.4 then 'warm' else 'cold' end,
       l.created_at, greatest(l.created_at, coalesce(p.won_at, p.lost_at, p.last_at, l.created_at)), 'de',
       case when p.qualified_at is not null then p.deal_value end, case when p.qualified_at is not null
           then p.currency end
from g_leads l join g_path p on p.id = l.id
"""),
    ("conversations", """
insert into public.conversations (id, tenant_id, lead_id, channel, status, created_at, updated_at)
select pg_temp.uid(%(seed)s, %(tenant)s, 'conversation:' || c.lead_id || ':' || c.channel), %(tenant)s, c.lead_id,
       c.channel::public.message_channel, 'open', c.at, c.at
from (select m.lead_id, m.channel, min(m.at) as at from g_msgs m group by m.lead_id, m.channel) c
"""),
    ("autopilot drafts", """
insert into public.autopilot_actions (id, tenant_id, lead_id, conversation_id, channel, mode, action, scenario,
                                      prompt_version, draft, final_text, confidence, cost_usd, latency_ms, status,
                                      expires_at, verdict, created_at)
select pg_temp.uid(%(seed)s, %(tenant)s, 'action:' || m.id), %(tenant)s, m.lead_id,
       pg_temp.uid(%(seed)s, %(tenant)s, 'conversation:' || m.lead_id || ':' || m.channel),
       m.channel::public.message_channel, 'one_click', 'reply', 'autopilot_reply', 1,
       'Danke fuer Ihre Nachricht! Gerne schicke ich Ihnen die Details.',
       'Danke fuer Ihre Nachricht! Gerne schicke ich Ihnen die Details.', 0.85, m.ai_cost_usd, 1800, 'approved',
       now() + interval '1 day', 'approved', m.at - interval '30 seconds'
from g_msgs m where m.sent_by = 'autopilot'
"""),
    ("events", _EVENTS),
]

# Per round: the i-th message of every lead of the chunk, committed round by round. The conversation
# triggers update the conversation row once per message; within one transaction the versions of a row
# updated twenty times cannot be pruned and every update walks the whole chain (7 of 10 s for 34,000
# messages in one statement); one message per conversation per transaction keeps that constant.
_ROUND = [
    ("messages", """
insert into public.messages (id, tenant_id, conversation_id, lead_id, channel, direction, content_type, body, status,
                             provider_message_id, idempotency_key, sent_by, sent_by_user_id, search_language,
                             received_at, queued_at, sending_at, sent_at, delivered_at, read_at, created_at)
select m.id, %(tenant)s, pg_temp.uid(%(seed)s, %(tenant)s, 'conversation:' || m.lead_id || ':' || m.channel),
       m.lead_id, m.channel::public.message_channel, case when m.inbound then 'in' else 'out' end, 'text',
       case when m.inbound then 'Nachricht ' || m.i || ' von Demo Lead ' || m.n
            else 'Antwort ' || m.i || ' an Demo Lead ' || m.n end,
       case when m.inbound then 'received' when pg_temp.rnd(%(seed)s, 'read:' || m.id) < 0.7 then 'read'
            else 'delivered' end,
       'demo:' || m.id, case when m.sent_by = 'autopilot' then 'autopilot:' || pg_temp.uid(%(seed)s, %(tenant)s,
           'action:' || m.id) end,
       m.sent_by, case when m.sent_by = 'user' then m.owner_id end, 'german',
       case when m.inbound then m.at end,
       case when not m.inbound then m.at - interval '2 seconds' end, case when not m.inbound
           then m.at - interval '1 second' end,
       case when not m.inbound then m.at end, case when not m.inbound then m.at + interval '3 seconds' end,
       case when not m.inbound and pg_temp.rnd(%(seed)s, 'read:' || m.id) < 0.7 then m.at + interval '20 minutes' end,
       m.at
from g_msgs m where m.i = %(round)s order by m.lead_id, m.at
"""),
    ("autopilot sent", """
update public.autopilot_actions a set status = 'sent', message_id = m.id, executed_at = m.at, reviewed_at = m.at,
    expires_at = m.at + interval '1 day'
from g_msgs m
where m.i = %(round)s and m.sent_by = 'autopilot' and a.id = pg_temp.uid(%(seed)s, %(tenant)s, 'action:' || m.id)
"""),
    ("events", _EVENTS),
]

_AFTER = [
    ("enrollments", """
insert into public.sequence_enrollments (id, tenant_id, sequence_id, lead_id, state, stop_reason, current_step,
                                         next_due_at, step_since, enrolled_by, enrolled_at, completed_at, stopped_at,
                                         updated_at)
select pg_temp.uid(%(seed)s, %(tenant)s, 'enrollment:' || l.n), %(tenant)s,
       pg_temp.uid(%(seed)s, %(tenant)s, 'sequence:' || l.sequence_no), l.id,
       case when r.first_in is not null then 'stopped' when s.sent >= s.steps then 'completed' else 'active' end,
       case when r.first_in is not null then 'replied' end,
       least(s.sent + 1, s.steps),
       case when r.first_in is null and s.sent < s.steps then coalesce(s.last_at,
           l.created_at) + interval '2 days' end,
       coalesce(s.last_at, l.created_at), l.owner_id, l.created_at,
       case when r.first_in is null and s.sent >= s.steps then s.last_at end, r.first_in,
       coalesce(r.first_in, s.last_at, l.created_at)
from g_leads l
cross join lateral (select count(*) filter (where m.sent_by = 'sequence') as sent,
    max(m.at) filter (where m.sent_by = 'sequence') as last_at,
                           case l.sequence_no when 1 then 4 else 3 end as steps
                    from g_msgs m where m.lead_id = l.id) s
cross join lateral (select min(m.at) as first_in from g_msgs m where m.lead_id = l.id and m.inbound) r
where l.sequence_no is not null
"""),
    ("touchpoints", """
insert into public.analytics_touchpoints (tenant_id, lead_id, message_id, channel, direction, actor, sequence_id,
                                          step_id, ai_cost_usd, occurred_at, handler)
select %(tenant)s, m.lead_id, m.id, m.channel::public.message_channel, case when m.inbound then 'in' else 'out' end,
       case when m.inbound then 'lead' when m.sent_by = 'autopilot' then 'autopilot' when m.sent_by = 'sequence'
           then 'sequence'
            else 'human' end,
       case when m.sequence_no is not null then pg_temp.uid(%(seed)s, %(tenant)s, 'sequence:' || m.sequence_no) end,
       case when m.sequence_no is not null then pg_temp.uid(%(seed)s, %(tenant)s,
           'step:' || m.sequence_no || ':' || m.step_position) end,
       m.ai_cost_usd, m.at, %(handler)s
from g_msgs m
"""),
    ("stage entries", """
insert into public.analytics_stage_entries (tenant_id, lead_id, stage, from_status, to_status, entered_at, handler)
select %(tenant)s, p.id, s.stage, s.from_status, s.to_status, s.at, %(handler)s
from g_path p,
     lateral (values ('lead_created', null, null, p.created_at),
                     ('first_contact', 'new', 'contacted', p.first_out),
                     ('lead_qualified', 'contacted', 'qualified', p.qualified_at),
                     ('proposal_sent', 'qualified', 'proposal', p.proposal_at),
                     ('negotiation', 'proposal', 'negotiation', p.negotiation_at),
                     ('deal_closed_won', 'negotiation', 'won', p.won_at),
                     ('lost', null, 'lost', p.lost_at)) as s(stage, from_status, to_status, at)
where s.at is not null
"""),
    ("meetings", """
insert into public.analytics_meetings (id, tenant_id, lead_id, starts_at, booked_at, held_at, handler)
select pg_temp.uid(%(seed)s, %(tenant)s, 'meeting:' || p.n), %(tenant)s, p.id, p.starts_at, p.booked_at, p.held_at,
       %(handler)s
from g_path p where p.booked_at is not null
"""),
    ("deal outcomes", """
insert into public.analytics_deal_outcomes (tenant_id, lead_id, outcome, value, currency, closed_at, handler)
select %(tenant)s, p.id, case when p.won_at is not null then 'won' else 'lost' end,
       case when p.qualified_at is not null then p.deal_value end, case when p.qualified_at is not null
           then p.currency end,
       coalesce(p.won_at, p.lost_at), %(handler)s
from g_path p where p.won_at is not null or p.lost_at is not null
"""),
    ("ai usage", """
insert into public.ai_usage (tenant_id, lead_id, call_id, scenario, prompt_name, prompt_version, prompt_locale,
    provider,
                             model, input_tokens, output_tokens, cost_usd, latency_ms, outcome, created_at)
select %(tenant)s, u.lead_id, pg_temp.uid(%(seed)s, %(tenant)s, 'call:' || u.key), u.scenario, u.scenario, 1, 'de',
       'openai', 'gpt-4o-mini', u.input_tokens, u.output_tokens, u.cost, 900 + 1500 * pg_temp.rnd(%(seed)s,
           'lat:' || u.key),
       'success', u.at
from (
  select m.lead_id, 'ap:' || m.id as key, 'autopilot_reply' as scenario, m.ai_cost_usd as cost,
         1200 as input_tokens, 180 as output_tokens, m.at - interval '40 seconds' as at
  from g_msgs m where m.sent_by = 'autopilot'
  union all
  select m.lead_id, 'ex:' || m.id, 'lead_extraction', 0.0009, 700, 120, m.at + interval '5 seconds'
  from g_msgs m where m.inbound and m.i = 1
  union all
  select p.id, 'sum:' || p.n, 'conversation_summary', 0.0015, 2400, 260, p.qualified_at
  from g_path p where p.qualified_at is not null
) u
"""),
    ("events", _EVENTS),
]

Progress = Callable[[str, int, int, Generated], None]


def _owners(conn: psycopg.Connection[Any], tenant: UUID) -> list[str]:
    rows = conn.execute("select user_id::text from public.tenant_members where tenant_id = %s order by user_id",
                        (tenant,)).fetchall()
    return [r[0] for r in rows]


_COUNTED = {"leads": "leads", "conversations": "conversations", "messages": "messages", "touchpoints": "touchpoints",
            "enrollments": "enrollments", "meetings": "meetings", "ai usage": "ai_usage",
            "events": "events_marked_processed"}


def _timed(conn: psycopg.Connection[Any], result: Generated, name: str, statement: str,
           params: dict[str, Any]) -> None:
    t0 = time.perf_counter()
    cursor = conn.execute(statement, params)
    result.phases[name] = result.phases.get(name, 0.0) + time.perf_counter() - t0
    if name in _COUNTED:
        setattr(result, _COUNTED[name], getattr(result, _COUNTED[name]) + max(cursor.rowcount, 0))


def generate(url: str, spec: GenerateSpec, progress: Progress | None = None) -> Generated:
    """Write the history of `spec` into its tenant; `progress(phase, leads_done, leads_total, totals)` after
    each chunk. Raises GenerateError for a tenant that does not exist or a seed already generated there."""
    spec.check()
    until = spec.until or datetime.now(UTC).date()
    until_ts = datetime(until.year, until.month, until.day, tzinfo=UTC)
    start_ts = until_ts.timestamp() - spec.days * 86400
    result = Generated(tenant=str(spec.tenant), seed=spec.seed)
    began = time.perf_counter()
    with psycopg.connect(url, autocommit=False, cursor_factory=psycopg.ClientCursor) as conn:
        conn.execute("set statement_timeout = 0")
        if conn.execute("select 1 from public.tenants where id = %s", (spec.tenant,)).fetchone() is None:
            raise GenerateError(f"--tenant: there is no tenant {spec.tenant}")
        conn.execute(_HELPERS)
        first = conn.execute("select pg_temp.uid(%s, %s, 'lead:1')", (spec.seed, spec.tenant)).fetchone()
        assert first is not None
        if conn.execute("select 1 from public.leads where id = %s", (first[0],)).fetchone():
            raise GenerateError(f"--seed: tenant {spec.tenant} already holds the history of seed {spec.seed} "
                                "(choose another seed or tenant)")
        params: dict[str, Any] = {
            "tenant": spec.tenant, "seed": spec.seed, "days": spec.days, "touches": spec.touches_per_lead,
            "until": until_ts, "start": datetime.fromtimestamp(start_ts, UTC), "owners": _owners(conn, spec.tenant),
            "handler": HANDLER,
        }
        conn.execute(_SEQUENCES, params)
        conn.commit()
        if progress:
            progress("sequences", 0, spec.leads, result)
        for lo in range(1, spec.leads + 1, spec.chunk):
            hi = min(spec.leads, lo + spec.chunk - 1)
            chunk_params = {**params, "lo": lo, "hi": hi}
            _timed(conn, result, "plan", _PLAN, chunk_params)
            for name, statement in _BEFORE:
                _timed(conn, result, name, statement, chunk_params)
            conn.commit()
            row = conn.execute("select coalesce(max(i), 0) from g_msgs").fetchone()
            for round_ in range(1, int(row[0] if row else 0) + 1):
                for name, statement in _ROUND:
                    _timed(conn, result, name, statement, {**chunk_params, "round": round_})
                conn.commit()
            for name, statement in _AFTER:
                _timed(conn, result, name, statement, chunk_params)
            row = conn.execute("select count(*) filter (where won_at is not null), "
                               "count(*) filter (where lost_at is not null) from g_path").fetchone()
            assert row is not None
            result.won += int(row[0])
            result.lost += int(row[1])
            conn.execute("drop table g_leads, g_msgs, g_path")
            conn.commit()
            if progress:
                progress("leads", hi, spec.leads, result)
        conn.execute("analyze public.leads, public.messages, public.analytics_touchpoints, "
                     "public.analytics_lead_journeys, public.analytics_daily_rollups")
        conn.commit()
    result.seconds = time.perf_counter() - began
    return result
