//! `sluice`: one binary, verb first. `sluice run` is the daemon; the other
//! verbs are the validator and clients of a running daemon.
//!
//! Exit status: 0 success, 1 refused or problems found, 2 bad usage or
//! unreadable input, 3 the daemon could not be reached.

mod client;
mod drain_cmd;
mod lab;
mod output;
mod top;
mod validate_cmd;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use sluice_config::values::Duration as ConfigDuration;
use sluice_control::{Request, Response};
use sluice_daemon::logging::{self, LogFormat};
use sluice_daemon::{DaemonError, RunOptions};

#[derive(Parser, Debug)]
#[command(
    name = "sluice",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("SLUICE_COMMIT"), ")"),
    about = "An edge router for sites with redundant internet access points"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the daemon in the foreground.
    Run(RunArgs),
    /// Check config files without running them.
    Validate(ValidateArgs),
    /// Version, uptime, config and uplink states of the running daemon.
    Status(ReadArgs),
    /// Show one part of the running daemon's state.
    Show {
        #[command(subcommand)]
        what: Show,
    },
    /// Re-read the config file; a config that fails validation is refused and the running one stays.
    Reload {
        #[command(flatten)]
        read: ReadArgs,
        /// Roll back unless `sluice confirm` follows within this time (e.g. 5m).
        #[arg(long, value_name = "DURATION")]
        confirm_within: Option<ConfigDuration>,
        /// Apply a config an unconfirmed reload rolled back before.
        #[arg(long)]
        force: bool,
    },
    /// Keep the config of a `reload --confirm-within`.
    Confirm(ReadArgs),
    /// Take an uplink out of service: its outbound traffic moves to the
    /// others at once, its announcements get GRACEFUL_SHUTDOWN and the
    /// prepend. Checked first on the routes held now: refused (exit 1),
    /// naming the config line, when it would misroute traffic.
    Drain {
        /// The uplink.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        uplink: Option<String>,
        /// Every uplink: whole-router maintenance (a partner edge router
        /// takes the traffic; iBGP neighbours are told so).
        #[arg(long)]
        all: bool,
        /// Print the plan; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Drain despite the pre-check's findings (they are recorded).
        #[arg(long)]
        force: bool,
        /// Print the outbound counters as they fall; exit once drained
        /// (1 if `maintenance.drain.settle` ran out with packets leaving).
        #[arg(long)]
        wait: bool,
        /// Why, for `show uplinks` and the event log.
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Lift a `sluice drain` (a drain held by the config's
    /// maintenance.drained is refused: change the config).
    Undrain {
        uplink: String,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// A live view of the uplinks (state, outbound share, pps out and in,
    /// probes), the sessions and the latest events, refreshed each second:
    /// made for watching a drain. q, Esc or Ctrl-C quits.
    Top(TopArgs),
    /// Run containerlab topologies on network namespaces, with faults and traffic.
    Lab(lab::LabArgs),
    /// Print the shell completions for SHELL (bash, zsh, fish, …).
    Completions { shell: clap_complete::Shell },
    /// Write the man pages (sluice.1, sluice-run.1, …) into DIR (for
    /// packaging).
    #[command(hide = true)]
    Manpages { dir: PathBuf },
}

#[derive(Args, Debug)]
struct TopArgs {
    /// The daemon's control socket.
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Find the socket from this config's control.socket.
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Time between refreshes.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    every: std::time::Duration,
}

#[derive(Subcommand, Debug)]
enum Show {
    /// Each uplink with its state and why.
    Uplinks(ReadArgs),
    /// What the daemon did recently, oldest first.
    Events {
        /// Only the newest this many.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// BGP sessions: state, uptime, prefixes received, accepted and advertised, last error.
    Peers(ReadArgs),
    /// Every path to a prefix and which won and why; without PREFIX, the table.
    Routes {
        /// A prefix (exact match, else the longest covering one) or an address.
        prefix: Option<String>,
        /// At most this many prefixes (the daemon answers at most 10000).
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        /// The page after this prefix (an answer names the next one).
        #[arg(long, value_name = "PREFIX", conflicts_with = "prefix")]
        after: Option<String>,
        /// Only paths from this session (an uplink's name or a neighbour's address).
        #[arg(long, value_name = "NAME")]
        peer: Option<String>,
        /// Only paths with this community: 65001:7, a well-known name,
        /// 65001:1:2 (large) or target:65001:10 (extended); `*` for any
        /// part (65001:*, target:65001:*).
        #[arg(long, value_name = "COMMUNITY")]
        community: Option<String>,
        /// Only paths whose AS path matches this regular expression, as
        /// FRR's as-path access-lists (`_` is a boundary): '_3356_', '^65001_'.
        #[arg(long, value_name = "REGEX")]
        as_path: Option<String>,
        /// Only paths of this RPKI state: valid, invalid, not-found, unknown.
        #[arg(long, value_name = "STATE")]
        rpki: Option<String>,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// What the data plane forwards with, read back from its maps: the
    /// entry for PREFIX (or address, longest match), else every entry.
    Fib {
        /// A prefix or an address.
        prefix: Option<String>,
        /// At most this many entries (the daemon answers at most 10000).
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        /// The page after this prefix (an answer names the next one).
        #[arg(long, value_name = "PREFIX", conflicts_with = "prefix")]
        after: Option<String>,
        /// Every entry as the maps hold it (IPv4 as the DIR-24-8 arrays
        /// resolve it: runs of one group as the fewest prefixes).
        #[arg(long)]
        maps: bool,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Forwarding counters: per next hop, and per verdict (forwarded,
    /// passed to the kernel by reason, dropped).
    Counters(ReadArgs),
    /// RPKI origin validation: the caches, their RTR sessions and VRPs,
    /// and how many invalid routes were acted on.
    Rpki(ReadArgs),
    /// Every route the daemon holds, with each path's uplink, as a RIB
    /// dump for `sluice validate --with-rib FILE`.
    Rib {
        /// Write the dump (JSON lines) to stdout.
        #[arg(long)]
        dump: bool,
        #[command(flatten)]
        read: ReadArgs,
    },
}

#[derive(Args, Debug)]
struct RunArgs {
    /// The config file.
    #[arg(short, long, value_name = "FILE")]
    config: PathBuf,
    /// Control socket, instead of the config's control.socket.
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Metrics address (e.g. 127.0.0.1:9179, port 0 picks one) or `off`, instead of control.metrics.
    #[arg(long, value_name = "ADDR|off", value_parser = parse_metrics)]
    metrics: Option<MetricsAddr>,
    /// State directory, instead of control.state_dir.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = LogFormatArg::Text)]
    log_format: LogFormatArg,
    /// Log level or filter (RUST_LOG syntax); RUST_LOG overrides it.
    #[arg(long, default_value = "info")]
    log_level: String,
    /// Start with a config an unconfirmed reload rolled back before.
    #[arg(long)]
    force: bool,
}

#[derive(Clone, Debug)]
struct MetricsAddr(Option<SocketAddr>);

fn parse_metrics(s: &str) -> Result<MetricsAddr, String> {
    if s == "off" {
        return Ok(MetricsAddr(None));
    }
    s.parse()
        .map(|a| MetricsAddr(Some(a)))
        .map_err(|_| format!("`{s}` is not ADDRESS:PORT or `off`"))
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

#[derive(Args, Debug)]
struct ValidateArgs {
    /// Config files to check.
    #[arg(value_name = "FILE", required_unless_present = "list_rules")]
    files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Same as --format json.
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// List every rule with its ID, severity and summary.
    #[arg(long)]
    list_rules: bool,
    /// Simulate on the routes a running daemon learned instead of the
    /// config's route model: its control socket, or a file written by
    /// `sluice show rib --dump`.
    #[arg(long, value_name = "SOCKET|FILE")]
    with_rib: Option<PathBuf>,
    /// Compare each FILE with its version at git revision REV: which
    /// destinations change next hop in which state, which exports change,
    /// which findings appear or go.
    #[arg(long, value_name = "REV", conflicts_with = "with_rib")]
    diff: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    Github,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
}

/// How client commands find the daemon, and how they print.
#[derive(Args, Debug)]
struct ReadArgs {
    /// The daemon's control socket.
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Find the socket from this config's control.socket.
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the daemon's answer as JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Run(args) => run(args),
        Command::Validate(args) => {
            let format = if args.json { Format::Json } else { args.format };
            if args.list_rules {
                validate_cmd::list_rules(format);
                0
            } else if let Some(rev) = &args.diff {
                validate_cmd::diff(&args.files, rev, format)
            } else {
                validate_cmd::run(&args.files, format, args.with_rib.as_deref())
            }
        }
        Command::Status(read) => ask(&read, Request::Status),
        Command::Show {
            what: Show::Uplinks(read),
        } => ask(&read, Request::ShowUplinks),
        Command::Show {
            what: Show::Events { limit, read },
        } => ask(&read, Request::ShowEvents { limit }),
        Command::Show {
            what: Show::Peers(read),
        } => ask(&read, Request::ShowPeers),
        Command::Show {
            what:
                Show::Routes {
                    prefix,
                    limit,
                    after,
                    peer,
                    community,
                    as_path,
                    rpki,
                    read,
                },
        } => ask(
            &read,
            Request::ShowRoutes {
                prefix,
                limit,
                after,
                filters: sluice_control::RouteFilters {
                    peer,
                    community,
                    as_path,
                    rpki,
                },
            },
        ),
        Command::Show {
            what:
                Show::Fib {
                    prefix,
                    limit,
                    after,
                    maps,
                    read,
                },
        } => ask(
            &read,
            Request::ShowFib {
                prefix,
                limit,
                maps,
                after,
            },
        ),
        Command::Show {
            what: Show::Counters(read),
        } => ask(&read, Request::ShowCounters),
        Command::Show {
            what: Show::Rpki(read),
        } => ask(&read, Request::ShowRpki),
        Command::Show {
            what: Show::Rib { dump, read },
        } => rib_dump(dump, &read),
        Command::Reload {
            read,
            confirm_within,
            force,
        } => {
            let confirm_within_ms =
                confirm_within.map(|d| u64::try_from(d.0.as_millis()).unwrap_or(u64::MAX));
            ask(
                &read,
                Request::Reload {
                    confirm_within_ms,
                    force,
                },
            )
        }
        Command::Confirm(read) => ask(&read, Request::Confirm),
        Command::Drain {
            uplink,
            all,
            dry_run,
            force,
            wait,
            reason,
            read,
        } => {
            let request = drain_cmd::request(uplink, all, dry_run, force, reason);
            match ask_for(&read, &request) {
                Err(code) => code,
                Ok((response, socket)) => {
                    let code = print_response(&response, read.json, &socket);
                    match &response {
                        Response::Drain(r) if wait && r.applied => {
                            drain_cmd::wait(&socket, &r.uplinks).max(code)
                        }
                        _ => code,
                    }
                }
            }
        }
        Command::Undrain { uplink, read } => ask(&read, Request::Undrain { uplink }),
        Command::Top(args) => {
            match client::socket_path(args.socket.as_deref(), args.config.as_deref()) {
                Ok(socket) => top::run(
                    &socket,
                    args.every.max(std::time::Duration::from_millis(100)),
                ),
                Err(e) => {
                    eprintln!("sluice: {e}");
                    2
                }
            }
        }
        Command::Lab(args) => lab::run(args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "sluice", &mut out);
            use std::io::Write;
            match std::io::stdout().write_all(&out) {
                Ok(()) => 0,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
                Err(e) => {
                    eprintln!("sluice: {e}");
                    1
                }
            }
        }
        Command::Manpages { dir } => {
            use clap::CommandFactory;
            match clap_mangen::generate_to(Cli::command(), &dir) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("sluice: writing man pages to {}: {e}", dir.display());
                    1
                }
            }
        }
    };
    ExitCode::from(code)
}

fn run(args: RunArgs) -> u8 {
    logging::init(
        match args.log_format {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        },
        &args.log_level,
    );
    let opts = RunOptions {
        config: args.config,
        socket: args.socket,
        metrics: args.metrics.map(|m| m.0),
        state_dir: args.state_dir,
        force: args.force,
    };
    match sluice_daemon::run(opts) {
        Ok(()) => 0,
        Err(DaemonError::Config(refusal)) => {
            eprint!("{}", refusal.rendered);
            eprintln!("sluice: not starting: {}", refusal.message);
            if refusal.unreadable { 2 } else { 1 }
        }
        Err(e) => {
            eprintln!("sluice: not starting: {e}");
            1
        }
    }
}

/// `show rib --dump`: the daemon's RIB dump to stdout.
fn rib_dump(dump: bool, read: &ReadArgs) -> u8 {
    if !dump {
        eprintln!("sluice: `show rib` writes a dump: `sluice show rib --dump > rib.jsonl`");
        return 2;
    }
    let socket = match client::socket_path(read.socket.as_deref(), read.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sluice: {e}");
            return 2;
        }
    };
    match client::read_all(&socket, &Request::DumpRib) {
        Ok(bytes) => {
            use std::io::Write;
            let _ = std::io::stdout().write_all(&bytes);
            0
        }
        Err(client::Unreachable(why)) => {
            eprintln!("sluice: {why}");
            3
        }
    }
}

/// Sends one request and prints the answer; returns the exit status.
fn ask(read: &ReadArgs, request: Request) -> u8 {
    match ask_for(read, &request) {
        Ok((response, socket)) => print_response(&response, read.json, &socket),
        Err(code) => code,
    }
}

/// Sends one request; the answer and the socket, or the exit status of
/// the failure (2 no socket path, 3 unreachable).
fn ask_for(read: &ReadArgs, request: &Request) -> Result<(Response, PathBuf), u8> {
    let socket = match client::socket_path(read.socket.as_deref(), read.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sluice: {e}");
            return Err(2);
        }
    };
    match client::call(&socket, request) {
        Ok(r) => Ok((r, socket)),
        Err(client::Unreachable(why)) => {
            eprintln!("sluice: {why}");
            Err(3)
        }
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn print_response(response: &Response, json: bool, socket: &Path) -> u8 {
    let code = match response {
        Response::Refused { .. } | Response::Error { .. } => 1,
        Response::Usage { .. } => 2,
        Response::Busy { .. } => 3,
        Response::Drain(r) => drain_cmd::status(r),
        _ => 0,
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(response).unwrap_or_default()
        );
        return code;
    }
    match response {
        Response::Status(s) => print!("{}", output::status(s, now())),
        Response::Uplinks { uplinks } => print!("{}", output::uplinks(uplinks, now())),
        Response::Events { events } => print!("{}", output::events(events)),
        Response::Peers { peers } => print!("{}", output::peers(peers, now())),
        Response::Routes {
            routes,
            total,
            next,
        } => print!("{}", output::routes(routes, *total, next.as_deref())),
        Response::Fib(f) => print!("{}", output::fib(f)),
        Response::Counters(c) => print!("{}", output::counters(c)),
        Response::Rpki(r) => print!("{}", output::rpki(r, now())),
        Response::Reloaded(r) => {
            print!("{}", r.notes);
            let what = if r.changed {
                "config reloaded"
            } else {
                "config unchanged"
            };
            println!("{what} (sha256 {})", &r.sha256[..r.sha256.len().min(12)]);
            if let Some(left) = r.confirm_deadline_secs {
                println!(
                    "rolls back in {} unless `sluice confirm --socket {}`",
                    output::duration(left),
                    socket.display()
                );
            }
        }
        Response::Confirmed { message } => println!("{message}"),
        Response::Refused {
            message, rendered, ..
        } => {
            eprint!("{rendered}");
            eprintln!("sluice: refused: {message}");
        }
        Response::Error { message } => {
            eprintln!("sluice: the daemon did not understand: {message}")
        }
        Response::Usage { message } | Response::Busy { message } => {
            eprintln!("sluice: {message}")
        }
        Response::Drain(r) => print!("{}", drain_cmd::report(r)),
        Response::Undrained { message } => println!("{message}"),
    }
    code
}
