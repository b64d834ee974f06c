//! The topology file: the part of containerlab's format `sluice lab` runs,
//! parsed with positions and checked before anything is built. Sans-IO: it
//! takes the file's text and returns the model or every problem found, each
//! naming the line and, where there is one, the node.
//!
//! Read from a node: `binds` (`host:container[:ro]`, host relative to the
//! file), `exec` (shell commands run once links exist: addresses, routes),
//! `env`, `cmd`, and two labels, which containerlab passes through
//! untouched: `sluice.run` (the node's long-running process, a shell
//! command; without it, `cmd`, which Docker runs too) and `sluice.ready`
//! (a shell command that succeeds once the node is ready). A node whose
//! image starts its daemon by itself (FRR's) needs `sluice.run`; one whose
//! image does not (Sluice's, BIRD's) can say it once, in `cmd`.
//! `kind`, `image` and the other container keys are for containerlab and
//! ignored here.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use sluice_config::diag::{Finding, Severity, Source};
use sluice_config::{At, Pos};

/// Label holding a node's long-running process.
pub const RUN_LABEL: &str = "sluice.run";
/// Label holding a node's readiness check.
pub const READY_LABEL: &str = "sluice.ready";
/// Linux's limit on interface names (IFNAMSIZ - 1).
const MAX_IFNAME: usize = 15;

/// A checked topology.
#[derive(Debug, Clone)]
pub struct Topology {
    pub name: String,
    /// The file it came from; bind sources are relative to its directory.
    pub path: PathBuf,
    pub nodes: Vec<Node>,
    pub links: Vec<Link>,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub pos: Pos,
    pub binds: Vec<Bind>,
    pub exec: Vec<At<String>>,
    pub env: Vec<(String, String)>,
    pub run: Option<At<String>>,
    pub ready: Option<At<String>>,
}

/// `host:container[:ro]`, with the host path made absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub host: PathBuf,
    pub container: PathBuf,
    pub read_only: bool,
    pub pos: Pos,
}

/// One end of a link: `node:interface`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, Deserialize)]
pub struct Endpoint {
    pub node: String,
    pub interface: String,
}

impl Endpoint {
    /// Parses `node:interface`.
    pub fn parse(s: &str) -> Option<Endpoint> {
        let (node, interface) = s.split_once(':')?;
        (!node.is_empty() && !interface.is_empty() && !interface.contains(':')).then(|| Endpoint {
            node: node.to_owned(),
            interface: interface.to_owned(),
        })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.node, self.interface)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub a: Endpoint,
    pub b: Endpoint,
    pub pos: Pos,
}

/// A topology file that could not be used: its text and every problem.
#[derive(Debug, Clone)]
pub struct Invalid {
    pub source: Source,
    pub findings: Vec<Finding>,
}

impl Invalid {
    /// rustc-style rendering with the offending lines.
    pub fn render(&self) -> String {
        sluice_config::diag::render_human(&self.source, &self.findings)
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.render().trim_end())
    }
}

// ===== the file as written =====

#[derive(Debug, Deserialize)]
struct File {
    name: At<String>,
    topology: TopologyDef,
}

#[derive(Debug, Deserialize)]
struct TopologyDef {
    #[serde(default)]
    nodes: Nodes,
    #[serde(default)]
    links: Vec<At<LinkDef>>,
}

#[derive(Debug, Default, Deserialize)]
struct NodeDef {
    #[serde(default)]
    kind: Option<At<String>>,
    #[serde(default)]
    binds: Vec<At<String>>,
    #[serde(default)]
    exec: Vec<At<String>>,
    #[serde(default)]
    env: BTreeMap<String, Scalar>,
    #[serde(default)]
    labels: BTreeMap<String, At<Scalar>>,
    /// containerlab's command for the container; the run command when
    /// there is no `sluice.run` label.
    #[serde(default)]
    cmd: Option<At<String>>,
}

#[derive(Debug, Deserialize)]
struct LinkDef {
    #[serde(default)]
    endpoints: Vec<At<String>>,
}

/// containerlab allows strings and numbers for env and label values.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Scalar::Text(s) => s.clone(),
            Scalar::Int(n) => n.to_string(),
            Scalar::Float(n) => n.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// `topology.nodes`, in file order, each name with its position.
#[derive(Debug, Default)]
struct Nodes(Vec<(At<String>, NodeDef)>);

impl<'de> Deserialize<'de> for Nodes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Nodes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of node names to nodes")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Nodes, A::Error> {
                let mut nodes = Vec::new();
                while let Some(name) = map.next_key::<At<String>>()? {
                    // `r1:` with nothing after it is a node with defaults.
                    let node: Option<NodeDef> = map.next_value()?;
                    nodes.push((name, node.unwrap_or_default()));
                }
                Ok(Nodes(nodes))
            }
        }
        d.deserialize_map(V)
    }
}

// ===== parsing and checks =====

fn finding(rule: &'static str, pos: Pos, message: String) -> Finding {
    Finding::new(rule, Severity::Error, pos, message)
}

/// Whether `s` is usable in a namespace name: 1-32 of `[A-Za-z0-9_-]`.
pub fn valid_name(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Parses and checks the topology in `text`, read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<Topology, Invalid> {
    let source = Source::new(path, text);
    let invalid = |findings| Invalid {
        source: source.clone(),
        findings,
    };
    let options = serde_saphyr::options! { with_snippet: false };
    let file: File = serde_saphyr::from_str_with_options(text, options)
        .map_err(|e| invalid(vec![yaml_finding(&e)]))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let (topology, findings) = check(file, path, dir);
    if findings.is_empty() {
        Ok(topology)
    } else {
        Err(invalid(findings))
    }
}

fn yaml_finding(err: &serde_saphyr::Error) -> Finding {
    let pos = err.location().map_or(Pos::UNKNOWN, |loc| Pos {
        line: u32::try_from(loc.line()).unwrap_or(u32::MAX),
        column: u32::try_from(loc.column()).unwrap_or(u32::MAX),
        len: 0,
    });
    let text = err.to_string();
    let text = match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    };
    finding("LAB-YAML", pos, text)
}

fn check(file: File, path: &Path, dir: &Path) -> (Topology, Vec<Finding>) {
    let mut findings = Vec::new();
    if !valid_name(&file.name) {
        findings.push(finding(
            "LAB-NAME",
            file.name.pos,
            format!(
                "lab name `{}` must be 1-32 characters of [A-Za-z0-9_-]; it prefixes namespace names",
                *file.name
            ),
        ));
    }
    let mut nodes = Vec::new();
    let mut seen: HashMap<String, Pos> = HashMap::new();
    for (name, def) in file.topology.nodes.0 {
        if !valid_name(&name) {
            findings.push(finding(
                "LAB-NODE-NAME",
                name.pos,
                format!(
                    "node `{}`: names must be 1-32 characters of [A-Za-z0-9_-]",
                    *name
                ),
            ));
        }
        if let Some(first) = seen.insert(name.value.clone(), name.pos) {
            findings.push(finding(
                "LAB-DUPLICATE-NODE",
                name.pos,
                format!(
                    "node `{}` is defined twice (first on line {})",
                    *name, first.line
                ),
            ));
        }
        nodes.push(node(&name, def, dir, &mut findings));
    }
    let mut links = Vec::new();
    let mut used: HashMap<Endpoint, Pos> = HashMap::new();
    for def in file.topology.links {
        if def.endpoints.len() != 2 {
            findings.push(finding(
                "LAB-LINK-ENDPOINTS",
                def.pos,
                format!(
                    "a link has exactly two endpoints, this one has {}",
                    def.endpoints.len()
                ),
            ));
            continue;
        }
        let mut ends = Vec::new();
        for raw in &def.endpoints {
            let Some(end) = Endpoint::parse(raw) else {
                findings.push(finding(
                    "LAB-LINK-ENDPOINT",
                    raw.pos,
                    format!("endpoint `{}` is not `node:interface`", **raw),
                ));
                continue;
            };
            if !seen.contains_key(&end.node) {
                findings.push(finding(
                    "LAB-LINK-UNKNOWN-NODE",
                    raw.pos,
                    format!("link endpoint `{end}` names node `{}`, which `topology.nodes` does not define", end.node),
                ));
            }
            let ifname_ok = end.interface.len() <= MAX_IFNAME
                && end.interface != "lo"
                && !end.interface.contains(['/', ' ']);
            if !ifname_ok {
                findings.push(finding(
                    "LAB-INTERFACE-NAME",
                    raw.pos,
                    format!(
                        "node `{}`: `{}` is not a usable interface name (at most {MAX_IFNAME} characters, no `/`, not `lo`)",
                        end.node, end.interface
                    ),
                ));
            }
            if let Some(first) = used.insert(end.clone(), raw.pos) {
                findings.push(finding(
                    "LAB-DUPLICATE-INTERFACE",
                    raw.pos,
                    format!(
                        "node `{}`: interface `{}` is already used by the link on line {}",
                        end.node, end.interface, first.line
                    ),
                ));
            }
            ends.push(end);
        }
        if let (Some(b), Some(a)) = (ends.pop(), ends.pop()) {
            links.push(Link { a, b, pos: def.pos });
        }
    }
    let topology = Topology {
        name: file.name.value,
        path: path.to_path_buf(),
        nodes,
        links,
    };
    (topology, findings)
}

fn node(name: &At<String>, def: NodeDef, dir: &Path, findings: &mut Vec<Finding>) -> Node {
    if let Some(kind) = def.kind.as_ref().filter(|k| k.as_str() != "linux") {
        findings.push(finding(
            "LAB-KIND",
            kind.pos,
            format!(
                "node `{}`: kind `{}` needs containerlab; `sluice lab` runs `kind: linux` nodes",
                **name, **kind
            ),
        ));
    }
    let mut binds = Vec::new();
    for raw in &def.binds {
        let parts: Vec<&str> = raw.split(':').collect();
        let (host, container, mode) = match parts.as_slice() {
            [h, c] => (*h, *c, None),
            [h, c, m] => (*h, *c, Some(*m)),
            _ => ("", "", None),
        };
        let mode_ok = matches!(mode, None | Some("ro") | Some("rw"));
        if host.is_empty() || !container.starts_with('/') || !mode_ok {
            findings.push(finding(
                "LAB-BIND",
                raw.pos,
                format!(
                    "node `{}`: bind `{}` is not `host-path:/container-path[:ro]`",
                    **name, **raw
                ),
            ));
            continue;
        }
        binds.push(Bind {
            host: dir.join(host),
            container: PathBuf::from(container),
            read_only: mode == Some("ro"),
            pos: raw.pos,
        });
    }
    let label = |key: &str| {
        def.labels.get(key).map(|v| At {
            value: v.text(),
            pos: v.pos,
        })
    };
    for (key, value) in &def.labels {
        if key.starts_with("sluice.") && key != RUN_LABEL && key != READY_LABEL {
            findings.push(finding(
                "LAB-LABEL",
                value.pos,
                format!(
                    "node `{}`: unknown label `{key}`; sluice reads `{RUN_LABEL}` and `{READY_LABEL}`",
                    **name
                ),
            ));
        }
    }
    let ready = label(READY_LABEL);
    let run = label(RUN_LABEL).or_else(|| def.cmd.clone());
    if let (Some(ready), None) = (&ready, &run)
        && ready.trim().is_empty()
    {
        findings.push(finding(
            "LAB-LABEL",
            ready.pos,
            format!("node `{}`: `{READY_LABEL}` is empty", **name),
        ));
    }
    Node {
        name: name.value.clone(),
        pos: name.pos,
        binds,
        exec: def.exec,
        env: def.env.iter().map(|(k, v)| (k.clone(), v.text())).collect(),
        run,
        ready,
    }
}

impl Topology {
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Interfaces of `node`, with the endpoint at the other end.
    pub fn interfaces(&self, node: &str) -> Vec<(String, Endpoint)> {
        let mut out = Vec::new();
        for l in &self.links {
            if l.a.node == node {
                out.push((l.a.interface.clone(), l.b.clone()));
            }
            if l.b.node == node {
                out.push((l.b.interface.clone(), l.a.clone()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
