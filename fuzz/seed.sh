#!/usr/bin/env bash
# Fill fuzz/corpus/<target>/ with the request bodies of events/*/ (the API
# Gateway events' `body`, base64-decoded when `isBase64Encoded` says so and
# it decodes), plus fuzz/regressions/<target>/ (committed crash inputs).
# The normal test suite replays the same seeds: tests/tests/it/fuzz_corpus.rs.
#
#   fuzz/seed.sh            # all targets
#   fuzz/seed.sh koywe      # one target
set -euo pipefail
cd "$(dirname "$0")"

# Every events/ folder (each registered provider's and the callback's).
all=$(cd ../events && for d in */; do printf '%s ' "${d%/}"; done)
declare -A FROM=(
    [koywe]="koywe"
    [thirdweb]="thirdweb"
    [eightpay_local]="eightpay"
    [onebuy_wallet_pay]="onebuy-wallet-pay"
    [onebuy_checkout]="onebuy-checkout"
    [webhook]="$all"
    [canonical]="$all"
)

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=(koywe thirdweb eightpay_local onebuy_wallet_pay onebuy_checkout webhook canonical)
fi

for t in "${targets[@]}"; do
    [[ -n "${FROM[$t]:-}" ]] || { echo "unknown target: $t" >&2; exit 2; }
    out="corpus/$t"
    mkdir -p "$out"
    # shellcheck disable=SC2086
    python3 - "$out" ${FROM[$t]} <<'PY'
import base64, binascii, json, pathlib, sys
out = pathlib.Path(sys.argv[1])
n = 0
for function in sys.argv[2:]:
    for f in sorted(pathlib.Path("../events", function).glob("*.json")):
        if f.name == "cases.json":
            continue
        ev = json.loads(f.read_text())
        body = ev.get("body")
        if not isinstance(body, str):
            continue
        data = body.encode()
        if ev.get("isBase64Encoded"):
            try:
                data = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                pass  # bad base64 fixtures: keep the text, still a good seed
        (out / f"{function}-{f.stem}").write_bytes(data)
        n += 1
print(f"{out}: {n} seeds from events/")
PY
    if [[ -d "regressions/$t" ]]; then
        cp -f regressions/"$t"/* "$out"/ 2>/dev/null || true
    fi
done
