"""Forms of Settings › Live chat. They check shapes (numbers, known choices); the rules (lengths,
colours, patterns, conditions on earlier steps) are the service's (services/livechat_admin.py)."""
from flask_wtf import FlaskForm
from wtforms import (BooleanField, ColorField, HiddenField, IntegerField, RadioField, SelectField, StringField,
                     TextAreaField)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, NumberRange, Optional

from app.blueprints.admin.helpdesk_forms import NO_ID, optional_id
from app.services import livechat_admin as setup

MAX_TEST_REPLIES = 5000


class ChannelForm(FlaskForm):
    name = StringField("Name", render_kw={"maxlength": setup.MAX_NAME})
    button_text = StringField("Button text", default="Chat with us", render_kw={"maxlength": setup.MAX_BUTTON_TEXT})
    header_text = StringField("Header", render_kw={"maxlength": setup.MAX_HEADER_TEXT})
    welcome_message = TextAreaField("Welcome message", render_kw={"rows": 3})
    placeholder = StringField("Input placeholder", default="Type a message…",
                              render_kw={"maxlength": setup.MAX_PLACEHOLDER})
    button_color = ColorField("Button colour", default="#4f46e5")
    header_color = ColorField("Header colour", default="#4f46e5")
    bot_name = StringField("Bot's name", default="Assistant", render_kw={"maxlength": setup.MAX_BOT_NAME})
    team = SelectField("Tickets from chats go to", coerce=optional_id, default=NO_ID)
    active = BooleanField("On: the button shows on the sites that embed it", default=True)


class OperatorForm(FlaskForm):
    # Not limited to the choices: the service says why someone cannot answer chats.
    user = SelectField("Staff member", coerce=optional_id, validate_choice=False,
                       validators=[NumberRange(min=1, message="Pick someone.")])


class RuleForm(FlaskForm):
    url_pattern = StringField("Pages (regular expression)",
                              render_kw={"spellcheck": "false", "placeholder": "/pricing|/docs/.*"})
    countries = StringField("Countries", render_kw={"placeholder": "FR, BE, CH", "spellcheck": "false"})
    action = RadioField("Then", default="show", choices=[SelectChoice(*item) for item in setup.ACTION_LABELS.items()])
    auto_open_seconds = IntegerField("After (seconds)", default=0, validators=[Optional()],
                                     render_kw={"min": 0, "max": setup.MAX_AUTO_OPEN_SECONDS})
    script = SelectField("Chatbot", coerce=optional_id, default=NO_ID)
    bot_only_when_offline = BooleanField("Bot only when no operator is available")


class ScriptForm(FlaskForm):
    name = StringField("Name", render_kw={"maxlength": setup.MAX_NAME})


class StepForm(FlaskForm):
    kind = SelectField("The bot will", default="text",
                       choices=[SelectChoice(*item) for item in setup.STEP_LABELS.items()])
    message = TextAreaField("Message", render_kw={"rows": 3})
    answers = TextAreaField("Answers (one per line)", render_kw={"rows": 3})
    only_if_step = SelectField("Only if", coerce=optional_id, default=NO_ID)
    only_if_answer = TextAreaField("was answered (one per line; empty: any answer)", render_kw={"rows": 2})


class ScriptTestForm(FlaskForm):
    """The test panel: a GET (it changes nothing), so no CSRF."""

    class Meta:
        csrf = False

    replies = TextAreaField("The visitor replies (one per line)", render_kw={"rows": 4},
                            validators=[Length(max=MAX_TEST_REPLIES, message=f"Keep the replies under "
                                                                             f"{MAX_TEST_REPLIES:,} characters.")])
    pick = HiddenField(validators=[Length(max=setup.MAX_ANSWER)])  # an answer button's label
