"""Sanitising user-supplied HTML (messages, inbound mail, templates) with nh3.

Allowlist only: no scripts, no event handlers, no javascript:/data: URLs and no
hx-*/data-* attributes — htmx would act on those in an agent's browser.
"""
import html
import re

import nh3

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "img", "li", "ol", "p", "pre", "s", "small", "span", "strong", "sub", "sup",
    "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "abbr": {"title"},
}
# Classes our own renderer emits; anything else a sender puts in `class` is dropped.
# (ammonia refuses `class` in both lists: allowed_classes alone permits the attribute.)
ALLOWED_CLASSES = {"span": {"mention"}}

_URL = re.compile(r"(https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]])")


def clean_html(raw: str) -> str:
    """Return `raw` reduced to the allowlist; links get rel=noopener noreferrer."""
    return nh3.clean(
        raw or "",
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        allowed_classes=ALLOWED_CLASSES,
        url_schemes={"http", "https", "mailto", "cid"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def text_to_html(text: str) -> str:
    """Plain text from a composer -> safe HTML: escaped, links made clickable, paragraphs kept."""
    text = (text or "").replace("\r\n", "\n").strip()
    paragraphs = [p for p in re.split(r"\n{2,}", text) if p.strip()]
    out = []
    for para in paragraphs:
        escaped = html.escape(para, quote=True)
        linked = _URL.sub(lambda m: f'<a href="{m.group(1)}">{m.group(1)}</a>', escaped)
        out.append("<p>" + linked.replace("\n", "<br>") + "</p>")
    return clean_html("".join(out))


def html_to_text(raw: str) -> str:
    """A readable plain-text version of sanitised HTML (for mail text parts and previews)."""
    text = re.sub(r"<br\s*/?>", "\n", raw or "", flags=re.I)
    text = re.sub(r"</p\s*>", "\n\n", text, flags=re.I)
    text = nh3.clean(text, tags=set())
    return html.unescape(re.sub(r"\n{3,}", "\n\n", text)).strip()
