//! The provider registry (`payhook::providers::ALL`) is the one list of
//! providers: everything else either derives from it or is checked against
//! it here, so a provider added to the registry but not to one of these
//! fails the suite naming what is missing.

use payhook::providers::{self, Descriptor};
use payhook_tests::{base_case, cases, events_dir};
use serde_yaml::Value as Yaml;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Template functions: (Binary, [(Method, Path)]) of every
/// `AWS::Serverless::Function`.
fn template_functions() -> Vec<(String, Vec<(String, String)>)> {
    let t = payhook_tests::aws::template();
    let mut out = Vec::new();
    for (_, r) in t["Resources"].as_mapping().into_iter().flatten() {
        if r["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let bin = r["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let routes = r["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
            .filter(|(_, e)| e["Type"].as_str() == Some("HttpApi"))
            .map(|(_, e)| {
                let p = &e["Properties"];
                let s = |v: &Yaml| v.as_str().unwrap_or_default().to_owned();
                (s(&p["Method"]), s(&p["Path"]))
            })
            .collect();
        out.push((bin, routes));
    }
    out
}

#[test]
fn the_registry_lists_each_provider_once_with_a_distinct_route() {
    let ids: BTreeSet<_> = providers::ALL.iter().map(|d| d.id).collect();
    assert_eq!(ids.len(), providers::ALL.len(), "an id is listed twice");
    let routes: BTreeSet<_> = providers::ALL.iter().map(|d| d.route).collect();
    assert_eq!(
        routes.len(),
        providers::ALL.len(),
        "a route is listed twice"
    );
    for d in providers::ALL {
        assert!(d.route.starts_with("/webhooks/"), "{}: {}", d.id, d.route);
        assert!(
            d.settings
                .first()
                .is_some_and(|s| s.starts_with("PAYHOOK_")),
            "{}: the first setting turns the provider on",
            d.id
        );
        assert!(
            d.settings.iter().all(|s| s.starts_with("PAYHOOK_")),
            "{}: {:?}",
            d.id,
            d.settings
        );
        assert_eq!(payhook::ProviderId::parse(d.id.as_str()), Some(d.id));
    }
    // The code-free lists follow ALL, entry by entry.
    let ids: Vec<_> = providers::ALL.iter().map(|d| d.id).collect();
    assert_eq!(providers::IDS, ids.as_slice());
    let settings: Vec<_> = providers::ALL.iter().map(|d| d.settings).collect();
    assert_eq!(providers::SETTINGS, settings.as_slice());
}

/// Every provider builds from its own test settings, and the instance
/// reports its descriptor.
#[test]
fn every_provider_builds_from_its_test_settings_and_not_without_them() {
    let cfg = payhook_tests::config_from(&payhook_tests::settings("http://127.0.0.1:9"));
    for d in providers::ALL {
        let p = (d.build)(&cfg).unwrap_or_else(|e| panic!("{}: {e}", d.id));
        assert_eq!(p.id(), d.id);
        assert_eq!(p.route(), d.route);
        let empty = payhook::Config::from_lookup(|_| None).unwrap_or_else(|e| panic!("{e}"));
        match (d.build)(&empty) {
            Err(payhook::ConfigError::Missing { name, .. }) => {
                assert!(d.settings.contains(&name), "{}: {name}", d.id)
            }
            Err(e) => panic!("{}: unset settings must be Missing, got {e}", d.id),
            Ok(_) => panic!("{}: built with no settings", d.id),
        }
    }
}

#[test]
fn every_provider_has_events_fixtures_with_one_base_case() {
    for d in providers::ALL {
        let dir = events_dir().join(d.id.as_str());
        assert!(
            dir.join("cases.json").is_file(),
            "{}: no cases.json",
            dir.display()
        );
        let cs = cases(d.id);
        assert!(!cs.is_empty(), "{}: no cases", d.id);
        for c in &cs {
            assert!(dir.join(&c.file).is_file(), "{}: {} missing", d.id, c.file);
        }
        let base = base_case(d.id);
        assert_eq!(base.expect, 200, "{}: the base case is authentic", d.id);
    }
}

#[test]
fn every_provider_has_a_function_crate_and_a_template_function_on_its_route() {
    let functions = template_functions();
    for d in providers::ALL {
        let id = d.id.as_str();
        assert!(
            repo()
                .join("functions")
                .join(id)
                .join("Cargo.toml")
                .is_file(),
            "{id}: no functions/{id}/Cargo.toml"
        );
        let routes = functions
            .iter()
            .find(|(bin, _)| bin == id)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("template.yaml: no function with Binary: {id}"));
        assert!(
            routes.contains(&("POST".to_owned(), d.route.to_owned())),
            "template.yaml: {id} is not on POST {} ({routes:?})",
            d.route
        );
    }
}

/// Every function crate (the providers' and the callback's and sweeper's)
/// links through the one build script, so a new function starts as fast as
/// the others (`functions/no-pie.rs`, BENCHMARKS.md section 4).
#[test]
fn every_function_crate_links_through_the_shared_build_script() {
    let dir = repo().join("functions");
    let mut crates = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{e}")) {
        let manifest = entry
            .unwrap_or_else(|e| panic!("{e}"))
            .path()
            .join("Cargo.toml");
        if !manifest.is_file() {
            continue;
        }
        crates += 1;
        let text = std::fs::read_to_string(&manifest).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            text.lines()
                .any(|l| l.trim() == r#"build = "../no-pie.rs""#),
            "{}: no `build = \"../no-pie.rs\"`",
            manifest.display()
        );
    }
    assert!(
        crates > providers::ALL.len(),
        "{crates} function crates found"
    );
}

/// The schema's `provider` is an open name (adding a gateway is not a
/// schema change); every registered id must match its pattern, and a name
/// outside it must not.
#[test]
fn the_published_schema_admits_every_registered_provider() {
    let schema: serde_json::Value =
        serde_json::from_str(payhook::event::JSON_SCHEMA).unwrap_or_else(|e| panic!("{e}"));
    let provider = schema["properties"]["provider"].clone();
    assert!(
        provider.get("enum").is_none(),
        "schema: provider is an open name"
    );
    let validator = jsonschema::validator_for(&provider).unwrap_or_else(|e| panic!("{e}"));
    for d in providers::ALL {
        let d: &Descriptor = d;
        assert!(
            validator.is_valid(&serde_json::json!(d.id.as_str())),
            "schema: {} does not match properties.provider",
            d.id
        );
    }
    for bad in ["", "Koywe", "koywe ", "-koywe", "a--b", "kóywe"] {
        assert!(
            !validator.is_valid(&serde_json::json!(bad)),
            "schema: {bad:?} matches properties.provider"
        );
    }
}

#[test]
fn openapi_documents_every_provider_route() {
    let api: Yaml = serde_yaml::from_str(&read("openapi.yaml")).unwrap_or_else(|e| panic!("{e}"));
    for d in providers::ALL {
        let op = &api["paths"][d.route]["post"];
        assert!(
            op.is_mapping(),
            "openapi.yaml: no `post` under paths.{} ({})",
            d.route,
            d.id
        );
        assert!(
            op["responses"]["200"].is_mapping() && op["responses"]["401"].is_mapping(),
            "openapi.yaml: {} documents no 200/401",
            d.route
        );
    }
}

#[test]
fn every_setting_a_provider_reads_is_documented_in_the_readme() {
    let readme = read("README.md");
    for d in providers::ALL {
        for s in d.settings {
            assert!(
                readme.contains(s),
                "README.md does not mention {s} ({})",
                d.id
            );
        }
    }
}
