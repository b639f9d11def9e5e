"""Rich text of pages and notices is sanitised on the way in (AD3): real XSS payloads, plain
and encoded, leave nothing that runs; what a hospital notice needs stays."""
import re

import pytest

from hospital.content.sanitiser import clean

PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<img src=x onerror=alert(1)>",
    "<img src=\"https://ok.example/a.png\" onerror=\"alert(1)\">",
    "<img src=javascript:alert(1)>",
    "<img src=\"data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+\">",
    "<a href=\"javascript:alert(1)\">x</a>",
    "<a href=\"JaVaScRiPt:alert(1)\">x</a>",
    "<a href=\"&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)\">x</a>",
    "<a href=\"&#x6A;avascript&colon;alert(1)\">x</a>",
    "<a href=\"java\tscript:alert(1)\">x</a>",
    "<a href=\" javascript:alert(1)\">x</a>",
    "<a href=\"vbscript:msgbox(1)\">x</a>",
    "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">x</a>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<p style=\"width: expression(alert(1))\">x</p>",
    "<div style=\"background:url(javascript:alert(1))\">x</div>",
    "<style>@import 'https://evil.example/x.css';</style>",
    "<iframe src=\"https://evil.example\"></iframe>",
    "<object data=\"https://evil.example/x.swf\"></object>",
    "<embed src=\"https://evil.example/x.swf\">",
    "<body onload=alert(1)>",
    "<p onmouseover=\"alert(1)\">hover</p>",
    "<a href=\"https://ok.example\" onclick=\"alert(1)\">x</a>",
    "<form action=\"https://evil.example\"><input type=submit></form>",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
    "<base href=\"https://evil.example/\">",
    "<link rel=stylesheet href=https://evil.example/x.css>",
    "<details open ontoggle=alert(1)>",
    "<!--<img src=x onerror=alert(1)>-->",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
    "<template><img src=x onerror=alert(1)></template>",
    "<table background=\"javascript:alert(1)\"><tr><td>x</td></tr></table>",
    "<blockquote cite=\"javascript:alert(1)\">q</blockquote>",
    "\"><script>alert(1)</script>",
    "<img src=`x`onerror=alert(1)>",
    "<a href=\"https://ok.example\" style=\"position:fixed;top:0\">x</a>",
    "<IMG SRC=\"jav&#x09;ascript:alert('XSS');\">",
    "<img/src=\"x\"/onerror=alert(1)>",
    "%3Cscript%3Ealert(1)%3C/script%3E",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
]
# Anything a browser could run or load code from, in what is left.
EXECUTABLE = re.compile(r"<\s*(script|style|iframe|object|embed|svg|math|form|meta|base|link|body|template|input)\b"
                        r"|\son[a-z]+\s*=|javascript:|vbscript:|data:|expression\(|\sstyle\s*=|\sbackground\s*=",
                        re.IGNORECASE)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_no_xss_payload_survives_sanitising_AD3(payload):
    cleaned = clean(payload)
    assert not EXECUTABLE.search(cleaned), cleaned
    assert clean(cleaned) == cleaned  # stable: what is stored is what a second pass would keep


def test_what_a_notice_needs_stays_AD3():
    html = ("<h2>春节门诊</h2><p>急诊<strong>照常</strong>，<em>普通门诊</em>暂停。<br>咨询：</p>"
            "<ul><li>一</li></ul><ol><li>二</li></ol><h3>a</h3><h4>b</h4><blockquote>引用</blockquote>"
            "<table><caption>排班</caption><thead><tr><th colspan=\"2\">科室</th></tr></thead>"
            "<tbody><tr><td rowspan=\"2\">内科</td><td>周一</td></tr></tbody></table>"
            "<img src=\"https://cdn.example.org/map.png\" alt=\"院区地图\">")
    assert clean(html) == html


@pytest.mark.parametrize("href", ["https://www.example.org/a?b=1", "http://www.example.org/", "mailto:info@example.org",
                                  "tel:+86-21-12345678", "/content/pages/visiting-hours", "visiting-hours#top"])
def test_links_keep_allowed_schemes_and_relative_paths_AD3(href):
    assert f'href="{href}"' in clean(f'<a href="{href}">x</a>')


@pytest.mark.parametrize("src", ["http://cdn.example.org/a.png", "/a.png", "a.png", "//cdn.example.org/a.png",
                                 "data:image/png;base64,AAAA", "https://"])
def test_images_load_over_https_only_AD3(src):
    assert "src=" not in clean(f'<img src="{src}" alt="a">')


def test_unknown_tags_are_unwrapped_with_their_text_kept_AD3():
    assert clean("<div><span>门诊</span> <font color=red>时间</font></div>") == "门诊 时间"
    assert clean("<td colspan=\"x\">a</td>") == "a"
