#!/usr/bin/env bash
# Brief fuzzing run of every cargo-fuzz target: scripts/fuzz.sh [SECONDS]
#
# Builds all targets in fuzz/fuzz_targets once (into fuzz/target, whatever
# CARGO_TARGET_DIR says), then runs each for SECONDS (default 30) from its
# seeds (fuzz/seeds/<target>/, if present). The corpus it grows and any crash
# artifacts go to a temporary directory: nothing is written into the repo.
# Exits non-zero if a target crashes, hangs (-timeout=10), runs out of memory
# (-rss_limit_mb=2048) or fails to build; a crash input is printed (base64).
#
# Stable toolchain: the default is no sanitizer (`-s none`, ~10x the runs/s
# of ASan; src/ has no `unsafe`, and panics, overflow checks and debug
# assertions, hangs and the RSS limit are still caught). FUZZ_SANITIZER=address
# builds with ASan through RUSTC_BOOTSTRAP=1 (see fuzz/README.md).
set -euo pipefail

dur="${1:-30}"
case "$dur" in '' | *[!0-9]*)
  echo "usage: $0 [SECONDS]" >&2
  exit 2
  ;;
esac
sanitizer="${FUZZ_SANITIZER:-none}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
fuzz_target_dir="$root/fuzz/target"
triple="$(rustc -vV | sed -n 's/^host: //p')"
# --target-dir below wins over these; unset so nothing else picks them up.
unset CARGO_TARGET_DIR CARGO_BUILD_TARGET_DIR

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz (cargo install cargo-fuzz --locked)"
  t0=$(date +%s)
  cargo install cargo-fuzz --locked --quiet
  echo "cargo-fuzz installed in $(($(date +%s) - t0)) s"
fi

targets=()
for f in fuzz/fuzz_targets/*.rs; do
  targets+=("$(basename "$f" .rs)")
done
if [ ${#targets[@]} -eq 0 ]; then
  echo "no fuzz targets in fuzz/fuzz_targets" >&2
  exit 1
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/evf-fuzz.XXXXXX")"
lock="$root/fuzz/Cargo.lock"
cleanup() {
  # A stale fuzz/Cargo.lock is updated by the build: put the committed one back.
  if [ -f "$tmp/Cargo.lock.orig" ]; then cp "$tmp/Cargo.lock.orig" "$lock"; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
if [ -f "$lock" ] && ! cargo metadata --manifest-path fuzz/Cargo.toml --format-version 1 \
  --locked >/dev/null 2>"$tmp/locked.err"; then
  cp "$lock" "$tmp/Cargo.lock.orig"
  echo "WARNING: fuzz/Cargo.lock is out of date with the main crate's dependencies;"
  echo "  the build resolves what is missing, and the committed file is restored afterwards."
  echo "  To fix: cargo metadata --manifest-path fuzz/Cargo.toml --format-version 1 >/dev/null"
  echo "  (updates fuzz/Cargo.lock), then commit it. cargo said:"
  sed -n '1,5s/^/    /p' "$tmp/locked.err"
fi

build=(cargo fuzz build --target-dir "$fuzz_target_dir" --target "$triple" -s "$sanitizer")
run_env=()
if [ "$sanitizer" = address ]; then
  # -Zsanitizer=address on stable; the toolchain ships the ASan runtime.
  build=(env RUSTC_BOOTSTRAP=1 "${build[@]}")
  run_env=(ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0")
fi
t0=$(date +%s)
echo "building fuzz targets (-s $sanitizer): ${targets[*]}"
"${build[@]}"
echo "fuzz build: $(($(date +%s) - t0)) s"

failed=()
for t in "${targets[@]}"; do
  bin="$fuzz_target_dir/$triple/release/$t"
  corpus="$tmp/corpus/$t"
  artifacts="$tmp/artifacts/$t/"
  log="$tmp/$t.log"
  mkdir -p "$corpus" "$artifacts"
  dirs=("$corpus")
  nseeds=0
  if [ -d "fuzz/seeds/$t" ]; then
    dirs+=("fuzz/seeds/$t")
    nseeds=$(find "fuzz/seeds/$t" -type f | wc -l)
  fi
  t0=$(date +%s)
  rc=0
  env "${run_env[@]}" "$bin" \
    -max_total_time="$dur" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts" -print_final_stats=1 \
    "${dirs[@]}" </dev/null >"$log" 2>&1 || rc=$?
  secs=$(($(date +%s) - t0))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n1 | cut -d' ' -f2)
  grown=$(find "$corpus" -type f | wc -l)
  if [ "$rc" -eq 0 ]; then
    echo "fuzz $t: ok, ${runs:-?} runs in ${secs} s (${rate:-?}/s), cov ${cov:-?}, $nseeds seeds, $grown new corpus inputs"
  else
    failed+=("$t")
    echo "fuzz $t: FAILED (exit $rc) after ${runs:-?} runs in ${secs} s"
    echo "---- last lines of the libFuzzer log ($t)"
    tail -n 60 "$log"
    for a in "$artifacts"*; do
      [ -f "$a" ] || continue
      echo "---- crash input $(basename "$a") ($(stat -c %s "$a") bytes), base64:"
      head -c 65536 "$a" | base64 -w 76
      echo "---- reproduce: save it as crash.bin, then: cargo fuzz run -s $sanitizer $t crash.bin"
    done
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${dur} s without a crash"
