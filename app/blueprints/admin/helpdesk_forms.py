"""Forms of Settings › Helpdesk. They check shapes (numbers, known choices); the rules (names
taken, teams left without an open stage, bad times) are the service's (services/helpdesk_config.py)."""
from flask_wtf import FlaskForm
from wtforms import (BooleanField, FloatField, IntegerField, RadioField, SelectField, SelectMultipleField,
                     StringField, TextAreaField)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from app.models import ASSIGNMENT_METHODS, PRIORITIES
from app.services.helpdesk_config import ASSIGNMENT_HINTS, TAG_COLORS
from app.services.working_time import DAY_NAMES

NAME_REQUIRED = "Enter a name."
ASSIGNMENT_LABELS = {"manual": "Manual", "random": "Random", "balanced": "Balanced"}
ESCALATION_CHOICES = [("", "Do nothing"), ("notify", "Notify the team leads"), ("raise_priority", "Raise the priority")]
TAG_COLOR_NAMES = ("Indigo", "Cyan", "Pink", "Green", "Amber", "Violet", "Blue", "Red")
NO_ID = 0  # the "none" option of a select of records


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def optional_id(value):
    """A select's record id; empty or junk becomes NO_ID (the choices then refuse junk)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1 if value not in (None, "") else NO_ID


class TeamForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(NAME_REQUIRED), Length(max=80)], filters=[_strip])
    description = TextAreaField("Description", validators=[Length(max=2000)])
    members = SelectMultipleField("Members", coerce=int)
    leads = SelectMultipleField("Leads", coerce=int)
    assignment = RadioField("Assignment", default="manual",
                            choices=[(m, f"{ASSIGNMENT_LABELS[m]} — {ASSIGNMENT_HINTS[m]}") for m in ASSIGNMENT_METHODS])
    use_email = BooleanField("Email: mail to the team's alias opens tickets", default=True)
    use_website_form = BooleanField("Website form: customers open tickets on the support page")
    use_livechat = BooleanField("Live chat: chats can become tickets")
    use_sla = BooleanField("SLA: deadlines from the team's policies")
    use_ratings = BooleanField("Ratings: ask the customer for a rating when a ticket closes")
    customers_may_close = BooleanField("Customers may close their tickets")
    reopen_on_reply = BooleanField("A customer's reply reopens a closed ticket", default=True)
    calendar = SelectField("Working hours", coerce=optional_id)
    daily_target = IntegerField("Daily target", default=5,
                                validators=[InputRequired("Enter a number of tickets."),
                                            NumberRange(min=0, max=1000, message="From 0 to 1000 tickets.")])


class StageForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(NAME_REQUIRED), Length(max=60)], filters=[_strip])
    sequence = IntegerField("Order", validators=[Optional(), NumberRange(min=0, max=100_000)])
    teams = SelectMultipleField("Teams", coerce=int)
    is_closing = BooleanField("Closing: a ticket here is closed (solved or cancelled)")
    is_folded = BooleanField("Folded: the column starts collapsed on the board")
    pauses_sla = BooleanField("Waiting on customer: SLA clocks pause here")
    mail_subject = StringField("Email subject", validators=[Length(max=200)])
    mail_body = TextAreaField("Email text", validators=[Length(max=10_000)])


class StageDeleteForm(FlaskForm):
    move_to = SelectField("Move its tickets to", coerce=optional_id)


class MoveForm(FlaskForm):
    direction = SelectField(choices=[("up", "Up"), ("down", "Down")])


class TypeForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(NAME_REQUIRED), Length(max=60)], filters=[_strip])


class TagForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(NAME_REQUIRED), Length(max=40)], filters=[_strip])
    color = RadioField("Colour", coerce=int, default=0,
                       choices=[(i, TAG_COLOR_NAMES[i]) for i in range(TAG_COLORS)])


class CalendarForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(NAME_REQUIRED), Length(max=80)], filters=[_strip])
    tz = StringField("Time zone", default="UTC", validators=[DataRequired("Pick a time zone.")], filters=[_strip])
    day_0 = StringField(DAY_NAMES[0])
    day_1 = StringField(DAY_NAMES[1])
    day_2 = StringField(DAY_NAMES[2])
    day_3 = StringField(DAY_NAMES[3])
    day_4 = StringField(DAY_NAMES[4])
    day_5 = StringField(DAY_NAMES[5])
    day_6 = StringField(DAY_NAMES[6])
    holidays = TextAreaField("Holidays", validators=[Length(max=10_000)])
    special_days = TextAreaField("Special days", validators=[Length(max=10_000)])

    @property
    def days(self):
        return [self[f"day_{i}"] for i in range(7)]


class PolicyForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(NAME_REQUIRED), Length(max=80)], filters=[_strip])
    description = TextAreaField("Description", validators=[Length(max=2000)])
    min_priority = SelectField("Minimum priority", coerce=int, default=0,
                               choices=[(p, label) for p, label in PRIORITIES.items()])
    types = SelectMultipleField("Ticket types", coerce=int)
    tags = SelectMultipleField("Tags", coerce=int)
    customer = StringField("Customer (email)", validators=[Optional(), Length(max=254)], filters=[_strip])
    first_reply_hours = FloatField("First reply within", validators=[Optional()])
    next_reply_hours = FloatField("Next reply within", validators=[Optional()])
    resolution_hours = FloatField("Resolution within", validators=[Optional()])
    resolution_stage = SelectField("Resolved on reaching", coerce=optional_id)
    escalate_hours = FloatField("Escalate this many hours before a deadline", validators=[Optional()])
    escalate_action = SelectField("Escalation", choices=ESCALATION_CHOICES, default="")
    active = BooleanField("Active", default=True)


class FormFieldForm(FlaskForm):
    """One extra field of a team's website form (the rules: services/helpcenter.py)."""

    label = StringField("Label", validators=[DataRequired("A field needs a label."), Length(max=80)], filters=[_strip])
    key = StringField("Name", validators=[DataRequired("Give the field a name."), Length(max=40)], filters=[_strip])
    kind = SelectField("Type", choices=[("text", "Text"), ("email", "Email"), ("phone", "Phone"), ("url", "Web address"),
                                        ("select", "Choice list")])
    placeholder = StringField("Placeholder", validators=[Length(max=120)])
    help_text = StringField("Help text", validators=[Length(max=300)])
    default = StringField("Default value", validators=[Length(max=200)])
    choices = TextAreaField("Choices (one per line)", validators=[Length(max=4000)])
    required = BooleanField("Required")
    visible = BooleanField("Shown on the form", default=True)
    target = SelectField("The answer goes to", choices=[
        ("extra", "The ticket's form details"), ("priority", "Priority (Low, Medium, High, Urgent)"),
        ("type", "Ticket type (by name)"), ("tags", "Tags (existing ones, comma-separated)"),
        ("customer_phone", "Customer's phone"), ("customer_company", "Customer's company")])


class SideTextForm(FlaskForm):
    form_side_text = TextAreaField("Side text (Markdown)", validators=[Length(max=5000)])


class ArticleForm(FlaskForm):
    title = StringField("Question", validators=[DataRequired("An answer needs a title."), Length(max=200)],
                        filters=[_strip])
    body = TextAreaField("Answer (Markdown)", validators=[Length(max=50_000)])
    sequence = IntegerField("Order", default=10, validators=[Optional(), NumberRange(min=0, max=100_000)])
    published = BooleanField("Published", default=True)
