"""Probe scheduling cost: one replica probing 10, 100 and 1 000 members every 0.5 s.

The targets are one aiohttp process listening on one loopback port per member (so every
member is its own connection pool, as in production). This process runs only the probe
scheduler, exactly as the daemon does, and reports for each size, after a warm-up:
CPU (user+system seconds per wall second of this process), resident memory, probes per
second, and scheduling lag (how late a probe started against its plan).

    python bench/probes.py                     # sizes 10, 100, 1000; 15 s each
    python bench/probes.py --sizes 1000 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

# Run as a file, this script's folder comes first on sys.path and its own name would
# shadow the ``probes`` package it measures.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]

from config.models import ServiceConfig  # noqa: E402
from controller.daemon import runtime  # noqa: E402
from probes.scheduler import ProbeReport, ProbeScheduler  # noqa: E402


def raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def serve(count: int) -> None:
    """Child process: listen on ``count`` loopback ports, print them, serve /healthz."""
    from aiohttp import web

    raise_fd_limit()

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/healthz", healthz)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        ports = []
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.listen(128)
            ports.append(sock.getsockname()[1])
            await web.SockSite(runner, sock).start()
        print(json.dumps(ports), flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def services_for(ports: list[int]) -> list[ServiceConfig]:
    per_service = 10
    services = []
    for s in range(0, len(ports), per_service):
        members = [{"name": f"m{p}", "address": f"127.0.0.1:{p}",
                    "probe": {"kind": "http", "url": f"http://127.0.0.1:{p}/healthz"}}
                   for p in ports[s:s + per_service]]
        services.append(ServiceConfig.model_validate({
            "name": f"svc{s // per_service}", "members": members,
            "policy": {"interval": 0.5, "fast_interval": 0.1, "timeout": 1.0}}))
    return services


def process_cpu(pid: int) -> float:
    """User+system CPU seconds of another process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(ports: list[int], warmup: float, seconds: float,
                  target_pid: int) -> dict[str, float]:
    lags: list[float] = []
    results = 0
    measuring = False

    def listener(report: ProbeReport) -> None:
        nonlocal results
        if measuring:
            results += 1
            lags.append(max(0.0, report.lag))

    scheduler = ProbeScheduler(services_for(ports), {"User-Agent": "failoverctl/bench"},
                               listener)
    pauses: list[tuple[int, float]] = []  # (generation, seconds) of each collection
    started_at = 0.0

    def gc_watch(phase: str, info: dict[str, int]) -> None:
        nonlocal started_at
        if phase == "start":
            started_at = time.perf_counter()
        elif measuring:
            pauses.append((info["generation"], time.perf_counter() - started_at))

    gc.callbacks.append(gc_watch)
    runtime.tune_gc()  # as `failoverctl run` does
    await scheduler.start()
    await runtime.freeze_after(warmup)
    measuring = True
    usage0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    target0 = process_cpu(target_pid)
    await asyncio.sleep(seconds)
    usage1, wall1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    target1 = process_cpu(target_pid)
    measuring = False
    unhealthy = sum(1 for p in scheduler.probers.values() if p.state.health != "healthy")
    await scheduler.stop()
    gc.callbacks.remove(gc_watch)
    user = usage1.ru_utime - usage0.ru_utime
    system = usage1.ru_stime - usage0.ru_stime
    cpu = user + system
    lags.sort()
    return {
        "members": len(ports),
        "cpu_cores": cpu / (wall1 - wall0),
        "system_share": system / cpu if cpu else 0.0,
        "gc_by_generation": [sum(1 for g, _ in pauses if g == n) for n in range(3)],
        "gc_max_ms": max((d for _, d in pauses), default=0.0) * 1000,
        "rss_mb": rss_mb(),
        "probes_per_s": results / (wall1 - wall0),
        "lag_p50_ms": lags[len(lags) // 2] * 1000,
        "lag_p99_ms": lags[int(len(lags) * 0.99)] * 1000,
        "lag_max_ms": lags[-1] * 1000,
        "not_healthy": unhealthy,
        "target_cpu_cores": (target1 - target0) / (wall1 - wall0),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    raise_fd_limit()
    print(f"{'members':>8} {'cpu (cores)':>12} {'rss MB':>8} {'probes/s':>9} "
          f"{'lag p50':>9} {'lag p99':>9} {'lag max':>9} {'not healthy':>12} "
          f"{'targets cpu':>12} {'kernel share':>13}  gc (gen0/1/2, longest)")
    for size in args.sizes:
        targets = subprocess.Popen([sys.executable, __file__, "--serve", str(size)],
                                   stdout=subprocess.PIPE, text=True)
        try:
            assert targets.stdout is not None
            ports = json.loads(targets.stdout.readline())
            r = asyncio.run(measure(ports, args.warmup, args.seconds, targets.pid))
        finally:
            targets.kill()
            targets.wait()
        print(f"{r['members']:>8} {r['cpu_cores']:>12.3f} {r['rss_mb']:>8.1f} "
              f"{r['probes_per_s']:>9.0f} {r['lag_p50_ms']:>7.2f}ms {r['lag_p99_ms']:>7.2f}ms "
              f"{r['lag_max_ms']:>7.2f}ms {r['not_healthy']:>12} "
              f"{r['target_cpu_cores']:>12.3f} {r['system_share']:>12.0%}  "
              f"{'/'.join(map(str, r['gc_by_generation']))}, {r['gc_max_ms']:.1f}ms", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
