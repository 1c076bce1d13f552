#!/usr/bin/env python3
"""report.py — turn a bench/run results directory into markdown (results.md).

    bench/report.py BENCH_OUT > BENCH_OUT/results.md

Reads BENCH_OUT/raw/CASE-cN.result.json (the wrk script's done() line) and
CASE-cN.sample.json (bench/sample.py), the idle snapshots, conditions.txt and
the photo lines, and prints the tables, Django's reference figures and the
targets of issue #7, each marked met or missed.  A line starting with "BAD "
means some measured response was not the expected one.
"""
import glob
import json
import os
import re
import sys

MIB = 1024.0

CASE_TITLES = {
    "ceiling": "nginx `return 200` (ceiling)",
    "healthz": "GET /healthz (FastCGI floor)",
    "get-noauth": "GET profile, no credentials (401)",
    "get": "GET profile",
    "post-1m": "POST 1.06 MiB JPEG, partial",
    "post-4m": "POST 4.49 MiB JPEG, partial",
    "json": "POST JSON, 7 fields, partial",
}
ORDER = list(CASE_TITLES)

# Django (DRF + Pillow + django-storages, gunicorn 5 sync workers), issue #7:
# (case, conns) -> (req/s, p99 ms, app CPU ms/req, nginx, s3rver, app RSS MiB or None)
DJANGO = {
    ("get", 8): (328, 53, 5.5, 0.3, 0, 565),
    ("get", 32): (317, 208, 5.3, 0.3, 0, None),
    ("post-1m", 8): (36, 349, 31.6, 2.3, 17.2, None),
    ("post-1m", 32): (35, 1079, 31.9, 2.6, 17.7, None),
    ("post-4m", 8): (10, 1163, 70.6, 8.8, 42.4, None),
    ("json", 8): (124, 493, 7.8, 0.3, 0, None),
}
DJANGO_RSS_MIB = 565


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def fmt(v, digits=1):
    if v is None:
        return "—"
    if isinstance(v, float) and v >= 1000:
        return "{:,.0f}".format(v)
    return "{:.{}f}".format(v, digits)


def collect(out):
    rows = {}
    for res_path in glob.glob(os.path.join(out, "raw", "*-c*.result.json")):
        m = re.match(r"(.+)-c(\d+)\.result\.json$", os.path.basename(res_path))
        name, conns = m.group(1), int(m.group(2))
        res = load(res_path)
        smp = load(res_path.replace(".result.json", ".sample.json"))
        if not res:
            continue
        rows[(name, conns)] = (res, smp)
    return rows


def metrics(res, smp):
    dur = res["duration_s"] or 1e-9
    n = res["requests"]
    e = res["errors"]
    m = {
        "rps": res["good"] / dur,
        "requests": n,
        "bad": res["bad"] + e["connect"] + e["read"] + e["write"] + e["timeout"],
        "bad_detail": res["bad_status"],
        "bad_body": res["bad_body"],
        "non2xx": res.get("non2xx"),
        "errors": e,
        "p50": res["latency_ms"]["p50"],
        "p90": res["latency_ms"]["p90"],
        "p99": res["latency_ms"]["p99"],
    }
    if smp:
        g = smp["groups"]
        per = lambda ms: ms / n if n else None
        for k in ("talentd", "nginx", "s3rver"):
            if k in g:
                m["cpu_" + k] = per(g[k]["cpu_ms"])
                if "minflt" in g[k]:
                    m["flt_" + k] = per(g[k]["minflt"])
                m["rss_" + k] = g[k]["peak_rss_kib"] / MIB
                m["pss_" + k] = g[k]["peak_pss_kib"] / MIB
                m["procs_" + k] = g[k]["procs"]
        m["cpu_wrk"] = per(smp["command"]["cpu_ms"])
        m["cpu_other"] = per(smp["machine"]["other_ms"])
        m["busy"] = smp["machine"]["busy_pct"]
        m["steal"] = smp["machine"]["steal_pct"]
    return m


def idle_table(out, lines):
    snaps = [(n, load(os.path.join(out, n + ".json"))) for n in ("idle-before", "idle-after-smoke", "idle-end")]
    snaps = [(n, s) for n, s in snaps if s]
    if not snaps:
        return {}
    lines.append("## Memory at rest (per process, MiB)\n")
    lines.append("`idle-before`: the stack just started (workers have served only its health checks); "
                 "`idle-after-smoke`: after one request of each case; `idle-end`: after all the load.\n")
    lines.append("RSS counts every shared-library page a process has touched (the same libcrypto, libc, "
                 "libsqlite3 pages in each worker); anon is the process's own heap and stacks; PSS splits shared "
                 "pages among their users.\n")
    lines.append("| snapshot | process | pid | RSS | anon | PSS |")
    lines.append("| --- | --- | --- | ---: | ---: | ---: |")
    worst_idle = {}
    for n, s in snaps:
        for group in ("talentd", "nginx", "s3rver"):
            g = s.get(group)
            if not g:
                continue
            root = g["root"]
            for p in g["procs"]:
                role = group
                if group == "talentd":
                    role = "talentd master" if p["pid"] == root else "talentd worker"
                elif group == "nginx":
                    role = "nginx master" if p["pid"] == root else "nginx " + p["cmdline"].partition(": ")[2].replace(" process", "")
                lines.append("| {} | {} | {} | {:.1f} | {:.1f} | {:.1f} |".format(
                    n, role, p["pid"], p["rss_kib"] / MIB, p.get("anon_kib", 0) / MIB, p["pss_kib"] / MIB))
                if role == "talentd worker":
                    w = worst_idle.setdefault(n, [0.0, 0.0, 0.0])
                    w[0] = max(w[0], p["rss_kib"] / MIB)
                    w[1] = max(w[1], p.get("anon_kib", 0) / MIB)
                    w[2] = max(w[2], p["pss_kib"] / MIB)
            lines.append("| {} | **{} total** | | **{:.1f}** | **{:.1f}** | **{:.1f}** |".format(
                n, group, g["rss_kib"] / MIB, g.get("anon_kib", 0) / MIB, g["pss_kib"] / MIB))
    lines.append("")
    return worst_idle


def main():
    out = sys.argv[1]
    rows = collect(out)
    lines = ["# talentd load benchmark — results\n"]
    cond = os.path.join(out, "conditions.txt")
    if os.path.exists(cond):
        lines.append("```")
        lines.append(open(cond).read().rstrip())
        for p in sorted(glob.glob(os.path.join(out, "photos", "*.txt"))):
            lines.append("photo: " + open(p).read().strip().replace(out + "/", ""))
        v = os.path.join(out, "validate.txt")
        if os.path.exists(v) and os.path.getsize(v):
            for l in open(v):
                if " ok " in l or " refused " in l:
                    lines.append("decode alone (talentd-validate): " + l.strip().replace(out + "/", ""))
        lines.append("```\n")

    lines.append("## Throughput, latency, CPU and memory\n")
    lines.append("req/s counts only good answers (expected status and body); non-2xx = answers outside 200-299 "
                 "(all of them in the 401 case, where 401 is the expected answer); bad = not the expected status "
                 "or body, or a socket error or timeout.  CPU is ms per completed request; RSS is the peak of the sum "
                 "of VmRSS over the group's processes (PSS, shared pages split, in brackets).  "
                 "wrk and other = CPU of the load generator and of everything else on the machine "
                 "(other tenants, the sampler) per request; busy = the machine's CPU use over the run.\n")
    lines.append("| case | conns | req/s | p50 ms | p90 ms | p99 ms | non-2xx | bad | CPU ms/req talentd / nginx / s3rver | "
                 "wrk / other | RSS MiB talentd (PSS) | nginx | s3rver | busy % | Django req/s, p99 |")
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | ---: | ---: | ---: | --- |")
    table = {}
    any_bad = False
    for name in ORDER + sorted({k[0] for k in rows} - set(ORDER)):
        for conns in sorted(c for (n, c) in rows if n == name):
            res, smp = rows[(name, conns)]
            m = metrics(res, smp)
            table[(name, conns)] = m
            bad = m["bad"]
            if bad:
                any_bad = True
            dj = DJANGO.get((name, conns))
            lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} / {} / {} | {} / {} | {} ({}) | {} | {} | {:.0f} | {} |".format(
                CASE_TITLES.get(name, name), conns, fmt(m["rps"], 0), fmt(m["p50"], 2), fmt(m["p90"], 2),
                fmt(m["p99"], 2), m["non2xx"] if m["non2xx"] is not None else "—", bad,
                fmt(m.get("cpu_talentd"), 3), fmt(m.get("cpu_nginx"), 3), fmt(m.get("cpu_s3rver"), 2),
                fmt(m.get("cpu_wrk"), 3), fmt(m.get("cpu_other"), 3),
                fmt(m.get("rss_talentd")), fmt(m.get("pss_talentd")), fmt(m.get("rss_nginx")),
                fmt(m.get("rss_s3rver")), m.get("busy", 0),
                "{}, {} ms".format(dj[0], dj[1]) if dj else ""))
    lines.append("")
    for (name, conns), m in sorted(table.items()):
        if m["bad"]:
            lines.append("BAD {} at {} connections: {} bad answers (statuses {}, wrong bodies {}, socket errors {})".format(
                name, conns, m["bad"], m["bad_detail"], m["bad_body"], m["errors"]))
    if any_bad:
        lines.append("")

    faults = [(k, m) for k, m in sorted(table.items(), key=lambda kv: (ORDER.index(kv[0][0]) if kv[0][0] in ORDER else 99, kv[0][1]))
              if m.get("flt_talentd") is not None]
    if faults:
        lines.append("## Minor page faults per request\n")
        lines.append("minflt+cminflt of each group over the run, per completed request (bench/sample.py): "
                     "memory touched for the first time, or again after it was given back.\n")
        lines.append("| case | conns | talentd | nginx | s3rver |")
        lines.append("| --- | ---: | ---: | ---: | ---: |")
        for (name, conns), m in faults:
            lines.append("| {} | {} | {} | {} | {} |".format(CASE_TITLES.get(name, name), conns, fmt(m.get("flt_talentd"), 1),
                                                           fmt(m.get("flt_nginx"), 1), fmt(m.get("flt_s3rver"), 1)))
        lines.append("")

    worst_idle = idle_table(out, lines)

    # --- targets (issue #7) ---
    lines.append("## Targets (issue #7)\n")
    lines.append("| target | measured | |")
    lines.append("| --- | --- | --- |")

    def target(text, measured, ok):
        lines.append("| {} | {} | {} |".format(text, measured, "met" if ok else ("**missed**" if ok is not None else "not measured")))

    for c in (8, 32):
        g, ceil = table.get(("get", c)), table.get(("ceiling", c))
        if g:
            target("GET ≥ 8,000 req/s at {} conns".format(c), fmt(g["rps"], 0), g["rps"] >= 8000)
            if ceil:
                share = 100.0 * g["rps"] / ceil["rps"] if ceil["rps"] else 0
                target("GET ≥ 30 % of the nginx ceiling at {} conns".format(c),
                       "{:.0f} % of {}".format(share, fmt(ceil["rps"], 0)), share >= 30)
            if g.get("cpu_talentd") is not None:
                target("GET ≤ 0.2 ms talentd CPU/req at {} conns".format(c), fmt(g["cpu_talentd"], 3), g["cpu_talentd"] <= 0.2)
    for c in (8, 32):
        j = table.get(("json", c))
        if j:
            target("JSON update ≥ 2,000 req/s at {} conns".format(c), fmt(j["rps"], 0), j["rps"] >= 2000)
    for c in (1, 8, 32):
        u = table.get(("post-1m", c))
        if u and u.get("cpu_talentd") is not None:
            target("1 MiB upload ≤ 10 ms talentd CPU/req at {} conns".format(c), fmt(u["cpu_talentd"], 2), u["cpu_talentd"] <= 10)
    u = table.get(("post-1m", 32))
    if u:
        target("1 MiB upload p99 at 32 conns ≤ 1/3 of Django's (360 ms)", fmt(u["p99"], 1) + " ms", u["p99"] <= 1079 / 3.0)
    for snap, when in (("idle-before", "before load"), ("idle-end", "after all the load")):
        if snap in worst_idle:
            rss, anon, pss = worst_idle[snap]
            target("idle worker RSS ≤ 8 MiB (largest worker, {})".format(when),
                   "{} MiB (anon {}, PSS {})".format(fmt(rss), fmt(anon), fmt(pss)), rss <= 8)
    # Django's 565 MiB is its GET figure; the uploads are listed too.
    for name in ("get", "post-1m", "post-4m", "json"):
        m = table.get((name, 32))
        if m and "rss_talentd" in m:
            target("talentd RSS (sum) at 32 conns ≤ 56 MiB (1/10 of Django's 565), {}".format(CASE_TITLES[name]),
                   "{} MiB (PSS {})".format(fmt(m["rss_talentd"]), fmt(m["pss_talentd"])),
                   m["rss_talentd"] <= DJANGO_RSS_MIB / 10.0)
    lines.append("")

    extra = []
    for f in sorted(glob.glob(os.path.join(out, "profile-*.txt"))):
        extra.append("- perf profile: `{}`".format(os.path.relpath(f, out)))
    if os.path.exists(os.path.join(out, "validate", "results.md")):
        extra.append("- image validation microbenchmark (bench/validate.sh): `validate/results.md`")
    extra.append("- raw wrk outputs and samples: `raw/`; idle snapshots: `idle-*.json`")
    lines.append("## Other outputs\n")
    lines.extend(extra)
    lines.append("")

    lines.append("## Django reference (issue #7: gunicorn, 5 sync workers, same machine kind, 15 s per case)\n")
    lines.append("| case | conns | req/s | p99 ms | CPU ms/req app / nginx / s3rver | app RSS |")
    lines.append("| --- | ---: | ---: | ---: | --- | ---: |")
    for (name, conns), (rps, p99, a, n, s, rss) in DJANGO.items():
        lines.append("| {} | {} | {} | {} | {} / {} / {} | {} |".format(CASE_TITLES[name], conns, rps, p99, a, n, s,
                                                                      "{} MiB".format(rss) if rss else ""))
    lines.append("")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
