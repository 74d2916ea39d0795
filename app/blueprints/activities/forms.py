"""Forms of the activities area: the form checks shape, the service checks meaning."""
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, ValidationError

from app.extensions import db
from app.models import ACTIVITY_TYPES, User
from app.services import activities
from app.services.activities import MAX_FEEDBACK_CHARS, MAX_NOTE_CHARS, MAX_SUMMARY_CHARS, ActivityError
from app.templating import local_today

TOO_LONG = "Too long: at most %(max)d characters."


class ActivityForm(FlaskForm):
    """Schedule an activity. `assignee_id` choices are set by the view (active staff)."""

    activity_type = RadioField("Type", choices=[SelectChoice(key, label) for key, label in ACTIVITY_TYPES.items()], default="todo",
                               validators=[InputRequired("Choose a type.")],
                               validate_choice=False)  # the service names unknown types
    summary = StringField("Summary", validators=[Length(max=MAX_SUMMARY_CHARS, message=TOO_LONG)])
    due_date = DateField("Due date", validators=[InputRequired("Choose a due date.")])
    assignee_id = SelectField("Assigned to", coerce=str, validate_choice=False)
    note = TextAreaField("Note", validators=[Length(max=MAX_NOTE_CHARS, message=TOO_LONG)])

    def __init__(self, *args, assignees=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.assignee_id.choices = [SelectChoice(str(u.id), u.name) for u in assignees]

    # The service's own checks, run here too so that every error shows at once.
    def validate_activity_type(self, field):
        _as_validation(activities.check_type, field.data)

    def validate_due_date(self, field):
        if field.data is None:  # unparsable: DateField already said so
            return
        _as_validation(activities.check_due_date, field.data, local_today(current_user))

    def validate_assignee_id(self, field):
        raw = field.data or ""
        _as_validation(activities.check_assignee, db.session.get(User, int(raw)) if raw.isdigit() else None)

    @property
    def assignee(self) -> User | None:
        raw = self.assignee_id.data or ""
        return db.session.get(User, int(raw)) if raw.isdigit() else None


def _as_validation(check, *args):
    try:
        check(*args)
    except ActivityError as err:
        raise ValidationError(str(err)) from None


class DoneForm(FlaskForm):
    """Mark an activity done, with optional feedback. `view` says which page to answer with."""

    class Meta:
        csrf = False  # CSRFProtect checks every POST (form field or X-CSRFToken header)

    feedback = TextAreaField("Feedback", validators=[Length(max=MAX_FEEDBACK_CHARS, message=TOO_LONG)])
    view = HiddenField(default="thread")
