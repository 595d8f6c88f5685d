//! The build script of every function crate (`build = "../no-pie.rs"` in its
//! `Cargo.toml`): the Lambda binary is linked as a position-dependent
//! executable (`-no-pie`), as Go links its Lambda binaries by default.
//!
//! Why: a position-independent executable is relocated by the dynamic loader
//! at every start, and ours carries ~18,000 relative relocations (vtables,
//! string slices in statics, panic locations) spread over 270 KB of
//! `.data.rel.ro`: the loader writes every one of those pages, a copy-on-write
//! fault each. Linked at a fixed address the linker resolves them all, and
//! koywe's init under the bench's cold-start proxy went 2.20 → 1.85 ms
//! (1.38× → 1.16× hello-world, 60 interleaved starts; BENCHMARKS.md
//! section 4). Only the final link changes: the code is compiled exactly as
//! before (position-independent), nothing is rebuilt.
//!
//! The cost: the binary's own code and data are not randomized (ASLR still
//! places the stack, heap, shared libraries and mappings at random).
//! SECURITY.md says so; set `PAYHOOK_PIE=1` at build time to keep the
//! default position-independent link.
//!
//! glibc targets only: a musl build (`--target x86_64-unknown-linux-musl`) is
//! a static PIE with no dynamic loader, and `-no-pie` over rustc's static-PIE
//! start files gave a binary that crashed at start (tried 2026-12-03).
fn main() {
    println!("cargo::rerun-if-changed=../no-pie.rs");
    println!("cargo::rerun-if-env-changed=PAYHOOK_PIE");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let glibc = var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu";
    let pie = var("PAYHOOK_PIE") == "1";
    if glibc && !pie {
        println!("cargo::rustc-link-arg-bins=-no-pie");
    }
}
