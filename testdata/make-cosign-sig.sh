#!/usr/bin/env bash
# Makes a cosign legacy signature (what `cosign sign` pushed as `sha256-<hex>.sig` before
# cosign 3) without cosign: a simple-signing payload naming the image's digest, signed
# with a fresh ECDSA P-256 key by openssl, and the manifest that carries it.
#   make-cosign-sig.sh OUTDIR DOCKER_REFERENCE MANIFEST_DIGEST
# writes in OUTDIR: cosign.key, cosign.pub, payload.json, payload.sig (DER), config.json
# and manifest.json (OCI, the payload as its one layer, the base64 signature in the
# layer's dev.cosignproject.cosign/signature annotation, as cosign writes it).
set -euo pipefail
out=$1 ref=$2 digest=$3
mkdir -p "$out"
cd "$out"
openssl ecparam -name prime256v1 -genkey -noout -out cosign.key 2>/dev/null
openssl ec -in cosign.key -pubout -out cosign.pub 2>/dev/null
printf '{"critical":{"identity":{"docker-reference":"%s"},"image":{"docker-manifest-digest":"%s"},"type":"cosign container image signature"},"optional":null}' \
  "$ref" "$digest" > payload.json
openssl dgst -sha256 -sign cosign.key -out payload.sig payload.json
sig=$(base64 -w0 payload.sig)
sha() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
size() { stat -c %s "$1"; }
printf '{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["%s"]},"config":{}}' \
  "$(sha payload.json)" > config.json
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":%s,"digest":"%s"},"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":%s,"digest":"%s","annotations":{"dev.cosignproject.cosign/signature":"%s"}}]}' \
  "$(size config.json)" "$(sha config.json)" "$(size payload.json)" "$(sha payload.json)" "$sig" > manifest.json
