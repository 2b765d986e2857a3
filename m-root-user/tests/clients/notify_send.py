#!/usr/bin/python3
"""Send one NOTIFY (RFC 1996) for the root zone with dnspython, as a primary would, and print what came back.

Usage: notify_send.py SERVER SOURCE udp|tcp [ALGORITHM:NAME:SECRET]
With a key the NOTIFY is TSIG-signed and dnspython verifies the answer's signature (a bad or missing one
is an error). Prints one JSON line: {"rcode", "opcode", "aa", "id_matches", "question": [[name, type]],
"tsig": "verified" | "none"}, or {"error": ...} on a timeout or a bad answer (exit status 1).
"""
import json
import sys

import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring


def main() -> int:
    server, source, transport = sys.argv[1:4]
    q = dns.message.make_query(".", dns.rdatatype.SOA, use_edns=False)
    # RFC 1996 3.7: a NOTIFY request has AA set; RD means nothing to it. The opcode lives in the flags
    # word: set after them.
    q.flags = dns.flags.AA
    q.set_opcode(dns.opcode.NOTIFY)
    signed = len(sys.argv) > 4
    if signed:
        alg, name, secret = sys.argv[4].split(":", 2)
        q.use_tsig(dns.tsigkeyring.from_text({name: secret}), keyname=name, algorithm=alg)
    send = dns.query.udp if transport == "udp" else dns.query.tcp
    try:
        r = send(q, server, timeout=3, source=source)
    except Exception as e:  # a timeout, or an answer that fails TSIG verification
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        return 1
    if dns.opcode.from_flags(q.flags) != dns.opcode.NOTIFY:
        print(json.dumps({"error": "the request is not a NOTIFY"}))
        return 1
    print(json.dumps({
        "rcode": dns.rcode.to_text(r.rcode()),
        "opcode": dns.opcode.to_text(r.opcode()),
        "aa": bool(r.flags & dns.flags.AA),
        "qr": bool(r.flags & dns.flags.QR),
        "id_matches": r.id == q.id,
        "question": [[rr.name.to_text(), dns.rdatatype.to_text(rr.rdtype)] for rr in r.question],
        "tsig": "verified" if signed and r.had_tsig else "none",
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
