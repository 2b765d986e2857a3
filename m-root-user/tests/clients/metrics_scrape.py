#!/usr/bin/python3
"""Scrape m-root-xdp's GET /metrics with urllib and parse it with prometheus_client's parser.

Usage:
  metrics_scrape.py once URL [openmetrics]   one scrape: prints JSON {"content_type", "samples": [[name,
                                             labels, value], ...]}; with "openmetrics" it asks for
                                             OpenMetrics and parses with the OpenMetrics parser
  metrics_scrape.py loop URL SECONDS         scrape again and again for SECONDS: prints JSON {"scrapes":
                                             [[start_unix, latency_ms, zone_serial, reloads_ok], ...]}
Exits non-zero when a scrape fails or does not parse.
"""
import json
import sys
import time
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families


def scrape(url, openmetrics=False):
    req = urllib.request.Request(url)
    if openmetrics:
        req.add_header("Accept", "application/openmetrics-text;version=1.0.0,text/plain;q=0.5")
    with urllib.request.urlopen(req, timeout=10) as r:
        ctype = r.headers.get("Content-Type", "")
        text = r.read().decode("utf-8")
    parse = openmetrics_families if openmetrics else text_string_to_metric_families
    samples = []
    for family in parse(text):
        for s in family.samples:
            samples.append([s.name, s.labels, s.value])
    return ctype, samples


def value(samples, name, **labels):
    for n, l, v in samples:
        if n == name and all(l.get(k) == want for k, want in labels.items()):
            return v
    return None


def main():
    mode, url = sys.argv[1], sys.argv[2]
    if mode == "once":
        ctype, samples = scrape(url, len(sys.argv) > 3 and sys.argv[3] == "openmetrics")
        print(json.dumps({"content_type": ctype, "samples": samples}))
        return 0
    if mode == "loop":
        until = time.time() + float(sys.argv[3])
        out = []
        while time.time() < until:
            start = time.time()
            _, samples = scrape(url)
            ms = (time.time() - start) * 1e3
            out.append([start, ms, value(samples, "m_root_xdp_zone_serial"), value(samples, "m_root_xdp_reload_total", result="ok")])
            time.sleep(0.02)
        print(json.dumps({"scrapes": out}))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
