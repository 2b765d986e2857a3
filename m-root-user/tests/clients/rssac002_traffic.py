#!/usr/bin/python3
"""Send a fixed mix of DNS queries with dnspython from several source addresses, over UDP and TCP, and
print what RSSAC002 should then count, as JSON: queries and responses by transport and family, the
request and response sizes (DNS message lengths) by transport, the rcodes (12-bit, with the OPT's
extended part), and the distinct sources (IPv4, IPv6, IPv6 /64).

Usage: rssac002_traffic.py SERVER4 SERVER6 SOURCE...   (sources are addresses of this namespace)
Exits non-zero when a query goes unanswered.
"""
import ipaddress
import json
import socket
import sys

import dns.edns
import dns.flags
import dns.message
import dns.rdataclass
import dns.rdatatype

# (qname, qtype, class, use EDNS, DO): referrals, NXDOMAIN (also a trust-anchor signal), the apex, a
# DS, and what only userspace answers (CHAOS, ANY, an unknown EDNS version: BADVERS).
MIX = [
    ("www.example.jp.", "A", "IN", True, True),
    ("example.com.", "NS", "IN", False, False),
    ("no-such-tld.", "A", "IN", True, True),
    ("_ta-4f66.", "NULL", "IN", True, False),
    (".", "SOA", "IN", True, True),
    ("jp.", "DS", "IN", True, True),
    ("version.bind.", "TXT", "CH", False, False),
    ("a.b.c.org.", "ANY", "IN", True, False),
    ("badvers.", "A", "IN", "v1", False),
]


def query(name, qtype, qclass, edns, do):
    if edns == "v1":
        q = dns.message.make_query(name, qtype, qclass, use_edns=1, payload=1232)
    else:
        q = dns.message.make_query(name, qtype, qclass, use_edns=0 if edns else False, payload=1232, want_dnssec=do)
    return q


def read_exactly(s, n):
    b = b""
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            raise EOFError("connection closed")
        b += chunk
    return b


def rcode12(resp_wire):
    r = dns.message.from_wire(resp_wire, ignore_trailing=True)
    return int(r.rcode())


def main() -> int:
    srv4, srv6, sources = sys.argv[1], sys.argv[2], sys.argv[3:]
    out = {
        "queries": [[0, 0], [0, 0]],
        "responses": [[0, 0], [0, 0]],
        "request_sizes": [[], []],
        "response_sizes": [[], []],
        "rcodes": {},
        "sources": [[], [], []],
    }
    for src in sources:
        ip = ipaddress.ip_address(src)
        fam = 1 if ip.version == 6 else 0
        server = srv6 if fam else srv4
        if fam:
            out["sources"][1].append(str(ip))
            out["sources"][2].append(str(ipaddress.ip_network(f"{ip}/64", strict=False)))
        else:
            out["sources"][0].append(str(ip))
        for tr, transport in enumerate(("udp", "tcp")):
            for (name, qtype, qclass, edns, do) in MIX:
                q = query(name, qtype, qclass, edns, do)
                wire = q.to_wire()
                if transport == "udp":
                    with socket.socket(socket.AF_INET6 if fam else socket.AF_INET, socket.SOCK_DGRAM) as s:
                        s.bind((src, 0))
                        s.settimeout(3.0)
                        s.sendto(wire, (server, 53))
                        resp = s.recv(65535)
                else:
                    with socket.socket(socket.AF_INET6 if fam else socket.AF_INET, socket.SOCK_STREAM) as s:
                        s.bind((src, 0))
                        s.settimeout(3.0)
                        s.connect((server, 53))
                        s.sendall(len(wire).to_bytes(2, "big") + wire)
                        resp = read_exactly(s, int.from_bytes(read_exactly(s, 2), "big"))
                if dns.message.from_wire(resp, ignore_trailing=True).id != q.id:
                    print(f"{name} {qtype} over {transport} from {src}: wrong id", file=sys.stderr)
                    return 1
                out["queries"][tr][fam] += 1
                out["responses"][tr][fam] += 1
                out["request_sizes"][tr].append(len(wire))
                out["response_sizes"][tr].append(len(resp))
                code = str(rcode12(resp))
                out["rcodes"][code] = out["rcodes"].get(code, 0) + 1
    for i in range(3):
        out["sources"][i] = len(set(out["sources"][i]))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
