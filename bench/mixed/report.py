#!/usr/bin/env python3
"""Memory sampling and the final table of bench/mixed.

    report.py sample POSTMASTER_PID OUT.json
        Until stopped: every half second, the total memory of the PostgreSQL postmaster and its
        children (backends come and go, so their peaks are sampled): the sum of Pss (shared
        buffers counted once, split between the processes that touch them) and of RSS (shared
        pages counted in every process). Keeps the peaks in OUT.json.
    report.py print DATA_DIR
        Reads what bench/mixed/run left in DATA_DIR (wrk results, engine.json, rss.json, env.json)
        and the database, and prints the table.
"""
import json
import os
import subprocess
import sys
import time


def children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return found


def status_kb(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def sample(postmaster, out):
    peak = {"pss_kb": 0, "rss_kb": 0, "processes": 0}
    while True:
        pids = [postmaster] + children(postmaster)
        pss = sum(pss_kb(p) for p in pids)
        rss = sum(status_kb(p, "VmRSS") for p in pids)
        if pss > peak["pss_kb"]:
            peak["pss_kb"] = pss
        peak["rss_kb"] = max(peak["rss_kb"], rss)
        peak["processes"] = max(peak["processes"], len(pids))
        with open(out + ".tmp", "w") as f:
            json.dump(peak, f)
        os.replace(out + ".tmp", out)
        time.sleep(0.5)


def wrk_result(path):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("RESULT "):
                    return json.loads(line[7:])
    except OSError:
        pass
    return None


def psql(env, sql):
    result = subprocess.run(["psql", "-X", "-qAt", "-F", "\t", env["super_url"], "-c", sql], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    return [line.split("\t") for line in result.stdout.splitlines() if line]


def mib(kb):
    return "%.0f MiB" % (kb / 1024.0)


def ms(us):
    return "%.1f" % (us / 1000.0) if us is not None else "-"


def report(data):
    env = json.load(open(os.path.join(data, "env.json")))
    duration = float(env["duration"])
    rows = []  # kind, count, per second, p50 ms, p99 ms, errors, note

    def http_row(kind, label, connections):
        r = wrk_result(os.path.join(data, kind + ".out"))
        if r is None:
            rows.append((label, "-", "-", "-", "-", "wrk gave no result", ""))
            return None
        e = r["errors"]
        socket = e["connect"] + e["read"] + e["write"] + e["timeout"]
        seconds = r["duration_us"] / 1e6
        note = "%d connections" % connections
        if r["ran_out"]:
            note += "; RAN OUT of pre-signed deliveries (raise WEBHOOK_RATE_CAP)"
        ops = sorted(set(r["ok"]) | set(r["bad"]))
        if len(ops) > 1 or r["bad"]:
            note += "; " + ", ".join("%s %d%s" % (op, r["ok"].get(op, 0) + r["bad"].get(op, 0),
                                                  " (%d failed, last %s)" % (r["bad"][op], r["last_bad_status"].get(op)) if r["bad"].get(op) else "")
                                     for op in ops)
        rows.append((label, str(r["requests"]), "%.0f" % (r["requests"] / seconds), ms(r["p50_us"]), ms(r["p99_us"]),
                     "%d non-2xx, %d socket" % (e["status"], socket), note))
        return r

    webhooks = http_row("webhooks", "webhooks (ingestion)", env["webhook_connections"])
    http_row("reads", "API reads", env["read_connections"])
    http_row("writes", "API writes", env["write_connections"])

    engine = json.load(open(os.path.join(data, "engine.json")))
    rows.append(("engine turns", str(engine["turns"]), "%.0f" % (engine["turns"] / duration),
                 "%.1f" % engine["p50_ms"] if engine["p50_ms"] is not None else "-",
                 "%.1f" % engine["p99_ms"] if engine["p99_ms"] is not None else "-",
                 "%d timed out, %d refused" % (engine["timeouts"], engine["refused"]),
                 "%d customers in a closed loop; webhook sent -> 2nd reply at the fake Graph" % engine["customers"]))

    start, end = env["window_start"], env["window_end"]
    runs = psql(env, """
        SELECT job, status, count(*),
               percentile_disc(0.5) WITHIN GROUP (ORDER BY (counts->>'duration_ms')::int),
               percentile_disc(0.99) WITHIN GROUP (ORDER BY (counts->>'duration_ms')::int),
               coalesce(sum((counts->>'sent')::int), 0), coalesce(sum((counts->>'new_events')::int), 0),
               coalesce(sum((counts->>'days_written')::int), 0)
        FROM job_runs WHERE finished_at >= to_timestamp(%s) AND finished_at < to_timestamp(%s)
        GROUP BY job, status ORDER BY job, status""" % (start, end))
    if not runs:
        rows.append(("scheduler runs", "0", "0", "-", "-", "", "no job run finished in the window"))
    for job, status, count, p50, p99, sent, events, days in runs:
        what = "%s follow-ups sent" % sent if job == "followup" else "%s new events, %s tenant-days written" % (events, days)
        rows.append(("scheduler %s (%s)" % (job, status), count, "%.2f" % (int(count) / duration), p50, p99,
                     "" if status == "succeeded" else "%s %s" % (count, status), "run duration; " + what))

    print()
    print("== bench/mixed: %d s measured after %d s of warm-up, all kinds at once" % (duration, int(env["warmup"])))
    widths = [30, 7, 6, 7, 7, 24]
    header = ("kind", "count", "per s", "p50 ms", "p99 ms", "errors", "")
    print("  ".join(h.ljust(w) if i == 0 else h.rjust(w) if i < 5 else h.ljust(w) for i, (h, w) in enumerate(zip(header, widths + [0]))))
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [str(c).rjust(w) for c, w in zip(row[1:5], widths[1:5])] + [row[5].ljust(widths[5]), row[6]]
        print("  ".join(cells).rstrip())

    print()
    if webhooks is not None:
        acked = webhooks["ok"].get("webhook", 0)
        stored = int(psql(env, "SELECT count(*) FROM chat_messages WHERE provider_message_id LIKE 'wamid.bench-%s-%%'" % env["run_id"])[0][0])
        print("webhook messages acknowledged (200): %d, stored in chat_messages: %d, acknowledged but missing: %d%s"
              % (acked, stored, max(0, acked - stored), "" if stored >= acked else "  <-- LOST"))
    sends = engine["graph_sends_by_phone"]
    print("sends answered by the fake Graph API from set-up to the end: flow replies %d, agent replies %d, follow-ups %d"
          % (sends.get(env["engine_phone"], 0), sends.get(env["ingest_phone"], 0), sends.get(env["followup_phone"], 0)))

    rss = json.load(open(os.path.join(data, "rss.json"))) if os.path.exists(os.path.join(data, "rss.json")) else {}
    print()
    print("peak RSS (VmHWM): pytake-server %s, pytake-scheduler %s" % (mib(env["server_hwm_kb"]), mib(env["scheduler_hwm_kb"])))
    if rss:
        print("PostgreSQL, postmaster + up to %d processes, sampled every 0.5 s: peak Pss total %s (shared buffers counted once), "
              "peak RSS total %s (shared pages counted in every process)" % (rss["processes"], mib(rss["pss_kb"]), mib(rss["rss_kb"])))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "sample":
        sample(int(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "print":
        report(sys.argv[2])
    else:
        sys.exit(__doc__)
