//! Every shipped topology is a valid containerlab file: CI cannot run
//! Docker to deploy them, so it checks them against containerlab's own
//! JSON schema (vendored in topologies/schema/), and parses each with the
//! lab's loader too. A file the schema rejects is shown to be caught.

use std::path::{Path, PathBuf};

fn topologies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../topologies")
}

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(topologies().join("schema/clab.schema.json")).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::draft7::new(&schema).unwrap_or_else(|e| panic!("the schema itself: {e}"))
}

fn files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in std::fs::read_dir(topologies()).unwrap().flatten() {
        for f in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if f.file_name().to_string_lossy().ends_with(".clab.yml") {
                files.push(f.path());
            }
        }
    }
    files.sort();
    files
}

fn yaml(text: &str) -> serde_json::Value {
    serde_saphyr::from_str(text).unwrap()
}

#[test]
fn every_topology_matches_the_containerlab_schema() {
    let validator = validator();
    let files = files();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in ["dual-iap", "quad-iap-ecmp", "ha-pair", "full-table"] {
        assert!(names.contains(&format!("{want}.clab.yml")), "{names:?}");
    }
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&yaml(&text))
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", file.display());
        let topo = sluice_lab::load(file).unwrap_or_else(|e| panic!("{e}"));
        for node in &topo.nodes {
            for bind in &node.binds {
                assert!(
                    bind.host.exists(),
                    "{}: {} is missing",
                    file.display(),
                    bind.host.display()
                );
            }
        }
    }
}

#[test]
fn the_schema_rejects_what_containerlab_would() {
    let validator = validator();
    let good = "name: t\ntopology:\n  nodes:\n    a: { kind: linux, labels: { sluice.run: x } }\n";
    assert!(validator.is_valid(&yaml(good)));
    // An unknown node key (why sluice's own keys are labels).
    let bad = good.replace("labels:", "sluice:");
    assert!(!validator.is_valid(&yaml(&bad)));
    // A link endpoint without an interface.
    let bad = format!("{good}  links:\n    - endpoints: [\"a\", \"b:eth1\"]\n");
    assert!(!validator.is_valid(&yaml(&bad)));
}
