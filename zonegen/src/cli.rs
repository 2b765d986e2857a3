//! The `zonegen` command line, here in the library so that m-root-xdp's `manual` command renders its
//! manual page and completions from the same definition the binary parses.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "zonegen", version, about = "Root zone checker, answer logic and XDP table compiler")]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Parse and validate a zone; print a summary or the errors.
    Check {
        zone: PathBuf,
        /// Skip ZONEMD verification.
        #[arg(long)]
        no_zonemd: bool,
    },
    /// Compile a zone into the response table file.
    Compile {
        zone: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
        #[arg(long)]
        no_zonemd: bool,
    },
    /// Print what a table file holds.
    Inspect { table: PathBuf },
    /// Print the answer the server gives to one query, as dig would.
    Answer {
        zone: PathBuf,
        qname: String,
        #[arg(default_value = "A")]
        qtype: String,
        /// Set the DO bit (implies EDNS).
        #[arg(long = "do")]
        dnssec_ok: bool,
        /// EDNS UDP buffer size; without it (and without --do) the query carries no EDNS.
        #[arg(long)]
        bufsize: Option<u16>,
        /// Answer as over TCP (no size limit but 65535).
        #[arg(long)]
        tcp: bool,
        #[arg(long, default_value = "IN")]
        class: String,
        #[arg(long)]
        no_zonemd: bool,
    },
}
