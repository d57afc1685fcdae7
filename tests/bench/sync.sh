#!/usr/bin/env bash
# Benchmark: `oci-copy sync` against `skopeo sync` on the same 40 images, in the same run.
#
# Generates (at run time, never committed; tests/bench/make-sync-images.py) 8 repositories
# x 5 tags sharing base layers (one common base, one layer per repository, one per tag),
# pushes them into a local docker-registry, then times three cases with both tools, RUNS
# times each, each run into fresh storage:
#   registry  registry -> another registry (every tag of the 8 repositories)
#   dir       registry -> a directory (oci-copy: one layout per repository; skopeo: dir:)
#   rerun     registry -> registry again, when nothing changed
# and prints the median wall time, the speedup (skopeo / oci-copy), the peak RSS, the CPU
# seconds of each tool and of the two docker-registry processes (from /proc), and the floor
# the registries set: the lesser of the two tools' registries' CPU seconds over the cores.
#
#   bash tests/bench/sync.sh
#   RUNS=5 IMAGE_JOBS=8 bash tests/bench/sync.sh
#
# Needs: cargo, skopeo, docker-registry, python3, GNU time, curl, bc. Not part of `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS=${RUNS:-3}
IMAGE_JOBS=${IMAGE_JOBS:-8}
SKOPEO=${SKOPEO:-skopeo}
die() { echo "bench: $*" >&2; exit 1; }
for tool in "$SKOPEO" docker-registry python3 /usr/bin/time curl bc; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (apt-get install -y skopeo docker-registry time curl bc)"
done
if [ -z "${OCI_COPY:-}" ]; then
  cargo build --release -q
  OCI_COPY="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/oci-copy"
fi
W=$(mktemp -d /var/tmp/oci-copy-sync-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT

start_registry() { # NAME -> REG, REG_PID
  local name=$1 port
  port=$((20000 + RANDOM % 20000))
  rm -rf "${W:?}/$name"; mkdir -p "$W/$name"
  printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' "$W/$name/data" "$port" >"$W/$name/config.yml"
  docker-registry serve "$W/$name/config.yml" >"$W/$name/log" 2>&1 &
  REG_PID=$!; PIDS+=("$REG_PID")
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && { REG="127.0.0.1:$port"; return; }; sleep 0.1; done
  die "docker-registry did not start"
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

python3 tests/bench/make-sync-images.py "$W/images" >&2
start_registry src; SRC=$REG SRC_PID=$REG_PID
for r in 0 1 2 3 4 5 6 7; do
  for t in 1 2 3 4 5; do
    "$OCI_COPY" -q --tls-verify=false --no-read-back "oci:$W/images:repo$r-$t" "docker://$SRC/lab/repo$r:$t"
  done
done
{ echo "$SRC:"; echo "  tls-verify: false"; echo "  images:"; for r in 0 1 2 3 4 5 6 7; do echo "    lab/repo$r: []"; done; } >"$W/sync.yml"

# reg_cpu: the CPU seconds the source and destination registries have used so far.
reg_cpu() { cat "/proc/$SRC_PID/stat" "/proc/$DPID/stat" | awk -v t="$(getconf CLK_TCK)" '{ s += ($14 + $15) / t } END { print s }'; }

# timed TOOL CASE CMD...: appends "CASE TOOL SECONDS RSS_KIB CPU REGISTRY_CPU" to results
timed() {
  local tool=$1 case=$2 r0 r1; shift 2
  r0=$(reg_cpu)
  /usr/bin/time -f "%e %M %U %S" -o "$W/time" "$@" >"$W/out" 2>&1 || { cat "$W/out" >&2; die "$tool $case failed"; }
  r1=$(reg_cpu)
  echo "$case $tool $(awk '{ print $1, $2, $3 + $4 }' "$W/time") $(echo "$r1 - $r0" | bc)" >>"$W/results"
}
: >"$W/results"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq "$RUNS"); do
  for tool in skopeo oci-copy; do
    start_registry "dst-$tool"; DST=$REG; DPID=$REG_PID
    if [ "$tool" = skopeo ]; then
      timed skopeo registry "$SKOPEO" sync --src yaml --dest docker --dest-tls-verify=false "$W/sync.yml" "$DST/m"
      timed skopeo rerun "$SKOPEO" sync --src yaml --dest docker --dest-tls-verify=false "$W/sync.yml" "$DST/m"
      rm -rf "$W/dir-skopeo"; mkdir -p "$W/dir-skopeo"
      timed skopeo dir "$SKOPEO" sync --src yaml --dest dir "$W/sync.yml" "$W/dir-skopeo"
    else
      timed oci-copy registry "$OCI_COPY" -q sync --tls-verify=false --image-jobs "$IMAGE_JOBS" --src yaml --dest docker "$W/sync.yml" "$DST/m"
      timed oci-copy rerun "$OCI_COPY" -q sync --tls-verify=false --image-jobs "$IMAGE_JOBS" --src yaml --dest docker "$W/sync.yml" "$DST/m"
      rm -rf "$W/dir-oci"
      timed oci-copy dir "$OCI_COPY" -q sync --tls-verify=false --image-jobs "$IMAGE_JOBS" --src yaml --dest dir "$W/sync.yml" "$W/dir-oci"
    fi
    stop "$DPID"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
col() { awk -v c="$1" -v t="$2" -v f="$3" '$1 == c && $2 == t { print $f }' "$W/results"; }
echo "| case | skopeo | oci-copy | speedup | RSS skopeo / oci-copy | CPU skopeo / oci-copy | registries' CPU skopeo / oci-copy | floor | oci-copy / floor |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for case in registry dir rerun; do
  s=$(col $case skopeo 3 | median)
  o=$(col $case oci-copy 3 | median)
  sr=$(col $case skopeo 4 | sort -n | tail -1)
  orss=$(col $case oci-copy 4 | sort -n | tail -1)
  sc=$(col $case skopeo 5 | median)
  oc=$(col $case oci-copy 5 | median)
  rs=$(col $case skopeo 6 | median)
  ro=$(col $case oci-copy 6 | median)
  floor=$(awk -v a="$rs" -v b="$ro" -v n="$(nproc)" 'BEGIN { print (a < b ? a : b) / n }')
  printf '| %s | %.2f s | %.2f s | %.1fx | %d / %d MiB | %.2f / %.2f s | %.2f / %.2f s | %.2f s | %.1f |\n' "$case" "$s" "$o" \
    "$(echo "$s / $o" | bc -l)" $((sr / 1024)) $((orss / 1024)) "$sc" "$oc" "$rs" "$ro" "$floor" "$(echo "$o / $floor" | bc -l)"
done
echo
echo "40 images, median wall time over $RUNS runs, --image-jobs $IMAGE_JOBS; RSS = peak; CPU = user + system;"
echo "registries' CPU = what the source and destination docker-registry spent during the run"
echo "(from /proc); floor = the lesser of the two registries' CPU over $(nproc) cores: the cheapest"
echo "way this run found to make the registries do the job."
