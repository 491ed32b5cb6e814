#!/usr/bin/env python3
"""Parses the bench's raw outputs (h2load, openssl speed, certauth-bench) into JSON lines, and
summarises them into the table on stdout and bench/out/results.json. Used by bench/bench.sh only."""
import json
import re
import sys


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]


def number(text):
    return None if text in (None, "", "null") else float(text)


def h2load(name, txt_path, log_path, rss, cpu_seconds=None, seconds=None):
    text = open(txt_path, encoding="utf-8", errors="replace").read()
    result = {"name": name, "rps": None, "p50_ms": None, "p99_ms": None, "rss_mb": number(rss)}
    cpu, window = number(cpu_seconds), number(seconds)
    finished = re.search(r"finished in ([\d.]+)s, ([\d.]+) req/s", text)
    requests = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", text)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    if not finished or not requests or not codes:
        result["error"] = "h2load did not finish: " + " ".join(text.strip().splitlines()[-3:])[:300]
        return result
    succeeded, failed, errored = int(requests.group(4)), int(requests.group(5)), int(requests.group(6))
    not2xx = sum(int(codes.group(i)) for i in (2, 3, 4))
    if succeeded == 0 or not2xx or failed or errored:
        result["error"] = f"{succeeded} succeeded, {failed} failed, {errored} errored, {not2xx} answers not 2xx"
    result["rps"] = round(float(finished.group(2)), 1)
    if cpu is not None and window and result["rps"]:
        # The server's CPU time over the measured window, per request answered in it.
        result["cpu_us_per_req"] = round(cpu * 1e6 / (result["rps"] * window), 1)
    latencies = []
    try:
        with open(log_path, encoding="utf-8") as log:
            for line in log:
                parts = line.split("\t")
                if len(parts) >= 3:
                    latencies.append(int(parts[2]) / 1000.0)
    except OSError:
        pass
    latencies.sort()
    if latencies:
        result["p50_ms"] = round(percentile(latencies, 0.50), 3)
        result["p99_ms"] = round(percentile(latencies, 0.99), 3)
    return result


def handshakes(name, prefix, runs, wall, rss, cpu_seconds=None):
    """Repeated h2load runs of one request per new connection: the rate is all requests over the wall time, the CPU
    per request the server's CPU time over the loop per request (each request is one full handshake)."""
    result = {"name": name, "rps": None, "p50_ms": None, "p99_ms": None, "rss_mb": number(rss)}
    total, latencies, problems = 0, [], []
    for index in range(int(runs)):
        text = open(f"{prefix}.{index}.txt", encoding="utf-8", errors="replace").read()
        requests = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", text)
        codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
        if not requests or not codes:
            problems.append(f"run {index} did not finish")
            continue
        total += int(requests.group(4))
        if int(requests.group(5)) or int(requests.group(6)) or sum(int(codes.group(i)) for i in (2, 3, 4)):
            problems.append(f"run {index}: {requests.group(5)} failed, {requests.group(6)} errored, not all 2xx")
        try:
            with open(f"{prefix}.{index}.log", encoding="utf-8") as log:
                for line in log:
                    parts = line.split("\t")
                    if len(parts) >= 3:
                        latencies.append(int(parts[2]) / 1000.0)
        except OSError:
            pass
    if problems:
        result["error"] = "; ".join(problems[:3])
    if total:
        result["rps"] = round(total / float(wall), 1)
        cpu = number(cpu_seconds)
        if cpu is not None:
            result["cpu_us_per_req"] = round(cpu * 1e6 / total, 1)
    latencies.sort()
    if latencies:
        result["p50_ms"] = round(percentile(latencies, 0.50), 3)
        result["p99_ms"] = round(percentile(latencies, 0.99), 3)
    return result


def openssl_speed(path, suffix=""):
    text = open(path, encoding="utf-8", errors="replace").read()
    found = {}
    for bits, sign, verify in re.findall(r"^rsa\s+(\d+) bits\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)\s+([\d.]+)", text, re.M):
        found[f"rsa{bits}_sign{suffix}"] = float(sign)
        found[f"rsa{bits}_verify{suffix}"] = float(verify)
    return {"openssl": found}


# name, ours, peer key (raw name or openssl figure), peer label, target ratio (None: no target)
SCENARIOS = [
    ("issuer_cached", "issuer_cached", "nginx_static_mtls", "nginx static file over mTLS", 1.0),
    ("authn_unique", "authn_unique", "haproxy_jwt_unique", "haproxy jwt_verify", 1.0),
    ("authn_unique_vs_mod_auth_openidc", "authn_unique", "apache_openidc_unique", "Apache mod_auth_openidc", 4.0),
    ("authn_repeat", "authn_repeat", "haproxy_jwt_repeat", "haproxy jwt_verify", 1.5),
    ("authn_repeat_vs_mod_auth_openidc", "authn_repeat", "apache_openidc_repeat", "Apache mod_auth_openidc", None),
    ("authn_mtls_keepalive", "authn_mtls_keepalive", "nginx_mtls_keepalive", "nginx ssl_verify_client", 1.0),
    ("authn_mtls_handshakes", "authn_mtls_handshakes", "nginx_mtls_handshakes", "nginx ssl_verify_client", 1.0),
    ("assertion_sign", "assertion_sign_rsa2048", "openssl:rsa2048_sign", "openssl speed rsa2048 sign", 0.85),
    # Only where the CPU has AVX-512 IFMA (see bench.sh): the same OpenSSL without its IFMA RSA path. No target.
    ("assertion_sign_vs_openssl_without_ifma", "assertion_sign_rsa2048", "openssl:rsa2048_sign_without_ifma",
     "openssl rsa2048 sign, IFMA off", None),
    ("assertion_sign_rsa4096", "assertion_sign_rsa4096", "openssl:rsa4096_sign", "openssl speed rsa4096 sign", 0.85),
    ("jwt_verify", "jwt_verify", "openssl:rsa2048_verify", "openssl speed rsa2048 verify", 0.85),
    ("roles_resolve", "roles_resolve", None, None, None),
]


def summarize(raw_path, out_path):
    runs, openssl, memory = {}, {}, []
    for line in open(raw_path, encoding="utf-8"):
        line = line.strip()
        if not line:
            continue
        item = json.loads(line)
        if "openssl" in item:
            # In-process figures come in interleaved rounds: each side keeps its best (least disturbed) round.
            for key, value in item["openssl"].items():
                openssl[key] = max(value, openssl.get(key, 0.0))
        elif "rss_end" in item:
            memory.append(item)
        else:
            earlier = runs.get(item["name"])
            if earlier and earlier.get("rps") and not earlier.get("error") and (item.get("error") or (item.get("rps") or 0) < earlier["rps"]):
                continue
            runs[item["name"]] = item
    scenarios, rows = [], []
    for name, ours_key, peer_key, peer_label, target in SCENARIOS:
        ours = runs.get(ours_key, {"rps": None, "p50_ms": None, "p99_ms": None, "rss_mb": None, "error": "not run"})
        peer, peer_rps = None, None
        if peer_key and peer_key.startswith("openssl:"):
            peer_rps = openssl.get(peer_key.split(":", 1)[1])
        elif peer_key:
            peer_rps = runs.get(peer_key, {}).get("rps")
            if runs.get(peer_key, {}).get("error"):
                peer_rps = None
        if peer_key:
            peer = {"name": peer_label, "rps": peer_rps}
        rps = None if ours.get("error") else ours.get("rps")
        ratio = round(rps / peer_rps, 3) if rps and peer_rps else None
        entry = {"name": name, "rps": rps, "p50_ms": ours.get("p50_ms"), "p99_ms": ours.get("p99_ms"),
                 "rss_mb": ours.get("rss_mb"), "peer": peer, "ratio": ratio}
        ours_cpu = None if ours.get("error") else ours.get("cpu_us_per_req")
        if ours_cpu is not None:
            entry["cpu_us_per_req"] = ours_cpu
            peer_cpu = None
            if peer_key and not peer_key.startswith("openssl:") and not runs.get(peer_key, {}).get("error"):
                peer_cpu = runs.get(peer_key, {}).get("cpu_us_per_req")
            if peer is not None:
                peer["cpu_us_per_req"] = peer_cpu
            if peer_cpu:
                entry["cpu_ratio"] = round(peer_cpu / ours_cpu, 3)
        scenarios.append(entry)
        met = "" if target is None else ("-" if ratio is None else ("yes" if ratio >= target else "NO"))
        rows.append((name, rps, ours.get("p50_ms", ours.get("mean_ms")), ours.get("p99_ms"), ours.get("rss_mb"),
                     peer_label or "", peer_rps, ratio, f">= {target}" if target else "", met, ours.get("error", "")))
    with open(out_path, "w", encoding="utf-8") as out:
        json.dump({"scenarios": scenarios}, out, indent=2)
        out.write("\n")

    def fmt(value, digits=1):
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:,.{digits}f}"
        return str(value)

    header = ("scenario", "req/s", "p50 ms", "p99 ms", "peak RSS MB", "peer / limit", "peer req/s", "ratio", "target", "met")
    table = [header] + [(r[0], fmt(r[1]), fmt(r[2], 2), fmt(r[3], 2), fmt(r[4]), r[5], fmt(r[6]), fmt(r[7], 2), r[8], r[9])
                        for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for index, row in enumerate(table):
        print("| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |")
        if index == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print()
    cpu_rows = [s for s in scenarios if s.get("cpu_us_per_req") is not None]
    if cpu_rows:
        print("Server CPU per request (user + system time of the server's processes over the measured window, per")
        print("request; steadier than req/s on a shared machine; cpu ratio = peer / ours, >= 1: we spend less):")
        for s in cpu_rows:
            peer_cpu = (s.get("peer") or {}).get("cpu_us_per_req")
            line = f"  {s['name']}: {s['cpu_us_per_req']:,.1f} us"
            if peer_cpu:
                line += f" vs {s['peer']['name']} {peer_cpu:,.1f} us, cpu ratio {s['cpu_ratio']:.2f}"
            print(line)
        print()
    print("Peers measured alone (same load generator, same run):")
    for key in ("nginx_static_mtls", "nginx_mtls_keepalive", "nginx_mtls_handshakes", "haproxy_jwt_unique",
                "haproxy_jwt_repeat", "apache_openidc_unique", "apache_openidc_repeat"):
        run = runs.get(key)
        if run:
            print(f"  {key}: {fmt(run.get('rps'))} req/s, p50 {fmt(run.get('p50_ms', run.get('mean_ms')), 2)} ms, "
                  f"p99 {fmt(run.get('p99_ms'), 2)} ms{'  ERROR: ' + run['error'] if run.get('error') else ''}")
    print("OpenSSL speed -elapsed: " + ", ".join(f"{k} {v:,.0f}/s" for k, v in sorted(openssl.items())))
    print("Service memory at the end of the bench (target: each under 64 MB): " + ", ".join(
        f"{m['rss_end']} {m['rss_mb']} MB (peak {m['peak_mb']})" for m in memory))
    for r in rows:
        if r[10]:
            print(f"ERROR in {r[0]}: {r[10]}")
    print(f"\nWritten: {out_path}")


def main(argv):
    mode = argv[1]
    if mode == "h2load":
        print(json.dumps(h2load(*argv[2:8])))
    elif mode == "handshakes":
        print(json.dumps(handshakes(*argv[2:8])))
    elif mode == "openssl":
        print(json.dumps(openssl_speed(argv[2], argv[3] if len(argv) > 3 else "")))
    elif mode == "summarize":
        summarize(argv[2], argv[3])
    else:
        sys.exit(f"report.py: unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv)
