"""Helpdesk (SPEC §4): teams and their stages, tickets, assignment, moving through stages.

Rules live here, not in views: an assignee is a member of the ticket's team, a ticket's stage is
one of its team's stages, reaching a closing stage closes the ticket (and leaving one reopens
it). Changes of the tracked fields are logged in the ticket's thread. Nothing here commits.
"""
import random
import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from app.extensions import db
from app.models import (ASSIGNMENT_METHODS, PRIORITIES, Contact, Follower, Stage, Tag, Team, TeamMember, Ticket,
                        TicketType, Thread, User)
from app.models.base import contains_pattern, utcnow
from app.services import contacts, mailgate, messaging, ratings, sla, stage_mail
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
    sla.refresh(ticket)
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
    was_closed = ticket.is_closed
    ticket.closed_at = (ticket.closed_at or utcnow()) if stage.is_closing else None
    messaging.track_changes(ticket, before, by)
    stage_mail.send_on_entry(ticket, stage)
    sla.refresh(ticket)
    if ticket.is_closed and not was_closed:
        ratings.ask(ticket)


def reopen(ticket: Ticket) -> None:
    """Back to the team's first open stage (a customer wrote again after it was closed)."""
    stage = first_stage(ticket.team)
    if stage is not None:
        move(ticket, stage, None)


def update(ticket: Ticket, by: User | None, *, title: str | None = None, priority: int | None = None,
           ticket_type: TicketType | None = ..., tags=None, team: Team | None = None,
           customer: Contact | None = ...) -> None:
    """Change the ticket's fields; tracked ones are logged in its thread, SLA deadlines follow.

    A new team keeps the ticket's stage when it has it (else its first stage) and its assignee
    when a member (else the new team's assignment method picks one).
    """
    before = messaging.snapshot(ticket)
    if team is not None and team.id != ticket.team_id:
        _change_team(ticket, team)
    if customer is not ...:
        ticket.customer = customer
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
    sla.refresh(ticket)


def _change_team(ticket: Ticket, team: Team) -> None:
    if not team.active:
        raise HelpdeskError(f"The team {team.name} is archived.")
    stage = ticket.stage if ticket.stage in team.stages else first_stage(team)
    if stage is None:
        raise HelpdeskError(f"The team {team.name} has no stage to put tickets in.")
    ticket.team = team
    if stage.id != ticket.stage_id:
        ticket.stage = stage
        ticket.stage_changed_at = utcnow()
        ticket.closed_at = (ticket.closed_at or utcnow()) if stage.is_closing else None
    if ticket.assignee is not None and not team.has_member(ticket.assignee):
        ticket.assignee = None
    if ticket.assignee is None:
        ticket.assignee = pick_assignee(team)
        if ticket.assignee is not None:
            messaging.follow(ticket.ensure_thread(), user=ticket.assignee)


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


# ---- the ticket list (SPEC §4.5): search, filters, groups, sorting, bulk changes ---------------

LIST_STATUSES = ("open", "closed", "all")
LIST_GROUPS = {"stage": "Stage", "assignee": "Assigned to", "team": "Team", "priority": "Priority"}
LIST_SORTS = {"priority": "Priority", "newest": "Newest", "oldest": "Oldest", "sla": "SLA deadline",
              "updated": "Last update"}


@dataclass
class TicketFilters:
    """What a list of tickets shows: the query string of /helpdesk/tickets, parsed."""

    q: str = ""
    mine: bool = False
    unassigned: bool = False
    status: str = "open"
    urgent: bool = False
    sla_failed: bool = False
    team_id: int | None = None
    tag_id: int | None = None
    type_id: int | None = None
    stage_id: int | None = None
    assignee_id: int | None = None
    group: str = ""
    sort: str = "priority"

    @property
    def narrowed(self) -> bool:
        """Whether anything beyond the default (open tickets) is asked for."""
        return any((self.q, self.mine, self.unassigned, self.status != "open", self.urgent, self.sla_failed,
                    self.team_id, self.tag_id, self.type_id, self.stage_id, self.assignee_id))


@dataclass
class TicketGroup:
    key: object
    label: str
    count: int


@dataclass
class TicketPage:
    """One page of a ticket list, with the count of every group the filters select."""

    items: list
    total: int
    page: int
    pages: int
    per_page: int
    groups: dict

    @property
    def first(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.total else 0

    @property
    def last(self) -> int:
        return min(self.page * self.per_page, self.total)


def _list_conditions(user: User, filters: TicketFilters) -> list:
    # The teams as a list of ids rather than a membership subquery: the planner then reads a
    # team's open tickets in the list's order from ix_helpdesk_tickets_open_order.
    conditions = [] if user.is_admin else [Ticket.team_id.in_(
        list(db.session.scalars(select(TeamMember.team_id).where(TeamMember.user_id == user.id))))]
    if filters.status == "open":
        conditions.append(Ticket.closed_at.is_(None))
    elif filters.status == "closed":
        conditions.append(Ticket.closed_at.is_not(None))
    q = " ".join((filters.q or "").split())
    if q:
        pattern = contains_pattern(q.lower())
        customers = select(Contact.id).where(or_(func.lower(Contact.name).like(pattern, escape="\\"),
                                                 func.lower(Contact.email).like(pattern, escape="\\")))
        matches = [func.lower(Ticket.title).like(pattern, escape="\\"), Ticket.customer_id.in_(customers)]
        ref = q.lstrip("#")
        if ref.isdigit() and len(ref) <= 10:
            matches.append(Ticket.id == int(ref))
        conditions.append(or_(*matches))
    if filters.mine:
        conditions.append(Ticket.assignee_id == user.id)
    if filters.unassigned:
        conditions.append(Ticket.assignee_id.is_(None))
    if filters.urgent:
        conditions.append(Ticket.priority == 3)
    if filters.sla_failed:
        conditions.append(Ticket.sla_failed.is_(True))
    for column, value in ((Ticket.team_id, filters.team_id), (Ticket.type_id, filters.type_id),
                          (Ticket.stage_id, filters.stage_id), (Ticket.assignee_id, filters.assignee_id)):
        if value is not None:
            conditions.append(column == value)
    if filters.tag_id is not None:
        conditions.append(Ticket.tags.any(Tag.id == filters.tag_id))
    return conditions


def _sort_order(sort: str) -> list:
    deadline_last = Ticket.sla_deadline.asc().nulls_last()
    return {
        "newest": [Ticket.id.desc()],
        "oldest": [Ticket.id.asc()],
        "sla": [deadline_last, Ticket.priority.desc(), Ticket.id],
        "updated": [Ticket.updated_at.desc(), Ticket.id.desc()],
    }.get(sort, [Ticket.priority.desc(), deadline_last, Ticket.id.desc()])


def _group_column(group: str):
    return {"stage": Ticket.stage_id, "assignee": Ticket.assignee_id, "team": Ticket.team_id,
            "priority": Ticket.priority}.get(group)


def ticket_list(user: User, filters: TicketFilters, page: int = 1, per_page: int = 50) -> TicketPage:
    """The tickets `user` may read that match `filters`, one page of them in the chosen order.

    Two queries whatever the page holds: the count (per group when grouping), then the page;
    the page's stages, teams, assignees, customers and tags load in one query each.
    """
    conditions = _list_conditions(user, filters)
    group_column = _group_column(filters.group)
    groups: dict = {}
    if group_column is None:
        total = db.session.scalar(select(func.count(Ticket.id)).where(*conditions))
    else:
        counts = db.session.execute(select(group_column, func.count(Ticket.id)).where(*conditions)
                                    .group_by(group_column)).all()
        groups = dict(counts)
        total = sum(groups.values())
    pages = max((total + per_page - 1) // per_page, 1)
    page = min(max(page, 1), pages)
    query = select(Ticket).where(*conditions)
    order = _sort_order(filters.sort)
    if filters.group == "stage":
        query = query.join(Stage, Stage.id == Ticket.stage_id)
        order = [Stage.sequence, Stage.id, *order]
    elif filters.group == "team":
        query = query.join(Team, Team.id == Ticket.team_id)
        order = [Team.name, Team.id, *order]
    elif filters.group == "assignee":
        query = query.outerjoin(User, User.id == Ticket.assignee_id)
        order = [Ticket.assignee_id.is_not(None), User.name, User.id, *order]  # unassigned first
    elif filters.group == "priority":
        order = [Ticket.priority.desc(), *order]
    items = db.session.scalars(
        query.options(selectinload(Ticket.tags), joinedload(Ticket.stage), joinedload(Ticket.team),
                      joinedload(Ticket.assignee), joinedload(Ticket.customer))
        .order_by(*order).offset((page - 1) * per_page).limit(per_page)).all()
    return TicketPage(items=items, total=total, page=page, pages=pages, per_page=per_page, groups=groups)


def group_of(ticket: Ticket, group: str) -> TicketGroup | None:
    """The group a listed ticket falls in (its key and header), or None when not grouping."""
    if group == "stage":
        return TicketGroup(ticket.stage_id, ticket.stage.name, 0)
    if group == "team":
        return TicketGroup(ticket.team_id, ticket.team.name, 0)
    if group == "assignee":
        return TicketGroup(ticket.assignee_id, ticket.assignee.name if ticket.assignee else "Unassigned", 0)
    if group == "priority":
        return TicketGroup(ticket.priority, PRIORITIES[ticket.priority], 0)
    return None


def readable_tickets(user: User, ticket_ids) -> list[Ticket] | None:
    """The tickets named by id when `user` may read every one of them, else None."""
    wanted = set(ticket_ids)
    if not wanted:
        return []
    found = list(db.session.scalars(select(Ticket).where(Ticket.id.in_(wanted), Ticket.staff_read_filter(user))
                                    .order_by(Ticket.id)))
    return found if len(found) == len(wanted) else None


def bulk_change(tickets: list[Ticket], by: User, *, assignee: User | None = ..., stage: Stage | None = None,
                tag_name: str | None = None) -> int:
    """Assign, move or tag many tickets at once: all of them or, when the rules refuse any, none.

    Every ticket is checked before any is touched, and the refusal names each ticket and why, so
    nobody has to find out which half of a selection changed.
    """
    if not tickets:
        raise HelpdeskError("Tick the tickets to change first.")
    refused = []
    member_of = {}
    for ticket in tickets:
        if assignee is not ... and assignee is not None:
            if ticket.team_id not in member_of:
                member_of[ticket.team_id] = ticket.team.has_member(assignee)
            if not member_of[ticket.team_id]:
                refused.append(f"{ticket.ref}: {assignee.name} is not a member of {ticket.team.name}")
        if stage is not None and stage not in ticket.team.stages:
            refused.append(f"{ticket.ref}: “{stage.name}” is not a stage of {ticket.team.name}")
    if refused:
        raise HelpdeskError("Nothing was changed. " + "; ".join(refused) + ".")
    tag = tags_named([tag_name])[0] if tag_name and tag_name.strip() else None
    for ticket in tickets:
        if assignee is not ...:
            assign(ticket, assignee, by)
        if stage is not None:
            move(ticket, stage, by)
        if tag is not None and tag not in ticket.tags:
            update(ticket, by, tags=[*ticket.tags, tag])
    return len(tickets)


def change_ticket(ticket: Ticket, by: User, *, title: str, priority: int, ticket_type: TicketType | None,
                  tags, team: Team, stage: Stage, assignee: User | None) -> None:
    """The ticket page's form: every field at once, in the order the rules need (the team first,
    so the stage and assignee are checked against the team the ticket ends up in)."""
    team_changes = team.id != ticket.team_id
    update(ticket, by, title=title, priority=priority, ticket_type=ticket_type, tags=tags, team=team)
    if not team_changes or stage in team.stages:
        move(ticket, stage, by)
    if not team_changes or (assignee is not None and team.has_member(assignee)):
        if assignee != ticket.assignee:
            assign(ticket, assignee, by)


def customer_for(email: str, name: str = "") -> Contact | None:
    """The contact a new ticket is for: the one with this address, or a new one (None: no email)."""
    if not (email or "").strip():
        if (name or "").strip():
            raise HelpdeskError("Give the customer's email too, so replies reach them.")
        return None
    try:
        address = contacts.normalize_address(email)
    except contacts.AddressError as err:
        raise HelpdeskError(f"The customer's email is not valid: {err}") from None
    return contacts.for_address(" ".join((name or "").split())[:160], address)
