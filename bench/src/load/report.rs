//! What `bench load` reports: the terminal table and the SVG plot of replies against offered rate.

use std::fmt::Write as _;

/// knotd's XDP mode's replies/s at the same mix and requested rate: what the "x knotd" column divides by.
fn knotd_xdp(rows: &[serde_json::Value], row: &serde_json::Value) -> Option<f64> {
    rows.iter()
        .find(|k| {
            k["server"] == super::servers::Server::KnotXdp.label()
                && k["mix"] == row["mix"]
                && k["offered_qps_requested"] == row["offered_qps_requested"]
        })
        .and_then(|k| k["replies_per_s"].as_f64())
        .filter(|v| *v > 0.0)
}

/// The table of every row, then the live-frames line. The share has a decimal: "100 %" is every query.
pub(super) fn print_table(rows: &[serde_json::Value], live: Option<&serde_json::Value>) {
    println!(
        "{:<28} {:<22} {:>10} {:>10} {:>7} {:>7} {:>6} {:>8} {:>6} {:>6}",
        "server", "mix", "offered/s", "replies/s", "share", "x knotd", "cpu", "softirq", "xdp", "tc"
    );
    for r in rows {
        let replies = r["replies_per_s"].as_f64().unwrap_or(0.0);
        println!(
            "{:<28} {:<22} {:>10.0} {:>10.0} {:>6.1}% {:>7} {:>6.2} {:>8.2} {:>6} {:>6}",
            r["server"].as_str().unwrap_or(""),
            r["mix"].as_str().unwrap_or(""),
            r["offered_qps"].as_f64().unwrap_or(0.0),
            replies,
            100.0 * r["answered_share"].as_f64().unwrap_or(0.0),
            knotd_xdp(rows, r).map(|k| format!("{:.2}x", replies / k)).unwrap_or_else(|| "-".into()),
            r["server_cpu_s_per_s"].as_f64().unwrap_or(0.0),
            r["softirq_cpu_s_per_s"].as_f64().unwrap_or(0.0),
            r["xdp_share"].as_f64().map(|x| format!("{:.0}%", 100.0 * x)).unwrap_or_else(|| "-".into()),
            r["tc_share"].as_f64().map(|x| format!("{:.0}%", 100.0 * x)).unwrap_or_else(|| "-".into())
        );
    }
    if let Some(l) = live {
        println!(
            "live frames ({} covered mix queries, {} s): reflector {:.0} replies/s, m-root-xdp XDP {:.0} replies/s ({:.0} XDP answers/s) = {:.0} % of the reflector",
            l["queries"],
            l["seconds"],
            l["reflector"]["replies_per_s"].as_f64().unwrap_or(0.0),
            l["m_root_xdp"]["replies_per_s"].as_f64().unwrap_or(0.0),
            l["m_root_xdp"]["xdp_answers_per_s"].as_f64().unwrap_or(0.0),
            100.0 * l["ratio_to_reflector"].as_f64().unwrap_or(0.0)
        );
    }
}

/// Replies per second against offered rate, one line per server (first mix), as an SVG.
pub(super) fn plot(rows: &[serde_json::Value]) -> String {
    let Some(mix) = rows.first().and_then(|r| r["mix"].as_str()) else { return String::new() };
    let pts: Vec<(&str, f64, f64)> = rows
        .iter()
        .filter(|r| r["mix"] == mix)
        .map(|r| (r["server"].as_str().unwrap_or(""), r["offered_qps"].as_f64().unwrap_or(0.0), r["replies_per_s"].as_f64().unwrap_or(0.0)))
        .collect();
    let max = pts.iter().map(|p| p.1.max(p.2)).fold(1.0, f64::max) * 1.05;
    let (w, h, m) = (720.0, 440.0, 60.0);
    let x = |v: f64| m + v / max * (w - 2.0 * m);
    let y = |v: f64| h - m - v / max * (h - 2.0 * m);
    let colours = ["#e377c2", "#d62728", "#9467bd", "#8c564b", "#ff7f0e", "#1f77b4", "#17becf", "#2ca02c"];
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\"><rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
    );
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">Replies/s vs offered queries/s — {mix}, kxdpgun, veth lab</text>",
        w / 2.0
    );
    let _ = write!(
        s,
        "<line x1=\"{m}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/><line x1=\"{m}\" y1=\"{m}\" x2=\"{m}\" y2=\"{}\" stroke=\"black\"/>",
        h - m,
        w - m,
        h - m,
        h - m
    );
    let _ =
        write!(s, "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#bbb\" stroke-dasharray=\"4\"/>", x(0.0), y(0.0), x(max), y(max));
    for i in 0..=4 {
        let v = max * i as f64 / 4.0;
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{:.0}k</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.0}k</text>",
            x(v),
            h - m + 18.0,
            v / 1e3,
            m - 6.0,
            y(v) + 4.0,
            v / 1e3
        );
    }
    let mut servers: Vec<&str> = pts.iter().map(|p| p.0).collect();
    servers.dedup();
    for (i, srv) in servers.iter().enumerate() {
        let c = colours[i % colours.len()];
        let line: Vec<String> = pts.iter().filter(|p| p.0 == *srv).map(|p| format!("{:.1},{:.1}", x(p.1), y(p.2))).collect();
        let _ = write!(s, "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\"/>", line.join(" "));
        for p in pts.iter().filter(|p| p.0 == *srv) {
            let _ = write!(s, "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{c}\"/>", x(p.1), y(p.2));
        }
        let _ = write!(
            s,
            "<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"3\" fill=\"{c}\"/><text x=\"{}\" y=\"{}\">{srv}</text>",
            m + 10.0,
            m + 10.0 + 16.0 * i as f64,
            m + 28.0,
            m + 14.0 + 16.0 * i as f64
        );
    }
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">offered queries/s</text><text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" text-anchor=\"middle\">replies/s</text></svg>",
        w / 2.0,
        h - 16.0,
        h / 2.0,
        h / 2.0
    );
    s
}
