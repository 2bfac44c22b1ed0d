"""The HTML report in a real headless browser (Debian's chromium): every plot is decoded and
laid out. Skipped where chromium is not installed (`apt-get install chromium`; CI installs it)."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shutil
import subprocess

import pytest
from PIL import Image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium), "
                                                         "so the HTML report is not checked in a browser")

# Appended to a copy of the report: once everything has loaded, what the browser made of each
# image is written into the DOM, which --dump-dom prints.
CHECK = """<script>
window.addEventListener("load", () => {
  const out = document.createElement("pre");
  out.id = "image-check";
  out.textContent = JSON.stringify([...document.images].map(image => {
    const box = image.getBoundingClientRect();
    return {complete: image.complete, natural: [image.naturalWidth, image.naturalHeight],
            shown: [box.width, box.height]};
  }));
  document.body.appendChild(out);
});
</script>
"""
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--run-all-compositor-stages-before-draw", "--virtual-time-budget=10000")


def test_the_plots_render_in_chromium(tiny_plugin, cli, tmp_path):
    run = cli("run", "tiny", "--warmup", "1", "--iterations", "8", "--repeat", "2", "--profiler", "cpu",
              "--set", "profiler_options.cpu.interval_ms=5", "--output", tmp_path, "--json")
    assert run.code == 0, run.err
    report = cli("report", run.run_dir(), "--format", "html")
    assert report.code == 0, report.err
    page = (run.run_dir() / "report.html").read_text()
    embedded = [Image.open(io.BytesIO(base64.b64decode(data))).size
                for data in re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]
    assert len(embedded) == 3  # step time, loss, CPU utilization

    checked = tmp_path / "checked.html"
    checked.write_text(page.replace("</body>", CHECK + "</body>"))
    browser = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                              checked.as_uri()], capture_output=True, text=True, timeout=120)
    assert browser.returncode == 0, browser.stderr[-2000:]
    found = re.search(r'<pre id="image-check">(.*?)</pre>', browser.stdout, re.S)
    assert found, f"the check script did not run; chromium printed: {browser.stdout[-500:]} {browser.stderr[-1000:]}"
    images = json.loads(html.unescape(found.group(1)))
    assert [tuple(image["natural"]) for image in images] == embedded  # decoded by the browser, full size
    for image in images:
        assert image["complete"] and image["shown"][0] > 100 and image["shown"][1] > 50
    assert "<h2>Utilization over the measured windows</h2>" in browser.stdout
