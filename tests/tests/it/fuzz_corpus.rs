//! The fuzz targets of `fuzz/` (issue 8, item 6), run in the normal suite:
//! the same target functions (`fuzz/src/lib.rs`, included here as a module),
//! fed the same seeds `fuzz/seed.sh` puts in the fuzz corpus (every request
//! body of `events/*/`, plus any committed crash input in
//! `fuzz/regressions/<target>/`), then random mutations of them with
//! proptest (bounded: a fixed number of cases, a few seconds in all).
//!
//! A target panics when an invariant breaks (see the module's doc): an
//! undocumented status, a panic inside payhook, a signed body that does not
//! verify, a wrong credential accepted, a `stringify` that changes a value.
//! Coverage-guided fuzzing of the same functions: `fuzz/README.md`.

#[path = "../../../fuzz/src/lib.rs"]
mod targets;

use base64::Engine as _;
use proptest::prelude::*;
use std::path::PathBuf;
use std::sync::OnceLock;

type Target = fn(&[u8]);

/// Every target, with the events/ folders its seeds come from (as in
/// `fuzz/seed.sh`).
const TARGETS: [(&str, Target, &[&str]); 7] = [
    ("koywe", targets::koywe, &["koywe"]),
    ("thirdweb", targets::thirdweb, &["thirdweb"]),
    ("eightpay_local", targets::eightpay_local, &["eightpay"]),
    (
        "onebuy_wallet_pay",
        targets::onebuy_wallet_pay,
        &["onebuy-wallet-pay"],
    ),
    (
        "onebuy_checkout",
        targets::onebuy_checkout,
        &["onebuy-checkout"],
    ),
    // Every provider from its descriptor, and the codec: seeds from every
    // events/ folder (`all_seeds`).
    ("webhook", targets::webhook, &[]),
    ("canonical", targets::canonical, &[]),
];

/// The folders the `webhook` and `canonical` targets' seeds come from:
/// every registered provider's and the user-validation callback's.
fn all_seeds() -> Vec<&'static str> {
    let mut f: Vec<&'static str> = payhook::ProviderId::all().map(|p| p.as_str()).collect();
    f.push("user-validation");
    f
}

/// Every registered provider is fuzzed with its own events/ folder among
/// the seeds: by the `webhook` target, which takes its providers from the
/// registry (8Pay, left out there by name, by `eightpay_local`).
#[test]
fn every_provider_is_fuzzed_with_its_fixtures() {
    let seeded = all_seeds();
    for p in payhook::ProviderId::all() {
        assert!(seeded.contains(&p.as_str()), "{p}: no seeds");
        let by_own = TARGETS.iter().any(|(_, _, dirs)| dirs == &[p.as_str()]);
        assert!(
            p != payhook::ProviderId::EIGHTPAY || by_own,
            "8Pay has no target of its own"
        );
    }
    let covered = targets::webhook_providers();
    let expected: Vec<_> = payhook::ProviderId::all()
        .filter(|p| *p != payhook::ProviderId::EIGHTPAY)
        .collect();
    assert_eq!(covered, expected, "the webhook target's providers");
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The request bodies of `events/<function>/*.json` (base64-decoded when
/// marked so and valid), as `fuzz/seed.sh` writes them.
fn event_bodies(function: &str) -> Vec<(String, Vec<u8>)> {
    let dir = repo().join("events").join(function);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter(|p| p.file_name().is_some_and(|n| n != "cases.json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|path| {
            let ev: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).ok()?).ok()?;
            let body = ev.get("body")?.as_str()?;
            let bytes = if ev.get("isBase64Encoded").and_then(|b| b.as_bool()) == Some(true) {
                base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .unwrap_or_else(|_| body.as_bytes().to_vec())
            } else {
                body.as_bytes().to_vec()
            };
            Some((format!("{function}/{}", path.display()), bytes))
        })
        .collect()
}

/// Committed crash inputs of `target` (regression seeds).
fn regressions(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = repo().join("fuzz/regressions").join(target);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut v: Vec<_> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter_map(|p| Some((p.display().to_string(), std::fs::read(&p).ok()?)))
        .collect();
    v.sort();
    v
}

/// Seeds per target, loaded once.
fn seeds() -> &'static Vec<Vec<Vec<u8>>> {
    static S: OnceLock<Vec<Vec<Vec<u8>>>> = OnceLock::new();
    S.get_or_init(|| {
        TARGETS
            .iter()
            .map(|(name, _, functions)| {
                let functions = match *name {
                    "canonical" | "webhook" => all_seeds(),
                    _ => functions.to_vec(),
                };
                let mut v: Vec<Vec<u8>> = functions
                    .iter()
                    .flat_map(|f| event_bodies(f))
                    .map(|(_, b)| b)
                    .collect();
                v.extend(regressions(name).into_iter().map(|(_, b)| b));
                v
            })
            .collect()
    })
}

#[test]
fn every_seed_through_every_target() {
    let mut n = 0;
    for (i, (name, target, _)) in TARGETS.iter().enumerate() {
        let seeds = &seeds()[i];
        assert!(seeds.len() >= 10, "{name}: only {} seeds", seeds.len());
        for seed in seeds {
            let r = std::panic::catch_unwind(|| target(seed));
            assert!(
                r.is_ok(),
                "{name}: seed {:?} broke an invariant",
                String::from_utf8_lossy(seed)
            );
            n += 1;
        }
    }
    assert!(n >= 200, "only {n} seed runs");
}

/// Tokens a mutation may splice in: JSON structure, the providers' field
/// names, and the values parser differentials are made of (as in
/// `fuzz/json.dict`).
const DICT: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\",
    "null",
    "true",
    "false",
    "-0",
    "1e400",
    "-1e400",
    "1e-400",
    "9007199254740993",
    "18446744073709551616",
    "123456789012345678901234567890",
    "0.1000000000000000000000001",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"\\udc00\"",
    "\"\\ud83d\\ude00\"",
    "\u{feff}",
    "\"signature\":",
    "\"eventName\":",
    "\"orderId\":",
    "\"timeStamp\":",
    "\"id\":",
    "\"data\":",
    "\"version\":2",
    "\"type\":",
    "\"status\":",
    "\"stage\":",
    "\"event\":",
    "\"order_id\":",
    "\"api_key\":",
    "\"chain\":",
    "\"receivers\":[{}]",
    "\"transactionHashes\":[\"\"]",
    "\"buyWithFiatStatus\":{}",
    "\"buyWithCryptoStatus\":{}",
    "\"2025-06-15T15:06:40.000Z\"",
    "\"9999-12-31T23:59:59.999Z\"",
];

#[derive(Debug, Clone)]
enum Edit {
    Set(prop::sample::Index, u8),
    Remove(prop::sample::Index),
    Insert(prop::sample::Index, u8),
    Splice(prop::sample::Index, prop::sample::Index),
    /// Replace a byte range with a dictionary token.
    Replace(prop::sample::Index, u8, prop::sample::Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        any::<prop::sample::Index>().prop_map(Edit::Remove),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(i, t)| Edit::Splice(i, t)),
        (
            any::<prop::sample::Index>(),
            0u8..24,
            any::<prop::sample::Index>()
        )
            .prop_map(|(i, n, t)| Edit::Replace(i, n, t)),
    ]
}

fn mutate(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for e in edits {
        let at = |i: &prop::sample::Index, len: usize| if len == 0 { 0 } else { i.index(len) };
        match e {
            Edit::Set(i, v) if !b.is_empty() => {
                let i = at(i, b.len());
                b[i] = *v;
            }
            Edit::Remove(i) if !b.is_empty() => {
                let i = at(i, b.len());
                b.remove(i);
            }
            Edit::Insert(i, v) => {
                let i = at(i, b.len() + 1);
                b.insert(i, *v);
            }
            Edit::Splice(i, t) => {
                let i = at(i, b.len() + 1);
                let tok = DICT[t.index(DICT.len())].as_bytes();
                b.splice(i..i, tok.iter().copied());
            }
            Edit::Replace(i, n, t) => {
                let i = at(i, b.len() + 1);
                let end = (i + usize::from(*n)).min(b.len());
                let tok = DICT[t.index(DICT.len())].as_bytes();
                b.splice(i..end, tok.iter().copied());
            }
            _ => {}
        }
    }
    b
}

proptest! {
    // 6 targets × 1024 cases, each a few microseconds to a millisecond:
    // well under 10 s in a debug build.
    #![proptest_config(ProptestConfig {
        cases: 1024,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_seeds_keep_every_invariant(
        target in 0usize..TARGETS.len(),
        seed in any::<prop::sample::Index>(),
        edits in proptest::collection::vec(edit(), 1..8),
    ) {
        let (name, f, _) = TARGETS[target];
        let seeds = &seeds()[target];
        let input = mutate(&seeds[seed.index(seeds.len())], &edits);
        let r = std::panic::catch_unwind(|| f(&input));
        prop_assert!(r.is_ok(), "{}: {:?} broke an invariant", name, String::from_utf8_lossy(&input));
    }

    /// Arbitrary bytes, not derived from a seed.
    #[test]
    fn arbitrary_bytes_keep_every_invariant(
        target in 0usize..TARGETS.len(),
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let (name, f, _) = TARGETS[target];
        let r = std::panic::catch_unwind(|| f(&bytes));
        prop_assert!(r.is_ok(), "{}: {:?} broke an invariant", name, String::from_utf8_lossy(&bytes));
    }
}
