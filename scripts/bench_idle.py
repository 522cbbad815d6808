#!/usr/bin/env python3
"""Scrape latency of the exporter (--demo) alone and beside 1,000 held connections, and its RSS
growth for those connections. Usage: scripts/bench_idle.py BINARY [idle|longhead|bighead|unread|mixed]
(the shell needs `ulimit -n 4096` or so for the 1,000 client sockets)."""
import os, re, socket, statistics, subprocess, sys, threading, time

binary, kind = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "idle")
proc = subprocess.Popen([binary, "--demo", "--web.listen-address=127.0.0.1:0", "--log.level=debug"],
                        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
lines, cond = [], threading.Condition()
def reader():
    for line in proc.stderr:
        with cond:
            lines.append(line); cond.notify_all()
threading.Thread(target=reader, daemon=True).start()
def wait_for(needle, timeout=30):
    end = time.time() + timeout
    with cond:
        while True:
            for l in lines:
                if needle in l:
                    return l
            left = end - time.time()
            if left <= 0:
                raise SystemExit(f"no {needle!r}")
            cond.wait(left)
addr = re.search(r"address=(\S+)", wait_for('message="serving metrics"')).group(1)
host, port = addr.rsplit(":", 1); port = int(port)
wait_for("poll cycle finished")

def rss_kib():
    with open(f"/proc/{proc.pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

def scrape():
    t0 = time.perf_counter()
    s = socket.create_connection((host, port))
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        b = s.recv(65536)
        if not b: break
        data += b
    s.close()
    assert data.startswith(b"HTTP/1.1 200"), data[:100]
    return (time.perf_counter() - t0) * 1000

def measure(n=200):
    xs = sorted(scrape() for _ in range(n))
    return f"median {statistics.median(xs):.2f} ms, p99 {xs[int(n*0.99)-1]:.2f} ms, max {xs[-1]:.2f} ms"

for _ in range(20): scrape()  # warm up
rss0 = rss_kib()
print("alone:               ", measure())
held = []
t0 = time.time()
for i in range(1000):
    s = socket.create_connection((host, port))
    k = kind if kind != "mixed" else ["idle", "longhead", "unread"][i % 3]
    if k == "longhead":   # a head just under the 16 KiB limit, never finished
        s.sendall(b"GET /metrics HTTP/1.1\r\nX-Pad: " + b"a" * (15 * 1024))
    elif k == "bighead":  # 300 KiB of a head, never finished
        try:
            s.sendall(b"GET /metrics HTTP/1.1\r\nX-Pad: " + b"a" * (300 * 1024))
        except OSError:
            pass  # refused past the limit
    elif k == "unread":
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    held.append(s)
scrape()  # behind all of them in the accept queue: they are all accepted now
rss1 = rss_kib()
print(f"beside 1,000 {kind:8}:", measure(), f"(opened in {time.time()-t0:.1f} s)")
print(f"RSS {rss0} KiB alone, {rss1} KiB with 1,000 {kind}: {(rss1-rss0)/1000:.1f} KiB each")
for s in held: s.close()
proc.terminate(); proc.wait(10)
