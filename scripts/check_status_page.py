#!/usr/bin/env python3
"""The status page (`/`) as a browser renders it: starts the exporter on its demo, waits until it
is ready, and has headless Chromium load the page twice, once for its DOM and once for a
screenshot. Passes when every resource the exposition reports has its row in the rendered
table, under its name, and the screenshot is a page with something drawn on it.

    python3 scripts/check_status_page.py BINARY [SCREENSHOT]

Every step has a deadline; the exporter is stopped whatever happens.
"""

import html.parser
import os
import re
import shutil
import struct
import subprocess
import sys
import time
import urllib.request
import zlib

DEADLINE = 60  # seconds, for each step
BROWSERS = ("chromium-headless-shell", "chromium")
# Each kind's info family, and its label that holds the resource's name.
INFO_NAMES = (
    ("bedrock_customization_job_info", "job_name"),
    ("bedrock_custom_model_info", "model_name"),
    ("bedrock_custom_model_deployment_info", "deployment_name"),
    ("bedrock_provisioned_throughput_info", "provisioned_model_name"),
    ("bedrock_evaluation_job_info", "job_name"),
    ("bedrock_batch_inference_job_info", "job_name"),
    ("bedrock_model_import_job_info", "job_name"),
    ("bedrock_model_copy_job_info", "job_id"),
    ("bedrock_imported_model_info", "model_name"),
)


def fail(message):
    print(f"status page: {message}", file=sys.stderr)
    sys.exit(1)


def start(binary):
    """The exporter on its demo, and the address it serves on (from its log)."""
    env = dict(os.environ)
    env.pop("AWS_BEARER_TOKEN_BEDROCK", None)
    proc = subprocess.Popen(
        [binary, "--demo", "--web.listen-address=127.0.0.1:0"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    end = time.monotonic() + DEADLINE
    # readline blocks, but the exporter logs "serving metrics" within a second or exits.
    while time.monotonic() < end:
        line = proc.stderr.readline()
        if not line:
            fail(f"the exporter exited ({proc.wait()}) before serving")
        found = re.search(r'message="serving metrics" address=(\S+)', line)
        if found:
            return proc, found.group(1)
    proc.kill()
    fail("the exporter did not log its address in time")


def get(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


def wait_ready(base):
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        try:
            if get(base + "/readyz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    fail("/readyz did not turn 200 in time")


def expected_names(exposition):
    """The names the page must show: each resource's name, from its info series."""
    names = set()
    for line in exposition.splitlines():
        for family, label in INFO_NAMES:
            if line.startswith(family + "{"):
                found = re.search(rf'[{{,]{label}="([^"]+)"', line)
                if found:
                    names.add(found.group(1))
    return names


class Table(html.parser.HTMLParser):
    """The rows of the table after the "Resources" heading: the text of each cell."""

    def __init__(self):
        super().__init__()
        self.in_resources = False
        self.heading = False
        self.rows = []
        self.cell = None

    def handle_starttag(self, tag, attrs):
        if tag == "h2":
            self.heading = True
        elif tag == "tr" and self.in_resources:
            self.rows.append([])
        elif tag == "td" and self.in_resources:
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "h2":
            self.heading = False
        elif tag == "td" and self.cell is not None:
            self.rows[-1].append(self.cell)
            self.cell = None

    def handle_data(self, data):
        if self.heading:
            self.in_resources = data.strip() == "Resources"
        elif self.cell is not None:
            self.cell += data


def browser():
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    fail(f"no headless Chromium: install Debian's {BROWSERS[0]} package")


def chromium(args, url):
    command = [browser(), "--headless", "--no-sandbox", "--disable-gpu", *args, url]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        fail(f"Chromium did not finish in {DEADLINE} s: {' '.join(command)}")
    if done.returncode != 0:
        fail(f"Chromium exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def png_pixels(path):
    """Width, height and the distinct scanline bytes of a PNG (8-bit, no interlace)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(f"{path} is not a PNG")
    at, idat, width, height = 8, b"", 0, 0
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        body = data[at + 8 : at + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        at += 12 + length
    return width, height, zlib.decompress(idat)


def main():
    if len(sys.argv) not in (2, 3):
        fail("usage: check_status_page.py BINARY [SCREENSHOT]")
    binary = sys.argv[1]
    screenshot = os.path.abspath(sys.argv[2] if len(sys.argv) == 3 else "target/status-page.png")
    proc, address = start(binary)
    try:
        base = f"http://{address}"
        wait_ready(base)
        names = expected_names(get(base + "/metrics")[1])
        if len(names) < 4:
            fail(f"the demo's exposition names too few resources: {sorted(names)}")
        table = Table()
        table.feed(chromium(["--dump-dom"], base + "/"))
        shown = [row[1] for row in table.rows if len(row) > 1]
        missing = names - set(shown)
        if missing:
            fail(f"rendered without rows for {sorted(missing)}; rows: {shown}")
        if any(name.startswith("arn:") for name in shown):
            fail(f"a row shows an ARN where its name belongs: {shown}")
        if os.path.exists(screenshot):
            os.remove(screenshot)
        chromium([f"--screenshot={screenshot}", "--window-size=1400,900"], base + "/")
        width, height, pixels = png_pixels(screenshot)
        if (width, height) != (1400, 900) or len(set(pixels)) < 3:
            fail(f"{screenshot}: {width}x{height}, {len(set(pixels))} distinct bytes: blank?")
        print(
            f"status page: {len(shown)} rows rendered by Chromium, every one of the demo's "
            f"{len(names)} resources by name; screenshot {screenshot} ({width}x{height})"
        )
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    main()
