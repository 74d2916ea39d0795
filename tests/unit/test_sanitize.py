"""services/sanitize.py: hostile HTML is neutralised, plain text becomes safe HTML."""
import re

import pytest

from app.services.sanitize import clean_html, html_to_text, text_to_html

# (payload, something that must not survive)
HOSTILE = [
    ("<script>alert(1)</script>", "<script"),
    ("<SCRIPT SRC=//evil.test/x.js></SCRIPT>", "evil.test"),
    ('<img src="x" onerror="alert(1)">', "onerror"),
    ('<a href="#" onclick="steal()">x</a>', "onclick"),
    ('<body onload="alert(1)">', "onload"),
    ('<a href="javascript:alert(1)">click</a>', "javascript:"),
    ('<a href="JaVaScRiPt:alert(1)">click</a>', "javascript:"),
    ('<a href="  javascript:alert(1)">click</a>', "javascript:"),
    ('<a href="&#106;avascript:alert(1)">click</a>', "avascript"),
    ('<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>', "data:"),
    ('<img src="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=">', "data:"),
    ('<a href="vbscript:msgbox(1)">x</a>', "vbscript"),
    ("<svg onload=alert(1)><circle r=1 /></svg>", "<svg"),
    ("<svg><script>alert(1)</script></svg>", "alert"),
    ("<math><mi xlink:href=javascript:alert(1)>x</mi></math>", "javascript"),
    ('<iframe src="https://evil.test"></iframe>', "<iframe"),
    ('<object data="x.swf"></object>', "<object"),
    ('<embed src="x.swf">', "<embed"),
    ('<form action="https://evil.test"><input name=a></form>', "<form"),
    ('<meta http-equiv="refresh" content="0;url=https://evil.test">', "<meta"),
    ('<link rel="stylesheet" href="https://evil.test/x.css">', "<link"),
    ("<style>body{display:none}</style>", "<style"),
    ('<p style="background:url(javascript:alert(1))">x</p>', "style="),
    ('<div hx-get="/admin/users" hx-trigger="load">x</div>', "hx-"),
    ('<div hx-post="/logout" hx-trigger="load">x</div>', "hx-post"),
    ('<span data-hx-post="/logout" data-hx-trigger="load">x</span>', "data-hx"),
    ('<a href="/x" hx-on:click="alert(1)">x</a>', "hx-on"),
    ('<div hx-swap-oob="true" id="bell">x</div>', "hx-swap-oob"),
    ('<span class="mention evil-class">x</span>', "evil-class"),
    ('<div id="bell">x</div>', 'id="bell"'),
    ('<base href="https://evil.test/">', "<base"),
    ("<!-- <script>alert(1)</script> -->", "<!--"),
    ('<img src="https://tracker.test/p.gif" onload="x()">', "onload"),
    ("<template><script>alert(1)</script></template>", "<template"),
]


@pytest.mark.parametrize("payload, forbidden", HOSTILE, ids=[p[:40] for p, _ in HOSTILE])
def test_hostile_html_is_neutralised(payload, forbidden):
    cleaned = clean_html(payload)
    assert forbidden.lower() not in cleaned.lower()
    assert not re.search(r"\son\w+\s*=", cleaned, re.I)


@pytest.mark.parametrize("payload, forbidden", HOSTILE, ids=[p[:40] for p, _ in HOSTILE])
def test_hostile_text_from_the_composer_is_escaped(payload, forbidden):
    html = text_to_html(payload)
    assert "<script" not in html.lower() and "<svg" not in html.lower() and "<iframe" not in html.lower()
    assert not re.search(r"<[^>]*\s(on\w+|hx-[\w:-]+|data-hx-[\w-]+|style)\s*=", html, re.I)


def test_safe_formatting_and_links_are_kept():
    cleaned = clean_html('<p>Hi <strong>there</strong>, see <a href="https://example.com/a?b=1">this</a></p>'
                         '<ul><li>one</li></ul><span class="mention">@Ann</span>')
    assert "<strong>there</strong>" in cleaned and "<li>one</li>" in cleaned
    assert 'href="https://example.com/a?b=1"' in cleaned and 'rel="noopener noreferrer nofollow"' in cleaned
    assert '<span class="mention">@Ann</span>' in cleaned


def test_text_becomes_paragraphs_and_clickable_links():
    html = text_to_html("Hello <team>,\nsee https://example.com/x.\n\nBye & thanks")
    assert html.startswith("<p>Hello &lt;team&gt;,<br>")
    assert '<a href="https://example.com/x" rel="noopener noreferrer nofollow">https://example.com/x</a>.' in html
    assert "<p>Bye &amp; thanks</p>" in html


def test_html_to_text_keeps_lines_and_unescapes():
    assert html_to_text("<p>One &amp; two<br>three</p><p>four</p>") == "One & two\nthree\n\nfour"
