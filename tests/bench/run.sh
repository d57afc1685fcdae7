#!/usr/bin/env bash
# Benchmark: oci-copy against skopeo on the same generated image, in the same run.
#
# Generates (at run time, never committed) an image of about 700 MB uncompressed in three
# layers, tarred from real files of this machine (a JDK, shared libraries, documentation, a
# Python stdlib: whatever exists), as a docker-archive and as an OCI layout; starts a local
# docker-registry; measures this machine's floors (disk copy, SHA-256 and level-1 deflate
# speeds, and the single-stream ingest of the largest blob by a docker-registry); then times
# eight copies with both tools, RUNS times each, and prints a Markdown table of the median
# wall time, the ratio against skopeo, the median CPU seconds (user + system), the peak RSS
# of each and, where registries take part, their own CPU seconds (from /proc) and the floor
# they set; then the HTTP requests of one push by each tool, counted from a registry's
# access log.
#
#   bash tests/bench/run.sh                 # 3 runs of every case
#   RUNS=5 bash tests/bench/run.sh
#   CASES="compress decompress" bash tests/bench/run.sh
#   SIZE_MB=300 BENCH_DIR=/var/tmp/b bash tests/bench/run.sh   # kept, and reused next time
#   OCI_COPY_ARGS="--jobs 2" bash tests/bench/run.sh
#   FEATURES=isal bash tests/bench/run.sh    # oci-copy built with ISA-L's igzip
#
# Needs: cargo, skopeo, docker-registry, GNU time (/usr/bin/time), tar, sha256sum, curl.
# The deflate floors use libdeflate-gzip (libdeflate-tools) and igzip (isal) when present,
# and gzip -1 (zlib) always.
# It is not part of `cargo test`: nothing here can fail on timing. Other load on the
# machine skews the figures, so the load average is printed before and after.
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS=${RUNS:-3}
SIZE_MB=${SIZE_MB:-700}
CASES=${CASES:-"compress decompress push pull layout copy copy-across all"}
OCI_COPY_ARGS=${OCI_COPY_ARGS:-}
SKOPEO=${SKOPEO:-skopeo}
BENCH_DIR=${BENCH_DIR:-}
FEATURES=${FEATURES:-}

die() { echo "bench: $*" >&2; exit 1; }
for tool in "$SKOPEO" docker-registry /usr/bin/time tar sha256sum curl; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "$tool not found (apt-get install -y skopeo docker-registry time curl)"
done

if [ -z "${OCI_COPY:-}" ]; then
  echo "building oci-copy (release)" >&2
  cargo build --release -q ${FEATURES:+--features "$FEATURES"}
  OCI_COPY="$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/oci-copy"
fi
[ -x "$OCI_COPY" ] || die "no oci-copy binary at $OCI_COPY"

# BENCH_DIR is kept (and an image already in it reused); a directory made here is removed.
if [ -z "$BENCH_DIR" ]; then
  BENCH_DIR=$(mktemp -d /var/tmp/oci-copy-bench.XXXXXX)
else
  KEEP=1
fi
mkdir -p "$BENCH_DIR"
W=$(cd "$BENCH_DIR" && pwd)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_registry "$pid"; done
  if [ -z "${KEEP:-}" ]; then rm -rf "$W"; fi
}
trap cleanup EXIT

# --- the image -------------------------------------------------------------------------
# Layer caps in MiB (sum SIZE_MB) and where each layer's files come from; a file goes into
# the first layer that lists it, and /usr tops up any layer whose sources are too small.
L1=$((SIZE_MB * 50 / 100)) L2=$((SIZE_MB * 33 / 100)) L3=$((SIZE_MB - SIZE_MB * 83 / 100))
SRC1="/usr/lib/jvm /usr/lib/gcc /usr/libexec"
SRC2="/usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/bin /usr/lib"
SRC3="/usr/share/doc $(echo /usr/lib/python3*) /usr/share"

make_lists() {
  local i src
  for i in 1 2 3; do
    eval "src=\$SRC$i"
    # shellcheck disable=SC2086
    find $src /usr -xdev -type f -readable -size +0 -printf "$i\t%s\t%p\n" 2>/dev/null || true
  done | awk -F'\t' -v c1="$L1" -v c2="$L2" -v c3="$L3" -v dir="$W" '
    BEGIN { cap[1] = c1 * 1048576; cap[2] = c2 * 1048576; cap[3] = c3 * 1048576 }
    $3 ~ /[\n\\]/ { next }
    seen[$3]++ { next }
    { i = $1; if (used[i] + $2 + 1536 > cap[i]) { seen[$3] = 0; next } }
    { used[i] += $2 + 1536; print substr($3, 2) > (dir "/list" i) }'
}

make_image() {
  echo "generating a ${SIZE_MB} MB image in $W (layers of $L1, $L2, $L3 MiB)" >&2
  make_lists
  local i d cfg diff_ids="" layers="" files=()
  for i in 1 2 3; do
    tar --create --file "$W/layer$i.tar" --directory / --no-recursion --verbatim-files-from \
      --files-from "$W/list$i" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
      --format=posix --pax-option=delete=atime,delete=ctime 2>/dev/null
    d=$(sha256sum "$W/layer$i.tar" | cut -d' ' -f1)
    mv "$W/layer$i.tar" "$W/$d.tar"
    files+=("$d.tar")
    diff_ids+="${diff_ids:+,}\"sha256:$d\""
    layers+="${layers:+,}\"$d.tar\""
  done
  printf '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Env":["PATH=/usr/bin"]},"rootfs":{"type":"layers","diff_ids":[%s]},"history":[{},{},{}]}' \
    "$diff_ids" >"$W/config.json"
  cfg=$(sha256sum "$W/config.json" | cut -d' ' -f1)
  mv "$W/config.json" "$W/$cfg.json"
  printf '[{"Config":"%s.json","RepoTags":["bench/image:latest"],"Layers":[%s]}]' "$cfg" "$layers" \
    >"$W/manifest.json"
  (cd "$W" && tar --create --file docker.tar manifest.json "$cfg.json" "${files[@]}" &&
    rm -f manifest.json "$cfg.json" "${files[@]}" list1 list2 list3)
  # The OCI layout input (gzip layers), made by skopeo so that neither tool makes its own.
  "$SKOPEO" --insecure-policy copy -q "docker-archive:$W/docker.tar" "oci:$W/src-oci:bench"
  du -sh "$W/docker.tar" "$W/src-oci" >&2
}

# --- registries ------------------------------------------------------------------------
# start_registry NAME: starts a docker-registry with empty storage in $W/NAME on a free
# loopback port, and sets REG (host:port) and REG_PID. ACCESS_LOG=1 keeps its access log
# (each request a line in $W/NAME/log).
start_registry() {
  local name=$1 port try
  for try in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 20000))
    rm -rf "${W:?}/$name"
    mkdir -p "$W/$name"
    printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: %s\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
      "$([ -n "${ACCESS_LOG:-}" ] && echo false || echo true)" "$W/$name/data" "$port" >"$W/$name/config.yml"
    docker-registry serve "$W/$name/config.yml" >"$W/$name/log" 2>&1 &
    REG_PID=$!
    PIDS+=("$REG_PID")
    for _ in $(seq 100); do
      if curl -fs "http://127.0.0.1:$port/v2/" >/dev/null; then
        REG="127.0.0.1:$port"
        return
      fi
      kill -0 "$REG_PID" 2>/dev/null || break
      sleep 0.1
    done
    stop_registry "$REG_PID"
  done
  die "docker-registry did not start (see $W/$name/log)"
}

stop_registry() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# --- the cases -------------------------------------------------------------------------
# cmd TOOL CASE RUN: prints the command; `prep` removes what the previous run wrote.
cmd() {
  local tool=$1 case=$2 run=$3 bin
  if [ "$tool" = skopeo ]; then
    bin="$SKOPEO --insecure-policy copy -q"
  else
    bin="$OCI_COPY copy --quiet $OCI_COPY_ARGS"
  fi
  local out="$W/out/$tool"
  case $case in
    compress) echo "$bin docker-archive:$W/docker.tar oci:$out/compress:bench" ;;
    decompress) echo "$bin oci:$W/src-oci:bench docker-archive:$out/decompress.tar:bench/image:latest" ;;
    push) echo "$bin --dest-tls-verify=false oci:$W/src-oci:bench docker://$PUSH_REG/bench/push-$tool-$run:latest" ;;
    pull) echo "$bin --src-tls-verify=false docker://$PULL_REG/bench/src:latest oci:$out/pull:bench" ;;
    layout) echo "$bin oci:$W/src-oci:bench oci:$out/layout:bench" ;;
    copy) echo "$bin --tls-verify=false docker://$PULL_REG/bench/src:latest docker://$PULL_REG/bench/copy-$tool-$run:latest" ;;
    copy-across) echo "$bin --tls-verify=false docker://$PULL_REG/bench/src:latest docker://$PUSH_REG/bench/copy:latest" ;;
    all) echo "$bin --tls-verify=false --multi-arch all docker://$PULL_REG/bench/index:latest docker://$PUSH_REG/bench/all:latest" ;;
  esac
}

# fresh_dest CASE: whether the case writes into a registry of its own, new for every run.
fresh_dest() { case $1 in push | copy-across | all) return 0 ;; *) return 1 ;; esac; }

# reg_cpu: the CPU seconds (user + system, from /proc) the registries have used so far.
reg_cpu() {
  local pid sum=0
  for pid in ${PULL_PID:-} ${PUSH_PID:-}; do
    sum=$(awk -v s="$sum" -v t="$(getconf CLK_TCK)" '{ print s + ($14 + $15) / t }' "/proc/$pid/stat")
  done
  echo "$sum"
}

describe() {
  case $1 in
    compress) echo "docker-archive -> OCI layout (compress)" ;;
    decompress) echo "OCI layout -> docker-archive (decompress)" ;;
    push) echo "OCI layout -> registry (fresh repo)" ;;
    pull) echo "registry -> OCI layout" ;;
    layout) echo "OCI layout -> OCI layout" ;;
    copy) echo "registry -> same registry, other repository" ;;
    copy-across) echo "registry -> another registry" ;;
    all) echo "registry -> another registry, 2-platform index, --all" ;;
  esac
}

# run_one TOOL CASE RUN: times one copy; appends "case tool seconds maxrss_kib user sys
# registry_cpu" to results.
run_one() {
  local tool=$1 case=$2 run=$3 c
  rm -rf "$W/out/$tool"
  mkdir -p "$W/out/$tool"
  if fresh_dest "$case"; then
    # A registry of its own for every push: no blob is there already, under any
    # repository (skopeo would mount it from one it remembers in its blob info cache).
    [ -z "${PUSH_PID:-}" ] || stop_registry "$PUSH_PID"
    start_registry "registry-push"
    PUSH_REG=$REG PUSH_PID=$REG_PID
  fi
  sync
  c=$(cmd "$tool" "$case" "$run")
  local r0 r1
  r0=$(reg_cpu)
  # shellcheck disable=SC2086
  if ! /usr/bin/time -f '%e %M %U %S' -o "$W/time" $c >"$W/log.out" 2>"$W/log.err"; then
    cat "$W/log.err" >&2
    die "failed: $c"
  fi
  r1=$(reg_cpu)
  echo "$case $tool $(tail -1 "$W/time") $(awk -v a="$r0" -v b="$r1" 'BEGIN { print b - a }')" >>"$W/results"
  if [ "$tool" = oci-copy ] && [ "$run" = "$RUNS" ]; then verify_output "$case"; fi
  printf '  %-10s %-8s run %d: %6.2fs %7.1f MiB\n' "$case" "$tool" "$run" \
    $(awk '{ print $1, $2 / 1024 }' "$W/time") >&2
}

# verify_output CASE: checks what oci-copy wrote (in its last run), outside the timing.
verify_output() {
  local out="$W/out/oci-copy" ref
  case $1 in
    compress) ref="oci:$out/compress:bench" ;;
    decompress) ref="docker-archive:$out/decompress.tar" ;;
    push) ref="docker://$PUSH_REG/bench/push-oci-copy-$RUNS:latest" ;;
    copy) ref="docker://$PULL_REG/bench/copy-oci-copy-$RUNS:latest" ;;
    copy-across) ref="docker://$PUSH_REG/bench/copy:latest" ;;
    all) ref="docker://$PUSH_REG/bench/all:latest" ;;
    pull) ref="oci:$out/pull:bench" ;;
    layout) ref="oci:$out/layout:bench" ;;
  esac
  "$OCI_COPY" verify --quiet --tls-verify=false "$ref" >/dev/null ||
    die "oci-copy verify $ref failed"
  "$SKOPEO" inspect --tls-verify=false "$ref" >/dev/null 2>&1 ||
    "$SKOPEO" inspect "$ref" >/dev/null || die "skopeo cannot read $ref"
}

# floors: this machine's speeds for what every copy must do at least once, on the first
# layer of the image (MB/s, one core): read+write a file, SHA-256, and deflate at level 1.
floors() {
  local layer="$W/floor-layer.tar" mb t tool
  tar -xOf "$W/docker.tar" "$(tar -tf "$W/docker.tar" | grep '\.tar$' | head -1)" >"$layer"
  mb=$(($(stat -c %s "$layer") / 1000000))
  speed() { # speed LABEL CMD...: runs CMD with the layer on stdin, prints MB/s
    local label=$1
    shift
    sync
    /usr/bin/time -f '%e' -o "$W/ftime" "$@" <"$layer" >/dev/null 2>/dev/null || return 0
    t=$(cat "$W/ftime")
    printf '| %s | %s | %.0f MB/s |\n' "$label" "$mb MB" "$(awk -v m="$mb" -v t="$t" 'BEGIN { print m / (t > 0 ? t : 0.01) }')"
  }
  echo "| floor (one core) | on | speed |"
  echo "|---|---|---|"
  speed "disk copy (cat > file, fsync)" sh -c "cat > '$W/floor-copy' && sync '$W/floor-copy'"
  speed "sha256sum" sha256sum
  for tool in "libdeflate-gzip -1 -c" "igzip -1 -c" "gzip -1 -c"; do
    if command -v "${tool%% *}" >/dev/null 2>&1; then
      # shellcheck disable=SC2086
      speed "deflate level 1: ${tool%% *}" $tool
    fi
  done
  rm -f "$layer" "$W/floor-copy"
}

# make_index: $W/src-index, an OCI layout whose index lists the image twice, as linux/amd64
# and as linux/arm64 (a config of its own, the same layers), for the `all` case.
make_index() {
  rm -rf "$W/src-index"
  cp -a "$W/src-oci" "$W/src-index"
  python3 - "$W/src-index" <<'PY'
import hashlib, json, os, sys
root = sys.argv[1]
def blob(d): return os.path.join(root, "blobs", *d.split(":"))
def put(data):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    with open(blob(d), "wb") as f: f.write(data)
    return d, len(data)
index = json.load(open(os.path.join(root, "index.json")))
amd = index["manifests"][0]
manifest = json.load(open(blob(amd["digest"])))
config = json.load(open(blob(manifest["config"]["digest"])))
config["architecture"] = "arm64"
d, n = put(json.dumps(config).encode())
manifest["config"].update(digest=d, size=n)
md, mn = put(json.dumps(manifest).encode())
mt = "application/vnd.oci.image.manifest.v1+json"
entries = [dict(mediaType=mt, digest=amd["digest"], size=amd["size"], platform=dict(architecture="amd64", os="linux")),
           dict(mediaType=mt, digest=md, size=mn, platform=dict(architecture="arm64", os="linux"))]
idx = json.dumps(dict(schemaVersion=2, mediaType="application/vnd.oci.image.index.v1+json", manifests=entries)).encode()
d, n = put(idx)
json.dump(dict(schemaVersion=2, manifests=[dict(mediaType="application/vnd.oci.image.index.v1+json", digest=d, size=n,
          annotations={"org.opencontainers.image.ref.name": "bench"})]), open(os.path.join(root, "index.json"), "w"))
PY
}

# ingest_floor: the wall time of the largest blob's upload by one monolithic PUT (curl) into
# a new docker-registry: the fastest any client can push that blob, one stream being all a
# blob gets. Prints "seconds registry_cpu_seconds MB".
ingest_floor() {
  local blob digest size t0 t1 loc c0 c1
  blob=$(find "$W/src-oci/blobs/sha256" -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2)
  digest="sha256:$(basename "$blob")"
  size=$(stat -c %s "$blob")
  start_registry "registry-floor"
  loc=$(curl -fsS -X POST -D - -o /dev/null "http://$REG/v2/bench/floor/blobs/uploads/" |
    tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  case $loc in http*) ;; *) loc="http://$REG$loc" ;; esac
  case $loc in *\?*) loc="$loc&digest=$digest" ;; *) loc="$loc?digest=$digest" ;; esac
  sync
  c0=$(awk -v t="$(getconf CLK_TCK)" '{ print ($14 + $15) / t }' "/proc/$REG_PID/stat")
  t0=$(date +%s.%N)
  curl -fsS -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$blob" "$loc" -o /dev/null
  t1=$(date +%s.%N)
  c1=$(awk -v t="$(getconf CLK_TCK)" '{ print ($14 + $15) / t }' "/proc/$REG_PID/stat")
  stop_registry "$REG_PID"
  awk -v a="$t0" -v b="$t1" -v c="$c0" -v d="$c1" -v s="$size" 'BEGIN { printf "%.2f %.2f %d\n", b - a, d - c, s / 1000000 }'
}

# count_requests: the HTTP requests of one push of the image by each tool, by method, from
# the access log of a registry of its own.
count_requests() {
  local tool log before m
  echo "| requests of one push | HEAD | GET | POST | PATCH | PUT | total |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for tool in skopeo oci-copy; do
    ACCESS_LOG=1 start_registry "registry-count-$tool"
    log="$W/registry-count-$tool/log"
    sleep 0.2
    before=$(wc -l <"$log")
    if [ "$tool" = skopeo ]; then
      "$SKOPEO" --insecure-policy copy -q --dest-tls-verify=false "oci:$W/src-oci:bench" "docker://$REG/bench/count:latest"
    else
      "$OCI_COPY" copy --quiet $OCI_COPY_ARGS --dest-tls-verify=false "oci:$W/src-oci:bench" "docker://$REG/bench/count:latest"
    fi
    sleep 0.2
    tail -n +$((before + 1)) "$log" >"$log.push"
    printf '| %s |' "$tool"
    for m in HEAD GET POST PATCH PUT; do printf ' %d |' "$(grep -ac "\"$m /v2/" "$log.push" || true)"; done
    printf ' %d |\n' "$(grep -acE '"(HEAD|GET|POST|PATCH|PUT|DELETE) /v2/' "$log.push" || true)"
    stop_registry "$REG_PID"
  done
}

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

main() {
  if [ -f "$W/docker.tar" ] && [ -f "$W/src-oci/index.json" ]; then
    echo "reusing the image in $W" >&2
  else
    make_image
  fi
  rm -rf "$W/out"
  echo "measuring the floors" >&2
  FLOORS=$(floors)
  echo "measuring the single-stream ingest of the largest blob" >&2
  INGEST=$(ingest_floor)
  start_registry "registry-pull"
  PULL_REG=$REG PULL_PID=$REG_PID
  "$SKOPEO" --insecure-policy copy -q --dest-tls-verify=false "oci:$W/src-oci:bench" \
    "docker://$PULL_REG/bench/src:latest"
  make_index
  "$SKOPEO" --insecure-policy copy -q --all --dest-tls-verify=false "oci:$W/src-index:bench" \
    "docker://$PULL_REG/bench/index:latest"
  : >"$W/results"
  local case run
  for case in $CASES; do
    echo "$(describe "$case"):" >&2
    for run in $(seq "$RUNS"); do
      # Alternate which tool goes first, so that neither always gets the warmer cache.
      if ((run % 2)); then
        [ -n "${ONLY_OCI_COPY:-}" ] || run_one skopeo "$case" "$run"
        run_one oci-copy "$case" "$run"
      else
        run_one oci-copy "$case" "$run"
        [ -n "${ONLY_OCI_COPY:-}" ] || run_one skopeo "$case" "$run"
      fi
    done
  done
  local load_after
  load_after=$(uptime)
  echo
  echo "$("$OCI_COPY" --version 2>/dev/null) vs $("$SKOPEO" --version), $RUNS runs, $(nproc) cores, image ${SIZE_MB} MB in 3 layers"
  echo
  echo "| copy | skopeo (s) | oci-copy (s) | ratio | speedup | skopeo CPU (s) | oci-copy CPU (s) | skopeo RSS | oci-copy RSS | registry CPU (s) skopeo / oci-copy | floor (s) | oci-copy / floor |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  local ingest ingest_cpu ingest_mb
  read -r ingest ingest_cpu ingest_mb <<<"$INGEST"
  for case in $CASES; do
    local s o sc oc sr or rs ro floor
    s=$(stat_of "$case" skopeo '$3' | median)
    o=$(stat_of "$case" oci-copy '$3' | median)
    sc=$(stat_of "$case" skopeo '$5 + $6' | median)
    oc=$(stat_of "$case" oci-copy '$5 + $6' | median)
    sr=$(stat_of "$case" skopeo '$4 / 1024' | sort -n | tail -1)
    or=$(stat_of "$case" oci-copy '$4 / 1024' | sort -n | tail -1)
    rs=$(stat_of "$case" skopeo '$7' | median)
    ro=$(stat_of "$case" oci-copy '$7' | median)
    printf '| %s | %.2f | %.2f | %.2f | %.2fx | %.2f | %.2f | %.1f MiB | %.1f MiB |' \
      "$(describe "$case")" "$s" "$o" "$(awk -v s="$s" -v o="$o" 'BEGIN { print o / s }')" \
      "$(awk -v s="$s" -v o="$o" 'BEGIN { print s / o }')" "$sc" "$oc" "$sr" "$or"
    if fresh_dest "$case"; then
      # The registry receiving every byte: its CPU spread over the cores, or the largest
      # blob's one stream, whichever is longer.
      floor=$(awk -v r="$ro" -v n="$(nproc)" -v i="$ingest" 'BEGIN { f = r / n; print (i > f ? i : f) }')
      printf ' %.2f / %.2f | %.2f | %.2f |\n' "$rs" "$ro" "$floor" "$(awk -v o="$o" -v f="$floor" 'BEGIN { print o / f }')"
    else
      printf ' %.2f / %.2f | — | — |\n' "$rs" "$ro"
    fi
  done
  echo
  echo "Median wall time and CPU (user + system) over the runs; ratio = oci-copy / skopeo;"
  echo "RSS = peak over the runs; registry CPU = what the docker-registry processes spent"
  echo "during the copy (from /proc); floor = for a copy into a new registry, the longer of"
  echo "that registry CPU over $(nproc) cores and the largest blob's single-stream ingest"
  echo "($ingest s for $ingest_mb MB by one curl PUT, $ingest_cpu registry CPU-s)."
  echo "Load average before: ${LOAD_BEFORE##*load average: }; after: ${load_after##*load average: }."
  echo
  echo "$FLOORS"
  echo
  count_requests
}

# stat_of CASE TOOL EXPR: EXPR (awk, over "case tool wall rss user sys") of each run.
stat_of() { awk -v c="$1" -v t="$2" "\$1 == c && \$2 == t { print $3 }" "$W/results"; }

LOAD_BEFORE=$(uptime)
echo "load before: $LOAD_BEFORE" >&2
main
