#!/usr/bin/env python3
"""The fleet benchmark: an AWS Organization of many accounts, watched by one replica and by shards.

    bash scripts/bench-scrape.sh --fleet      (builds the release binaries, then runs this)
    python3 scripts/bench_fleet.py --exporter target/release/bedrock-exporter \\
        --simulator target/release/examples/simulator [--accounts 100] [--shards 4]

The simulator (examples/simulator.rs, a process of its own) is an Organization of `--accounts`
accounts in one region, each with 1,000 resources: 800 finished jobs, 198 active custom models
and 2 running jobs (so 200 running of 100,000). The exporter's config is one `organizations` entry
that discovers jobs and models in every account, assuming the member role through the
simulator's STS. Measured, each goal of issue 17 beside it:

- time from start until `/readyz` answers 200: one account of 1,000 (the reference), the whole
  fleet in one replica, and the fleet over `--shards` replicas started together; the goal for
  each replica is twice the reference for each account it polls (`bedrock_exporter_targets`);
- peak memory of each replica from start through its first cycles and a plain and a gzip scrape
  (as bench_scrape.py counts it: resident pages plus the in-memory exposition files), against its
  exposition's size;
- the exporter's CPU per interval in the steady state (discovery lists every account each
  interval, running jobs are read), against a fleet of the same accounts holding only the 200
  running jobs;
- API calls per interval in the steady state, from the exporter's own
  `bedrock_exporter_api_requests_total`: List pages and Gets;
- plain and gzip scrape throughput of one shard against nginx serving the same bytes.
"""

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from bench_scrape import MIB, Process, RssSampler, fetch, memory_parts, start_nginx, wrk

JOBS, MODELS, RUNNING = 800, 198, 2
INTERVAL = 20


def cpu_ms(pid):
    """CPU time of the process, user and system, in ms: of every thread, those that ended too
    (the runtime's blocking threads come and go)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def breakdown(pid):
    """Resident memory by kind, and the in-memory exposition files' total size, in MiB."""
    return ", ".join(f"{name} {size // MIB} MiB" for name, size in memory_parts(pid).items())


def start_simulator(args, accounts, jobs, models, running):
    sim = Process([args.simulator, "--accounts", str(accounts), "--jobs", str(jobs), "--models", str(models),
                   "--running", str(running)], stream="stdout")
    endpoint = sim.wait_for(r"listening on (\S+)", timeout=300)[0][1]
    return sim, endpoint


def write_config(directory, endpoint):
    config = os.path.join(directory, "fleet.yaml")
    with open(config, "w", encoding="utf-8") as f:
        f.write(f"interval: {INTERVAL}s\nterminal_interval: 30m\nrequest_timeout: 30s\n"
                f"organizations:\n  - member_role_name: bedrock-exporter\n    regions: [us-east-1]\n"
                f"    endpoint_url: {endpoint}\n    discover:\n      jobs: {{}}\n      models: {{}}\n")
    return config


class Replica:
    """One exporter process: started at once, its memory sampled from the first moment."""

    def __init__(self, args, config, flags=()):
        env = {k: v for k, v in os.environ.items() if k != "AWS_BEARER_TOKEN_BEDROCK"}
        env.update(AWS_ACCESS_KEY_ID="AKIDBENCHBENCHBENCH", AWS_SECRET_ACCESS_KEY="bench",
                   AWS_EC2_METADATA_DISABLED="true")
        self.started = time.monotonic()
        self.process = Process([args.exporter, f"--config.file={config}", "--web.listen-address=127.0.0.1:0",
                                "--log.level=debug", *flags], env=env)
        self.sampler = RssSampler(self.process.proc.pid)
        self.address = self.process.wait_for(r'message="serving metrics" address=(\S+)')[0][1]
        self.ready_after = None
        self.exposition = 0
        self.targets = 0

    def wait_ready(self, timeout=1800):
        """Seconds from start until /readyz answered 200 (polled every 50 ms)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                with urllib.request.urlopen(f"http://{self.address}/readyz", timeout=5) as r:
                    if r.status == 200:
                        self.ready_after = time.monotonic() - self.started
                        return self.ready_after
            except (urllib.error.URLError, OSError):
                pass
            if self.process.proc.poll() is not None:
                raise SystemExit("the exporter exited before it was ready:\n" + "\n".join(self.process.lines[-20:]))
            time.sleep(0.05)
        raise SystemExit(f"the exporter at {self.address} was not ready within {timeout} s")

    def wait_complete(self, timeout=1800):
        """Seconds from start until every target it polls has finished its first cycle (the
        log's "poll cycle finished" lines name their account). /readyz answers 200 before that
        when a first cycle outlasts the interval; this is when every resource has been read."""
        targets = int(re.search(rb"\nbedrock_exporter_targets (\d+)", fetch(self.address))[1])
        seen, line = set(), 0
        while len(seen) < targets:
            m, line = self.process.wait_for(r"poll cycle finished.* account_id=(\d+)", after=line, timeout=timeout)
            seen.add(m[1])
            line += 1
        self.complete_after = time.monotonic() - self.started
        self.targets = targets
        return self.complete_after

    def scrape(self):
        """The exposition (plain, then gzip once), whose size the memory is held to."""
        text = fetch(self.address)
        fetch(self.address, zipped=True)
        self.exposition = len(text)
        return text

    def calls(self):
        """`bedrock_exporter_api_requests_total` by operation, summed over regions."""
        counts = {}
        for line in fetch(self.address).decode().splitlines():
            m = re.match(r'bedrock_exporter_api_requests_total\{operation="(\w+)".*\} (\S+)', line)
            if m:
                counts[m[1]] = counts.get(m[1], 0) + float(m[2])
        return counts

    def stop(self):
        peak = self.sampler.stop()
        self.process.stop()
        return peak


def steady(replica, intervals=3):
    """CPU (ms) and API calls per interval over `intervals` intervals, from one interval after
    every resource was read."""
    time.sleep(INTERVAL)
    cpu, calls = cpu_ms(replica.process.proc.pid), replica.calls()
    time.sleep(intervals * INTERVAL)
    cpu, after = (cpu_ms(replica.process.proc.pid) - cpu) / intervals, replica.calls()
    per = {op: (after.get(op, 0) - calls.get(op, 0)) / intervals for op in after}
    return cpu, {op: n for op, n in per.items() if n}


def fleet(args, directory, accounts, jobs, models, running, shards=0, measure_steady=False, scrape_rates=False):
    sim, endpoint = start_simulator(args, accounts, jobs, models, running)
    config = write_config(directory, endpoint)
    replicas = []
    result = {}
    nginx = None
    try:
        flags = [[]] if shards == 0 else [[f"--total-shards={shards}", f"--shard={k}"] for k in range(shards)]
        replicas = [Replica(args, config, f) for f in flags]
        result["ready"] = [r.wait_ready() for r in replicas]
        result["complete"] = [r.wait_complete() for r in replicas]
        for r in replicas:
            text = r.scrape()
        if measure_steady:
            result["cpu"], result["calls"] = steady(replicas[0])
            result["memory"] = breakdown(replicas[0].process.proc.pid)
        if scrape_rates:
            nginx, nginx_address = start_nginx(directory, text)
            rates = {key: [] for key in [(False, "exporter"), (False, "nginx"), (True, "exporter"), (True, "nginx")]}
            for _ in range(args.rounds):
                for zipped, server in rates:
                    rates[(zipped, server)].append(
                        wrk(replicas[-1].address if server == "exporter" else nginx_address, zipped, args))
            result["rates"] = {key: statistics.median(v) for key, v in rates.items()}
        result["exposition"] = [r.exposition for r in replicas]
        result["targets"] = [r.targets for r in replicas]
        result["peak"] = [r.stop() for r in replicas]
        replicas = []
        return result
    finally:
        if nginx:
            nginx.terminate()
            nginx.wait()
        for r in replicas:
            r.stop()
        sim.stop()


def main():
    global INTERVAL
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exporter", required=True)
    parser.add_argument("--simulator", required=True)
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk round")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--interval", type=int, default=INTERVAL, help="the exporter's interval, seconds")
    args = parser.parse_args()
    INTERVAL = args.interval
    directory = tempfile.mkdtemp(prefix="bedrock-fleet-")
    os.chmod(directory, 0o755)  # nginx's workers read the files as an unprivileged user
    n = args.accounts * (JOBS + MODELS + RUNNING)
    try:
        one = fleet(args, directory, 1, JOBS, MODELS, RUNNING)
        reference = one["complete"][0]
        print(f"one account of 1,000: every resource read after {reference:.2f} s", flush=True)
        whole = fleet(args, directory, args.accounts, JOBS, MODELS, RUNNING, measure_steady=True)
        print(f"one replica: every resource read after {whole['complete'][0]:.1f} s", flush=True)
        alone = fleet(args, directory, args.accounts, 0, 0, RUNNING, measure_steady=True)
        print(f"running jobs alone: {alone['cpu']:.0f} ms an interval", flush=True)
        split = fleet(args, directory, args.accounts, JOBS, MODELS, RUNNING, shards=args.shards, scrape_rates=True)
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    rows = []
    for name, run in [("1 replica", whole), (f"{args.shards} shards", split)]:
        slowest = max(range(len(run["complete"])), key=lambda k: run["complete"][k] / max(run["targets"][k], 1))
        took, targets = run["complete"][slowest], run["targets"][slowest]
        rows.append((f"time from start to every resource read, {name} ({n:,} resources; the slowest per account)",
                     f"{took:.1f} s for {targets} accounts (each: {', '.join(f'{r:.1f}' for r in run['complete'])}; "
                     f"/readyz: {', '.join(f'{r:.1f}' for r in run['ready'])})",
                     f"<= {2 * reference * targets:.1f} s (2 x {reference:.2f} s an account)",
                     took <= 2 * reference * targets))
        for k, (peak, exposition) in enumerate(zip(run["peak"], run["exposition"])):
            budget = 1.25 * exposition + 16 * MIB
            rows.append((f"peak memory, {name}{f', shard {k}' if len(run['peak']) > 1 else ''}",
                         f"{peak / MIB:.0f} MiB (exposition {exposition / MIB:.0f} MiB)",
                         f"<= {budget / MIB:.0f} MiB", peak <= budget))
    # A window of whole intervals catches some targets' cycles once more than others (a cycle
    # starts an interval after the last started, plus its wait for the poller); every target's
    # cycle makes one ListCustomModels call (198 models, one page), which counts the cycles.
    def per_cycle(run, value):
        return value / (run["calls"].get("ListCustomModels", 0) / args.accounts or 1)

    cpu, cpu_alone = per_cycle(whole, whole["cpu"]), per_cycle(alone, alone["cpu"])
    rows.append((f"CPU of a cycle of every target: {args.accounts * RUNNING} running of {n:,}, vs the "
                 f"{args.accounts * RUNNING} alone", f"{cpu:.0f} ms vs {cpu_alone:.0f} ms",
                 f"<= {3 * cpu_alone + 5:.0f} ms", cpu <= 3 * cpu_alone + 5))

    def calls(run, prefix):
        return sum(v for op, v in run["calls"].items() if op.startswith(prefix))

    gets, lists = per_cycle(whole, calls(whole, "Get")), per_cycle(whole, calls(whole, "List"))
    rows.append(("API calls in a cycle of every target, 1 replica",
                 f"{lists:.0f} List pages + {gets:.0f} Gets",
                 f"Gets <= {args.accounts * RUNNING} (the running)", gets <= args.accounts * RUNNING + 0.5))
    rates = split["rates"]
    for zipped, goal in [(False, 0.8), (True, 0.5)]:
        ratio = rates[(zipped, "exporter")] / rates[(zipped, "nginx")]
        rows.append((f"{'gzip' if zipped else 'plain'} scrape throughput of a shard vs nginx, same bytes",
                     f"{ratio:.2f}x ({rates[(zipped, 'exporter')]:.1f} vs {rates[(zipped, 'nginx')]:.1f} req/s)",
                     f">= {goal}x", ratio >= goal))
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{width}} | measured | goal | met")
    for name, measured, goal, met in rows:
        print(f"{name:<{width}} | {measured} | {goal} | {'yes' if met else 'NO'}")
    print(f"\ncalls an interval by operation, 1 replica: {whole['calls']}; running alone: {alone['calls']}")
    print(f"memory of the 1 replica after its steady intervals: {whole['memory']}")
    return 0 if all(r[3] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
