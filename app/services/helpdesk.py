"""Helpdesk (SPEC §4): teams and their stages, tickets, assignment, moving through stages.

Rules live here, not in views: an assignee is a member of the ticket's team, a ticket's stage is
one of its team's stages, reaching a closing stage closes the ticket (and leaving one reopens
it). Changes of the tracked fields are logged in the ticket's thread. Nothing here commits.
"""
import random
import re
import unicodedata

from sqlalchemy import func, select

from app.extensions import db
from app.models import (ASSIGNMENT_METHODS, PRIORITIES, Contact, Follower, Stage, Tag, Team, TeamMember, Ticket,
                        TicketType, Thread, User)
from app.models.base import utcnow
from app.services import mailgate, messaging
from app.services.sanitize import clean_html, text_to_html

# SPEC §4.2: the stages a new team starts with.
DEFAULT_STAGES = (
    # name, sequence, closing, folded, pauses the SLA clock
    ("New", 10, False, False, False),
    ("In progress", 20, False, False, False),
    ("Waiting on customer", 30, False, False, True),
    ("Solved", 40, True, False, False),
    ("Cancelled", 50, True, True, False),
)
MAX_TITLE = 200


class HelpdeskError(ValueError):
    """A request the rules refuse; the message is for the person who made it."""


# ---- teams -------------------------------------------------------------------------------------

def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:80] or "team"


def create_team(name: str, *, members=(), leads=(), assignment: str = "manual", **switches) -> Team:
    """A team with the default stages (shared with other teams: one "New" for all)."""
    name = " ".join((name or "").split())
    if not name:
        raise HelpdeskError("A team needs a name.")
    if assignment not in ASSIGNMENT_METHODS:
        raise HelpdeskError(f"Unknown assignment method {assignment!r}.")
    if db.session.scalar(select(Team.id).where(func.lower(Team.name) == name.lower())):
        raise HelpdeskError(f"There is already a team named “{name}”.")
    slug, n = slugify(name), 1
    while db.session.scalar(select(Team.id).where(Team.slug == slug)):
        n += 1
        slug = f"{slugify(name)[:76]}-{n}"
    team = Team(name=name[:80], slug=slug, assignment=assignment, **switches)
    team.stages = default_stages()
    db.session.add(team)
    for user in dict.fromkeys([*members, *leads]):
        team.members.append(TeamMember(user=user, is_lead=user in leads))
    db.session.flush()
    return team


def default_stages() -> list[Stage]:
    """The default stages, created the first time a team needs them."""
    found = {stage.name: stage for stage in db.session.scalars(
        select(Stage).where(Stage.name.in_([row[0] for row in DEFAULT_STAGES])))}
    stages = []
    for name, sequence, closing, folded, pauses in DEFAULT_STAGES:
        stage = found.get(name)
        if stage is None:
            stage = Stage(name=name, sequence=sequence, is_closing=closing, is_folded=folded, pauses_sla=pauses)
            db.session.add(stage)
        stages.append(stage)
    return stages


def teams_of(user: User) -> list[Team]:
    """The teams whose tickets `user` works on (every active team for an admin)."""
    query = select(Team).where(Team.active.is_(True)).order_by(Team.name)
    if not user.is_admin:
        query = query.join(TeamMember, TeamMember.team_id == Team.id).where(TeamMember.user_id == user.id)
    return list(db.session.scalars(query))


# ---- tickets -----------------------------------------------------------------------------------

def create_ticket(team: Team, title: str, *, author: User | None = None, description: str = "",
                  description_is_html: bool = False, customer: Contact | None = None, priority: int = 0,
                  ticket_type: TicketType | None = None, tags=(), assignee: User | None = None,
                  source: str = "manual") -> Ticket:
    """A new ticket in the team's first stage; assigned by the team's method when nobody is named.

    The customer follows the ticket's thread (so replies reach them by mail); the description is
    kept sanitised on the ticket and is not posted as a message.
    """
    title = " ".join((title or "").split())
    if not title:
        raise HelpdeskError("A ticket needs a title.")
    if priority not in PRIORITIES:
        raise HelpdeskError("Priority is 0 (low) to 3 (urgent).")
    if not team.active:
        raise HelpdeskError(f"The team {team.name} is archived.")
    stage = first_stage(team)
    if stage is None:
        raise HelpdeskError(f"The team {team.name} has no stage to put tickets in.")
    if assignee is not None and not team.has_member(assignee):
        raise HelpdeskError(f"{assignee.name} is not a member of {team.name}.")
    body = clean_html(description) if description_is_html else text_to_html(description or "")
    ticket = Ticket(title=title[:MAX_TITLE], team=team, stage=stage, priority=priority, type=ticket_type,
                    customer=customer, description=body, source=source,
                    assignee=assignee or pick_assignee(team))
    ticket.tags = list(tags)
    db.session.add(ticket)
    db.session.flush()
    thread = ticket.ensure_thread()
    if customer is not None and customer.email:
        messaging.follow(thread, contact=customer)
    if author is not None:
        messaging.follow(thread, user=author)
    if ticket.assignee is not None:
        messaging.follow(thread, user=ticket.assignee)
    messaging.post_message(thread, author, f"Ticket {ticket.ref} created.", kind="notification", notify=False)
    return ticket


def first_stage(team: Team) -> Stage | None:
    return next((stage for stage in team.stages if not stage.is_closing), None)


def pick_assignee(team: Team) -> User | None:
    """The team's method: manual leaves it unassigned; random picks any member; balanced the
    member with the fewest open tickets in the team (ties: the one listed first)."""
    members = [m.user for m in team.members if m.user.active]
    if team.assignment == "manual" or not members:
        return None
    if team.assignment == "random":
        return random.choice(members)
    open_counts = dict(db.session.execute(
        select(Ticket.assignee_id, func.count(Ticket.id)).where(
            Ticket.team_id == team.id, Ticket.closed_at.is_(None),
            Ticket.assignee_id.in_([u.id for u in members])).group_by(Ticket.assignee_id)).all())
    return min(members, key=lambda user: open_counts.get(user.id, 0))


def assign(ticket: Ticket, assignee: User | None, by: User | None) -> None:
    if assignee is not None and not ticket.team.has_member(assignee):
        raise HelpdeskError(f"{assignee.name} is not a member of {ticket.team.name}.")
    before = messaging.snapshot(ticket)
    ticket.assignee = assignee
    if assignee is not None:
        messaging.follow(ticket.ensure_thread(), user=assignee)
    messaging.track_changes(ticket, before, by)


def move(ticket: Ticket, stage: Stage, by: User | None) -> None:
    """Into another stage of the ticket's team; a closing stage closes it, leaving one reopens it."""
    if stage not in ticket.team.stages:
        raise HelpdeskError(f"“{stage.name}” is not a stage of {ticket.team.name}.")
    if stage.id == ticket.stage_id:
        return
    before = messaging.snapshot(ticket)
    ticket.stage = stage
    ticket.stage_changed_at = utcnow()
    ticket.closed_at = (ticket.closed_at or utcnow()) if stage.is_closing else None
    messaging.track_changes(ticket, before, by)


def update(ticket: Ticket, by: User | None, *, title: str | None = None, priority: int | None = None,
           ticket_type: TicketType | None = ..., tags=None) -> None:
    """Change the ticket's fields; tracked ones are logged in its thread."""
    before = messaging.snapshot(ticket)
    if title is not None:
        title = " ".join(title.split())
        if not title:
            raise HelpdeskError("A ticket needs a title.")
        ticket.title = title[:MAX_TITLE]
    if priority is not None:
        if priority not in PRIORITIES:
            raise HelpdeskError("Priority is 0 (low) to 3 (urgent).")
        ticket.priority = priority
    if ticket_type is not ...:
        ticket.type = ticket_type
    if tags is not None:
        ticket.tags = list(tags)
    messaging.track_changes(ticket, before, by)


def by_ref(ref: str) -> Ticket | None:
    """`123` or `#123` -> the ticket, if there is one."""
    ref = (ref or "").strip().lstrip("#")
    return db.session.get(Ticket, int(ref)) if ref.isdigit() and len(ref) <= 10 else None


def tags_named(names) -> list[Tag]:
    """Existing tags by name, new ones created (names trimmed, case kept from the first use)."""
    wanted = list(dict.fromkeys(" ".join(n.split())[:40] for n in names if n and n.strip()))
    found = {t.name.lower(): t for t in db.session.scalars(
        select(Tag).where(func.lower(Tag.name).in_([n.lower() for n in wanted])))}
    tags = []
    for name in wanted:
        tag = found.get(name.lower())
        if tag is None:
            tag = found[name.lower()] = Tag(name=name)
            db.session.add(tag)
        tags.append(tag)
    return tags


def ticket_of_thread(thread: Thread) -> Ticket | None:
    return db.session.get(Ticket, thread.res_id) if thread.res_model == Ticket.thread_model else None


# ---- mail (services/mailgate.py) --------------------------------------------------------------

@mailgate.target("ticket")
def ticket_from_mail(alias, mail, contact) -> Thread:
    """A new conversation to a team's alias opens a ticket for that team (the mail becomes its
    first message). An alias whose team is gone keeps the mail in the sender's contact thread."""
    team = db.session.get(Team, alias.team_id) if alias.team_id else None
    if team is None or not team.active or first_stage(team) is None:
        return contact.ensure_thread()
    ticket = create_ticket(team, mail.subject or "(no subject)", customer=contact, source="email")
    return ticket.ensure_thread()


def _thread_for_subject_ref(ref: str, mail) -> Thread | None:
    """`[#123]` in a subject names ticket 123's thread only when the sender belongs there: its
    customer, a contact following it, or a member of its team. Anyone else starts anew."""
    ticket = by_ref(ref)
    if ticket is None or mail.sender is None:
        return None
    address = mail.sender.address.lower()
    thread = ticket.ensure_thread()
    if ticket.customer is not None and (ticket.customer.email or "").lower() == address:
        return thread
    following = select(Follower.id).join(Contact, Contact.id == Follower.contact_id).where(
        Follower.thread_id == thread.id, func.lower(Contact.email) == address)
    member = select(TeamMember.id).join(User, User.id == TeamMember.user_id).where(
        TeamMember.team_id == ticket.team_id, func.lower(User.email) == address)
    if db.session.scalar(following.union_all(member).limit(1)) is not None:
        return thread
    return None


mailgate.SUBJECT_RESOLVERS.append(_thread_for_subject_ref)
