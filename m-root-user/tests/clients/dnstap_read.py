#!/usr/bin/python3
"""Read a Frame Streams file of dnstap (as fstrm_capture writes it) and print its messages as JSON,
decoded by dnstap-pb (the dnstap.proto bindings): type, socket family and protocol, addresses and
ports, and the DNS messages (hex), with the stream's content type, identity and version.

Usage: dnstap_read.py FILE
"""
import ipaddress
import json
import struct
import sys

from dnstap_pb import Dnstap, Message, SocketFamily, SocketProtocol


def frames(data):
    """(control, payload) for each frame of a unidirectional Frame Streams file."""
    i = 0
    while i < len(data):
        (n,) = struct.unpack_from(">I", data, i)
        i += 4
        if n == 0:
            (n,) = struct.unpack_from(">I", data, i)
            i += 4
            yield True, data[i:i + n]
        else:
            yield False, data[i:i + n]
        i += n


def main() -> int:
    data = open(sys.argv[1], "rb").read()
    out = {"content_type": None, "stopped": False, "messages": []}
    for control, payload in frames(data):
        if control:
            (kind,) = struct.unpack_from(">I", payload, 0)
            if kind == 2 and len(payload) >= 12:  # START, with its content type field
                (flen,) = struct.unpack_from(">I", payload, 8)
                out["content_type"] = payload[12:12 + flen].decode()
            if kind == 3:
                out["stopped"] = True
            continue
        d = Dnstap()
        d.ParseFromString(payload)
        m = d.message
        addr = lambda b: str(ipaddress.ip_address(b)) if b else None  # noqa: E731
        out["messages"].append({
            "identity": d.identity.decode(), "version": d.version.decode(),
            "extra": d.extra.decode() if d.HasField("extra") else None,
            "type": Message.Type.Name(m.type),
            "family": SocketFamily.Name(m.socket_family), "protocol": SocketProtocol.Name(m.socket_protocol),
            "query_address": addr(m.query_address), "query_port": m.query_port,
            "response_address": addr(m.response_address), "response_port": m.response_port,
            "query_time": m.query_time_sec, "response_time": m.response_time_sec if m.HasField("response_time_sec") else None,
            "query_message": m.query_message.hex(), "response_message": m.response_message.hex(),
        })
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
