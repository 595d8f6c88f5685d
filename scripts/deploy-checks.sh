#!/usr/bin/env bash
# Deployment checks: the SAM template and the release arm64 Lambda builds.
#
#   scripts/deploy-checks.sh          install the tools if missing, then:
#                                     1. sam validate --lint, cfn-lint (no warnings)
#                                     2. cargo lambda build --release --arm64 of
#                                        every function (one workspace build),
#                                        bootstrap and zip size of each
#                                     3. sam build (cargo-lambda, no container)
#                                        into a temporary directory, checking it
#                                        produced every function
#   scripts/deploy-checks.sh tools    only install the tools; prints the
#                                     directory holding `cargo-lambda` (put it
#                                     first on PATH for tests/tests/it/runtime.rs)
#
# Called by scripts/test.sh; runnable alone. Tools go into venvs under
# $PAYHOOK_TOOLS (default ~/.cache/payhook-tools), at a stable path outside
# the clone: cargo-lambda's zig linker wrappers are keyed by path, and a new
# path rebuilds every cross-compiled crate.
#   $PAYHOOK_TOOLS/sam      aws-sam-cli + cfn-lint (SAM pins its own boto3)
#   $PAYHOOK_TOOLS/lambda   cargo-lambda + ziglang
#
# Settings: CARGO_TARGET_DIR (default ~/.cache/payhook/target);
# PAYHOOK_SAM_BUILD=0 skips step 3 (it is on by default: after step 2 it only
# copies the already built binaries, see below).
#
# Output: each function's bootstrap and zip size, also written to
# $CARGO_TARGET_DIR/lambda-sizes.txt. A missing tool that cannot be installed
# fails the run with an install hint; nothing is skipped silently.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/payhook/target}"
tools="${PAYHOOK_TOOLS:-$HOME/.cache/payhook-tools}"
export SAM_CLI_TELEMETRY=0
mkdir -p "$CARGO_TARGET_DIR" "$tools"

step() { printf '\n==> %s\n' "$*" >&2; }
fail() { printf 'deploy-checks: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || fail "missing tool: $1 — $2"; }
elapsed() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

need python3 "install Python 3.10+ (apt-get install python3 python3-venv)"
need cargo "install Rust with rustup (https://rustup.rs)"
need rustup "install Rust with rustup (https://rustup.rs): the arm64 target is added with rustup"

# --------------------------------------------------------------- tools

venv() { # venv DIR PACKAGE...
    local dir="$1"
    shift
    echo "installing $* into $dir" >&2
    python3 -m venv "$dir" ||
        fail "cannot create a venv at $dir (apt-get install python3-venv)"
    "$dir/bin/pip" install --quiet --upgrade pip >&2 ||
        fail "pip upgrade failed in $dir"
    "$dir/bin/pip" install --quiet "$@" >&2 ||
        fail "pip install $* failed (needs PyPI); install them into $dir by hand"
}

install_tools() {
    local sam="$tools/sam" lambda="$tools/lambda"
    if [[ ! -x "$sam/bin/sam" || ! -x "$sam/bin/cfn-lint" ]]; then
        venv "$sam" aws-sam-cli cfn-lint
    fi
    [[ -x "$sam/bin/sam" ]] || fail "sam missing in $sam (pip install aws-sam-cli)"
    [[ -x "$sam/bin/cfn-lint" ]] || fail "cfn-lint missing in $sam (pip install cfn-lint)"

    if [[ ! -x "$lambda/bin/cargo-lambda" ]] ||
        ! "$lambda/bin/python" -c 'import ziglang' 2>/dev/null; then
        venv "$lambda" cargo-lambda ziglang
    fi
    [[ -x "$lambda/bin/cargo-lambda" ]] ||
        fail "cargo-lambda missing in $lambda (pip install cargo-lambda ziglang)"
    "$lambda/bin/python" -c 'import ziglang' 2>/dev/null ||
        fail "ziglang missing in $lambda (pip install ziglang)"

    if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
        echo "adding the Rust target aarch64-unknown-linux-gnu" >&2
        rustup target add aarch64-unknown-linux-gnu >&2 ||
            fail "rustup target add aarch64-unknown-linux-gnu failed"
    fi
}

install_tools
if [[ "${1:-}" == "tools" ]]; then
    echo "$tools/lambda/bin"
    exit 0
fi
[[ $# -eq 0 ]] || fail "usage: $0 [tools]"

# cargo-lambda first on PATH; it finds zig as `python3 -m ziglang`, so the
# venv's python3 must be the first python3 too (it is: same bin directory).
export PATH="$tools/lambda/bin:$PATH"
sam="$tools/sam/bin/sam"
cfn_lint="$tools/sam/bin/cfn-lint"
cargo lambda --version >/dev/null 2>&1 || fail "cargo lambda does not run (pip install cargo-lambda ziglang)"

# The functions: every package under functions/, which must be exactly the
# binaries the template builds.
mapfile -t functions < <(for d in functions/*/; do basename "$d"; done)
[[ ${#functions[@]} -gt 0 ]] || fail "no functions under functions/"
mapfile -t template_bins < <(sed -n 's/^ *Binary: *\([A-Za-z0-9_-]*\) *$/\1/p' template.yaml | sort)
if [[ "$(printf '%s\n' "${functions[@]}" | sort)" != "$(printf '%s\n' "${template_bins[@]}")" ]]; then
    fail "template.yaml builds [${template_bins[*]}] but functions/ holds [${functions[*]}]"
fi

# ------------------------------------------------------- template checks

step "sam validate --lint"
t0=$SECONDS
# --region only satisfies SAM's client set-up; nothing is sent anywhere.
"$sam" validate --lint --template-file template.yaml --region us-east-1 ||
    fail "sam validate --lint failed (see above)"
step "cfn-lint template.yaml"
# Exit status: bit 2 = errors, 4 = warnings, 8 = informational; any -> fail.
# Deliberate suppressions live in template.yaml, each commented.
"$cfn_lint" template.yaml || fail "cfn-lint reported problems (exit $?, see above)"
echo "template checks: $(elapsed $((SECONDS - t0)))" >&2

# --------------------------------------------------------- release build

lambda_dir="$CARGO_TARGET_DIR/lambda"
step "cargo lambda build --release --arm64 (${functions[*]})"
t0=$SECONDS
# Selected with --bin, not -p, exactly as `sam build` selects them (it runs
# `cargo lambda build --release --arm64 --bin NAME` in the workspace root):
# with no -p, cargo resolves features over every workspace member, and with
# -p over the selected packages only, which gives different artifact hashes.
# Built this way, the sam build below finds everything fresh and the sizes
# are those of the binaries SAM deploys.
bins=()
for f in "${functions[@]}"; do bins+=(--bin "$f"); done
cargo lambda build --release --arm64 --lambda-dir "$lambda_dir" "${bins[@]}" ||
    fail "cargo lambda build --release --arm64 failed"
build_secs=$((SECONDS - t0))
echo "release arm64 build: $(elapsed "$build_secs")" >&2

step "bootstrap and zip sizes"
sizes="$CARGO_TARGET_DIR/lambda-sizes.txt"
# Zip each bootstrap as cargo-lambda's `--output-format zip` does (one
# executable entry `bootstrap`, deflated) and check it is an arm64 ELF.
python3 - "$lambda_dir" "$sizes" "${functions[@]}" <<'PY'
import os, sys, zipfile

lambda_dir, out, functions = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = []
for f in functions:
    exe = os.path.join(lambda_dir, f, "bootstrap")
    if not os.path.isfile(exe):
        sys.exit(f"deploy-checks: {exe} was not built")
    with open(exe, "rb") as fh:
        head = fh.read(20)
    # ELF, 64-bit, little endian, e_machine 183 = EM_AARCH64
    if head[:4] != b"\x7fELF" or head[4] != 2 or int.from_bytes(head[18:20], "little") != 183:
        sys.exit(f"deploy-checks: {exe} is not an arm64 ELF executable")
    zpath = os.path.join(lambda_dir, f, "bootstrap.zip")
    info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = 0o100755 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    with open(exe, "rb") as fh, zipfile.ZipFile(zpath, "w") as z:
        z.writestr(info, fh.read(), compresslevel=9)
    rows.append((f, os.path.getsize(exe), os.path.getsize(zpath)))

mib = lambda n: f"{n / 1048576:.2f} MiB"
lines = [f"{'function':<20} {'bootstrap':>12} {'zip':>12}"]
for f, b, z in rows:
    lines.append(f"{f:<20} {b:>12} {z:>12}   ({mib(b)} / {mib(z)})")
text = "\n".join(lines) + "\n"
with open(out, "w") as fh:
    fh.write("# payhook Lambda functions, cargo lambda build --release --arm64 (bytes)\n")
    fh.write(text)
sys.stdout.write(text)
PY
echo "written to $sizes" >&2

# ------------------------------------------------------------- sam build

if [[ "${PAYHOOK_SAM_BUILD:-1}" == "0" ]]; then
    step "sam build skipped (PAYHOOK_SAM_BUILD=0)"
    exit 0
fi
# SAM runs `cargo lambda build --release --arm64 --bin NAME` per function in
# the clone (CodeUri: .) with the same CARGO_TARGET_DIR, so after the build
# above cargo finds everything fresh and SAM copies target/lambda/NAME/bootstrap
# (measured: seconds per function; a build selected differently costs a second
# full release build).
step "sam build (cargo-lambda, no container)"
t0=$SECONDS
work="$(mktemp -d "${TMPDIR:-/tmp}/payhook-sam-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
"$sam" build --template-file "$root/template.yaml" --build-dir "$work/build" \
    --cache-dir "$work/cache" ||
    fail "sam build failed (cargo-lambda on PATH: $(command -v cargo-lambda))"
sam_secs=$((SECONDS - t0))

# Every function of the built template has a bootstrap, the one built above.
python3 - "$work/build" "$lambda_dir" "$root/template.yaml" <<'PY'
import hashlib, os, re, sys

build, lambda_dir, template = sys.argv[1], sys.argv[2], sys.argv[3]
# logical id -> binary, from the source template (a plain scan: the file uses
# CloudFormation tags a stock YAML loader refuses).
pairs, current = {}, None
for line in open(template):
    m = re.match(r"^  ([A-Za-z0-9]+):\s*$", line)
    if m:
        current = m.group(1)
    m = re.match(r"^\s+Binary:\s*([A-Za-z0-9_-]+)\s*$", line)
    if m and current:
        pairs[current] = m.group(1)
if not pairs:
    sys.exit("deploy-checks: no rust-cargolambda functions found in template.yaml")
digest = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()
bad = []
for logical, binary in sorted(pairs.items()):
    built = os.path.join(build, logical, "bootstrap")
    if not os.path.isfile(built):
        bad.append(f"{logical} ({binary}): no {built}")
        continue
    same = digest(built) == digest(os.path.join(lambda_dir, binary, "bootstrap"))
    print(f"{logical:<28} {binary:<20} {os.path.getsize(built):>10} bytes"
          f"{'' if same else '  (differs from the cargo lambda build above)'}")
if not os.path.isfile(os.path.join(build, "template.yaml")):
    bad.append("no built template.yaml")
if bad:
    sys.exit("deploy-checks: sam build is missing:\n  " + "\n  ".join(bad))
PY
echo "sam build: $(elapsed "$sam_secs") (release arm64 build before it: $(elapsed "$build_secs"))" >&2
step "deploy checks passed"
