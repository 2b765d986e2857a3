#!/usr/bin/env python3
"""RSSAC047-style availability and correctness probe for a root server, with dnspython.

Usage (run with the project's venv, see scripts/setup.sh):

  /opt/m-root-xdp/venv/bin/python3 rssac047_probe.py --server4 198.18.0.1 --server6 2001:db8::1 \\
      --zone zones/root.zone.2026073102 --anchor zones/root.key.debian-2024071801 --now EPOCH \\
      [--tlds N] [--random N] [--seed S] [--port 53]

For each vantage (udp4, tcp4, udp6, tcp6; a family is left out when its --serverX is not given) it sends,
with EDNS0 (buffer 1220) and DO=1, one attempt each (timeout 2 s, no retries):
  . DNSKEY (first: its answer, validated against the trust anchor, gives this vantage's keys),
  . SOA, . NS, <tld> NS and <tld> DS for a seeded sample of TLDs from the zone file (always com, jp and
  one unsigned delegation when the zone has them), and <random>. names that are not in the zone.

Each response must arrive in time, match the query (id, opcode, question; QR set), carry the expected
rcode, AA bit and an OPT record with DO echoed, fit in 1220 octets over UDP, and:
  - every RRset of the answer and authority sections is signed and validates (dns.dnssec.validate at
    --now with the vantage's validated DNSKEY RRset), except the delegation NS RRset of a referral;
  - every RRset of the answer, authority and additional sections equals the zone file's rdata set,
    with the zone file's TTL (the referral NS set and the glue included);
  - a referral carries the TLD's DS RRset, or for an unsigned delegation the NSEC at the TLD whose
    bitmap has NS and no DS (nor SOA); a <tld> DS query of an unsigned TLD is a NODATA with that NSEC;
  - an NXDOMAIN carries the signed SOA and NSECs covering the name and the wildcard *. .
A UDP answer with TC=1 is checked for the header (match, rcode) only and counted as "tc"; it fails
unless --allow-tc is given, in which case the query is also sent over TCP and that answer is checked
in full, as a resolver would.

Prints each failure with its reasons (and the response for the first few), one summary line per
vantage, and last `rssac047: N passed, M failed` (counted per query). Exit 0 when all passed, 1 when
anything failed or did not validate, 2 on bad inputs (zone, anchor, no DNSSEC support in dnspython).
"""
import argparse
import importlib
import random
import socket
import struct
import sys
import time

import dns.dnssec
import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.version
import dns.zone

T = dns.rdatatype
ROOT = dns.name.root
WILDCARD = dns.name.from_text("*.")
TIMEOUT = 2.0
BUFSIZE = 1220  # RSSAC047's EDNS buffer; --bufsize changes it (to test the TC path)
DUMP_FIRST = 5  # failures whose full response is printed

# --------------------------------------------------------------------------- inputs


def load_anchor(path):
    """Parse a trust-anchor file of DS and/or DNSKEY lines for '.' (Debian's dns-root-data root.key,
    or the DS form of IANA's root-anchors). Returns (list of DNSKEY rdata, list of DS rdata)."""
    keys, dss = [], []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.split(";", 1)[0].strip()
            if not line:
                continue
            toks = line.split()
            idx = next((i for i, t in enumerate(toks) if t.upper() in ("DNSKEY", "DS")), None)
            if idx is None:
                raise ValueError(f"{path}:{lineno}: no DS or DNSKEY type in {line!r}")
            owner = dns.name.from_text(toks[0])
            if owner != ROOT:
                raise ValueError(f"{path}:{lineno}: anchor owner {owner} is not the root")
            rdtype = T.from_text(toks[idx].upper())
            rd = dns.rdata.from_text(dns.rdataclass.IN, rdtype, " ".join(toks[idx + 1:]))
            (keys if rdtype == T.DNSKEY else dss).append(rd)
    if not keys and not dss:
        raise ValueError(f"{path}: no trust anchor in file")
    return keys, dss


def anchor_matches(key, anchor_keys, anchor_dss):
    if key in anchor_keys:
        return True
    for ds in anchor_dss:
        if ds.key_tag != dns.dnssec.key_id(key) or ds.algorithm != key.algorithm:
            continue
        try:
            if dns.dnssec.make_ds(ROOT, key, ds.digest_type) == ds:
                return True
        except (dns.dnssec.UnsupportedAlgorithm, ValueError):
            continue
    return False


def why_invalid(rrset, sigs, keys, now):
    """Say why no RRSIG of sigs validates rrset (dnspython only says 'no RRSIGs validated')."""
    stamp = lambda t: time.strftime("%Y%m%d%H%M%S", time.gmtime(t))  # noqa: E731
    out = []
    for sig in sigs:
        what = f"RRSIG tag {sig.key_tag} alg {sig.algorithm}"
        if now < sig.inception or now > sig.expiration:
            out.append(f"{what} valid {stamp(sig.inception)}-{stamp(sig.expiration)}, now {stamp(now)}")
        elif not any(dns.dnssec.key_id(k) == sig.key_tag and k.algorithm == sig.algorithm for k in keys):
            out.append(f"{what}: no such key among {sorted(dns.dnssec.key_id(k) for k in keys)}")
        else:
            out.append(f"{what}: signature does not verify")
    return "; ".join(out) or "no RRSIG"


def validate_dnskey(rrset, sigs, anchor_keys, anchor_dss, now):
    """Validate the apex DNSKEY RRset with the anchored keys in it. Returns None or a reason."""
    trusted = [k for k in rrset if anchor_matches(k, anchor_keys, anchor_dss)
               and k.flags & 0x0100 and not k.flags & 0x0080]  # zone key, not revoked
    if not trusted:
        return "no DNSKEY matches the trust anchor"
    if sigs is None:
        return "DNSKEY RRset is not signed"
    anchored = dns.rrset.from_rdata_list(ROOT, rrset.ttl, trusted)
    try:
        dns.dnssec.validate(rrset, sigs, {ROOT: anchored}, now=now)
    except dns.dnssec.ValidationFailure as e:
        return f"DNSKEY RRset does not validate with the anchored keys " \
               f"{sorted(dns.dnssec.key_id(k) for k in trusted)}: {e} ({why_invalid(rrset, sigs, trusted, now)})"
    return None


def nsec_types(rd):
    out = set()
    for window, bitmap in rd.windows:
        for i, byte in enumerate(bitmap):
            for j in range(8):
                if byte & (0x80 >> j):
                    out.add(window * 256 + i * 8 + j)
    return out


def nsec_covers(owner, rd, name):
    """True when the NSEC (owner, rd.next) covers name: owner < name < next, the last NSEC wrapping."""
    nxt = rd.next
    if owner < nxt:
        return owner < name < nxt
    return name > owner or name < nxt  # last NSEC of the zone: next is the apex


class Zone:
    def __init__(self, path):
        self.z = dns.zone.from_file(path, origin=".", relativize=False, check_origin=True)
        self.tlds = sorted(n for n, node in self.z.nodes.items()
                           if n != ROOT and len(n) == 2 and node.get_rdataset(dns.rdataclass.IN, T.NS))
        self.unsigned = [n for n in self.tlds if self.rdataset(n, T.DS) is None]

    def rdataset(self, name, rdtype):
        node = self.z.get_node(name)
        return node.get_rdataset(dns.rdataclass.IN, rdtype) if node is not None else None

    def has_name(self, name):
        return self.z.get_node(name) is not None


# --------------------------------------------------------------------------- transport


def exchange(server, port, family, transport, q):
    """One attempt. Returns (raw wire, elapsed seconds) or raises socket.timeout / OSError / ValueError."""
    wire = q.to_wire()
    start = time.monotonic()
    deadline = start + TIMEOUT
    if transport == "udp":
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.settimeout(TIMEOUT)
            s.connect((server, port))  # only datagrams from the server's address and port
            s.send(wire)
            raw = s.recv(65535)
    else:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(TIMEOUT)
            s.connect((server, port))
            s.sendall(struct.pack("!H", len(wire)) + wire)

            def read(n):
                buf = b""
                while len(buf) < n:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise socket.timeout("timed out")
                    s.settimeout(left)
                    chunk = s.recv(n - len(buf))
                    if not chunk:
                        raise ValueError(f"TCP connection closed after {len(buf)} of {n} octets")
                    buf += chunk
                return buf

            (length,) = struct.unpack("!H", read(2))
            raw = read(length)
    elapsed = time.monotonic() - start
    if elapsed > TIMEOUT:
        raise socket.timeout(f"answer after {elapsed:.2f}s")
    return raw, elapsed


# --------------------------------------------------------------------------- checks


class Check:
    def __init__(self, zone, now):
        self.zone = zone
        self.now = now

    def compare_zone(self, errs, where, rrset):
        want = self.zone.rdataset(rrset.name, rrset.rdtype)
        if want is None:
            errs.append(f"{where}: {rrset.name} {T.to_text(rrset.rdtype)} is not in the zone file")
            return
        if rrset.ttl != want.ttl:
            errs.append(f"{where}: {rrset.name} {T.to_text(rrset.rdtype)} TTL {rrset.ttl}, "
                        f"zone file {want.ttl}")
        got = set(rrset)
        exp = set(want)
        if got != exp:
            extra = sorted(r.to_text() for r in got - exp)
            missing = sorted(r.to_text() for r in exp - got)
            errs.append(f"{where}: {rrset.name} {T.to_text(rrset.rdtype)} differs from the zone file: "
                        f"response only {extra[:4]}{'...' if len(extra) > 4 else ''}, "
                        f"zone file only {missing[:4]}{'...' if len(missing) > 4 else ''}")

    def validate(self, errs, where, r, section, rrset, keys):
        sigs = r.get_rrset(section, rrset.name, dns.rdataclass.IN, T.RRSIG, rrset.rdtype)
        if sigs is None:
            errs.append(f"DNSSEC: {where}: {rrset.name} {T.to_text(rrset.rdtype)} has no RRSIG")
            return False
        if keys is None:
            errs.append(f"DNSSEC: {where}: {rrset.name} {T.to_text(rrset.rdtype)} not validated: "
                        f"no validated DNSKEY for this vantage")
            return False
        try:
            dns.dnssec.validate(rrset, sigs, {ROOT: keys}, now=self.now)
        except dns.dnssec.ValidationFailure as e:
            errs.append(f"DNSSEC: {where}: {rrset.name} {T.to_text(rrset.rdtype)} does not validate: {e} "
                        f"({why_invalid(rrset, sigs, keys, self.now)})")
            return False
        return True

    def response(self, kind, qname, qtype, q, r, keys, anchor):
        """Full check of a non-truncated response. kind: apex, referral, ds, nxdomain.
        Returns (errors, validated DNSKEY RRset for a '. DNSKEY' query or None)."""
        errs = []
        new_keys = None
        # Header.
        self.header(errs, kind, qname, qtype, q, r)
        if r.edns < 0:
            errs.append("no OPT record in the response to an EDNS query")
        elif not r.ednsflags & dns.flags.DO:
            errs.append("DO bit not echoed in the response")
        if kind == "referral":
            if r.flags & dns.flags.AA:
                errs.append("AA set on a referral")
        elif not r.flags & dns.flags.AA:
            errs.append("AA not set on an authoritative answer")

        # DNSKEY first: the keys that validate the rest of this response (and of this vantage).
        if qtype == T.DNSKEY and qname == ROOT:
            ks = r.get_rrset(r.answer, ROOT, dns.rdataclass.IN, T.DNSKEY)
            if ks is None:
                errs.append("DNSSEC: no DNSKEY RRset in the answer")
            else:
                sigs = r.get_rrset(r.answer, ROOT, dns.rdataclass.IN, T.RRSIG, T.DNSKEY)
                why = validate_dnskey(ks, sigs, anchor[0], anchor[1], self.now)
                if why:
                    errs.append(f"DNSSEC: answer: {why}")
                else:
                    new_keys = keys = ks

        # Every RRset: zone data, and DNSSEC (all but the referral's delegation NS).
        for sname, section in (("answer", r.answer), ("authority", r.authority), ("additional", r.additional)):
            for rrset in section:
                if rrset.rdtype == T.RRSIG:
                    covered = rrset.covers
                    if r.get_rrset(section, rrset.name, dns.rdataclass.IN, covered) is None:
                        errs.append(f"DNSSEC: {sname}: RRSIG {rrset.name} {T.to_text(covered)} without its RRset")
                    continue
                if rrset.rdclass != dns.rdataclass.IN:
                    errs.append(f"{sname}: {rrset.name} {T.to_text(rrset.rdtype)} in class "
                                f"{dns.rdataclass.to_text(rrset.rdclass)}")
                    continue
                self.compare_zone(errs, sname, rrset)
                if sname == "additional":
                    continue  # glue: unsigned by design, compared with the zone above
                if rrset.rdtype == T.NS and rrset.name != ROOT:
                    if kind != "referral" or sname != "authority":
                        errs.append(f"{sname}: unexpected delegation NS {rrset.name}")
                    continue  # referral NS: unsigned by design
                if qtype == T.DNSKEY and rrset.rdtype == T.DNSKEY and rrset.name == ROOT and sname == "answer":
                    continue  # validated against the trust anchor above
                self.validate(errs, sname, r, section, rrset, keys)

        # What each kind must carry.
        get = lambda sec, n, t: r.get_rrset(sec, n, dns.rdataclass.IN, t)  # noqa: E731
        if kind == "apex":
            if get(r.answer, qname, qtype) is None:
                errs.append(f"answer has no {qname} {T.to_text(qtype)} RRset")
        elif kind == "referral":
            if r.answer:
                errs.append("answer section of a referral is not empty")
            if get(r.authority, qname, T.NS) is None:
                errs.append(f"referral has no {qname} NS RRset in the authority section")
            self.ds_or_nsec(errs, r, qname, r.authority, "referral")
            # In-domain glue is required (RFC 9471): every address the zone holds for a name server
            # under the TLD must be in the additional section (a response without room sets TC).
            ns = self.zone.rdataset(qname, T.NS)
            for target in sorted({rd.target for rd in ns} if ns is not None else ()):
                if not target.is_subdomain(qname):
                    continue
                for rdtype in (T.A, T.AAAA):
                    if self.zone.rdataset(target, rdtype) is not None and get(r.additional, target, rdtype) is None:
                        errs.append(f"referral lacks the in-domain glue {target} {T.to_text(rdtype)}")
        elif kind == "ds":
            if self.zone.rdataset(qname, T.DS) is not None:
                if get(r.answer, qname, T.DS) is None:
                    errs.append(f"answer has no {qname} DS RRset")
            else:
                if r.answer:
                    errs.append("answer section of a NODATA DS response is not empty")
                if get(r.authority, ROOT, T.SOA) is None:
                    errs.append("NODATA DS response has no SOA in the authority section")
                self.ds_or_nsec(errs, r, qname, r.authority, "NODATA")
        elif kind == "nxdomain":
            if r.answer:
                errs.append("answer section of an NXDOMAIN is not empty")
            if get(r.authority, ROOT, T.SOA) is None:
                errs.append("NXDOMAIN has no SOA in the authority section")
            nsecs = [rs for rs in r.authority if rs.rdtype == T.NSEC]
            for target, what in ((qname, "the name"), (WILDCARD, "the wildcard *.")):
                if not any(nsec_covers(rs.name, rd, target) for rs in nsecs for rd in rs):
                    errs.append(f"DNSSEC: NXDOMAIN has no NSEC covering {what} ({target})")
        return errs, new_keys

    def header(self, errs, kind, qname, qtype, q, r):
        if not q.is_response(r):
            errs.append(f"response does not match the query (id {r.id} vs {q.id}, "
                        f"question {[str(x) for x in r.question]}, QR {bool(r.flags & dns.flags.QR)})")
        want = dns.rcode.NXDOMAIN if kind == "nxdomain" else dns.rcode.NOERROR
        if r.rcode() != want:
            errs.append(f"rcode {dns.rcode.to_text(r.rcode())}, expected {dns.rcode.to_text(want)}")

    def ds_or_nsec(self, errs, r, tld, section, what):
        """The TLD's DS (signed delegation) or its NSEC with NS and no DS (unsigned) must be there;
        their signatures were validated with the rest of the section."""
        if self.zone.rdataset(tld, T.DS) is not None:
            if r.get_rrset(section, tld, dns.rdataclass.IN, T.DS) is None:
                errs.append(f"DNSSEC: {what}: no DS RRset for the signed delegation {tld}")
            elif r.get_rrset(section, tld, dns.rdataclass.IN, T.RRSIG, T.DS) is None:
                errs.append(f"DNSSEC: {what}: DS RRset for {tld} is not signed")
            return
        nsec = r.get_rrset(section, tld, dns.rdataclass.IN, T.NSEC)
        if nsec is None:
            errs.append(f"DNSSEC: {what}: no NSEC at {tld} proving the unsigned delegation has no DS")
            return
        for rd in nsec:
            types = nsec_types(rd)
            if T.NS not in types or T.DS in types or T.SOA in types:
                errs.append(f"DNSSEC: {what}: NSEC at {tld} does not prove an insecure delegation "
                            f"(types {sorted(T.to_text(t) for t in types)})")
        if r.get_rrset(section, tld, dns.rdataclass.IN, T.RRSIG, T.NSEC) is None:
            errs.append(f"DNSSEC: {what}: NSEC at {tld} is not signed")


# --------------------------------------------------------------------------- main


def build_queries(zone, ntlds, nrandom, seed):
    rng = random.Random(seed)
    required = [n for n in (dns.name.from_text("com."), dns.name.from_text("jp.")) if n in set(zone.tlds)]
    if zone.unsigned:
        required.append(rng.choice(zone.unsigned))
    rest = [n for n in zone.tlds if n not in required]
    tlds = required + sorted(rng.sample(rest, max(0, min(len(rest), ntlds - len(required)))))
    randoms = []
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    while len(randoms) < nrandom:
        label = "".join(rng.choice(alphabet) for _ in range(rng.randint(8, 16)))
        name = dns.name.from_text(label + ".")
        if not zone.has_name(name) and name not in randoms:
            randoms.append(name)
    queries = [("apex", ROOT, T.DNSKEY), ("apex", ROOT, T.SOA), ("apex", ROOT, T.NS)]
    for tld in tlds:
        queries.append(("referral", tld, T.NS))
        queries.append(("ds", tld, T.DS))
    for name in randoms:
        queries.append(("nxdomain", name, T.A))
    return tlds, randoms, queries


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--server4", help="IPv4 address of the server under test")
    ap.add_argument("--server6", help="IPv6 address of the server under test")
    ap.add_argument("--zone", required=True, help="the root zone file the server serves")
    ap.add_argument("--anchor", required=True, help="trust anchor file (DS or DNSKEY lines for '.')")
    ap.add_argument("--now", required=True, type=int, help="validation time, epoch seconds")
    ap.add_argument("--tlds", type=int, default=20,
                    help="TLDs to query; com, jp and one unsigned delegation are always among them")
    ap.add_argument("--random", type=int, default=5, help="random non-existent names to query")
    ap.add_argument("--seed", type=int, default=47)
    ap.add_argument("--port", type=int, default=53)
    ap.add_argument("--bufsize", type=int, default=BUFSIZE, help=argparse.SUPPRESS)
    ap.add_argument("--allow-tc", action="store_true",
                    help="accept TC=1 over UDP and check the answer over TCP instead")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every query's outcome")
    args = ap.parse_args()
    if not args.server4 and not args.server6:
        ap.error("give --server4 and/or --server6")

    try:
        have_dnssec = importlib.import_module("dns._features").have("dnssec")  # dnspython >= 2.4
    except ImportError:
        have_dnssec = False
    if not have_dnssec:
        print(f"rssac047: dnspython {dns.version.version} here cannot validate DNSSEC (needs dnspython 2.9 "
              "with cryptography >= 50); run with /opt/m-root-xdp/venv/bin/python3 (scripts/setup.sh "
              "makes it)", file=sys.stderr)
        return 2
    try:
        anchor = load_anchor(args.anchor)
        t0 = time.monotonic()
        zone = Zone(args.zone)
    except (OSError, ValueError, dns.exception.DNSException) as e:
        print(f"rssac047: bad input: {e}", file=sys.stderr)
        return 2
    soa = zone.rdataset(ROOT, T.SOA)
    print(f"zone: serial {soa[0].serial if soa else '?'}, {len(zone.tlds)} TLDs "
          f"({len(zone.unsigned)} unsigned), loaded in {time.monotonic() - t0:.1f}s; "
          f"anchor: {len(anchor[0])} DNSKEY, {len(anchor[1])} DS; now {args.now}")
    # Diagnose the inputs: the zone file's own DNSKEY RRset at --now.
    zk = zone.rdataset(ROOT, T.DNSKEY)
    zs = zone.z.get_node(ROOT).get_rdataset(dns.rdataclass.IN, T.RRSIG, T.DNSKEY)
    if zk is None:
        print("rssac047: bad input: the zone file has no apex DNSKEY", file=sys.stderr)
        return 2
    why = validate_dnskey(dns.rrset.from_rdata_list(ROOT, zk.ttl, list(zk)),
                          dns.rrset.from_rdata_list(ROOT, zs.ttl, list(zs)) if zs else None,
                          anchor[0], anchor[1], args.now)
    if why:
        print(f"note: the zone file's own DNSKEY RRset does not validate at --now {args.now}: {why}")

    tlds, randoms, queries = build_queries(zone, args.tlds, args.random, args.seed)
    unsigned = [t for t in tlds if t in set(zone.unsigned)]
    print(f"queries per vantage: {len(queries)}; TLDs: {' '.join(str(t) for t in tlds)} "
          f"(unsigned: {' '.join(str(t) for t in unsigned) or 'none'}); "
          f"random: {' '.join(str(n) for n in randoms)}")

    check = Check(zone, args.now)
    vantages = []
    for fam, server, af in (("4", args.server4, socket.AF_INET), ("6", args.server6, socket.AF_INET6)):
        if server:
            vantages += [("udp", fam, server, af), ("tcp", fam, server, af)]

    total_pass = total_fail = dumped = 0
    summaries = []
    for transport, fam, server, af in vantages:
        vname = f"{transport}{fam}"
        keys = None
        st = dict(passed=0, failed=0, timeouts=0, tc=0, invalid=0)
        rtts = []
        for kind, qname, qtype in queries:
            q = dns.message.make_query(qname, qtype, use_edns=0, payload=args.bufsize, want_dnssec=True)
            label = f"{vname} {server} {qname} {T.to_text(qtype)}"
            errs, r, note = [], None, ""
            try:
                raw, rtt = exchange(server, args.port, af, transport, q)
                rtts.append(rtt)
                r = dns.message.from_wire(raw)
            except (socket.timeout, TimeoutError) as e:
                errs.append(f"timeout ({TIMEOUT:.0f}s, no retry): {e}")
                st["timeouts"] += 1
            except (OSError, ValueError, dns.exception.DNSException) as e:
                errs.append(f"no usable response: {type(e).__name__}: {e}")
            if r is not None:
                if transport == "udp" and len(raw) > max(512, args.bufsize):
                    errs.append(f"UDP response of {len(raw)} octets exceeds the EDNS buffer {args.bufsize}")
                if transport == "udp" and r.flags & dns.flags.TC:
                    st["tc"] += 1
                    check.header(errs, kind, qname, qtype, q, r)
                    if not args.allow_tc:
                        errs.append(f"TC=1 over UDP ({len(raw)} octets); --allow-tc to retry over TCP")
                    else:
                        note = " (TC, checked over TCP)"
                        try:
                            raw, _ = exchange(server, args.port, af, "tcp", q)
                            r = dns.message.from_wire(raw)
                        except (OSError, ValueError, dns.exception.DNSException) as e:
                            errs.append(f"TCP after TC: no usable response: {type(e).__name__}: {e}")
                            r = None
                if r is not None and not (transport == "udp" and r.flags & dns.flags.TC):
                    more, new_keys = check.response(kind, qname, qtype, q, r, keys, anchor)
                    errs += more
                    if new_keys is not None:
                        keys = new_keys
                    if any(e.startswith("DNSSEC: ") for e in more):
                        st["invalid"] += 1
            if errs:
                st["failed"] += 1
                print(f"FAIL {label}{note}:")
                for e in errs:
                    print(f"    - {e}")
                if r is not None and dumped < DUMP_FIRST:
                    dumped += 1
                    lines = r.to_text().splitlines()
                    for line in lines[:60]:
                        print(f"      | {line}")
                    if len(lines) > 60:
                        print(f"      | ... {len(lines) - 60} more lines")
            else:
                st["passed"] += 1
                if args.verbose:
                    print(f"ok   {label}{note} ({len(raw)} octets)")
        total_pass += st["passed"]
        total_fail += st["failed"]
        avg = f"{1000 * sum(rtts) / len(rtts):.1f}ms" if rtts else "-"
        summaries.append(f"{vname} {server}: {len(queries)} queries, {st['passed']} passed, "
                         f"{st['failed']} failed ({st['timeouts']} timeouts, {st['invalid']} not validated, "
                         f"{st['tc']} truncated), avg rtt {avg}, DNSKEY "
                         f"{'validated' if keys is not None else 'NOT validated'}")
    for line in summaries:
        print(line)
    print(f"rssac047: {total_pass} passed, {total_fail} failed")
    return 0 if total_fail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
