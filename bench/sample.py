#!/usr/bin/env python3
"""sample.py — /proc sampler for the load benchmark: memory and CPU of process trees.

Run a command (wrk) while sampling:

    bench/sample.py --out FILE.json [--interval S] --group NAME=PID ... -- COMMAND ARGS...

Snapshot (idle memory, no command):

    bench/sample.py --snapshot --group NAME=PID ...

gives, per process, VmRSS, VmHWM, RssAnon (private heap and stacks: what the
process adds beyond the shared libraries' pages) and Pss.

A group is a root PID and all its descendants (found again every tick, so
forked, recycled and respawned workers are followed).  For each group:

  cpu_ms        CPU time (user+system) the group used while the command ran:
                the change in the sum over the group's live processes of
                utime+stime+cutime+cstime.  A process that exits during the run
                is counted through its parent's cutime/cstime once reaped (the
                talentd master reaps its workers; nginx's master its workers).
  peak_rss_kib  the largest sum of VmRSS over the group seen at any tick
                (shared pages counted once per process, as `ps` and Django's
                figure do).
  peak_pss_kib  the largest sum of Pss (smaps_rollup: shared pages divided
                among their users), sampled every --pss-every ticks: the
                memory the group really costs.
  hwm_kib       the sum of VmHWM (each process's own peak since it started)
                at the end — an upper bound that catches spikes between ticks.
  minflt        minor page faults the group took while the command ran
                (minflt+cminflt, counted like cpu_ms): each is a kernel entry,
                dear on a paravirtualised guest (issue 17).
  procs         the largest number of processes seen in the group.

plus the command's own CPU (rusage of the child), the wall time, and the
machine's CPU from /proc/stat over the run (busy %, steal %, and the CPU no
group accounts for: other tenants and the sampler itself).

Writes JSON to --out (or stdout) and exits with the command's status.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def proc_stat(pid):
    """(ppid, utime+stime, cutime+cstime, comm) in ticks, or None if gone."""
    data = read("/proc/%d/stat" % pid)
    if data is None:
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    r = data.rindex(b")")
    comm = data[data.index(b"(") + 1:r].decode(errors="replace")
    f = data[r + 2:].split()
    # f[0] is field 3 (state); utime is field 14 -> f[11].
    return int(f[1]), int(f[11]) + int(f[12]), int(f[13]) + int(f[14]), comm


def status_kib(pid, keys=(b"VmRSS", b"VmHWM")):
    data = read("/proc/%d/status" % pid)
    out = dict.fromkeys(keys, 0)
    if data is None:
        return out
    for line in data.splitlines():
        k, _, v = line.partition(b":")
        if k in out:
            out[k] = int(v.split()[0])
    return out


def pss_kib(pid):
    data = read("/proc/%d/smaps_rollup" % pid)
    if data is None:
        return 0
    for line in data.splitlines():
        if line.startswith(b"Pss:"):
            return int(line.split()[1])
    return 0


def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def children_map():
    kids = {}
    for pid in all_pids():
        st = proc_stat(pid)
        if st:
            kids.setdefault(st[0], []).append(pid)
    return kids


def tree(root, kids):
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, ()))
    return out


def cpu_ticks(pids):
    total = 0
    for p in pids:
        st = proc_stat(p)
        if st:
            total += st[1] + st[2]
    return total


def minor_faults(pids):
    """Sum of minflt+cminflt (fields 10 and 11 of /proc/PID/stat)."""
    total = 0
    for p in pids:
        data = read("/proc/%d/stat" % p)
        if data is None:
            continue
        f = data[data.rindex(b")") + 2:].split()
        total += int(f[7]) + int(f[8])
    return total


def machine_cpu():
    """(busy, steal, total) jiffies from /proc/stat's cpu line."""
    line = read("/proc/stat").split(b"\n", 1)[0].split()[1:]
    v = [int(x) for x in line]
    user, nice, system, idle, iowait, irq, softirq, steal = (v + [0] * 8)[:8]
    busy = user + nice + system + irq + softirq
    return busy, steal, busy + idle + iowait + steal


def snapshot(groups):
    kids = children_map()
    out = {}
    for name, root in groups.items():
        procs = []
        for p in tree(root, kids):
            st = proc_stat(p)
            if not st:
                continue
            s = status_kib(p, (b"VmRSS", b"VmHWM", b"RssAnon"))
            cmd = (read("/proc/%d/cmdline" % p) or b"").replace(b"\0", b" ").strip().decode(errors="replace")
            procs.append({"pid": p, "ppid": st[0], "comm": st[3], "cmdline": cmd[:120],
                          "rss_kib": s[b"VmRSS"], "hwm_kib": s[b"VmHWM"], "anon_kib": s[b"RssAnon"],
                          "pss_kib": pss_kib(p)})
        out[name] = {"root": root, "procs": procs,
                     "rss_kib": sum(p["rss_kib"] for p in procs),
                     "pss_kib": sum(p["pss_kib"] for p in procs),
                     "anon_kib": sum(p["anon_kib"] for p in procs)}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--group", action="append", default=[], metavar="NAME=PID")
    ap.add_argument("--interval", type=float, default=0.1, help="seconds between ticks (default 0.1)")
    ap.add_argument("--tree-every", type=int, default=5, help="rescan /proc for new processes every N ticks")
    ap.add_argument("--pss-every", type=int, default=5, help="read smaps_rollup every N ticks")
    ap.add_argument("--out")
    ap.add_argument("--stdout", help="file for the command's standard output")
    ap.add_argument("--snapshot", action="store_true")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    groups = {}
    for g in args.group:
        name, _, pid = g.partition("=")
        groups[name] = int(pid)

    def emit(obj):
        text = json.dumps(obj, indent=1, sort_keys=True)
        if args.out:
            with open(args.out, "w") as f:
                f.write(text + "\n")
        else:
            print(text)

    if args.snapshot:
        emit(snapshot(groups))
        return 0
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        ap.error("a command to run is needed (after --), or --snapshot")

    kids = children_map()
    members = {n: tree(r, kids) for n, r in groups.items()}
    cpu0 = {n: cpu_ticks(m) for n, m in members.items()}
    flt0 = {n: minor_faults(m) for n, m in members.items()}
    peak_rss = dict.fromkeys(groups, 0)
    peak_pss = dict.fromkeys(groups, 0)
    nprocs = dict.fromkeys(groups, 0)
    mach0 = machine_cpu()
    t0 = time.monotonic()
    stdout = open(args.stdout, "wb") if args.stdout else None
    child = subprocess.Popen(cmd, stdout=stdout)
    # Forward an interrupt to the command and still report.
    signal.signal(signal.SIGINT, lambda *_: child.send_signal(signal.SIGINT))
    tick = 0
    rusage = None
    status = None
    while True:
        if tick and tick % args.tree_every == 0:
            kids = children_map()
            members = {n: tree(r, kids) for n, r in groups.items()}
        for n in groups:
            rss = sum(status_kib(p, (b"VmRSS",))[b"VmRSS"] for p in members[n])
            peak_rss[n] = max(peak_rss[n], rss)
            nprocs[n] = max(nprocs[n], len(members[n]))
            if tick % args.pss_every == 0:
                peak_pss[n] = max(peak_pss[n], sum(pss_kib(p) for p in members[n]))
        tick += 1
        pid, st, ru = os.wait4(child.pid, os.WNOHANG)
        if pid:
            status, rusage = st, ru
            break
        time.sleep(args.interval)
    wall = time.monotonic() - t0
    mach1 = machine_cpu()
    kids = children_map()
    result = {"wall_s": wall, "groups": {}, "ticks": tick, "interval_s": args.interval}
    accounted = 0.0
    for n, root in groups.items():
        m = tree(root, kids)
        cpu_ms = (cpu_ticks(m) - cpu0[n]) * 1000.0 / TICK
        accounted += cpu_ms
        rss_end = sum(status_kib(p, (b"VmRSS",))[b"VmRSS"] for p in m)
        result["groups"][n] = {
            "root": root,
            "alive": os.path.exists("/proc/%d" % root),
            "cpu_ms": cpu_ms,
            "minflt": minor_faults(m) - flt0[n],
            "peak_rss_kib": max(peak_rss[n], rss_end),
            "peak_pss_kib": max(peak_pss[n], sum(pss_kib(p) for p in m)),
            "hwm_kib": sum(status_kib(p, (b"VmHWM",))[b"VmHWM"] for p in m),
            "procs": max(nprocs[n], len(m)),
        }
    cmd_cpu_ms = (rusage.ru_utime + rusage.ru_stime) * 1000.0
    busy = mach1[0] - mach0[0]
    total = mach1[2] - mach0[2]
    steal = mach1[1] - mach0[1]
    jiffy_ms = 1000.0 / TICK
    result["command"] = {"argv": cmd, "cpu_ms": cmd_cpu_ms,
                         "exit": os.waitstatus_to_exitcode(status), "maxrss_kib": rusage.ru_maxrss}
    result["machine"] = {
        "cpus": os.cpu_count(),
        "busy_pct": 100.0 * busy / total if total else 0.0,
        "steal_pct": 100.0 * steal / total if total else 0.0,
        "busy_ms": busy * jiffy_ms,
        # CPU neither the groups nor the command used: other tenants, the sampler, the kernel's own work.
        "other_ms": busy * jiffy_ms - accounted - cmd_cpu_ms,
    }
    emit(result)
    return result["command"]["exit"]


if __name__ == "__main__":
    sys.exit(main())
