#!/usr/bin/python3
"""Send rssac002_traffic.py's fixed mix of DNS queries over UDP and TCP from each source address, and
print every exchange as JSON: transport, source address and port, the query and the response as sent
and received (hex).

Usage: dnstap_traffic.py SERVER4 SERVER6 SOURCE...   (sources are addresses of this namespace)
Exits non-zero when a query goes unanswered.
"""
import ipaddress
import json
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rssac002_traffic import MIX, query, read_exactly  # noqa: E402


def main() -> int:
    srv4, srv6, sources = sys.argv[1], sys.argv[2], sys.argv[3:]
    out = []
    for src in sources:
        fam = ipaddress.ip_address(src).version == 6
        server = srv6 if fam else srv4
        af = socket.AF_INET6 if fam else socket.AF_INET
        for transport in ("udp", "tcp"):
            for (name, qtype, qclass, edns, do) in MIX:
                wire = query(name, qtype, qclass, edns, do).to_wire()
                if transport == "udp":
                    with socket.socket(af, socket.SOCK_DGRAM) as s:
                        s.bind((src, 0))
                        s.settimeout(3.0)
                        s.sendto(wire, (server, 53))
                        resp = s.recv(65535)
                        port = s.getsockname()[1]
                else:
                    with socket.socket(af, socket.SOCK_STREAM) as s:
                        s.bind((src, 0))
                        s.settimeout(3.0)
                        s.connect((server, 53))
                        s.sendall(len(wire).to_bytes(2, "big") + wire)
                        resp = read_exactly(s, int.from_bytes(read_exactly(s, 2), "big"))
                        port = s.getsockname()[1]
                out.append({"transport": transport, "src": src, "port": port, "server": server,
                            "query": wire.hex(), "response": resp.hex()})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
