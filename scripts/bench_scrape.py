#!/usr/bin/env python3
"""The exporter's cost, measured side by side with nginx serving the same bytes.

    bash scripts/bench-scrape.sh            (builds the release binaries, then runs this)
    python3 scripts/bench_scrape.py --exporter target/release/bedrock-exporter \\
        --simulator target/release/examples/simulator [--duration 10] [--rounds 3]

For each fleet, a simulated Bedrock (examples/simulator.rs, a process of its own) serves N jobs
and M models; the exporter discovers them; nginx serves a copy of the exporter's exposition (the
plain text, and the same text gzipped beside it for gzip_static). Then:

- scrape throughput: `wrk` rounds with 4 connections, alternating exporter and nginx, plain and
  gzip (`Accept-Encoding: gzip`), the median of the rounds compared;
- peak memory of the exporter while those rounds run, sampled from /proc every 20 ms: resident
  anonymous and file pages, plus its in-memory files (the sealed exposition texts it sends with
  sendfile), mapped or not, as a container's memory limit counts them;
- RSS with 100 clients that send `GET /metrics` and never read the answer;
- CPU of a poll cycle (summed /proc/PID/task/*/schedstat, in ns) where 20 running jobs are read
  beside 2,500 unchanged ones, and with the 20 alone, from the log line that ends each cycle.

Prints the table of issue 9 with the goal of each row and whether it is met. Nothing is timed
inside the exporter's tests: this is the place for speed.
"""

import argparse
import gzip
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

MIB = 1024 * 1024


class Process:
    """A child whose stderr (or stdout) lines are kept, so the script can wait for one."""

    def __init__(self, argv, stream="stderr", env=None):
        self.lines = []
        self.cond = threading.Condition()
        kwargs = {"stdout": subprocess.PIPE} if stream == "stdout" else {"stderr": subprocess.PIPE, "stdout": subprocess.DEVNULL}
        self.proc = subprocess.Popen(argv, text=True, env=env, **kwargs)
        pipe = self.proc.stdout if stream == "stdout" else self.proc.stderr
        threading.Thread(target=self._read, args=(pipe,), daemon=True).start()

    def _read(self, pipe):
        for line in pipe:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def wait_for(self, pattern, after=0, timeout=600):
        """The first line matching `pattern` at or after line `after`, and its index."""
        regex = re.compile(pattern)
        end = time.monotonic() + timeout
        with self.cond:
            i = after
            while True:
                while i < len(self.lines):
                    m = regex.search(self.lines[i])
                    if m:
                        return m, i
                    i += 1
                if self.proc.poll() is not None:
                    raise SystemExit(f"{self.proc.args[0]} exited while waiting for {pattern!r}:\n" + "\n".join(self.lines[-20:]))
                if not self.cond.wait(max(0.0, end - time.monotonic())):
                    raise SystemExit(f"timed out waiting for {pattern!r}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def memory_parts(pid):
    """The exporter's resident anonymous, file and shared pages (`RssAnon`, `RssFile`,
    `RssShmem`) and the total size of its in-memory files (`memfds`: the sealed exposition texts,
    mapped or not), in bytes."""
    parts = {"RssAnon": 0, "RssFile": 0, "RssShmem": 0, "memfds": 0}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in parts:
                parts[name] = int(value.split()[0]) * 1024
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("/memfd:"):
                parts["memfds"] += os.stat(f"/proc/{pid}/fd/{fd}").st_size
        except OSError:
            pass
    return parts


def memory(pid):
    """The exporter's memory: anonymous and file-backed resident pages, and its in-memory files
    (the sealed exposition texts), mapped or not; a container's memory limit counts them all."""
    parts = memory_parts(pid)
    return parts["RssAnon"] + parts["RssFile"] + max(parts["RssShmem"], parts["memfds"])


def cpu_ns(pid):
    """CPU time of every thread of `pid`, in nanoseconds."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat", encoding="ascii") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


class RssSampler:
    def __init__(self, pid):
        self.pid, self.peak, self.running = pid, 0, True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            self.peak = max(self.peak, memory(self.pid))
            time.sleep(0.02)

    def stop(self):
        self.running = False
        self.thread.join()
        return self.peak


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_simulator(args, jobs, models, running):
    sim = Process([args.simulator, "--jobs", str(jobs), "--models", str(models), "--running", str(running)], stream="stdout")
    endpoint = sim.wait_for(r"listening on (\S+)")[0][1]
    return sim, endpoint


def start_exporter(args, endpoint, directory, interval="60s", jobs=None):
    """The exporter on the simulator at `endpoint`: discovering everything, or reading the
    configured `jobs` (names)."""
    config = os.path.join(directory, "config.yaml")
    if jobs is None:
        watch = "    discover:\n      jobs:\n        created_within: 3650d\n      models: {}\n"
    else:
        watch = "    jobs:\n" + "".join(f"      - {name}\n" for name in jobs)
    with open(config, "w", encoding="utf-8") as f:
        f.write(f"interval: {interval}\nterminal_interval: 30m\nrequest_timeout: 30s\nconcurrency: 16\ntargets:\n"
                f"  - region: us-east-1\n    endpoint_url: {endpoint}\n{watch}")
    env = {k: v for k, v in os.environ.items() if k != "AWS_BEARER_TOKEN_BEDROCK"}
    env.update(AWS_ACCESS_KEY_ID="AKIDBENCHBENCHBENCH", AWS_SECRET_ACCESS_KEY="bench", AWS_EC2_METADATA_DISABLED="true")
    exporter = Process([args.exporter, f"--config.file={config}", "--web.listen-address=127.0.0.1:0", "--log.level=debug"], env=env)
    address = exporter.wait_for(r'message="serving metrics" address=(\S+)')[0][1]
    exporter.wait_for("first poll cycle finished")
    return exporter, address


def start_nginx(directory, exposition):
    root = os.path.join(directory, "www")
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "metrics"), "wb") as f:
        f.write(exposition)
    with open(os.path.join(root, "metrics.gz"), "wb") as f:
        f.write(gzip.compress(exposition, compresslevel=1))
    port = free_port()
    conf = os.path.join(directory, "nginx.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write(f"""worker_processes auto;
pid {directory}/nginx.pid;
error_log {directory}/nginx.err warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    default_type text/plain;
    gzip_static on;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
""")
    nginx = subprocess.Popen(["nginx", "-p", directory, "-c", conf, "-g", "daemon off;"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                if r.read() == exposition:
                    return nginx, f"127.0.0.1:{port}"
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("nginx did not serve the exposition")
        time.sleep(0.05)


def wrk(address, zipped, args):
    argv = ["wrk", "-t2", f"-c{args.connections}", f"-d{args.duration}s", f"http://{address}/metrics"]
    if zipped:
        argv[1:1] = ["-H", "Accept-Encoding: gzip"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if errors:
        raise SystemExit(f"wrk saw errors against {address}:\n{out}")
    return rate


def fetch(address, zipped=False):
    headers = {"Accept-Encoding": "gzip"} if zipped else {}
    request = urllib.request.Request(f"http://{address}/metrics", headers=headers)
    with urllib.request.urlopen(request, timeout=60) as r:
        return r.read()


def scrape_rounds(args, exporter, address, nginx_address):
    """Median requests/s of each (server, encoding), and the exporter's peak RSS meanwhile."""
    rates = {key: [] for key in [("exporter", False), ("nginx", False), ("exporter", True), ("nginx", True)]}
    sampler = RssSampler(exporter.proc.pid)
    for _ in range(args.rounds):
        for (server, zipped) in rates:
            rates[(server, zipped)].append(wrk(address if server == "exporter" else nginx_address, zipped, args))
    peak = sampler.stop()
    return {key: statistics.median(v) for key, v in rates.items()}, peak


def idle_clients(address, count=100, hold=3.0):
    """Peak RSS while `count` clients ask for /metrics and never read the answer."""
    host, port = address.rsplit(":", 1)
    sockets = []
    for _ in range(count):
        s = socket.create_connection((host, int(port)))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n")
        sockets.append(s)
    return sockets, hold


def measure_fleet(args, jobs, models, directory, scrape=True):
    sim, endpoint = start_simulator(args, jobs, models, 0)
    exporter = nginx = None
    try:
        exporter, address = start_exporter(args, endpoint, directory)
        exposition = fetch(address)
        result = {"exposition": len(exposition), "idle_rss": memory(exporter.proc.pid)}
        if scrape:
            nginx, nginx_address = start_nginx(directory, exposition)
            result["rates"], result["peak_rss"] = scrape_rounds(args, exporter, address, nginx_address)
        else:
            sampler = RssSampler(exporter.proc.pid)
            threads = [threading.Thread(target=lambda z=z: [fetch(address, z) for _ in range(20)]) for z in (False, True) * 2]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            result["peak_rss"] = sampler.stop()
        sampler = RssSampler(exporter.proc.pid)
        sockets, hold = idle_clients(address)
        time.sleep(hold)
        result["idle_clients_rss"] = sampler.stop()
        for s in sockets:
            s.close()
        result["hwm"] = int(re.search(r"VmHWM:\s+(\d+)", open(f"/proc/{exporter.proc.pid}/status").read())[1]) * 1024
        return result
    finally:
        if nginx:
            nginx.terminate()
            nginx.wait()
        if exporter:
            exporter.stop()
        sim.stop()


def cycle_cpu(args, finished, running, directory, discover, cycles=5):
    """Median CPU (ms) of a steady-state poll cycle: `running` jobs read beside `finished` ones,
    configured by name or discovered."""
    sim, endpoint = start_simulator(args, finished, 0, running)
    exporter = None
    try:
        names = None if discover else [f"fine-tune-{i:06}" for i in range(finished + running)]
        exporter, _ = start_exporter(args, endpoint, directory, interval="3s", jobs=names)
        _, line = exporter.wait_for("poll cycle finished")
        samples = []
        before = cpu_ns(exporter.proc.pid)
        for _ in range(cycles):
            _, line = exporter.wait_for("poll cycle finished", after=line + 1)
            now = cpu_ns(exporter.proc.pid)
            samples.append((now - before) / 1e6)
            before = now
        return statistics.median(samples), samples
    finally:
        if exporter:
            exporter.stop()
        sim.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exporter", required=True)
    parser.add_argument("--simulator", required=True)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="bedrock-bench-")
    # nginx's workers drop root for an unprivileged user, who must read the files it serves.
    os.chmod(directory, 0o755)
    try:
        small = measure_fleet(args, 2000, 500, directory)
        large = measure_fleet(args, 10_000, 2_000, directory, scrape=False)
        cpu_alone, alone = cycle_cpu(args, 0, 20, directory, discover=False)
        cpu_beside, beside = cycle_cpu(args, 2_500, 20, directory, discover=False)
        found_alone, _ = cycle_cpu(args, 0, 20, directory, discover=True)
        found_beside, _ = cycle_cpu(args, 2_500, 20, directory, discover=True)
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    def budget(exposition, extra=0):
        return 2 * exposition + 16 * MIB + extra

    rates = small["rates"]
    plain = rates[("exporter", False)] / rates[("nginx", False)]
    zipped = rates[("exporter", True)] / rates[("nginx", True)]
    rows = [
        ("peak memory while 4 clients scrape, plain and gzip (2,000 jobs, 500 models)",
         f"{small['peak_rss'] / MIB:.1f} MiB (exposition {small['exposition'] / MIB:.1f} MiB)",
         f"<= {budget(small['exposition']) / MIB:.1f} MiB", small["peak_rss"] <= budget(small["exposition"])),
        ("peak memory at 10,000 jobs + 2,000 models, scraped plain and gzip",
         f"{large['peak_rss'] / MIB:.1f} MiB (exposition {large['exposition'] / MIB:.1f} MiB)",
         f"<= {budget(large['exposition']) / MIB:.1f} MiB", large["peak_rss"] <= budget(large["exposition"])),
        ("plain scrape throughput, 4 connections, vs nginx",
         f"{plain:.2f}x ({rates[('exporter', False)]:.0f} vs {rates[('nginx', False)]:.0f} req/s)", ">= 0.8x", plain >= 0.8),
        ("gzip scrape throughput vs nginx gzip_static",
         f"{zipped:.2f}x ({rates[('exporter', True)]:.0f} vs {rates[('nginx', True)]:.0f} req/s)", ">= 0.5x", zipped >= 0.5),
        ("CPU of a cycle: 20 running jobs beside 2,500 unchanged, vs the 20 alone",
         f"{cpu_beside:.1f} ms vs {cpu_alone:.1f} ms", f"<= {3 * cpu_alone + 5:.1f} ms", cpu_beside <= 3 * cpu_alone + 5),
        ("memory with 100 clients that send GET /metrics and never read (2,000 jobs, 500 models)",
         f"{small['idle_clients_rss'] / MIB:.1f} MiB",
         f"<= {budget(small['exposition'], 100 * 64 * 1024) / MIB:.1f} MiB",
         small["idle_clients_rss"] <= budget(small["exposition"], 100 * 64 * 1024)),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{width}} | measured | goal | met")
    for name, measured, goal, met in rows:
        print(f"{name:<{width}} | {measured} | {goal} | {'yes' if met else 'NO'}")
    print(f"\ncycle CPU samples (ms), configured: alone {[round(s, 1) for s in alone]}, beside {[round(s, 1) for s in beside]}")
    print(f"cycle CPU with discovery, which lists all 2,520 jobs every cycle: {found_beside:.1f} ms vs {found_alone:.1f} ms alone")
    print(f"memory idle after the first cycle: {small['idle_rss'] / MIB:.1f} MiB (2,500 resources), "
          f"{large['idle_rss'] / MIB:.1f} MiB (12,000); VmHWM {small['hwm'] / MIB:.1f} / {large['hwm'] / MIB:.1f} MiB")
    return 0 if all(r[3] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
