"""Helpdesk pages: the dashboard and the reports (see the package's routes.py for access rules).

Both show the numbers of the teams I work on (every active team for an admin); naming any other
team in the reports' filter is a 404, as if it did not exist.
"""
from flask import abort, render_template, request
from flask_login import current_user

from app.blueprints.helpdesk import bp
from app.models.base import utcnow
from app.services import helpdesk, helpdesk_stats
from app.templating import user_tz


@bp.get("/helpdesk")
def dashboard():
    """My teams' open work, my tickets and how I am doing today."""
    teams = helpdesk.teams_of(current_user)
    overview = helpdesk_stats.overview(current_user, teams, user_tz(), utcnow()) if teams else None
    return render_template("helpdesk/dashboard.html", overview=overview)


@bp.get("/helpdesk/reports")
def reports():
    """Charts over the last 7, 30 or 90 days: created and closed, resolution time, SLA, open work."""
    teams = helpdesk.teams_of(current_user)
    raw_team = request.args.get("team", "")
    team = None
    if raw_team.isdigit() and len(raw_team) <= 10:
        team = next((t for t in teams if t.id == int(raw_team)), None)
        if team is None:
            abort(404)
    days = helpdesk_stats.parse_period(request.args.get("days"))
    report = helpdesk_stats.report([team] if team else teams, days, user_tz(), utcnow()) if teams else None
    template = "helpdesk/_chart_report.html" if request.htmx else "helpdesk/reports.html"
    return render_template(template, report=report, teams=teams, team=team, days=days,
                           periods=helpdesk_stats.PERIODS)
