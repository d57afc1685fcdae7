#!/usr/bin/env bash
# Benchmark: peak memory against the number of layers, oci-copy against skopeo.
#
# Generates (at run time, never committed; tests/bench/make_layers.py) OCI layouts holding
# one image of N tiny gzip layers, for each N in COUNTS, and one of 1,000 copies of a single
# layer; then, for each, prints the median wall time and the highest peak RSS (GNU time's
# maximum resident set) over RUNS runs (default 3) of these copies:
#
#   convert    OCI layout -> docker-archive (every layer gunzipped)
#   unchanged  OCI layout -> OCI layout (every layer copied as it is)
#   repeat     the 1,000-fold layer -> docker-archive, and the size of the archive
#
# skopeo is the named baseline. It takes half a minute for 1,000 layers here (half an hour
# for 5,000) and cannot read back a docker-archive whose manifest.json passes 1 MiB, so it
# runs only up to SKOPEO_MAX layers (default 1000); BASELINE=/path/to/oci-copy adds another
# build (an older commit, say) as a second column.
#
#   bash tests/bench/layers.sh
#   COUNTS="1000 5000" SKOPEO_MAX=5000 RUNS=1 bash tests/bench/layers.sh
#   BASELINE=/tmp/oci-copy-main BENCH_DIR=/var/tmp/layers bash tests/bench/layers.sh
#
# Needs: cargo, python3, skopeo, GNU time (/usr/bin/time). It is not part of `cargo test`:
# nothing here fails on time or memory; it only fails when a copy fails.
set -euo pipefail
cd "$(dirname "$0")/../.."

COUNTS=${COUNTS:-"1000 5000 20000"}
RUNS=${RUNS:-3}
CASES=${CASES:-"convert unchanged repeat"}
SKOPEO=${SKOPEO:-skopeo}
SKOPEO_MAX=${SKOPEO_MAX:-1000}
BASELINE=${BASELINE:-}
BENCH_DIR=${BENCH_DIR:-}

die() { echo "bench: $*" >&2; exit 1; }
for tool in "$SKOPEO" python3 /usr/bin/time; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (apt-get install -y skopeo python3 time)"
done

if [ -z "${OCI_COPY:-}" ]; then
  echo "building oci-copy (release)" >&2
  cargo build --release -q
  OCI_COPY="$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/oci-copy"
fi
[ -x "$OCI_COPY" ] || die "no oci-copy binary at $OCI_COPY"
[ -z "$BASELINE" ] || [ -x "$BASELINE" ] || die "no baseline binary at $BASELINE"

# BENCH_DIR is kept (and the layouts in it reused); a directory made here is removed.
if [ -z "$BENCH_DIR" ]; then
  BENCH_DIR=$(mktemp -d /var/tmp/oci-copy-layers.XXXXXX)
else
  KEEP=1
fi
mkdir -p "$BENCH_DIR"
W=$(cd "$BENCH_DIR" && pwd)
cleanup() { if [ -z "${KEEP:-}" ]; then rm -rf "$W"; fi; }
trap cleanup EXIT

make_layout() { # make_layout DIR N [--repeat]
  [ -f "$1/index.json" ] && return
  echo "generating $1" >&2
  python3 tests/bench/make_layers.py "$@"
}

# run TOOL CASE N: one copy, timed; prints "seconds KiB" (and the archive size for repeat).
run() {
  local tool=$1 case=$2 n=$3 src dst bin
  case $tool in
    oci-copy) bin="$OCI_COPY copy --quiet" ;;
    baseline) bin="$BASELINE copy --quiet" ;;
    skopeo) bin="$SKOPEO --insecure-policy copy -q" ;;
  esac
  src="oci:$W/layers-$n:bench"
  rm -rf "$W/out"
  mkdir -p "$W/out"
  case $case in
    convert) dst="docker-archive:$W/out/image.tar:bench/layers:$n" ;;
    unchanged) dst="oci:$W/out/layout:bench" ;;
    repeat) src="oci:$W/repeat-$n:bench" dst="docker-archive:$W/out/image.tar:bench/repeat:$n" ;;
  esac
  sync
  # shellcheck disable=SC2086
  if ! /usr/bin/time -f '%e %M' -o "$W/time" $bin "$src" "$dst" >"$W/log.out" 2>"$W/log.err"; then
    cat "$W/log.err" >&2
    die "failed: $bin $src $dst"
  fi
  if [ "$tool" = oci-copy ]; then
    "$OCI_COPY" verify --quiet "${dst%:bench/*}" >/dev/null || die "oci-copy verify ${dst%:bench/*} failed"
  fi
  local size=""
  [ "$case" != repeat ] || size=" $(stat -c %s "$W/out/image.tar")"
  echo "$(tail -1 "$W/time")$size"
}

# runs TOOL CASE N: RUNS runs; prints "median-seconds max-KiB [bytes]".
runs() {
  local i
  for i in $(seq "$RUNS"); do run "$@"; done |
    sort -n | awk '{ t[NR] = $1; if ($2 > m) m = $2; s = $3 }
      END { med = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2; print med, m, s }'
}

# cell "seconds KiB [bytes]": "1.23 s 45.6 MiB [2.7 MB]"
cell() {
  awk '{ printf "%.2f s %6.1f MiB", $1, $2 / 1024; if ($3 != "") printf " %6.2f MB", $3 / 1e6 }' <<<"$1"
}

main() {
  local n case tools line
  tools="oci-copy${BASELINE:+ baseline} skopeo"
  printf '%-7s %-10s' layers copy
  for t in $tools; do printf ' %-30s' "$t"; done
  echo
  for case in $CASES; do
    local counts=$COUNTS
    [ "$case" != repeat ] || counts=1000
    for n in $counts; do
      if [ "$case" = repeat ]; then
        make_layout "$W/repeat-$n" "$n" --repeat
      else
        make_layout "$W/layers-$n" "$n"
      fi
      printf '%-7s %-10s' "$n" "$case"
      for t in $tools; do
        if [ "$t" = skopeo ] && [ "$n" -gt "$SKOPEO_MAX" ]; then
          printf ' %-30s' "- (over SKOPEO_MAX)"
          continue
        fi
        line=$(runs "$t" "$case" "$n")
        printf ' %-30s' "$(cell "$line")"
      done
      echo
    done
  done
  echo "(median wall time and highest peak RSS of $RUNS runs; repeat adds the size of the archive written)"
  echo "oci-copy: $OCI_COPY; $("$SKOPEO" --version); $(nproc) cores; load $(uptime | sed 's/.*average: //')"
}

main
