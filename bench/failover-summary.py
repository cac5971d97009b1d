#!/usr/bin/env python3
"""Prints the table of `make bench-failover` from the drill reports it wrote: per gateway and scenario the median
and max failover time (fault -> the gateway stops routing to the cluster, from its table or HAProxy's server
states), the failed requests, the median failback, and zone-agent's ratio to HAProxy at its defaults."""
import json, os, statistics, sys

out = sys.argv[1]
rows = {}
for name in sorted(os.listdir(out)):
    path = os.path.join(out, name)
    if not os.path.isdir(path):
        continue
    for scenario in sorted(os.listdir(path)):
        try:
            doc = json.load(open(os.path.join(path, scenario, "report.json")))
        except (OSError, ValueError):
            continue
        reports = doc.get("reports", [doc])
        f = [r["figures"] for r in reports]
        moved = [x["failoverTableSeconds"] for x in f if x.get("failoverTableSeconds") is not None]
        back = [x["failbackSeconds"] for x in f if x.get("failbackSeconds") is not None]
        rows[(scenario, name)] = dict(
            runs=len(reports), moved=moved, failed=sum(x["failedRequests"] for x in f),
            requests=sum(x["requests"] for x in f), back=back)

def fmt(v):
    return "-" if v is None else f"{v:.2f}"

print(f"\n{'scenario':<14} {'gateway':<28} {'runs':>4} {'median s':>9} {'max s':>7} {'failed':>12} {'failback s':>11} {'ratio':>7}")
for (scenario, name), r in sorted(rows.items()):
    med = statistics.median(r["moved"]) if r["moved"] else None
    anchor = rows.get((scenario, "haproxy-inter2s"), {}).get("moved")
    ratio = med / statistics.median(anchor) if med is not None and anchor else None
    print(f"{scenario:<14} {name:<28} {r['runs']:>4} {fmt(med):>9} {fmt(max(r['moved']) if r['moved'] else None):>7} "
          f"{str(r['failed']) + '/' + str(r['requests']):>12} {fmt(statistics.median(r['back']) if r['back'] else None):>11} "
          f"{fmt(ratio):>7}")
print("\nratio: the gateway's median failover over HAProxy's at its defaults (inter 2s fall 3 rise 2), same scenario")
