"""A large helpdesk in seconds, for trying Hilo at size and for the benchmarks (`flask demo seed`).

    flask demo seed --tickets 100000 --messages-per-ticket 10 --teams 10

Adds, beside whatever the database holds: teams sharing one working calendar and five stages,
their agents (the first of each team is its lead), customers, and the tickets with their
threads, conversations (customer and agent replies alternating, an internal note now and then),
followers, SLA targets and pauses, as the app itself would have left them. The first team's
tickets are all open (a big board); in the others `closed_share` of them are solved.

Rows go in through the bulk writers (COPY on PostgreSQL), with ids chosen here after the
largest ones present; nothing is read back. SLA deadlines are computed by the SLA service's
own function, so the targets agree with what the app computes. The result says where the
first team's board is and who may sign in.
"""
import random
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta, timezone

from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from app.extensions import db
from app.models import (Contact, Follower, Message, SlaPolicy, Stage, Team, TeamMember, Thread, Ticket,
                        TicketPause, TicketSla, User, WorkingCalendar)
from app.models.base import utcnow
from app.services import sla
from app.services.bulkload import ts, writer_for

# name, sequence, closing, folded, pauses the SLA; and each open stage's share of open tickets.
STAGES = (("New", 10, False, False, False), ("In progress", 20, False, False, False),
          ("Waiting on customer", 30, False, False, True), ("Solved", 40, True, False, False),
          ("Cancelled", 50, True, True, False))
OPEN_STAGE_WEIGHTS = (0.35, 0.45, 0.20)
PRIORITY_WEIGHTS = (0.40, 0.30, 0.20, 0.10)
UNASSIGNED_SHARE = 0.15
WEEK = ("09:00-13:00, 14:00-18:00",) * 5 + ("", "")
CALENDAR_TZ = "Europe/Paris"
FIRST_REPLY_HOURS, RESOLUTION_HOURS = 4.0, 40.0
OPEN_AGE_DAYS, CLOSED_AGE_DAYS = 21, 180
SUBJECTS = ("Cannot sign in", "Invoice shows the wrong VAT", "Parcel not delivered", "Refund for order",
            "Password reset mail never arrives", "Upgrade to more seats", "Export to CSV is empty",
            "Wrong shipping address", "Two-factor code rejected", "Cancel my subscription",
            "Damaged item on arrival", "API returns 500 on upload", "Change the billing contact")
WORDS = ("the order invoice delivery arrived yesterday please could you check again thanks refund "
         "account password reset access update shipping address billing question issue ticket "
         "team support customer replaced broken package tracking number week today tomorrow "
         "call follow up confirm quote contract renewal license seats upgrade plan").split()
FIRST = "Ada Alan Grace Linus Ken Barbara Edsger Frances Donald Margaret Dennis Radia John Sophie".split()
LAST = "Lovelace Turing Hopper Torvalds Thompson Liskov Dijkstra Allen Knuth Hamilton Ritchie Perlman".split()


@dataclass
class SeedResult:
    teams: list[int]
    tickets: int
    messages: int
    open_in_first_team: int
    login_email: str
    password: str
    seconds: float
    rows: dict


def seed_helpdesk(tickets: int, messages_per_ticket: int, *, teams: int = 10, agents_per_team: int = 5,
                  closed_share: float = 0.3, password: str | None = None, seed: int = 20261203,
                  echo=None) -> SeedResult:
    """Write the data set (see the module's docstring) and return what it made."""
    if tickets < 1 or teams < 1 or agents_per_team < 1 or messages_per_ticket < 1:
        raise ValueError("tickets, teams, agents per team and messages per ticket must be at least 1")
    if not 0 <= closed_share <= 1:
        raise ValueError("the closed share is between 0 and 1")
    started = time.perf_counter()
    rng = random.Random(seed)
    password = password or secrets.token_urlsafe(9)
    ids = _next_ids()
    now = utcnow().replace(microsecond=0)
    url = db.engine.url.render_as_string(hide_password=False)
    db.session.close()  # the writer's own connection writes; ours must hold no lock meanwhile

    writer = writer_for(url, echo)
    rows: dict[str, int] = {}

    def write(model_or_table, columns, data, total=None):
        table = getattr(model_or_table, "__tablename__", model_or_table)
        total = len(data) if total is None else total
        writer.write(table, columns, data, total)
        rows[table] = total

    try:
        plan = _Plan(rng, ids, now, tickets, teams, agents_per_team, closed_share, messages_per_ticket)
        write(WorkingCalendar, ("id", "name", "tz", "week", "holidays", "special_days"),
              [(plan.calendar_id, f"Office hours (seed {plan.calendar_id})", CALENDAR_TZ, "\n".join(WEEK),
                "", "")])
        write(Team, ("id", "name", "slug", "description", "assignment", "use_sla", "calendar_id", "daily_target",
                     "created_at"),
              [(t, f"Support {t}", f"support-{t}", "Seeded team", "balanced", True, plan.calendar_id, 8,
                ts(now - timedelta(days=CLOSED_AGE_DAYS + 1))) for t in plan.team_ids])
        write(Stage, ("id", "name", "sequence", "is_closing", "is_folded", "pauses_sla", "mail_subject",
                      "mail_body"),
              [(plan.stage_ids[i], name, seq, closing, folded, pauses, "", "")
               for i, (name, seq, closing, folded, pauses) in enumerate(STAGES)])
        write("helpdesk_stage_teams", ("stage_id", "team_id"),
              [(s, t) for t in plan.team_ids for s in plan.stage_ids])
        password_hash = generate_password_hash(password)
        write(User, ("id", "email", "name", "password_hash", "role", "active", "session_token", "signature",
                     "timezone", "notify_by", "created_at"),
              [(u, f"agent{u}@seed.test", f"{FIRST[u % len(FIRST)]} {LAST[u // len(FIRST) % len(LAST)]} ({u})",
                password_hash, "agent", True, secrets.token_hex(16), "", CALENDAR_TZ, "inbox", ts(now))
               for u in plan.all_agents])
        write(TeamMember, ("id", "team_id", "user_id", "is_lead"),
              [(ids["team_members"] + n, t, u, i == 0) for n, (t, i, u) in enumerate(
                  (t, i, u) for t in plan.team_ids for i, u in enumerate(plan.agents[t]))])
        write(Contact, ("id", "name", "email", "phone", "company", "job_title", "notes", "created_at",
                        "updated_at"),
              [(c, f"{FIRST[c % len(FIRST)]} {LAST[c // 7 % len(LAST)]}", f"customer{c}@seed.test", None, None,
                None, "", ts(now), ts(now)) for c in plan.customer_ids])
        write(SlaPolicy, ("id", "team_id", "name", "description", "min_priority", "first_reply_hours",
                          "resolution_hours", "created_at"),
              [(plan.policy_of[t], t, "Standard", "Seeded policy", 0, FIRST_REPLY_HOURS, RESOLUTION_HOURS,
                ts(now)) for t in plan.team_ids])
        plan.build_tickets()
        write(Ticket, ("id", "title", "team_id", "stage_id", "assignee_id", "priority", "customer_id",
                       "description", "source", "created_at", "updated_at", "stage_changed_at", "closed_at",
                       "first_reply_at", "sla_deadline", "sla_failed"), plan.tickets)
        write(TicketSla, ("id", "ticket_id", "policy_id", "target", "started_at", "deadline", "status",
                          "reached_at", "failure_notified_at"), plan.slas)
        write(TicketPause, ("id", "ticket_id", "started_at", "ended_at"), plan.pauses)
        write(Thread, ("id", "res_model", "res_id", "created_at", "last_message_at"), plan.threads)
        write(Follower, ("id", "thread_id", "user_id", "contact_id", "created_at"), plan.followers)
        write(Message, ("id", "thread_id", "kind", "author_user_id", "author_contact_id", "body_html",
                        "created_at"), plan.messages(), tickets * messages_per_ticket)
        writer.finish()
    finally:
        writer.close()
    return SeedResult(teams=plan.team_ids, tickets=tickets, messages=rows[Message.__tablename__],
                      open_in_first_team=plan.open_in_first_team, login_email=f"agent{plan.agents[plan.team_ids[0]][0]}@seed.test",
                      password=password, seconds=round(time.perf_counter() - started, 1), rows=rows)


def _next_ids() -> dict[str, int]:
    """The first free id of each table the seed writes to."""
    models = {"calendars": WorkingCalendar, "teams": Team, "stages": Stage, "users": User,
              "team_members": TeamMember, "contacts": Contact, "policies": SlaPolicy, "tickets": Ticket,
              "slas": TicketSla, "pauses": TicketPause, "threads": Thread, "followers": Follower,
              "messages": Message}
    return {key: (db.session.scalar(select(func.max(model.id))) or 0) + 1 for key, model in models.items()}


class _Plan:
    """Every id and row of the data set, drawn from one seeded random generator."""

    def __init__(self, rng, ids, now, tickets, teams, agents_per_team, closed_share, messages_per_ticket):
        self.rng, self.ids, self.now = rng, ids, now
        self.count, self.closed_share, self.per_ticket = tickets, closed_share, messages_per_ticket
        self.calendar_id = ids["calendars"]
        self.team_ids = [ids["teams"] + i for i in range(teams)]
        self.stage_ids = [ids["stages"] + i for i in range(len(STAGES))]
        self.open_stages, self.solved_stage = self.stage_ids[:3], self.stage_ids[3]
        self.waiting_stage = self.stage_ids[2]
        self.agents = {t: [ids["users"] + n * agents_per_team + i for i in range(agents_per_team)]
                       for n, t in enumerate(self.team_ids)}
        self.all_agents = [u for t in self.team_ids for u in self.agents[t]]
        self.customer_ids = [ids["contacts"] + i for i in range(max(1, tickets // 4))]
        self.policy_of = {t: ids["policies"] + n for n, t in enumerate(self.team_ids)}
        self.calendar = sla.parse_calendar(CALENDAR_TZ, "\n".join(WEEK))
        self.tickets, self.slas, self.pauses, self.threads, self.followers = [], [], [], [], []
        self.conversations: list[tuple] = []  # (ticket id, customer, agent, created, last) for messages()
        self.open_in_first_team = 0

    def build_tickets(self) -> None:
        rng = self.rng
        for n in range(self.count):
            ticket_id = self.ids["tickets"] + n
            team = self.team_ids[n % len(self.team_ids)]
            closed = team != self.team_ids[0] and rng.random() < self.closed_share
            age = timedelta(days=CLOSED_AGE_DAYS if closed else OPEN_AGE_DAYS) * rng.random()
            created = self.now - age - timedelta(minutes=5)
            customer = rng.choice(self.customer_ids)
            agent = None if rng.random() < UNASSIGNED_SHARE and not closed else rng.choice(self.agents[team])
            priority = rng.choices(range(4), PRIORITY_WEIGHTS)[0]
            stage = self.solved_stage if closed else rng.choices(self.open_stages, OPEN_STAGE_WEIGHTS)[0]
            last = created + (self.now - created) * rng.uniform(0.3, 1.0)
            replied = self.per_ticket >= 2  # someone of the team answered, assigned or not
            first_reply = created + (last - created) / max(self.per_ticket - 1, 1) if replied else None
            closed_at = last if closed else None
            self.open_in_first_team += team == self.team_ids[0]
            deadline, failed = self._slas(ticket_id, team, created, first_reply, closed_at, stage, last)
            self.tickets.append((ticket_id, f"{rng.choice(SUBJECTS)} ({ticket_id})", team, stage, agent, priority,
                                 customer, "<p>" + self._sentence() + "</p>", "email", ts(created), ts(last),
                                 ts(last if closed or stage != self.open_stages[0] else created),
                                 ts(closed_at) if closed_at else None, ts(first_reply) if first_reply else None,
                                 ts(deadline) if deadline else None, failed))
            thread_id = self.ids["threads"] + n
            self.threads.append((thread_id, "ticket", ticket_id, ts(created), ts(last)))
            base = self.ids["followers"] + len(self.followers)
            self.followers.append((base, thread_id, None, customer, ts(created)))
            if agent is not None:
                self.followers.append((base + 1, thread_id, agent, None, ts(created)))
            self.conversations.append((thread_id, customer, agent or self.agents[team][0], created, last))

    def _slas(self, ticket_id, team, created, first_reply, closed_at, stage, last):
        """The ticket's two targets as the SLA service leaves them; (nearest ongoing deadline, failed)."""
        policy = self.policy_of[team]
        pauses = ()
        if stage == self.waiting_stage:  # waiting on the customer since the last message
            self.pauses.append((self.ids["pauses"] + len(self.pauses), ticket_id, ts(last), None))
            pauses = ((last.replace(tzinfo=timezone.utc), None),)
        ongoing, failed = [], False
        for target, hours, reached_at in (("first_reply", FIRST_REPLY_HOURS, first_reply),
                                          ("resolution", RESOLUTION_HOURS, closed_at)):
            if reached_at is None and closed_at is not None:
                continue  # closing drops a reply clock still running: no row left
            due = sla.deadline_of(created, hours, self.calendar, pauses if reached_at is None else ())
            if reached_at is not None:
                status = "reached" if reached_at <= due else "failed"
            elif due is not None and due <= self.now:
                status = "failed"  # the sweep recorded it long ago
            else:
                status = "ongoing"  # due later, or held by the pause (no deadline)
            failed |= status == "failed"
            if status == "ongoing" and due is not None:
                ongoing.append(due)
            self.slas.append((self.ids["slas"] + len(self.slas), ticket_id, policy, target, ts(created),
                              ts(due) if due else None, status, ts(reached_at) if reached_at else None,
                              ts(due) if status == "failed" and reached_at is None else None))
        return min(ongoing, default=None), failed

    def messages(self):
        """The conversations, generated as they are written (a million rows need not sit in memory)."""
        rng, message_id = self.rng, self.ids["messages"]
        for thread_id, customer, agent, created, last in self.conversations:
            step = (last - created) / max(self.per_ticket - 1, 1)
            for i in range(self.per_ticket):
                when = ts(created + step * i)
                if i % 5 == 4:
                    yield (message_id, thread_id, "note", agent, None, "<p>" + self._sentence() + "</p>", when)
                elif i % 2 == 0:
                    yield (message_id, thread_id, "comment", None, customer, "<p>" + self._sentence() + "</p>", when)
                else:
                    yield (message_id, thread_id, "comment", agent, None, "<p>" + self._sentence() + "</p>", when)
                message_id += 1

    def _sentence(self) -> str:
        return " ".join(self.rng.choices(WORDS, k=self.rng.randint(6, 40))).capitalize() + "."
