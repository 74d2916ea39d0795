"""Board cards and list rows, each rendered once for everyone who sees the same ticket the same
way (services/pagecache.part): a board whose team changed renders only the cards that did."""
from flask import current_app
from markupsafe import Markup

from app.blueprints.helpdesk import bp
from app.services import pagecache


def _shown(ticket) -> tuple:
    """What a card or a row shows of its ticket (names of tags, people and stages: `helpdesk`)."""
    return (ticket.id, ticket.title, ticket.priority, ticket.team_id, ticket.stage_id, ticket.assignee_id,
            ticket.customer_id, ticket.sla_deadline, ticket.sla_failed, ticket.closed_at, ticket.updated_at,
            tuple(tag.id for tag in ticket.tags))


def _macro(template: str, name: str):
    return getattr(current_app.jinja_env.get_template(template).module, name)


@bp.app_template_global()
def board_card(ticket, badge, with_csrf: bool = True) -> Markup:
    """A ticket's card (`helpdesk/_card.html`), with its open-activity badge."""
    key = ("card", with_csrf, _shown(ticket), (badge.count, badge.overdue) if badge else None)
    return pagecache.part(key, lambda: _macro("helpdesk/_card.html", "card")(
        ticket, badge, pagecache.csrf_token() if with_csrf else None))


@bp.app_template_global()
def list_row(ticket, checked: bool) -> Markup:
    """A ticket's row in the list (`helpdesk/_row.html`)."""
    return pagecache.part(("row", checked, _shown(ticket)),
                          lambda: _macro("helpdesk/_row.html", "row")(ticket, checked))
