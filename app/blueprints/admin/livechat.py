"""Settings › Live chat (SPEC §7.1, §7.2, §7.7): website channels — their look with a live
preview, operators, rules and the embed line — and chatbot scripts with a test run. Admins only,
as every page of the admin blueprint. Each view validates the form, calls one function of
services/livechat_admin.py, commits, then flashes and redirects; a refused form comes back with
its errors and a 422."""
from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from app import wants_fragment
from app.blueprints.admin import bp
from app.blueprints.admin.helpdesk_forms import NO_ID, MoveForm
from app.blueprints.admin.livechat_forms import (ChannelForm, OperatorForm, RuleForm, ScriptForm, ScriptTestForm,
                                                 StepForm)
from app.blueprints.auth.forms import add_error
from app.extensions import db
from app.models import ChatbotScript, ChatbotStep, LivechatChannel, LivechatRule, Team, User
from app.services import accounts, chatbot
from app.services import livechat_admin as setup
from app.services.livechat_admin import LivechatSetupError

INVALID = 422
CONFLICT = 409


def _get(model, record_id: int):
    """The record, or a 404 as if it did not exist."""
    record = db.session.get(model, record_id)
    if record is None:
        abort(404)
    return record


def _of(model, record_id: int, parent_field: str, parent_id: int):
    """A rule of this channel or a step of this script; another's is a 404."""
    record = db.session.get(model, record_id)
    if record is None or getattr(record, parent_field) != parent_id:
        abort(404)
    return record


def _refused(err: LivechatSetupError, form) -> None:
    """Show the refusal on its field and forget what the service half-changed."""
    db.session.rollback()
    add_error(form, err)


@bp.context_processor
def livechat_settings_labels():
    return {"step_labels": setup.STEP_LABELS, "action_labels": setup.ACTION_LABELS,
            "step_label": setup.step_label, "condition_text": setup.condition_text}


@bp.get("/admin/livechat")
def livechat_settings():
    """Settings › Live chat opens on its channels."""
    return redirect(url_for("admin.livechat_channels"))


# ---- channels ----------------------------------------------------------------------------------

@bp.get("/admin/livechat/channels")
def livechat_channels():
    """The channels, with their operators and chats going on; turned-off ones last."""
    return render_template("admin/livechat/channels.html", rows=setup.channel_rows())


def _channel_form(channel: LivechatChannel | None, **kwargs) -> ChannelForm:
    """The form, offering the active teams (and an archived one the channel is still on)."""
    form = ChannelForm(**kwargs)
    teams = list(db.session.scalars(select(Team).where(Team.active.is_(True)).order_by(Team.name)))
    if channel is not None and channel.team is not None and not channel.team.active:
        teams.append(channel.team)
    form.team.choices = [SelectChoice(NO_ID, "No team (chats do not become tickets)")] + [
        SelectChoice(t.id, t.name if t.active else f"{t.name} (archived)") for t in teams]
    return form


def _channel_fields(form: ChannelForm) -> dict:
    return {"name": form.name.data, "button_text": form.button_text.data, "header_text": form.header_text.data,
            "welcome_message": form.welcome_message.data, "placeholder": form.placeholder.data,
            "button_color": form.button_color.data, "header_color": form.header_color.data,
            "bot_name": form.bot_name.data, "active": form.active.data,
            "team": db.session.get(Team, form.team.data) if form.team.data else None}


def _render_channel(channel: LivechatChannel | None, form: ChannelForm, *, delete_error: str | None = None,
                    status: int = 200):
    return render_template("admin/livechat/channel.html", channel=channel, form=form, tab="settings",
                           delete_error=delete_error,
                           chats=setup.session_count(channel) if channel else 0), status


@bp.route("/admin/livechat/channels/new", methods=["GET", "POST"])
def new_livechat_channel():
    """Create a channel; its key and identity secret are made here."""
    form = _channel_form(None)
    if form.validate_on_submit():
        try:
            channel = setup.create_channel(**_channel_fields(form))
        except LivechatSetupError as err:
            _refused(err, form)
        else:
            db.session.commit()
            flash(f"The channel {channel.name} is ready: add its operators, then put it on your site.", "success")
            return redirect(url_for("admin.livechat_channel", channel_id=channel.id))
    return _render_channel(None, form, status=INVALID if form.is_submitted() else 200)


@bp.route("/admin/livechat/channels/<int:channel_id>", methods=["GET", "POST"])
def livechat_channel(channel_id: int):
    """A channel's texts, colours and team, with a preview of the button and the chat window."""
    channel = _get(LivechatChannel, channel_id)
    if request.method == "GET":
        form = _channel_form(channel, formdata=None, obj=channel)
        form.team.data = channel.team_id or NO_ID
        return _render_channel(channel, form)
    form = _channel_form(channel)
    if form.validate_on_submit():
        try:
            setup.update_channel(channel, **_channel_fields(form))
        except LivechatSetupError as err:
            _refused(err, form)
        else:
            db.session.commit()
            flash(f"{channel.name} is saved.", "success")
            return redirect(url_for("admin.livechat_channel", channel_id=channel.id))
    return _render_channel(channel, form, status=INVALID)


@bp.post("/admin/livechat/channels/<int:channel_id>/delete")
def delete_livechat_channel(channel_id: int):
    """Delete a channel that never had a chat (one with chats is turned off instead)."""
    channel = _get(LivechatChannel, channel_id)
    name = channel.name
    try:
        setup.delete_channel(channel)
    except LivechatSetupError as err:
        db.session.rollback()
        form = _channel_form(channel, formdata=None, obj=channel)
        form.team.data = channel.team_id or NO_ID
        return _render_channel(channel, form, delete_error=str(err), status=CONFLICT)
    db.session.commit()
    flash(f"The channel {name} is deleted.", "success")
    return redirect(url_for("admin.livechat_channels"))


# ---- operators ---------------------------------------------------------------------------------

def _render_operators(channel: LivechatChannel, form: OperatorForm | None = None, status: int = 200):
    form = form or OperatorForm(formdata=None)
    form.user.choices = [SelectChoice(NO_ID, "Pick someone")] + [
        SelectChoice(u.id, f"{u.name} ({u.email})") for u in setup.operator_candidates(channel)]
    return render_template("admin/livechat/operators.html", channel=channel, form=form, tab="operators"), status


@bp.get("/admin/livechat/channels/<int:channel_id>/operators")
def livechat_operators(channel_id: int):
    """Who answers the channel's chats (operators may also join and leave themselves)."""
    return _render_operators(_get(LivechatChannel, channel_id))


@bp.post("/admin/livechat/channels/<int:channel_id>/operators")
def add_livechat_operator(channel_id: int):
    """Make a staff member an operator of the channel."""
    channel = _get(LivechatChannel, channel_id)
    form = OperatorForm()
    if form.validate_on_submit():
        user = _get(User, form.user.data)
        try:
            setup.add_operator(channel, user)
        except LivechatSetupError as err:
            _refused(err, form)
        else:
            db.session.commit()
            flash(f"{user.name} answers {channel.name} from now on.", "success")
            return redirect(url_for("admin.livechat_operators", channel_id=channel.id))
    return _render_operators(channel, form, INVALID)


@bp.post("/admin/livechat/channels/<int:channel_id>/operators/<int:user_id>/remove")
def remove_livechat_operator(channel_id: int, user_id: int):
    """Take an operator off the channel; the chats they have stay theirs."""
    channel = _get(LivechatChannel, channel_id)
    user = _get(User, user_id)
    if not channel.has_operator(user):
        abort(404)
    setup.remove_operator(channel, user)
    db.session.commit()
    flash(f"{user.name} gets no new chats of {channel.name}.", "success")
    return redirect(url_for("admin.livechat_operators", channel_id=channel.id))


# ---- rules -------------------------------------------------------------------------------------

def _rule_form(**kwargs) -> RuleForm:
    form = RuleForm(**kwargs)
    form.script.choices = [SelectChoice(NO_ID, "No bot")] + [SelectChoice(s.id, s.name) for s in setup.scripts()]
    return form


def _render_rules(channel: LivechatChannel, *, form: RuleForm | None = None, editing: LivechatRule | None = None,
                  status: int = 200):
    if form is None:
        form = _rule_form(formdata=None, obj=editing)
        form.script.data = editing.script_id if editing and editing.script_id else NO_ID
    return render_template("admin/livechat/rules.html", channel=channel, form=form, editing=editing,
                           tab="rules"), status


@bp.get("/admin/livechat/channels/<int:channel_id>/rules")
def livechat_rules(channel_id: int):
    """The channel's rules in order: which pages and countries show, open or hide the chat, with which bot."""
    channel = _get(LivechatChannel, channel_id)
    rule_id = request.args.get("rule", "")
    editing = _of(LivechatRule, int(rule_id), "channel_id", channel.id) if rule_id.isdigit() else None
    return _render_rules(channel, editing=editing)


@bp.post("/admin/livechat/channels/<int:channel_id>/rules", defaults={"rule_id": None})
@bp.post("/admin/livechat/channels/<int:channel_id>/rules/<int:rule_id>")
def save_livechat_rule(channel_id: int, rule_id: int | None):
    """Add a rule (last in the order) or change one."""
    channel = _get(LivechatChannel, channel_id)
    editing = _of(LivechatRule, rule_id, "channel_id", channel.id) if rule_id else None
    form = _rule_form()
    if form.validate_on_submit():
        fields = {"url_pattern": form.url_pattern.data, "countries": form.countries.data, "action": form.action.data,
                  "auto_open_seconds": form.auto_open_seconds.data,
                  "script": db.session.get(ChatbotScript, form.script.data) if form.script.data else None,
                  "bot_only_when_offline": form.bot_only_when_offline.data}
        try:
            if editing:
                setup.update_rule(editing, **fields)
            else:
                setup.create_rule(channel, **fields)
        except LivechatSetupError as err:
            _refused(err, form)
        else:
            db.session.commit()
            flash("The rule is saved.", "success")
            return redirect(url_for("admin.livechat_rules", channel_id=channel.id))
    return _render_rules(channel, form=form, editing=editing, status=INVALID)


@bp.post("/admin/livechat/channels/<int:channel_id>/rules/<int:rule_id>/move")
def move_livechat_rule(channel_id: int, rule_id: int):
    """Move a rule one place up or down (the first rule that matches decides)."""
    channel = _get(LivechatChannel, channel_id)
    rule = _of(LivechatRule, rule_id, "channel_id", channel.id)
    form = MoveForm()
    if not form.validate_on_submit():
        abort(400)
    setup.move_rule(rule, form.direction.data)
    db.session.commit()
    return redirect(url_for("admin.livechat_rules", channel_id=channel.id))


@bp.post("/admin/livechat/channels/<int:channel_id>/rules/<int:rule_id>/delete")
def delete_livechat_rule(channel_id: int, rule_id: int):
    """Remove a rule."""
    channel = _get(LivechatChannel, channel_id)
    setup.delete_rule(_of(LivechatRule, rule_id, "channel_id", channel.id))
    db.session.commit()
    flash("The rule is removed.", "success")
    return redirect(url_for("admin.livechat_rules", channel_id=channel.id))


# ---- widget ------------------------------------------------------------------------------------

@bp.get("/admin/livechat/channels/<int:channel_id>/widget")
def livechat_widget(channel_id: int):
    """The line to paste on a site, the share link, and how a site vouches for its signed-in users."""
    channel = _get(LivechatChannel, channel_id)
    return render_template("admin/livechat/widget.html", channel=channel, tab="widget",
                           loader_url=accounts.external_url("livechat.loader", key=channel.key),
                           share_url=accounts.external_url("livechat.share", key=channel.key))


@bp.post("/admin/livechat/channels/<int:channel_id>/identity-secret")
def regenerate_livechat_secret(channel_id: int):
    """A new identity secret; hashes made with the old one are no longer trusted."""
    channel = _get(LivechatChannel, channel_id)
    setup.regenerate_identity_secret(channel)
    db.session.commit()
    flash("A new identity secret is made: put it on your site's server, or signed-in visitors chat anonymously.",
          "success")
    return redirect(url_for("admin.livechat_widget", channel_id=channel.id) + "#identity")


# ---- chatbot scripts ---------------------------------------------------------------------------

def _render_scripts(form: ScriptForm | None = None, status: int = 200):
    return render_template("admin/livechat/scripts.html", rows=setup.script_rows(),
                           form=form or ScriptForm(formdata=None)), status


@bp.get("/admin/livechat/scripts")
def chatbot_scripts():
    """The chatbot scripts, with their steps and the rules that start them."""
    return _render_scripts()


@bp.post("/admin/livechat/scripts")
def new_chatbot_script():
    """Create a script, then write its steps."""
    form = ScriptForm()
    if form.validate_on_submit():
        try:
            script = setup.create_script(form.name.data)
        except LivechatSetupError as err:
            _refused(err, form)
        else:
            db.session.commit()
            flash(f"The script {script.name} is ready for its steps.", "success")
            return redirect(url_for("admin.chatbot_script", script_id=script.id))
    return _render_scripts(form, INVALID)


def _step_form(script: ChatbotScript, editing: ChatbotStep | None, **kwargs) -> StepForm:
    form = StepForm(**kwargs)
    form.only_if_step.choices = [SelectChoice(NO_ID, "Always")] + [
        SelectChoice(s.id, f"‘{setup.step_label(s)}’") for s in setup.condition_choices(script, editing)]
    return form


def _run(script: ChatbotScript, replies: list[str]):
    return chatbot.simulate(list(script.steps), replies)


def _render_script(script: ChatbotScript, *, step_form: StepForm | None = None, editing: ChatbotStep | None = None,
                   name_form: ScriptForm | None = None, test_form: ScriptTestForm | None = None,
                   replies: list[str] | None = None, error: str | None = None, status: int = 200):
    if step_form is None:
        step_form = _step_form(script, editing, formdata=None, obj=editing)
        step_form.only_if_step.data = editing.only_if_step_id if editing and editing.only_if_step_id else NO_ID
    replies = replies or []
    return render_template("admin/livechat/script.html", script=script, step_form=step_form, editing=editing,
                           name_form=name_form or ScriptForm(formdata=None, obj=script),
                           test_form=test_form or ScriptTestForm(formdata=None), run=_run(script, replies),
                           rules=setup.rules_using(script), error=error), status


@bp.get("/admin/livechat/scripts/<int:script_id>")
def chatbot_script(script_id: int):
    """A script's steps in order, with their conditions, a form to add or change one, and a test run."""
    script = _get(ChatbotScript, script_id)
    step_id = request.args.get("step", "")
    editing = _of(ChatbotStep, int(step_id), "script_id", script.id) if step_id.isdigit() else None
    return _render_script(script, editing=editing)


@bp.post("/admin/livechat/scripts/<int:script_id>/name")
def rename_chatbot_script(script_id: int):
    """Rename a script."""
    script = _get(ChatbotScript, script_id)
    form = ScriptForm()
    if form.validate_on_submit():
        try:
            setup.rename_script(script, form.name.data)
        except LivechatSetupError as err:
            _refused(err, form)
        else:
            db.session.commit()
            flash(f"The script is now {script.name}.", "success")
            return redirect(url_for("admin.chatbot_script", script_id=script.id))
    return _render_script(script, name_form=form, status=INVALID)


@bp.post("/admin/livechat/scripts/<int:script_id>/delete")
def delete_chatbot_script(script_id: int):
    """Delete a script and its steps; rules that started it start no bot."""
    script = _get(ChatbotScript, script_id)
    name = script.name
    rules = setup.delete_script(script)
    db.session.commit()
    now = f"; {rules} rule now starts no bot." if rules == 1 else f"; {rules} rules now start no bot." if rules else "."
    flash(f"The script {name} is deleted{now}", "success")
    return redirect(url_for("admin.chatbot_scripts"))


@bp.post("/admin/livechat/scripts/<int:script_id>/steps", defaults={"step_id": None})
@bp.post("/admin/livechat/scripts/<int:script_id>/steps/<int:step_id>")
def save_chatbot_step(script_id: int, step_id: int | None):
    """Add a step at the end of the script, or change one."""
    script = _get(ChatbotScript, script_id)
    editing = _of(ChatbotStep, step_id, "script_id", script.id) if step_id else None
    form = _step_form(script, editing)
    if form.validate_on_submit():
        condition = db.session.get(ChatbotStep, form.only_if_step.data) if form.only_if_step.data else None
        fields = {"kind": form.kind.data, "message": form.message.data, "answers": form.answers.data,
                  "only_if_step": condition, "only_if_answer": form.only_if_answer.data}
        try:
            if editing:
                setup.update_step(editing, **fields)
            else:
                setup.create_step(script, **fields)
        except LivechatSetupError as err:
            _refused(err, form)
        else:
            db.session.commit()
            flash("The step is saved.", "success")
            return redirect(url_for("admin.chatbot_script", script_id=script.id) + "#steps")
    return _render_script(script, step_form=form, editing=editing, status=INVALID)


@bp.post("/admin/livechat/scripts/<int:script_id>/steps/<int:step_id>/move")
def move_chatbot_step(script_id: int, step_id: int):
    """Move a step one place up or down; refused when a condition would test a later step."""
    script = _get(ChatbotScript, script_id)
    step = _of(ChatbotStep, step_id, "script_id", script.id)
    form = MoveForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        setup.move_step(step, form.direction.data)
    except LivechatSetupError as err:
        db.session.rollback()
        return _render_script(script, error=str(err), status=CONFLICT)
    db.session.commit()
    return redirect(url_for("admin.chatbot_script", script_id=script.id) + "#steps")


@bp.post("/admin/livechat/scripts/<int:script_id>/steps/<int:step_id>/delete")
def delete_chatbot_step(script_id: int, step_id: int):
    """Remove a step; steps that ran only after its answer run always from then on."""
    script = _get(ChatbotScript, script_id)
    freed = setup.delete_step(_of(ChatbotStep, step_id, "script_id", script.id))
    db.session.commit()
    flash("The step is removed" + (f"; {freed} step{'s' if freed != 1 else ''} that depended on it now "
                                   f"run{'s' if freed == 1 else ''} always." if freed else "."), "success")
    return redirect(url_for("admin.chatbot_script", script_id=script.id) + "#steps")


@bp.get("/admin/livechat/scripts/<int:script_id>/test")
def test_chatbot_script(script_id: int):
    """Run the script as a visitor giving the typed replies (an answer button adds its own); the
    panel alone for htmx. Nothing is saved."""
    script = _get(ChatbotScript, script_id)
    form = ScriptTestForm(formdata=request.args)
    status = 200
    replies = []
    if form.validate():
        replies = [line.strip() for line in (form.replies.data or "").splitlines() if line.strip()]
        if form.pick.data:
            replies.append(form.pick.data.strip())
            form.replies.data = "\n".join(replies)
    else:
        status = INVALID
    if wants_fragment():
        return render_template("admin/livechat/_script_test.html", script=script, test_form=form,
                               run=_run(script, replies)), status
    return _render_script(script, test_form=form, replies=replies, status=status)
