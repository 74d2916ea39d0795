"""Forms of the Settings pages (users, invitations, mail aliases, outbox and inbound filters)."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, IntegerField, SearchField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.blueprints.auth.forms import valid_email
from app.services.accounts import USER_STATUSES

ROLE_CHOICES = [
    SelectChoice("agent", "Agent — works in Discuss, Helpdesk and Contacts"),
    SelectChoice("admin", "Admin — an agent who also manages users and settings"),
    SelectChoice("portal", "Portal — a customer who follows their own requests"),
]
ROLE_LABELS = {"admin": "Admin", "agent": "Agent", "portal": "Portal"}


def with_any(label: str, options) -> list[SelectChoice]:
    """Filter choices: "any" (an empty value) first, then (value, label) pairs."""
    return [SelectChoice("", label), *(SelectChoice(value, text) for value, text in options)]


class FilterForm(FlaskForm):
    """Query-string filters of a list page: read from request.args, no CSRF (GET only)."""

    class Meta:
        csrf = False

    page = IntegerField(validators=[Optional(), NumberRange(min=1)], default=1)

    @property
    def page_number(self) -> int:
        """The requested page, 1 when missing or not a positive number."""
        return self.page.data if self.page.data and not self.page.errors else 1


class UserFilterForm(FilterForm):
    q = SearchField("Search", validators=[Optional(), Length(max=120)],
                    render_kw={"placeholder": "Search name or email", "autocomplete": "off"})
    role = SelectField("Role", choices=with_any("All roles", ROLE_LABELS.items()), validate_choice=False)
    status = SelectField("Status", choices=with_any("Any status", ((s, s.title()) for s in USER_STATUSES)),
                         validate_choice=False)


class OutboxFilterForm(FilterForm):
    kind = SelectField("Kind", validate_choice=False)


class InviteForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter the email address to invite."),
                                            Length(max=254), valid_email],
                       render_kw={"autocomplete": "off", "autofocus": True})
    name = StringField("Name", validators=[DataRequired("Enter the person's name."), Length(max=120)],
                       render_kw={"autocomplete": "off"})
    role = SelectField("Role", choices=ROLE_CHOICES, default="agent")


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES)


class InboundFilterForm(FilterForm):
    status = HiddenField()
    q = SearchField("Search", validators=[Optional(), Length(max=120)],
                    render_kw={"placeholder": "Search sender or subject", "autocomplete": "off"})


class AliasForm(FlaskForm):
    """A new alias. The rules of a name (syntax, reserved, taken) are the service's (inbound.create_alias)."""
    local_part = StringField("Address", validators=[DataRequired("Enter the part of the address before the @.")],
                             filters=[lambda value: value.strip().lower() if value else value],
                             render_kw={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "none",
                                        "maxlength": 64, "placeholder": "support"})
    target = SelectField("Creates", validate_choice=False)


class AliasEditForm(FlaskForm):
    target = SelectField("Creates", validate_choice=False)
    active = BooleanField("Takes mail in")
