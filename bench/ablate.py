#!/usr/bin/env python3
"""Where the XDP program's time goes: build ablated copies of the eBPF object and time each against
this build with `bench xdp-ab` (same table, frames and turns).

    sudo python3 bench/ablate.py [--runs N] [--only TEXT] [NAME ...]

Each ablation is a set of source edits, applied to m-root-ebpf, built, its object kept as
target/ablate/NAME.o, and the sources put back as they were (whatever happens). The stage ablations
answer XDP_TX at a point of the path (the query unchanged, or for s6_dns resized and the answer written
in without its UDP/IP headers), so B there is the cost up to that point (its frame is not the whole answer, so
"same" reads no); `noptr` leaves the compression pointers unshifted (what an answer stored already shifted would cost);
`minimal` is the least this design can cost (no counters, day counts, dnstap, signals or limiter step,
pointers unshifted; with no counters its answers are not counted). An edit that no longer applies
stops the script: the ablation must follow the code.
Output: bench xdp-ab's table per ablation, also in target/ablate/NAME.txt.
"""

import argparse
import glob
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EBPF = "m-root-ebpf/src/"

# A stage's exit: answer XDP_TX with the frame as it is (counted as an answer, so the bench sees it).
EXIT = "if true { count::<P>(pc, Counter::AnsIpv4); return Ok(()); }\n"

ABLATIONS = {
    "s1_frame": [
        ("main.rs", "    count::<P>(pc, Counter::Queries);\n", "    count::<P>(pc, Counter::Queries);\n    " + EXIT),
    ],
    "s2_question": [
        (
            "main.rs",
            "        return Err(Failed::Pass(Counter::PassUncovered));\n    }\n    let (generation, info)",
            "        return Err(Failed::Pass(Counter::PassUncovered));\n    }\n    " + EXIT + "    let (generation, info)",
        ),
    ],
    "s3_lookup": [
        (
            "main.rs",
            "    if a.usable == 0 {\n        return Err(Failed::Pass(Counter::PassUncovered));\n    }\n",
            "    if a.usable == 0 {\n        return Err(Failed::Pass(Counter::PassUncovered));\n    }\n    " + EXIT,
        ),
    ],
    "s4_verdict": [
        ("main.rs", "    rrl::park(pc, charged);\n", "    rrl::park(pc, charged);\n    " + EXIT),
    ],
    # Through the cut's choice and the values read before the frame is resized (Kept), then the
    # bookkeeping after the splice; the frame is not resized.
    "s5_prepared": [
        (
            "splice.rs",
            "    let kept = Kept::read(ctx, f, q.qlen, pc).ok_or(Failed::Pass(Counter::PassMalformed))?;\n",
            "    let kept = Kept::read(ctx, f, q.qlen, pc).ok_or(Failed::Pass(Counter::PassMalformed))?;\n"
            "    if kept.id != 0x7777 { return Ok(false); }\n",
        ),
    ],
    # Resized, fragment copied and its pointers shifted, OPT and DNS header written.
    "s6_dns": [
        (
            "splice.rs",
            "    // Ethernet: swap MACs (VLAN tags stay as they are).",
            "    if dns_sum != 0x12345 { return Ok(false); }\n    // Ethernet: swap MACs (VLAN tags stay as they are).",
        ),
    ],
    "noptr": [
        ("splice.rs", "    job.shift == 0 || shift_pointers(", "    true || shift_pointers("),
    ],
    "minimal": [
        (
            "main.rs",
            "    if i < N_COUNTERS {\n        unsafe { (*pc).counters[P::HOOK as usize][i] += 1 };\n    }",
            "    let _ = (pc, i);",
        ),
        ("main.rs", "            daily::disposed(pc, true);\n            dnstap::answered(&ctx);\n", ""),
        ("main.rs", "    signals::count_parked(pc);\n", ""),
        ("main.rs", "    signals::clear(pc);\n", ""),
        ("lookup.rs", "        signals::park(pc, &label);\n", ""),
        (
            "daily.rs",
            "    unsafe { core::ptr::write_volatile(core::ptr::addr_of_mut!((*pc).day[1]), dns_len as u64) };",
            "    let _ = (pc, dns_len);",
        ),
        ("main.rs", "    let charged = if rrl::needed() {", "    let charged = if false {"),
        ("splice.rs", "    job.shift == 0 || shift_pointers(", "    true || shift_pointers("),
    ],
}


def run(cmd, **kw):
    print("+", " ".join(cmd), file=sys.stderr)
    return subprocess.run(cmd, cwd=ROOT, check=True, **kw)


def newest_object():
    objs = glob.glob(os.path.join(ROOT, "target/release/build/m-root-user-*/out/m-root"))
    if not objs:
        sys.exit("no eBPF object under target/release/build: build the workspace first")
    return max(objs, key=os.path.getmtime)


def build(name, edits, out_dir):
    saved = {}
    try:
        for file, old, new in edits:
            path = os.path.join(ROOT, EBPF, file)
            text = saved.get(path) or open(path).read()
            saved.setdefault(path, text)
            cur = open(path).read()
            if cur.count(old) != 1:
                sys.exit(f"ablation {name}: its edit of {file} no longer applies (update bench/ablate.py)")
            open(path, "w").write(cur.replace(old, new))
        run(["cargo", "build", "--release", "-p", "m-root-user"], stdout=subprocess.DEVNULL)
        dst = os.path.join(out_dir, name + ".o")
        with open(newest_object(), "rb") as src, open(dst, "wb") as d:
            d.write(src.read())
        return dst
    finally:
        for path, text in saved.items():
            open(path, "w").write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=12000)
    ap.add_argument("--only")
    ap.add_argument("names", nargs="*", help=f"ablations (default all): {', '.join(ABLATIONS)}")
    a = ap.parse_args()
    names = a.names or list(ABLATIONS)
    for n in names:
        if n not in ABLATIONS:
            sys.exit(f"unknown ablation {n}; known: {', '.join(ABLATIONS)}")
    out_dir = os.path.join(ROOT, "target/ablate")
    os.makedirs(out_dir, exist_ok=True)
    objs = {n: build(n, ABLATIONS[n], out_dir) for n in names}
    # This build's own object again, for A.
    run(["cargo", "build", "--release", "-p", "m-root-user", "-p", "bench"], stdout=subprocess.DEVNULL)
    for n in names:
        cmd = ["target/release/bench", "xdp-ab", "--against", objs[n], "--runs", str(a.runs)]
        if a.only:
            cmd += ["--only", a.only]
        r = run(cmd, stdout=subprocess.PIPE, text=True)
        print(f"== {n}\n{r.stdout}")
        with open(os.path.join(out_dir, n + ".txt"), "w") as f:
            f.write(r.stdout)


if __name__ == "__main__":
    main()
