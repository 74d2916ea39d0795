"""Forms of Settings › Canned responses. They check shapes; the rules (a shortcut taken, an
archived team) are the service's (services/canned.py)."""
from flask_wtf import FlaskForm
from wtforms import SearchField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from app.blueprints.admin.forms import FilterForm
from app.blueprints.admin.helpdesk_forms import optional_id
from app.services.canned import MAX_BODY, MAX_TITLE


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class CannedForm(FlaskForm):
    shortcut = StringField("Shortcut", filters=[_strip],
                           validators=[DataRequired("Enter a shortcut, such as refund-policy."),
                                       Length(max=42, message="A shortcut has at most 40 characters.")],
                           render_kw={"autocomplete": "off", "spellcheck": "false", "maxlength": 42})
    title = StringField("Title", filters=[_strip],
                        validators=[DataRequired("Give the response a title."), Length(max=MAX_TITLE)],
                        render_kw={"maxlength": MAX_TITLE})
    team = SelectField("Team", coerce=optional_id)
    body = TextAreaField("Text", validators=[DataRequired("Write the text of the response."), Length(max=MAX_BODY)],
                         render_kw={"rows": 9})


class CannedFilterForm(FilterForm):
    q = SearchField("Search", validators=[Optional(), Length(max=120)],
                    render_kw={"placeholder": "Search shortcut, title or text", "autocomplete": "off"})
