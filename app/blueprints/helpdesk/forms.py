"""Forms of the helpdesk pages: the list's filters and bulk changes, a new ticket, a ticket's
fields, a line of time. Choices are filled by the views (the teams, stages and people a user
works with); values a form did not offer are refused by the form or by the services."""
from flask_wtf import FlaskForm
from wtforms import (BooleanField, DateField, EmailField, RadioField, SearchField, SelectField,
                     SelectMultipleField, StringField, TextAreaField)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from app.models import PRIORITIES
from app.services import helpdesk
from app.services.helpdesk import LIST_GROUPS, LIST_SORTS, LIST_STATUSES, TicketFilters

PRIORITY_CHOICES = [SelectChoice(value, label) for value, label in PRIORITIES.items()]


def any_of(label: str, options) -> list[SelectChoice]:
    """Filter choices: "any" (an empty value) first, then (id, name) pairs."""
    return [SelectChoice("", label), *(SelectChoice(str(value), text) for value, text in options)]


def _id(value) -> int | None:
    """A positive id from the query string, or None for anything else (junk is ignored)."""
    value = (value or "").strip()
    return int(value) if value.isdigit() and 0 < len(value) <= 10 else None


class TicketFilterForm(FlaskForm):
    """The list's query string (GET, no CSRF): every filter is shareable as a link."""

    class Meta:
        csrf = False

    q = SearchField("Search", validators=[Optional(), Length(max=120)],
                    render_kw={"placeholder": "Search title, #ref, customer", "autocomplete": "off"})
    mine = BooleanField("My tickets")
    unassigned = BooleanField("Unassigned")
    urgent = BooleanField("Urgent")
    sla_failed = BooleanField("SLA failed")
    status = SelectField("Status", choices=[SelectChoice("open", "Open"), SelectChoice("closed", "Closed"),
                                            SelectChoice("all", "Open and closed")],
                         default="open", validate_choice=False)
    team = SelectField("Team", validate_choice=False)
    stage = SelectField("Stage", validate_choice=False)
    assignee = SelectField("Assigned to", validate_choice=False)
    type = SelectField("Type", validate_choice=False)
    tag = SelectField("Tag", validate_choice=False)
    group = SelectField("Group by", choices=any_of("No grouping", LIST_GROUPS.items()), validate_choice=False)
    sort = SelectField("Sort", choices=[SelectChoice(k, v) for k, v in LIST_SORTS.items()], default="priority",
                       validate_choice=False)
    page = StringField()
    # One named filter, as other pages link to the list (`?filter=unassigned`).
    filter = StringField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.filter.data in ("mine", "unassigned", "urgent", "sla_failed"):
            self[self.filter.data].data = True  # the checkbox shows it, and the next search keeps it

    def to_filters(self) -> TicketFilters:
        """The filters for services/helpdesk.ticket_list; unknown values fall back to the defaults."""
        return TicketFilters(
            q=(self.q.data or "")[:120], mine=bool(self.mine.data), unassigned=bool(self.unassigned.data),
            status=self.status.data if self.status.data in LIST_STATUSES else "open",
            urgent=bool(self.urgent.data), sla_failed=bool(self.sla_failed.data),
            team_id=_id(self.team.data), stage_id=_id(self.stage.data), assignee_id=_id(self.assignee.data),
            type_id=_id(self.type.data), tag_id=_id(self.tag.data),
            group=self.group.data if self.group.data in LIST_GROUPS else "",
            sort=self.sort.data if self.sort.data in LIST_SORTS else "priority")

    @property
    def page_number(self) -> int:
        return _id(self.page.data) or 1

    def query_args(self, **changes) -> dict:
        """The filters as url_for arguments (defaults left out), with `changes` applied."""
        filters = self.to_filters()
        args = {"q": filters.q or None, "mine": 1 if filters.mine else None,
                "unassigned": 1 if filters.unassigned else None, "urgent": 1 if filters.urgent else None,
                "sla_failed": 1 if filters.sla_failed else None,
                "status": filters.status if filters.status != "open" else None,
                "team": filters.team_id, "stage": filters.stage_id, "assignee": filters.assignee_id,
                "type": filters.type_id, "tag": filters.tag_id, "group": filters.group or None,
                "sort": filters.sort if filters.sort != "priority" else None}
        args.update(changes)
        return {key: value for key, value in args.items() if value is not None}


class BulkForm(FlaskForm):
    """Changes to the ticked rows of the list; the button pressed (`action`) says which."""

    ticket_ids = SelectMultipleField(validate_choice=False)
    action = StringField()
    assignee_id = SelectField("Assign to", validate_choice=False)
    stage_id = SelectField("Move to", validate_choice=False)
    tag = StringField("Add tag", validators=[Optional(), Length(max=40, message="A tag is at most 40 characters.")],
                      render_kw={"placeholder": "Tag", "autocomplete": "off"})
    back = StringField()  # the list's query string, to come back to the same view

    def chosen_ids(self) -> list[int] | None:
        """The ticked ticket ids, or None when one of them is not an id at all."""
        ids = [_id(value) for value in self.ticket_ids.data or []]
        return None if None in ids else ids


class NewTicketForm(FlaskForm):
    team_id = SelectField("Team", validate_choice=False)
    title = StringField("Title", validators=[DataRequired("Give the ticket a title."),
                                             Length(max=helpdesk.MAX_TITLE)],
                        render_kw={"autocomplete": "off", "autofocus": True})
    customer_email = EmailField("Customer email", validators=[Optional(), Length(max=254)],
                                render_kw={"autocomplete": "off", "placeholder": "name@example.com"})
    customer_name = StringField("Customer name", validators=[Optional(), Length(max=160)],
                                render_kw={"autocomplete": "off"})
    priority = RadioField("Priority", choices=PRIORITY_CHOICES, coerce=int, default=0)
    type_id = SelectField("Type", validate_choice=False)
    tags = StringField("Tags", validators=[Optional(), Length(max=400)],
                       render_kw={"autocomplete": "off", "placeholder": "billing, printer"})
    assignee_id = SelectField("Assign to", validate_choice=False)
    description = TextAreaField("Description", validators=[Optional(), Length(max=20000)], render_kw={"rows": 6})


class TicketForm(FlaskForm):
    """A ticket's fields on its page."""

    title = StringField("Title", validators=[DataRequired("A ticket needs a title."), Length(max=helpdesk.MAX_TITLE)],
                        render_kw={"autocomplete": "off"})
    priority = RadioField("Priority", choices=PRIORITY_CHOICES, coerce=int)
    type_id = SelectField("Type", validate_choice=False)
    tags = StringField("Tags", validators=[Optional(), Length(max=400)],
                       render_kw={"autocomplete": "off", "placeholder": "e.g. billing, vip"})
    team_id = SelectField("Team", validate_choice=False)
    stage_id = SelectField("Stage", validate_choice=False)
    assignee_id = SelectField("Assigned to", validate_choice=False)


class TimesheetForm(FlaskForm):
    day = DateField("Day", validators=[InputRequired("Enter the day the work was done.")])
    duration = StringField("Duration", validators=[DataRequired("Enter how long it took, like 1:30, 1.5 or 90m."),
                                                   Length(max=20)],
                           render_kw={"placeholder": "1:30", "autocomplete": "off", "inputmode": "decimal"})
    description = StringField("What was done", validators=[Optional(), Length(max=200)],
                              render_kw={"autocomplete": "off", "placeholder": "Diagnosed the printer"})


def tag_names(text: str) -> list[str]:
    """ "billing, printer" -> the names, blanks dropped."""
    return [name.strip() for name in (text or "").split(",") if name.strip()]
