#!/usr/bin/python3
"""Send DNS queries with dnspython from an ordinary UDP socket, as a resolver would.

Usage: dnspython_query.py SERVER < lines of "QNAME QTYPE DO(0|1) BUFSIZE(0 = no EDNS)"
Prints one line per query: "<query hex> <answer hex> <rcode text> <ancount> <nscount> <arcount>", after
checking with dnspython that the answer parses and matches the query (id, question). Exits non-zero on
any timeout or mismatch.
"""
import socket
import sys

import dns.message
import dns.rcode
import dns.rdatatype


def main() -> int:
    server = sys.argv[1]
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    for line in sys.stdin:
        if not line.strip():
            continue
        qname, qtype, do, bufsize = line.split()
        edns = 0 if int(bufsize) > 0 else -1
        q = dns.message.make_query(qname, dns.rdatatype.from_text(qtype), use_edns=edns,
                                   payload=int(bufsize) or 512, want_dnssec=do == "1")
        wire = q.to_wire()
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.settimeout(2.0)
            s.sendto(wire, (server, 53))
            raw, _ = s.recvfrom(65535)
        r = dns.message.from_wire(raw)
        if not q.is_response(r):
            print(f"{qname} {qtype}: answer does not match the query", file=sys.stderr)
            return 1
        print(wire.hex(), raw.hex(), dns.rcode.to_text(r.rcode()), len(r.answer), len(r.authority),
              len(r.additional))
    return 0


if __name__ == "__main__":
    sys.exit(main())
