#!/usr/bin/env python3
"""Writes an OCI image layout holding one image of N tiny gzip layers, for the layer-count
benchmark (tests/bench/layers.sh). Each layer is a tar of one small file; with --repeat the
same layer is listed N times (a manifest that repeats one blob), else every layer differs.

    python3 tests/bench/make_layers.py DIR N [--repeat] [--tag TAG]

Generated at run time, never committed. Deterministic: the same arguments give the same
bytes.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import tarfile


def layer_tar(i: int) -> bytes:
    """A one-file tar, `f/<i>` holding a line of text."""
    data = f"layer {i}\n".encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        info = tarfile.TarInfo(f"f/{i}")
        info.size = len(data)
        info.mtime = 0
        info.mode = 0o644
        t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def put_blob(root: str, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(root, "blobs", "sha256", digest)
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
    return "sha256:" + digest


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("n", type=int)
    p.add_argument("--repeat", action="store_true", help="one layer, listed N times")
    p.add_argument("--tag", default="bench")
    a = p.parse_args()
    os.makedirs(os.path.join(a.dir, "blobs", "sha256"), exist_ok=True)
    layers, diff_ids = [], []
    for i in range(a.n):
        if a.repeat and layers:
            layers.append(layers[0])
            diff_ids.append(diff_ids[0])
            continue
        plain = layer_tar(i)
        gz = gzip.compress(plain, mtime=0)
        diff_ids.append("sha256:" + hashlib.sha256(plain).hexdigest())
        layers.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": put_blob(a.dir, gz),
                "size": len(gz),
            }
        )
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": put_blob(a.dir, config),
                "size": len(config),
            },
            "layers": layers,
        }
    ).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": put_blob(a.dir, manifest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": a.tag},
            }
        ],
    }
    with open(os.path.join(a.dir, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(a.dir, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')


if __name__ == "__main__":
    main()
