//! `sluice lab VERB TOPOLOGY [ARGS]`: the CLI over `sluice-lab`.
//!
//! TOPOLOGY is a topology file (its `name` is the lab's) or a lab name.
//! Exit status: 0 success, 1 the lab failed or is not up, 2 bad usage or
//! a bad topology file.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use sluice_lab::{LabError, Options, TrafficSpec};

#[derive(Args, Debug)]
pub struct LabArgs {
    #[command(subcommand)]
    verb: Verb,
}

/// Names the lab: a topology file, or the lab name.
#[derive(Args, Debug)]
struct Target {
    /// A topology file (*.clab.yml) or a lab name.
    topology: String,
    /// Lab name instead of the file's `name`.
    #[arg(long)]
    name: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Verb {
    /// Build the topology and wait until every node is ready.
    Up {
        /// The topology file.
        topology: PathBuf,
        /// Lab name instead of the file's `name` (two copies of one file can run at once).
        #[arg(long)]
        name: Option<String>,
        /// How long the nodes may take to become ready (e.g. 60s).
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        timeout: Duration,
        #[arg(long)]
        json: bool,
    },
    /// Remove every namespace, veth, process and mount of the lab.
    Down {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        json: bool,
    },
    /// Nodes, their processes, readiness and BGP sessions; links and faults.
    Status {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        json: bool,
    },
    /// Run a command in a node: `sluice lab exec TOPOLOGY NODE -- CMD...`.
    Exec {
        #[command(flatten)]
        target: Target,
        node: String,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Print a node's log (mount set-up and its `sluice.run` process).
    Logs {
        #[command(flatten)]
        target: Target,
        node: String,
    },
    /// Set one end of a link down or up: `link TOPOLOGY r1:eth1 down`.
    Link {
        #[command(flatten)]
        target: Target,
        endpoint: String,
        #[arg(value_parser = ["up", "down"])]
        state: String,
    },
    /// Drop a share of the IP packets leaving an interface: `loss TOPOLOGY r1:eth1 5%` (0% removes it).
    Loss {
        #[command(flatten)]
        target: Target,
        endpoint: String,
        percent: String,
    },
    /// Not offered: says why.
    Delay {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// SIGKILL every process of a node.
    Kill {
        #[command(flatten)]
        target: Target,
        node: String,
    },
    /// Send a bounded UDP stream from one node to another and count it.
    Traffic {
        #[command(flatten)]
        target: Target,
        from: String,
        to: String,
        /// Datagrams per second.
        #[arg(long, default_value_t = 1000)]
        rate: u32,
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// Destination address (default: TO's first global IPv4 address, on lo if any).
        #[arg(long)]
        dst: Option<std::net::IpAddr>,
        #[arg(long, default_value_t = 5201)]
        port: u16,
        #[arg(long)]
        json: bool,
    },
    /// The two ends of `traffic`, run inside nodes.
    #[command(hide = true)]
    Agent {
        #[command(subcommand)]
        role: Agent,
    },
}

#[derive(Subcommand, Debug)]
enum Agent {
    Send {
        #[arg(long)]
        dst: std::net::SocketAddr,
        #[arg(long)]
        rate: u32,
        #[arg(long)]
        ms: u64,
    },
    Recv {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        ms: u64,
        #[arg(long)]
        v6: bool,
    },
}

impl Target {
    fn lab(&self) -> Result<String, LabError> {
        match &self.name {
            Some(n) => Ok(n.clone()),
            None => sluice_lab::lab_name(&self.topology),
        }
    }
}

/// Directories for the nodes' PATH: where this `sluice` is.
fn bin_dirs() -> Vec<PathBuf> {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
        .into_iter()
        .collect()
}

fn print_json<T: serde::Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

pub fn run(args: LabArgs) -> u8 {
    match verb(args.verb) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sluice lab: {e}");
            e.exit_code()
        }
    }
}

fn verb(verb: Verb) -> Result<u8, LabError> {
    match verb {
        Verb::Up {
            topology,
            name,
            timeout,
            json,
        } => {
            let opts = Options {
                name,
                timeout,
                bin_dirs: bin_dirs(),
            };
            let status = sluice_lab::up(&topology, &opts)?;
            if json {
                print_json(&status);
            } else {
                print!("{}", status.render());
            }
        }
        Verb::Down { target, json } => {
            let lab = target.lab()?;
            let removed = sluice_lab::down(&lab)?;
            if json {
                print_json(&removed);
            } else {
                println!(
                    "lab {lab} removed: {} namespaces, {} processes",
                    removed.namespaces.len(),
                    removed.processes
                );
            }
        }
        Verb::Status { target, json } => {
            let status = sluice_lab::status(&target.lab()?)?;
            if json {
                print_json(&status);
            } else {
                print!("{}", status.render());
            }
            let healthy = status.up
                && status
                    .nodes
                    .iter()
                    .all(|n| n.ready != Some(false) && (n.pid.is_none() || n.running));
            return Ok(if healthy { 0 } else { 1 });
        }
        Verb::Exec {
            target,
            node,
            command,
        } => {
            let code = sluice_lab::exec(&target.lab()?, &node, &command)?;
            return Ok(u8::try_from(code).unwrap_or(1));
        }
        Verb::Logs { target, node } => print!("{}", sluice_lab::logs(&target.lab()?, &node)?),
        Verb::Link {
            target,
            endpoint,
            state,
        } => {
            let lab = target.lab()?;
            sluice_lab::link(&lab, &endpoint, state == "up")?;
            println!("{endpoint} {state}");
        }
        Verb::Loss {
            target,
            endpoint,
            percent,
        } => {
            let pct = sluice_lab::faults::parse_percent(&percent)?;
            sluice_lab::loss(&target.lab()?, &endpoint, pct)?;
            println!("{endpoint}: {pct}% loss");
        }
        Verb::Delay { .. } => {
            return Err(LabError::Usage(sluice_lab::faults::NO_DELAY.into()));
        }
        Verb::Kill { target, node } => {
            let n = sluice_lab::kill(&target.lab()?, &node)?;
            println!("{node}: killed {n} processes");
        }
        Verb::Traffic {
            target,
            from,
            to,
            rate,
            duration,
            dst,
            port,
            json,
        } => {
            let spec = TrafficSpec {
                from,
                to,
                rate,
                duration,
                dst,
                port,
            };
            let r = sluice_lab::traffic(&target.lab()?, &spec)?;
            if json {
                print_json(&r);
            } else {
                println!(
                    "{} -> {} ({}): sent {} received {} lost {}",
                    r.from, r.to, r.dst, r.sent, r.received, r.lost
                );
                for span in &r.lost_spans {
                    println!(
                        "  lost {} sent at {:.3}–{:.3} s",
                        span.packets,
                        span.from_ms as f64 / 1000.0,
                        span.to_ms as f64 / 1000.0
                    );
                }
            }
            return Ok(if r.received > 0 { 0 } else { 1 });
        }
        Verb::Agent { role } => return Ok(agent(role)),
    }
    Ok(0)
}

fn agent(role: Agent) -> u8 {
    let result = match role {
        Agent::Send { dst, rate, ms } => {
            sluice_lab::agent::send(dst, rate, Duration::from_millis(ms))
                .map(|n| serde_json::json!({ "sent": n }))
        }
        Agent::Recv { port, ms, v6 } => {
            // `traffic` starts the sender once it reads this line.
            let listening = || {
                use std::io::Write;
                println!("listening");
                let _ = std::io::stdout().flush();
            };
            sluice_lab::agent::recv(port, v6, Duration::from_millis(ms), listening)
                .map(|r| serde_json::to_value(r).unwrap_or_default())
        }
    };
    match result {
        Ok(json) => {
            println!("{json}");
            0
        }
        Err(e) => {
            eprintln!("sluice lab agent: {e}");
            1
        }
    }
}
