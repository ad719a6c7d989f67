"""The report renders in a real browser (headless Chromium), offline, without errors.

Skips when /usr/bin/chromium is absent (Debian's ``chromium`` package; ``.ci/run`` installs
it). The screenshot is kept in ``test-artifacts/report.png`` for a human to look at.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from integrators.report import SECTIONS, write_report
from test_report import build_run, cfg_for

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="headless Chromium not installed (/usr/bin/chromium absent; "
                              "apt-get install -y chromium)"),
]

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]


def chromium(args: list[str], profile: Path, timeout: int = 90) -> subprocess.CompletedProcess:
    return subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=timeout)


def page_errors(stderr: str) -> list[str]:
    """Console messages and failed loads that Chromium logs for the page."""
    bad = re.compile(r"CONSOLE|Uncaught|net::ERR_|Failed to load|Refused to", re.I)
    return [line for line in stderr.splitlines() if bad.search(line)]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    con, out, truth = build_run(tmp)
    path = write_report(con, out, cfg_for(tmp), truth)
    con.close()
    return path, tmp


def test_every_section_heading_is_in_the_rendered_dom(report):
    path, tmp = report
    res = chromium(["--dump-dom", path.as_uri()], tmp / "profile-dom")
    assert res.returncode == 0, res.stderr[-2000:]
    dom = res.stdout
    headings = re.findall(r"<h2[^>]*>(.*?)</h2>", dom, flags=re.S)
    text = [re.sub(r"<[^>]+>", " ", h) for h in headings]
    for i, (_, title) in enumerate(SECTIONS, start=1):
        assert any(title in t for t in text), title
    assert len(headings) == len(SECTIONS)
    assert dom.count("<svg") >= 8  # the inline charts survived parsing
    assert page_errors(res.stderr) == []


def test_screenshot_renders_offline(report):
    path, tmp = report
    ARTIFACTS.mkdir(exist_ok=True)
    shot = tmp / "report.png"
    res = chromium([f"--screenshot={shot}", "--window-size=1280,4000", path.as_uri()],
                   tmp / "profile-shot")
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 50_000  # a page with charts, not blank
    assert page_errors(res.stderr) == []
    shutil.copyfile(shot, ARTIFACTS / "report.png")
    shutil.copyfile(path, ARTIFACTS / "report.html")
