"""The compliance report's HTML in a real browser (Debian's chromium, headless): it renders, is not blank, and
what a person reads first - the period, the exceptions, the evidence base - is in the rendered page."""

import shutil
import struct
import subprocess
import zlib

import pytest
from test_compliance_report import KEY, SPAN, fill

from ansible_collections.changeward.hybrid.plugins.plugin_utils.governance import render, report
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/bootstrap.sh installs it)")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run")


def png_rows(path):
    """Width, height and the distinct pixel values of a PNG (8-bit RGB/RGBA, as chromium writes them)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels + 1
    colours = set()
    for y in range(0, height, max(1, height // 200)):  # sample rows; filter bytes differ, so compare raw rows
        row = raw[y * stride + 1 : (y + 1) * stride]
        colours.update(row[i : i + 3] for i in range(0, len(row), channels * 7))
    return width, height, colours


@pytest.fixture
def report_html(tmp_path, monkeypatch):
    for name in ("CHANGEWARD_LEDGER", "CHANGEWARD_LEDGER_KEY"):
        monkeypatch.delenv(name, raising=False)
    with api.open_ledger(str(tmp_path / "ledger.db"), key=KEY, checkpoint_interval=5) as led:
        fill(led)
        rep = report.build(led, SPAN, verification=led.verify(), ledger_name="ledger.db")
    path = tmp_path / "compliance-FY2026-Q4.html"
    path.write_text(render.to_html(rep), encoding="utf-8")
    return path, rep


def chromium(*args, cwd):
    return subprocess.run([CHROMIUM, *FLAGS, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_the_report_renders_in_a_browser_and_is_not_blank(report_html, tmp_path):
    path, _rep = report_html
    shot = tmp_path / "report.png"
    res = chromium(f"--screenshot={shot}", "--window-size=1400,1800", path.as_uri(), cwd=tmp_path)
    assert shot.exists(), res.stderr[-2000:]
    width, height, colours = png_rows(shot)
    assert (width, height) == (1400, 1800)
    assert len(colours) > 20  # text, tags and the header band: not an empty or error page


def test_the_rendered_page_reads_exceptions_first_with_the_evidence_base(report_html, tmp_path):
    path, rep = report_html
    res = chromium("--dump-dom", path.as_uri(), cwd=tmp_path)
    dom = res.stdout
    assert "Change compliance report" in dom and "FY2026-Q4" in dom, res.stderr[-2000:]
    first_exception = dom.index("Exceptions (5)")
    assert first_exception < dom.index("Control map") < dom.index("All changes (6)")
    assert dom.index("unattributed-r1", first_exception) < dom.index("CHG-BAD", first_exception)
    assert rep["ledger"]["through_hash"] in dom and "signed statement, key SHA256:" in dom
