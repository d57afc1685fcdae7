#!/usr/bin/env python3
"""Deterministically (re)generate testdata/world/: images and archives shaped the way other
tools make them, from the public specs, for issue 13's tests.

Usage:  python3 testdata/world/make-world.py

Python 3 standard library only. Tar headers are fixed (mtime 1700000000, uid/gid 0, empty
names, USTAR), gzip is written with stored deflate blocks (the same bytes on every zlib),
and xz and bzip2 use fixed presets. Running it twice gives byte-identical files.

Outputs:
- buildkit-index/  OCI layout, tag v1: an index as `docker buildx build --platform
  linux/amd64,linux/arm64 --provenance=true` stores it (BuildKit's
  docs/attestations/attestation-storage.md): two images and, for each, an attestation
  manifest (platform unknown/unknown, annotations vnd.docker.reference.type =
  attestation-manifest and vnd.docker.reference.digest = the image's digest) whose layers
  are in-toto statements (application/vnd.in-toto+json).
- artifact-index/  OCI layout, tag v1: an index of an image (linux/amd64), a Helm chart
  (config application/vnd.cncf.helm.config.v1+json) and a generic artifact whose config is
  the empty descriptor (artifactType on the manifest and on its index entry).
- no-platform/     OCI layout, tag v1: an index whose one entry has no `platform`.
- octet-config/    OCI layout, tag v1: a Docker v2s2 manifest whose config has media type
  application/octet-stream, as docker 1.10-era pushes have it.
- dot-slash-docker.tar  docker-archive made as `tar -C dir -cf x.tar .`: a `./` root entry,
  every name `./`-prefixed.
- dot-slash-oci.tar     oci-archive made the same way.
- docker.tar.xz, docker.tar.bz2  the dot-slash docker-archive, xz- and bzip2-compressed.
- bare-layer.tar   a tar that is a layer, not an image.
- junk.bin         binary junk.
- expected.json    digests of the above, for the tests.
"""

import bz2
import hashlib
import io
import json
import lzma
import os
import shutil
import tarfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
MTIME = 1700000000

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_EMPTY = "application/vnd.oci.empty.v1+json"
MT_INTOTO = "application/vnd.in-toto+json"
MT_HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
MT_HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_LAYER_GZ = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'
REF_NAME = "org.opencontainers.image.ref.name"

EXPECTED = {}


def sha256(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def js(v):
    return json.dumps(v, separators=(",", ":")).encode()


def desc(mt, b, **extra):
    d = {"mediaType": mt, "digest": sha256(b), "size": len(b)}
    d.update(extra)
    return d


def info(name, kind=tarfile.REGTYPE, size=0):
    t = tarfile.TarInfo(name)
    t.type = kind
    t.size = size
    t.mtime = MTIME
    t.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    t.uid = t.gid = 0
    t.uname = t.gname = ""
    return t


def tar(entries):
    """entries: (name, bytes) for files, (name, None) for directories."""
    out = bytearray()
    for name, data in entries:
        if data is None:
            out += info(name, tarfile.DIRTYPE).tobuf(format=tarfile.USTAR_FORMAT)
            continue
        out += info(name, size=len(data)).tobuf(format=tarfile.USTAR_FORMAT)
        out += data + b"\0" * (-len(data) % 512)
    return bytes(out + b"\0" * 1024)


def stored_gzip(data):
    """A gzip member of stored deflate blocks: the same bytes on every zlib."""
    out = bytearray([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF])
    chunks = [data[i:i + 65535] for i in range(0, len(data), 65535)] or [b""]
    for i, c in enumerate(chunks):
        out.append(1 if i == len(chunks) - 1 else 0)
        out += len(c).to_bytes(2, "little") + (len(c) ^ 0xFFFF).to_bytes(2, "little") + c
    out += zlib.crc32(data).to_bytes(4, "little") + len(data).to_bytes(4, "little")
    return bytes(out)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


class Layout:
    def __init__(self, name):
        self.dir = os.path.join(HERE, name)
        self.name = name
        os.makedirs(os.path.join(self.dir, "blobs", "sha256"))
        write(os.path.join(self.dir, "oci-layout"), OCI_LAYOUT)

    def put(self, b):
        write(os.path.join(self.dir, "blobs", "sha256", sha256(b)[7:]), b)
        return b

    def finish(self, top, tag="v1"):
        entry = dict(top)
        entry["annotations"] = {REF_NAME: tag}
        write(os.path.join(self.dir, "index.json"),
              js({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [entry]}))
        EXPECTED[self.name] = {"digest": top["digest"], "mediaType": top["mediaType"]}


def image(lay, arch, text, variant=None):
    """An OCI image with one gzip layer holding etc/hello; returns its manifest bytes."""
    plain = tar([("etc/", None), ("etc/hello", text.encode())])
    layer = lay.put(stored_gzip(plain))
    cfg = {"architecture": arch, "os": "linux",
           "config": {"Cmd": ["/bin/sh"]},
           "rootfs": {"type": "layers", "diff_ids": [sha256(plain)]},
           "created": "2023-11-14T22:13:20Z"}
    if variant:
        cfg["variant"] = variant
    cfg = lay.put(js(cfg))
    return lay.put(js({"schemaVersion": 2, "mediaType": MT_MANIFEST,
                       "config": desc(MT_CONFIG, cfg),
                       "layers": [desc(MT_LAYER_GZ, layer)]}))


def attestation(lay, subject):
    """A BuildKit attestation manifest for the image manifest `subject`."""
    stmt = lay.put(js({"_type": "https://in-toto.io/Statement/v0.1",
                       "predicateType": "https://slsa.dev/provenance/v0.2",
                       "subject": [{"name": "pkg:docker/lab/app@v1",
                                    "digest": {"sha256": sha256(subject)[7:]}}],
                       "predicate": {"builder": {"id": ""}, "buildType": "buildkit"}}))
    cfg = lay.put(js({"architecture": "unknown", "os": "unknown", "config": {},
                      "rootfs": {"type": "layers", "diff_ids": [sha256(stmt)]}}))
    return lay.put(js({"schemaVersion": 2, "mediaType": MT_MANIFEST,
                       "config": desc(MT_CONFIG, cfg),
                       "layers": [desc(MT_INTOTO, stmt, annotations={
                           "in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"})]}))


def buildkit_index():
    lay = Layout("buildkit-index")
    amd = image(lay, "amd64", "hello from amd64\n")
    arm = image(lay, "arm64", "hello from arm64\n")
    entries = [desc(MT_MANIFEST, amd, platform={"architecture": "amd64", "os": "linux"}),
               desc(MT_MANIFEST, arm, platform={"architecture": "arm64", "os": "linux"})]
    for m in (amd, arm):
        att = attestation(lay, m)
        entries.append(desc(MT_MANIFEST, att,
                            annotations={"vnd.docker.reference.digest": sha256(m),
                                         "vnd.docker.reference.type": "attestation-manifest"},
                            platform={"architecture": "unknown", "os": "unknown"}))
    idx = lay.put(js({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": entries}))
    lay.finish(desc(MT_INDEX, idx))
    EXPECTED["buildkit-index"]["images"] = [sha256(amd), sha256(arm)]
    EXPECTED["buildkit-index"]["attestations"] = [e["digest"] for e in entries[2:]]


def artifact_index():
    lay = Layout("artifact-index")
    amd = image(lay, "amd64", "an image beside artifacts\n")
    chart = lay.put(stored_gzip(tar([("mychart/", None), ("mychart/Chart.yaml",
                                     b"apiVersion: v2\nname: mychart\nversion: 0.1.0\n")])))
    helm_cfg = lay.put(js({"apiVersion": "v2", "name": "mychart", "version": "0.1.0"}))
    helm = lay.put(js({"schemaVersion": 2, "mediaType": MT_MANIFEST,
                       "config": desc(MT_HELM_CONFIG, helm_cfg),
                       "layers": [desc(MT_HELM_CHART, chart)]}))
    empty = lay.put(b"{}")
    sbom = lay.put(js({"spdxVersion": "SPDX-2.3", "name": "app"}))
    generic = lay.put(js({"schemaVersion": 2, "mediaType": MT_MANIFEST,
                          "artifactType": "application/spdx+json",
                          "config": desc(MT_EMPTY, empty),
                          "layers": [desc("application/spdx+json", sbom)]}))
    idx = lay.put(js({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [
        desc(MT_MANIFEST, amd, platform={"architecture": "amd64", "os": "linux"}),
        desc(MT_MANIFEST, helm),
        desc(MT_MANIFEST, generic, artifactType="application/spdx+json"),
    ]}))
    lay.finish(desc(MT_INDEX, idx))


def no_platform():
    lay = Layout("no-platform")
    m = image(lay, "amd64", "an instance without a platform\n")
    idx = lay.put(js({"schemaVersion": 2, "mediaType": MT_INDEX,
                      "manifests": [desc(MT_MANIFEST, m)]}))
    lay.finish(desc(MT_INDEX, idx))
    EXPECTED["no-platform"]["image"] = sha256(m)


def octet_config():
    lay = Layout("octet-config")
    plain = tar([("etc/", None), ("etc/hello", b"docker 1.10 era\n")])
    layer = lay.put(stored_gzip(plain))
    cfg = lay.put(js({"architecture": "amd64", "os": "linux",
                      "created": "2016-03-01T10:00:00.000000000Z",
                      "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["/bin/sh"]},
                      "rootfs": {"type": "layers", "diff_ids": [sha256(plain)]},
                      "docker_version": "1.10.3"}))
    m = lay.put(js({"schemaVersion": 2, "mediaType": MT_DOCKER_MANIFEST,
                    "config": desc("application/octet-stream", cfg),
                    "layers": [desc(MT_DOCKER_LAYER_GZ, layer)]}))
    lay.finish(desc(MT_DOCKER_MANIFEST, m))
    EXPECTED["octet-config"]["config"] = sha256(cfg)


def docker_archive_files():
    """A one-layer docker-archive's files, legacy layout."""
    plain = tar([("etc/", None), ("etc/hello", b"from a ./-prefixed archive\n")])
    cfg = js({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
              "rootfs": {"type": "layers", "diff_ids": [sha256(plain)]},
              "created": "2023-11-14T22:13:20Z"})
    cid = sha256(cfg)[7:]
    manifest = js([{"Config": cid + ".json", "RepoTags": ["lab/dot:1"],
                    "Layers": ["l1/layer.tar"]}])
    EXPECTED["dot-slash-docker.tar"] = {"config": sha256(cfg)}
    return [("manifest.json", manifest), (cid + ".json", cfg), ("l1/", None),
            ("l1/layer.tar", plain)]


def dot_slash(files):
    """Entries as `tar -C dir -cf x.tar .` writes them: `./` first, then `./`-prefixed."""
    return [("./", None)] + [("./" + n, d) for n, d in files]


def archives():
    docker = tar(dot_slash(docker_archive_files()))
    write(os.path.join(HERE, "dot-slash-docker.tar"), docker)
    write(os.path.join(HERE, "docker.tar.xz"), lzma.compress(docker, preset=6))
    write(os.path.join(HERE, "docker.tar.bz2"), bz2.compress(docker, compresslevel=9))
    lay = os.path.join(HERE, "no-platform")
    files = []
    for root, dirs, names in sorted(os.walk(lay)):
        dirs.sort()
        rel = os.path.relpath(root, lay)
        if rel != ".":
            files.append((rel + "/", None))
        for n in sorted(names):
            path = n if rel == "." else rel + "/" + n
            with open(os.path.join(root, n), "rb") as f:
                files.append((path, f.read()))
    write(os.path.join(HERE, "dot-slash-oci.tar"), tar(dot_slash(files)))
    write(os.path.join(HERE, "bare-layer.tar"),
          tar([("usr/", None), ("usr/bin/", None), ("usr/bin/tool", b"#!/bin/sh\n")]))
    write(os.path.join(HERE, "junk.bin"), bytes((i * 131 + 7) % 251 for i in range(4096)))


def main():
    for name in os.listdir(HERE):
        p = os.path.join(HERE, name)
        if name == "make-world.py":
            continue
        shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
    buildkit_index()
    artifact_index()
    no_platform()
    octet_config()
    archives()
    write(os.path.join(HERE, "expected.json"), json.dumps(EXPECTED, indent=1).encode() + b"\n")


if __name__ == "__main__":
    main()
