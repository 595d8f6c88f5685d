#!/usr/bin/env python3
"""Offline dependency hygiene check (issue 8, item 5): licenses and duplicate
crate versions of everything in Cargo.lock, from

    cargo metadata --format-version 1 --locked --offline
        --filter-platform x86_64-unknown-linux-gnu   (dev machines, CI)
        --filter-platform aarch64-unknown-linux-gnu  (the Lambda functions)

No network: `--offline` makes cargo fail instead of fetching; the sources of
every locked crate are already in cargo's cache once the workspace has been
built or fetched (`cargo fetch --locked`). Python standard library only.

Fails (exit 1, one line per problem) when
  * a crate's license expression cannot be satisfied with LICENSES below
    (SPDX: `OR` needs one allowed side, `AND` needs both, `WITH` needs the
    licence and the exception allowed; the legacy `/` counts as `OR`), or a
    crate declares no `license` at all (only a `license-file`);
  * a crate is locked in more than one version and that duplicate is not in
    DUPLICATES below with the versions seen.

    scripts/deps-check.py            # check, summary on stdout
    scripts/deps-check.py --verbose  # also print who pulls in each duplicate

Why not cargo-deny: it does the same and more (advisories too), but it is
not on a fresh machine and compiling it from crates.io takes minutes; this
script needs only cargo and python3, which the test command already needs.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

# ---------------------------------------------------------------------------
# Policy
# ---------------------------------------------------------------------------

# SPDX licence ids any dependency may be under: permissive licences that
# allow use in a proprietary or Apache-2.0 product with attribution.
# Copyleft (GPL, LGPL, AGPL, MPL, EPL, CDDL…), "source available" and
# unknown licences are not here on purpose: a crate under one of them fails
# the check, and adding it needs a decision, not an edit.
LICENSES = {
    "Apache-2.0",
    "MIT",
    "MIT-0",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "ISC",
    "Zlib",
    "Unicode-3.0",  # the Unicode data tables (icu_*, unicode-ident)
    "Unlicense",  # public-domain dedication (memchr, aho-corasick…, dual MIT)
    "CC0-1.0",  # public-domain dedication
    "BSL-1.0",  # Boost Software License (permissive)
    # Community Data License Agreement, permissive: data may be used, changed
    # and shared with no copyleft. The Mozilla root certificates compiled
    # into the Lambda functions (webpki-root-certs, the rustls project's
    # packaging of them) are under it. Decided with the cold-start work of
    # issue 6: it covers data, not code, and asks only for the notice.
    "CDLA-Permissive-2.0",
}

# `LICENCE WITH EXCEPTION` pairs allowed beyond the above.
EXCEPTIONS = {
    "LLVM-exception",  # Apache-2.0 WITH LLVM-exception (wasi, rustix…)
}

# Crates allowed in more than one version, each with the versions seen and
# why it is there. A new duplicate (or a new version of a listed one) fails
# the check: look at `--verbose`, then either align the dependency or add it
# here with the reason.
DUPLICATES: dict[str, tuple[set[str], str]] = {
    "base64": (
        {"0.21.7", "0.22.1", "0.23.1"},
        # 0.21: serde_dynamo 4; 0.22: ours, jsonwebtoken, lambda_runtime,
        # aws_lambda_events; 0.23: reqwest 0.13, hyper-util, serde_with.
        "serde_dynamo and reqwest pin different majors",
    ),
    "bit-set": ({"0.8.0", "0.11.1"}, "proptest (test only) vs fancy-regex (jsonschema, test only)"),
    "bit-vec": ({"0.8.0", "0.10.2"}, "follows bit-set (test only)"),
    "cpufeatures": ({"0.2.17", "0.3.1"}, "sha2 0.10 vs chacha20 0.10 (rand 0.10, proptest)"),
    "foldhash": ({"0.1.5", "0.2.0"}, "follows hashbrown"),
    "getrandom": (
        {"0.2.17", "0.3.4", "0.4.3"},
        # 0.2: ring, rand_core 0.6 (signature); 0.3: rand 0.9 (ours), ahash;
        # 0.4: rand 0.10 (proptest, quinn), tempfile.
        "rand 0.9 (payhook) vs rand 0.10 (proptest) vs ring",
    ),
    "hashbrown": (
        {"0.12.3", "0.15.5", "0.17.1"},
        "indexmap 1 (serde_with) / hashlink (rusqlite) / indexmap 2",
    ),
    "http": ({"0.2.12", "1.5.0"}, "the AWS SDK still carries http 0.2 beside 1.x"),
    "http-body": ({"0.4.6", "1.1.0"}, "the AWS SDK (aws-smithy-*) carries 0.4 beside 1.x"),
    "indexmap": ({"1.9.3", "2.14.2"}, "serde_with (via aws_lambda_events) supports indexmap 1"),
    "rand": (
        {"0.8.8", "0.9.5", "0.10.4"},
        # 0.8: jsonwebtoken's RustCrypto backend (rsa via num-bigint-dig).
        "payhook uses rand 0.9; proptest and quinn moved to 0.10; rsa is still on 0.8",
    ),
    "rand_chacha": ({"0.3.1", "0.9.0"}, "follows rand 0.8 (rsa) and 0.9 (payhook)"),
    "rand_core": ({"0.6.4", "0.9.5", "0.10.1"}, "follows rand (and signature 2 on 0.6)"),
    "schemars": ({"0.9.0", "1.2.3"}, "serde_with supports both majors"),
    "syn": ({"2.0.119", "3.0.10"}, "proc macros migrating from syn 2 to 3 (build time only)"),
}

PLATFORMS = ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"]

# ---------------------------------------------------------------------------
# SPDX expressions
# ---------------------------------------------------------------------------

TOKEN = re.compile(r"\s*(\(|\)|[A-Za-z0-9.+\-]+)")


def tokens(expr: str) -> list[str]:
    # The legacy "MIT/Apache-2.0" form means MIT OR Apache-2.0.
    expr = expr.replace("/", " OR ")
    out, pos = [], 0
    while pos < len(expr):
        if expr[pos:].strip() == "":
            break
        m = TOKEN.match(expr, pos)
        if not m:
            raise ValueError(f"cannot read licence expression {expr!r}")
        out.append(m.group(1))
        pos = m.end()
    return out


def allowed(expr: str) -> bool:
    """True when `expr` can be satisfied with LICENSES / EXCEPTIONS."""
    toks = tokens(expr)
    pos = 0

    def peek() -> str | None:
        return toks[pos] if pos < len(toks) else None

    def take() -> str:
        nonlocal pos
        if pos >= len(toks):
            raise ValueError(f"licence expression ends early: {expr!r}")
        pos += 1
        return toks[pos - 1]

    # or_expr := and_expr ("OR" and_expr)*
    # and_expr := atom ("AND" atom)*
    # atom := "(" or_expr ")" | ID ["WITH" ID]
    def or_expr() -> bool:
        ok = and_expr()
        while peek() == "OR":
            take()
            ok = and_expr() or ok
        return ok

    def and_expr() -> bool:
        ok = atom()
        while peek() == "AND":
            take()
            ok = atom() and ok
        return ok

    def atom() -> bool:
        t = take()
        if t == "(":
            ok = or_expr()
            if take() != ")":
                raise ValueError(f"unbalanced parentheses: {expr!r}")
            return ok
        lic = t.rstrip("+")  # "GPL-2.0+" style: judged on the base id
        if peek() == "WITH":
            take()
            exc = take()
            return lic in LICENSES and exc in EXCEPTIONS
        return lic in LICENSES

    result = or_expr()
    if pos != len(toks):
        raise ValueError(f"unexpected {toks[pos]!r} in {expr!r}")
    return result


# ---------------------------------------------------------------------------
# The check
# ---------------------------------------------------------------------------


def metadata(root: Path) -> dict:
    cmd = ["cargo", "metadata", "--format-version", "1", "--locked", "--offline"]
    for p in PLATFORMS:
        cmd += ["--filter-platform", p]
    try:
        out = subprocess.run(cmd, cwd=root, check=True, capture_output=True, text=True)
    except FileNotFoundError:
        sys.exit("deps-check: cargo is not on PATH (install Rust with rustup)")
    except subprocess.CalledProcessError as e:
        sys.exit(
            "deps-check: `cargo metadata --locked --offline` failed (Cargo.lock out of "
            "date, or crate sources not fetched yet: run `cargo fetch --locked` or build "
            f"once):\n{e.stderr}"
        )
    return json.loads(out.stdout)


def main() -> int:
    verbose = "--verbose" in sys.argv[1:]
    root = Path(__file__).resolve().parent.parent
    meta = metadata(root)
    packages = {p["id"]: p for p in meta["packages"]}
    in_graph = {n["id"] for n in meta["resolve"]["nodes"]}
    pulled_by: dict[str, set[str]] = defaultdict(set)
    for n in meta["resolve"]["nodes"]:
        for d in n["deps"]:
            p = packages[n["id"]]
            pulled_by[d["pkg"]].add(f"{p['name']} {p['version']}")

    problems: list[str] = []
    versions: dict[str, set[str]] = defaultdict(set)
    ids_of: dict[str, list[str]] = defaultdict(list)
    for pid in sorted(in_graph):
        p = packages[pid]
        name, version, lic = p["name"], p["version"], p.get("license")
        versions[name].add(version)
        ids_of[name].append(pid)
        if not lic:
            problems.append(
                f"licence: {name} {version} declares no SPDX `license` "
                f"(license-file: {p.get('license_file')}); review it and allow it explicitly"
            )
            continue
        try:
            ok = allowed(lic)
        except ValueError as e:
            problems.append(f"licence: {name} {version}: {e}")
            continue
        if not ok:
            problems.append(
                f"licence: {name} {version} is under `{lic}`, not satisfiable with the "
                f"allowed licences ({', '.join(sorted(LICENSES))})"
            )

    dups = {n: v for n, v in versions.items() if len(v) > 1}
    for name, seen in sorted(dups.items()):
        allowed_versions, why = DUPLICATES.get(name, (set(), ""))
        extra = seen - allowed_versions
        if extra:
            who = "; ".join(
                f"{packages[i]['version']} <- {', '.join(sorted(pulled_by[i]))}"
                for i in ids_of[name]
            )
            problems.append(
                f"duplicate: {name} in versions {', '.join(sorted(seen))} "
                f"({', '.join(sorted(extra))} not allowed in scripts/deps-check.py DUPLICATES): {who}"
            )
        elif verbose:
            print(f"  duplicate allowed: {name} {', '.join(sorted(seen))}: {why}")
            for i in ids_of[name]:
                print(f"      {packages[i]['version']} <- {', '.join(sorted(pulled_by[i]))}")
    stale = sorted(set(DUPLICATES) - set(dups))
    if stale and verbose:
        print(f"  note: no longer duplicated, can leave DUPLICATES: {', '.join(stale)}")

    print(
        f"deps-check: {len(in_graph)} crates ({', '.join(PLATFORMS)}), "
        f"{len(dups)} duplicated ({sum(len(v) for v in dups.values())} versions), "
        f"{len(problems)} problem(s)"
    )
    for p in problems:
        print(f"  FAIL {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
