#!/usr/bin/env python3
"""Deterministically (re)generate the container-image fixtures in testdata/.

Usage:  python3 testdata/make-testdata.py           # delete, regenerate, self-check
        python3 testdata/make-testdata.py --check   # only run the self-check

Python 3.11+, standard library only.  Every byte is a pure function of this
script (fixed mtimes 1700000000, uid/gid 0, empty uname/gname, PAX tar headers,
entries in directory-walk order, tars end with two zero blocks and no record
padding -- like Go's archive/tar -- gzip with mtime=0, no file name,
compresslevel 9).  Note that gzip bytes depend on the zlib build linked into
Python (zlib and zlib-ng produce different streams), so gzipped blob digests
are only guaranteed to be stable on the same zlib; the uncompressed layer tars
(diff_ids) are stable everywhere.  The committed files are the reference.

Images
------
app (amd64)   two layers:
  layer 1 (base): etc/{os-release,os-release-old,motd}, usr/bin/app (0755,
                  fake x86-64 ELF), usr/bin/app-link -> app (symlink),
                  usr/share/doc/app/README (~4 KiB of text)
  layer 2 (data): etc/motd (modified), opt/app/data.txt (20 KiB of
                  pseudo-random text), etc/.wh.os-release-old (whiteout that
                  deletes the layer-1 file etc/os-release-old)
  It exists with two configs:
    * "OCI" config   (no docker_version; OCI field order; '<' '>' written raw)
    * "Docker" config (classic-builder style: container, container_config,
      docker_version 24.0.7; top-level keys sorted; Go's json escaping, i.e.
      the author's "<...>" is written as \\u003c...\\u003e in the raw bytes)
app (arm64/v8) one gzipped layer (fake aarch64 app), OCI config.
tool (arm64/v8) one layer (usr/local/bin/tool, etc/tool.conf), Docker config,
  history has an extra empty_layer entry.

Outputs (all in testdata/)
--------------------------
oci-layout/            OCI image layout; index.json has ONE manifest tagged
                       "latest" (org.opencontainers.image.ref.name); OCI app
                       image, gzipped layers, manifest annotation
                       org.opencontainers.image.created.
oci-archive.tar        tar of an OCI layout holding the same OCI app image
                       (same manifest digest), tagged "v1".
docker-legacy.tar      `docker save` archive as Docker 24 writes it:
                       <v1id>/{VERSION,json,layer.tar}, <confighex>.json,
                       manifest.json (RepoTags ["lab/app:1"]), repositories.
                       Docker app config; v1 ids computed like Docker's
                       v1.CreateID (chain ids, "parent", "layer_id").
docker-legacy.tar.gz   docker-legacy.tar gzipped (deterministic gzip).
docker25.tar           `docker save` archive as Docker 25 (>= 25.0.2) writes
                       it: OCI layout (oci-layout, index.json with
                       io.containerd.image.name=docker.io/lab/app:2 and
                       ref.name=2, blobs/sha256/...) + manifest.json
                       (RepoTags ["lab/app:2"], with LayerSources as Docker 25
                       writes it) + repositories (points at the top diff_id).
                       Layers are UNCOMPRESSED (layer.v1.tar, digest ==
                       diff_id); manifest/config are OCI media types; the same
                       Docker app config as docker-legacy.tar.  Like real
                       Docker 25 output it also holds the legacy v1 JSON of
                       each layer as extra, unreferenced blobs.
docker-multi.tar       Docker 24 legacy archive with two images, in this
                       order: app (RepoTags ["lab/app:1"], byte-identical to
                       docker-legacy.tar's image) and tool (RepoTags
                       ["docker.io/library/tool:3"], arm64/v8).  Layers are
                       stored once.  (Real Docker would write the familiar
                       form "tool:3"; the fully-qualified form is used on
                       purpose to exercise reference normalisation.)
oci-index/             OCI layout; index.json entry tagged "multi" points to
                       an OCI image index with two platform instances:
                       linux/amd64 (the OCI app image, same manifest as in
                       oci-layout/) and linux/arm64/v8 (the arm64 app image).
                       The image index blob is pretty-printed (indent 2 and a
                       trailing newline) on purpose: digests cover raw bytes.
expected.json          machine-readable digests/sizes of everything above
                       (for tests).
"""

import gzip
import hashlib
import io
import json
import os
import random
import shutil
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
MTIME = 1700000000

OUTPUTS = [
    "oci-layout",
    "oci-archive.tar",
    "docker-legacy.tar",
    "docker-legacy.tar.gz",
    "docker25.tar",
    "docker-multi.tar",
    "oci-index",
    "expected.json",
]

MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_OCI_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"

OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'
OCI_LAYOUT_DOCKER = b'{"imageLayoutVersion": "1.0.0"}'  # Docker 25 writes a space

CREATED = "2024-01-02T03:04:05Z"
AUTHOR = "Example Maintainers <maintainers@example.com>"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
APP_ENV = [PATH_ENV, "APP_MODE=test"]
APP_CMD = ["/usr/bin/app"]
APP_LABELS = {"org.example.name": "app", "org.example.version": "1"}


# --------------------------------------------------------------------------
# small helpers


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def digest(data):
    return "sha256:" + sha256(data)


def stream_bytes(seed, n):
    """n pseudo-random bytes, sha256 in counter mode (stable forever)."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b"%s:%d" % (seed, i)).digest()
        i += 1
    return bytes(out[:n])


def oci_json(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def go_json(obj):
    """Like Go's json.Marshal: compact, HTML characters escaped."""
    s = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    s = s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return s.encode()


def sorted_top(d):
    """Go's map[string]json.RawMessage round trip: only top-level keys sorted."""
    return {k: d[k] for k in sorted(d)}


def gz(data):
    bio = io.BytesIO()
    with gzip.GzipFile(fileobj=bio, mode="wb", compresslevel=9, mtime=0, filename="") as f:
        f.write(data)
    return bio.getvalue()


def walk_key(name):
    """Order of a filepath.Walk: lexical per directory component."""
    return name.rstrip("/").split("/")


def make_tar(entries):
    """entries: list of (name, kind, mode, data_or_linkname); kind in
    'dir', 'file', 'symlink'.  Returns the tar bytes."""
    out = bytearray()
    for name, kind, mode, payload in sorted(entries, key=lambda e: walk_key(e[0])):
        ti = tarfile.TarInfo(name.rstrip("/"))
        ti.mtime = MTIME
        ti.mode = mode
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = ""
        data = b""
        if kind == "dir":
            ti.type = tarfile.DIRTYPE
        elif kind == "symlink":
            ti.type = tarfile.SYMTYPE
            ti.linkname = payload
        elif kind == "file":
            ti.type = tarfile.REGTYPE
            data = payload
            ti.size = len(data)
        else:
            raise ValueError(kind)
        out += ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        out += data
        if len(data) % 512:
            out += b"\0" * (512 - len(data) % 512)
    out += b"\0" * 1024
    return bytes(out)


def tree_to_tar(files):
    """files: {relpath: bytes}.  Adds the parent directory entries (0755),
    files are 0644, like `docker save` / skopeo's oci-archive writer."""
    entries = []
    dirs = set()
    for path, data in files.items():
        parts = path.split("/")
        for i in range(1, len(parts)):
            dirs.add("/".join(parts[:i]))
        entries.append((path, "file", 0o644, data))
    entries += [(d, "dir", 0o755, None) for d in dirs]
    return make_tar(entries)


def write_tree(root, files):
    for path, data in sorted(files.items()):
        full = os.path.join(root, *path.split("/"))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)
        os.utime(full, (MTIME, MTIME))


# --------------------------------------------------------------------------
# synthesized file contents

WORDS = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima "
    "mike november oscar papa quebec romeo sierra tango uniform victor whiskey "
    "xray yankee zulu layer digest manifest index config blob registry archive "
    "tarball gzip sha256 platform variant runtime bundle rootfs whiteout symlink "
    "the a of to and in is for on with as by copy verify stream chunk header "
    "offset mirror cache retry token scope push pull mount ensure reject accept "
    "quickly slowly carefully never always sometimes often rarely exactly"
).split()


def words(rng, n):
    return " ".join(WORDS[int(rng.random() * len(WORDS))] for _ in range(n))


def make_readme():
    rng = random.Random(7)
    out = [
        "app -- example application used by the oci-copy test fixtures",
        "=" * 62,
        "",
        "This file is synthesized by testdata/make-testdata.py.  It is not",
        "documentation for anything real; it only gives the base layer a few",
        "kilobytes of varied, compressible text.",
        "",
    ]
    for sec in range(1, 11):
        out.append("%d. Section %s" % (sec, words(rng, 2).title()))
        out.append("-" * 30)
        for _ in range(5):
            line = words(rng, 6 + int(rng.random() * 8))
            out.append(line[0].upper() + line[1:] + ".")
        out.append("")
    out.append("Checksums: " + sha256(b"app-readme") + "")
    return ("\n".join(out) + "\n").encode()


def make_data_txt(size=20480):
    rng = random.Random(42)
    lines = []
    total = 0
    n = 0
    while total < size:
        n += 1
        line = "%05d %s %08x" % (n, words(rng, 4 + int(rng.random() * 10)),
                                 int(rng.random() * 0xFFFFFFFF))
        lines.append(line)
        total += len(line) + 1
    data = ("\n".join(lines) + "\n").encode()
    data = data[: size - 1] + b"\n"
    return data


def fake_elf(machine, seed, size):
    # ELF64, little endian, ET_EXEC, e_machine
    hdr = b"\x7fELF\x02\x01\x01\x00" + b"\0" * 8
    hdr += (2).to_bytes(2, "little") + machine.to_bytes(2, "little")
    hdr += (1).to_bytes(4, "little")
    body = stream_bytes(seed, size - len(hdr) - 32)
    return hdr + body + b"app version 1 (fixture)\n".ljust(32, b"\0")


OS_RELEASE = (
    b'NAME="Example Linux"\n'
    b'ID=example\n'
    b'VERSION_ID="1.0"\n'
    b'PRETTY_NAME="Example Linux 1.0 (fixture)"\n'
    b'HOME_URL="https://example.com/"\n'
)
OS_RELEASE_OLD = b'NAME="Example Linux"\nVERSION_ID="0.9"\n'
MOTD_1 = b"Welcome to Example Linux 1.0.\nThis image is a test fixture.\n"
MOTD_2 = (b"Welcome to Example Linux 1.0.\nThis image is a test fixture.\n"
          b"Layer 2 was applied: data lives in /opt/app.\n")


def layer_app_base():
    return make_tar([
        ("etc", "dir", 0o755, None),
        ("etc/motd", "file", 0o644, MOTD_1),
        ("etc/os-release", "file", 0o644, OS_RELEASE),
        ("etc/os-release-old", "file", 0o644, OS_RELEASE_OLD),
        ("usr", "dir", 0o755, None),
        ("usr/bin", "dir", 0o755, None),
        ("usr/bin/app", "file", 0o755, fake_elf(0x3E, b"app-amd64", 6144)),
        ("usr/bin/app-link", "symlink", 0o777, "app"),
        ("usr/share", "dir", 0o755, None),
        ("usr/share/doc", "dir", 0o755, None),
        ("usr/share/doc/app", "dir", 0o755, None),
        ("usr/share/doc/app/README", "file", 0o644, make_readme()),
    ])


def layer_app_data():
    return make_tar([
        ("etc", "dir", 0o755, None),
        ("etc/.wh.os-release-old", "file", 0o600, b""),
        ("etc/motd", "file", 0o644, MOTD_2),
        ("opt", "dir", 0o755, None),
        ("opt/app", "dir", 0o755, None),
        ("opt/app/data.txt", "file", 0o644, make_data_txt()),
    ])


def layer_app_arm64():
    return make_tar([
        ("etc", "dir", 0o755, None),
        ("etc/motd", "file", 0o644, MOTD_1.replace(b"1.0.", b"1.0 (arm64).")),
        ("etc/os-release", "file", 0o644, OS_RELEASE),
        ("usr", "dir", 0o755, None),
        ("usr/bin", "dir", 0o755, None),
        ("usr/bin/app", "file", 0o755, fake_elf(0xB7, b"app-arm64", 5120)),
        ("usr/bin/app-link", "symlink", 0o777, "app"),
    ])


def layer_tool():
    return make_tar([
        ("etc", "dir", 0o755, None),
        ("etc/tool.conf", "file", 0o644, b"# tool configuration\nverbose = false\nretries = 3\n"),
        ("usr", "dir", 0o755, None),
        ("usr/local", "dir", 0o755, None),
        ("usr/local/bin", "dir", 0o755, None),
        ("usr/local/bin/tool", "file", 0o755,
         b"#!/bin/sh\n# tool 3 (fixture)\necho \"tool 3: $*\"\n" + b"#" * 200 + b"\n"),
    ])


# --------------------------------------------------------------------------
# configs


def oci_config(arch, diff_ids, history, variant=None):
    """OCI image config in image-spec struct order."""
    c = {"created": CREATED, "author": AUTHOR, "architecture": arch, "os": "linux"}
    if variant:
        c["variant"] = variant
    c["config"] = {"Env": APP_ENV, "Cmd": APP_CMD, "WorkingDir": "/", "Labels": APP_LABELS}
    c["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
    c["history"] = history
    return oci_json(c)


def go_container_config(env=None, cmd=None, image="", working_dir="", labels=None, hostname=""):
    """Docker's api/types/container.Config as Go marshals it (struct order)."""
    return {
        "Hostname": hostname, "Domainname": "", "User": "",
        "AttachStdin": False, "AttachStdout": False, "AttachStderr": False,
        "Tty": False, "OpenStdin": False, "StdinOnce": False,
        "Env": env, "Cmd": cmd, "Image": image, "Volumes": None,
        "WorkingDir": working_dir, "Entrypoint": None, "OnBuild": None,
        "Labels": labels,
    }


def docker_config(name, arch, diff_ids, history, env, cmd, labels, variant=None,
                  author=AUTHOR, created=CREATED):
    """Classic-builder style Docker image config (top-level keys sorted, as
    Docker's image.Image.MarshalJSON does)."""
    container = sha256(b"container:" + name)
    parent_image = digest(b"intermediate:" + name)
    cmd_json = json.dumps(cmd, separators=(",", ":"))
    c = {
        "architecture": arch,
        "author": author,
        "config": go_container_config(env, cmd, parent_image, "/", labels),
        "container": container,
        "container_config": go_container_config(
            env, ["/bin/sh", "-c", "#(nop) ", "CMD " + cmd_json],
            parent_image, "/", labels, hostname=container[:12]),
        "created": created,
        "docker_version": "24.0.7",
        "history": history,
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    if variant:
        c["variant"] = variant
    return go_json(sorted_top(c))


# --------------------------------------------------------------------------
# Docker legacy (v1) layer ids, as moby's image/tarexport + image/v1 do it


def chain_ids(diff_ids):
    out = []
    for d in diff_ids:
        out.append(d if not out else digest((out[-1] + " " + d).encode()))
    return out


def v1_image(created, container_config, *, id_=None, parent=None, container=None,
             docker_version=None, author=None, config=None, arch=None, variant=None, os_=None):
    """image.V1Image in Go struct order, honouring omitempty."""
    d = {}
    if id_:
        d["id"] = id_
    if parent:
        d["parent"] = parent
    d["created"] = created
    if container:
        d["container"] = container
    d["container_config"] = container_config
    for k, v in (("docker_version", docker_version), ("author", author), ("config", config),
                 ("architecture", arch), ("variant", variant), ("os", os_)):
        if v:
            d[k] = v
    return d


def legacy_layers(config_bytes):
    """Returns [(v1_id_hex, v1_json_bytes, diff_id)] like Docker 24's saveImage."""
    cfg = json.loads(config_bytes)
    diff_ids = cfg["rootfs"]["diff_ids"]
    chains = chain_ids(diff_ids)
    out = []
    parent = None
    for i, diff_id in enumerate(diff_ids):
        if i == len(diff_ids) - 1:
            v1 = v1_image(cfg["created"], cfg["container_config"], container=cfg.get("container"),
                          docker_version=cfg.get("docker_version"), author=cfg.get("author"),
                          config=cfg.get("config"), arch=cfg.get("architecture"),
                          variant=cfg.get("variant"), os_=cfg.get("os"))
        else:
            v1 = v1_image("1970-01-01T00:00:00Z", go_container_config())
        # v1.CreateID: marshal without id, add layer_id/parent, keys sorted
        m = dict(v1)
        m["layer_id"] = chains[i]
        if parent:
            m["parent"] = "sha256:" + parent
        v1_id = sha256(go_json(sorted_top(m)))
        # the json file: id + parent first, then the rest; OS is always set
        f = {"id": v1_id}
        if parent:
            f["parent"] = parent
        f.update(v1)
        f["os"] = cfg["os"]
        f = v1_image(f["created"], f["container_config"], id_=f["id"], parent=f.get("parent"),
                     container=f.get("container"), docker_version=f.get("docker_version"),
                     author=f.get("author"), config=f.get("config"), arch=f.get("architecture"),
                     variant=f.get("variant"), os_=f.get("os"))
        out.append((v1_id, go_json(f), diff_id))
        parent = v1_id
    return out


# --------------------------------------------------------------------------
# images


class Image:
    def __init__(self, name, config, layers, media_type_layer, annotations=None):
        self.name = name
        self.config = config
        self.layers = layers  # list of blob bytes as stored in the manifest
        self.layer_mt = media_type_layer
        m = {
            "schemaVersion": 2,
            "mediaType": MT_OCI_MANIFEST,
            "config": {"mediaType": MT_OCI_CONFIG, "digest": digest(config), "size": len(config)},
            "layers": [{"mediaType": media_type_layer, "digest": digest(b), "size": len(b)}
                       for b in layers],
        }
        if annotations:
            m["annotations"] = annotations
        self.manifest = oci_json(m)

    def blobs(self):
        out = {digest(self.config): self.config, digest(self.manifest): self.manifest}
        for b in self.layers:
            out[digest(b)] = b
        return out

    def desc(self, annotations=None, platform=None):
        d = {"mediaType": MT_OCI_MANIFEST, "digest": digest(self.manifest),
             "size": len(self.manifest)}
        if annotations:
            d["annotations"] = annotations
        if platform:
            d["platform"] = platform
        return d


def oci_layout_files(blobs, index_manifests):
    files = {"oci-layout": OCI_LAYOUT}
    files["index.json"] = oci_json({"schemaVersion": 2, "mediaType": MT_OCI_INDEX,
                                    "manifests": index_manifests})
    for dg, data in blobs.items():
        files["blobs/sha256/" + dg.split(":", 1)[1]] = data
    return files


def ref_name(tag):
    return {"org.opencontainers.image.ref.name": tag}


def docker_legacy_archive(images):
    """images: [(config_bytes, raw_layer_tars, repo_tags)] -> tar bytes (Docker 24)."""
    files = {}
    manifest = []
    repos = {}
    for config, raw_layers, tags in images:
        layer_paths = []
        by_diff = {digest(t): t for t in raw_layers}
        for v1_id, v1_json, diff_id in legacy_layers(config):
            files[v1_id + "/VERSION"] = b"1.0"
            files[v1_id + "/json"] = v1_json
            files[v1_id + "/layer.tar"] = by_diff[diff_id]
            layer_paths.append(v1_id + "/layer.tar")
            top = v1_id
        files[sha256(config) + ".json"] = config
        for t in tags:
            repo, tag = t.rsplit(":", 1)
            repos.setdefault(repo, {})[tag] = top
        manifest.append({"Config": sha256(config) + ".json", "RepoTags": tags,
                         "Layers": layer_paths})
    files["manifest.json"] = go_json(manifest) + b"\n"
    files["repositories"] = go_json({k: sorted_top(v) for k, v in sorted(repos.items())}) + b"\n"
    return tree_to_tar(files)


def docker25_archive(config, raw_layers, repo, tag):
    cfg = json.loads(config)
    platform = {"architecture": cfg["architecture"], "os": cfg["os"]}
    if cfg.get("variant"):
        platform["variant"] = cfg["variant"]
    layer_descs = [{"mediaType": MT_OCI_LAYER, "digest": digest(t), "size": len(t)}
                   for t in raw_layers]
    manifest = go_json({
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "config": {"mediaType": MT_OCI_CONFIG, "digest": digest(config), "size": len(config),
                   "platform": platform},
        "layers": layer_descs,
    })
    full_ref = "docker.io/" + repo + ":" + tag
    index = go_json({
        "schemaVersion": 2,
        "mediaType": MT_OCI_INDEX,
        "manifests": [{
            "mediaType": MT_OCI_MANIFEST, "digest": digest(manifest), "size": len(manifest),
            "annotations": {"io.containerd.image.name": full_ref,
                            "org.opencontainers.image.ref.name": tag},
            "platform": platform,
        }],
    })
    files = {"oci-layout": OCI_LAYOUT_DOCKER, "index.json": index}
    blobs = {digest(config): config, digest(manifest): manifest}
    for t in raw_layers:
        blobs[digest(t)] = t
    for _v1_id, v1_json, _d in legacy_layers(config):  # Docker 25 quirk
        blobs[digest(v1_json)] = v1_json
    for dg, data in blobs.items():
        files["blobs/sha256/" + dg.split(":", 1)[1]] = data
    # distribution.Descriptor field order: mediaType, size, digest
    sources = {digest(t): {"mediaType": MT_OCI_LAYER, "size": len(t), "digest": digest(t)}
               for t in raw_layers}
    files["manifest.json"] = go_json([{
        "Config": "blobs/sha256/" + sha256(config),
        "RepoTags": [repo + ":" + tag],
        "Layers": ["blobs/sha256/" + sha256(t) for t in raw_layers],
        "LayerSources": sorted_top(sources),
    }]) + b"\n"
    files["repositories"] = go_json({repo: {tag: sha256(raw_layers[-1])}}) + b"\n"
    return tree_to_tar(files), manifest


# --------------------------------------------------------------------------


def generate():
    for name in OUTPUTS:
        p = os.path.join(HERE, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        elif os.path.lexists(p):
            os.unlink(p)

    base, data = layer_app_base(), layer_app_data()
    arm, tool = layer_app_arm64(), layer_tool()
    app_diffs = [digest(base), digest(data)]

    # ---- OCI app image (amd64) ----
    oci_hist = [
        {"created": CREATED, "created_by": "ADD rootfs/ / # buildkit",
         "comment": "buildkit.dockerfile.v0"},
        {"created": CREATED, "created_by": "COPY data/ / # buildkit",
         "comment": "buildkit.dockerfile.v0"},
    ]
    app_oci = Image("app-oci", oci_config("amd64", app_diffs, oci_hist),
                    [gz(base), gz(data)], MT_OCI_LAYER_GZ,
                    {"org.opencontainers.image.created": CREATED})

    # ---- OCI app image (arm64/v8) ----
    arm_oci = Image("app-arm64", oci_config("arm64", [digest(arm)], oci_hist[:1], variant="v8"),
                    [gz(arm)], MT_OCI_LAYER_GZ,
                    {"org.opencontainers.image.created": CREATED})

    # ---- Docker configs ----
    dk_hist = [
        {"created": "2024-01-02T03:04:04.123456789Z",
         "created_by": "/bin/sh -c #(nop) ADD file:%s in / " % sha256(base)},
        {"created": "2024-01-02T03:04:05Z",
         "created_by": "/bin/sh -c #(nop) COPY dir:%s in / " % sha256(data)},
    ]
    app_docker_cfg = docker_config(b"app", "amd64", app_diffs, dk_hist, APP_ENV, APP_CMD,
                                   APP_LABELS)
    tool_cmd = ["/usr/local/bin/tool", "--help"]
    tool_hist = [
        {"created": "2023-11-14T22:13:19.5Z",
         "created_by": "/bin/sh -c #(nop) ADD file:%s in / " % sha256(tool)},
        {"created": "2023-11-14T22:13:20Z",
         "created_by": "/bin/sh -c #(nop)  CMD [\"/usr/local/bin/tool\",\"--help\"]",
         "empty_layer": True},
    ]
    tool_docker_cfg = docker_config(b"tool", "arm64", [digest(tool)], tool_hist, [PATH_ENV],
                                    tool_cmd, {"org.example.name": "tool"}, variant="v8",
                                    created="2023-11-14T22:13:20Z")

    # 1. oci-layout/
    write_tree(os.path.join(HERE, "oci-layout"),
               oci_layout_files(app_oci.blobs(), [app_oci.desc(ref_name("latest"))]))

    # 2. oci-archive.tar
    oci_archive = tree_to_tar(oci_layout_files(app_oci.blobs(), [app_oci.desc(ref_name("v1"))]))
    write_file("oci-archive.tar", oci_archive)

    # 3. docker-legacy.tar, 5. docker-legacy.tar.gz
    legacy = docker_legacy_archive([(app_docker_cfg, [base, data], ["lab/app:1"])])
    write_file("docker-legacy.tar", legacy)
    write_file("docker-legacy.tar.gz", gz(legacy))

    # 4. docker25.tar
    d25, d25_manifest = docker25_archive(app_docker_cfg, [base, data], "lab/app", "2")
    write_file("docker25.tar", d25)

    # 6. docker-multi.tar
    write_file("docker-multi.tar", docker_legacy_archive([
        (app_docker_cfg, [base, data], ["lab/app:1"]),
        (tool_docker_cfg, [tool], ["docker.io/library/tool:3"]),
    ]))

    # 7. oci-index/
    image_index = (json.dumps({
        "schemaVersion": 2,
        "mediaType": MT_OCI_INDEX,
        "manifests": [
            app_oci.desc(platform={"architecture": "amd64", "os": "linux"}),
            arm_oci.desc(platform={"architecture": "arm64", "os": "linux", "variant": "v8"}),
        ],
        "annotations": {"org.opencontainers.image.created": CREATED},
    }, indent=2) + "\n").encode()
    blobs = {**app_oci.blobs(), **arm_oci.blobs(), digest(image_index): image_index}
    write_tree(os.path.join(HERE, "oci-index"), oci_layout_files(blobs, [{
        "mediaType": MT_OCI_INDEX, "digest": digest(image_index), "size": len(image_index),
        "annotations": ref_name("multi")}]))

    # expected.json
    def img_info(manifest, config, layers, layer_mt, diff_ids):
        info = {}
        if manifest is not None:
            info["manifest"] = {"digest": digest(manifest), "size": len(manifest)}
        info["config"] = {"digest": digest(config), "size": len(config)}
        info["layers"] = [{"mediaType": layer_mt, "digest": digest(b), "size": len(b)}
                          for b in layers]
        info["diff_ids"] = diff_ids
        return info

    def legacy_info(cfg):
        return [{"id": i, "layer": i + "/layer.tar"} for i, _j, _d in legacy_layers(cfg)]

    app_oci_info = img_info(app_oci.manifest, app_oci.config, app_oci.layers, MT_OCI_LAYER_GZ,
                            app_diffs)
    arm_info = img_info(arm_oci.manifest, arm_oci.config, arm_oci.layers, MT_OCI_LAYER_GZ,
                        [digest(arm)])
    app_dk_info = img_info(None, app_docker_cfg, [base, data], MT_OCI_LAYER, app_diffs)
    app_dk_info["legacy_layers"] = legacy_info(app_docker_cfg)
    tool_info = img_info(None, tool_docker_cfg, [tool], MT_OCI_LAYER, [digest(tool)])
    tool_info["legacy_layers"] = legacy_info(tool_docker_cfg)
    d25_info = img_info(d25_manifest, app_docker_cfg, [base, data], MT_OCI_LAYER, app_diffs)
    expected = {
        "_comment": "generated by make-testdata.py; digests of the fixtures",
        "oci-layout": {"tag": "latest", "platform": "linux/amd64", **app_oci_info},
        "oci-archive.tar": {"tag": "v1", "platform": "linux/amd64", **app_oci_info},
        "docker-legacy.tar": {"repo_tags": ["lab/app:1"], "platform": "linux/amd64",
                              **app_dk_info},
        "docker-legacy.tar.gz": {"gunzips_to": "docker-legacy.tar", "sha256_of_gunzipped":
                                 sha256(legacy)},
        "docker25.tar": {"repo_tags": ["lab/app:2"], "tag": "2",
                         "image_name": "docker.io/lab/app:2", "platform": "linux/amd64",
                         **d25_info},
        "docker-multi.tar": [
            {"repo_tags": ["lab/app:1"], "platform": "linux/amd64", **app_dk_info},
            {"repo_tags": ["docker.io/library/tool:3"], "platform": "linux/arm64/v8",
             **tool_info},
        ],
        "oci-index": {
            "tag": "multi",
            "index": {"digest": digest(image_index), "size": len(image_index)},
            "instances": [
                {"platform": "linux/amd64", **app_oci_info},
                {"platform": "linux/arm64/v8", **arm_info},
            ],
        },
    }
    write_file("expected.json", (json.dumps(expected, indent=2) + "\n").encode())


def write_file(name, data):
    p = os.path.join(HERE, name)
    with open(p, "wb") as f:
        f.write(data)
    os.utime(p, (MTIME, MTIME))


# --------------------------------------------------------------------------
# independent self-check: reads only what is on disk


class CheckError(Exception):
    pass


def need(cond, msg):
    if not cond:
        raise CheckError(msg)


def read_dir(root):
    files = {}
    for dp, _dn, fn in os.walk(root):
        for f in fn:
            full = os.path.join(dp, f)
            files[os.path.relpath(full, root).replace(os.sep, "/")] = open(full, "rb").read()
    return files


def read_tar(data, label):
    files = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
        for m in tf.getmembers():
            need(m.mtime == MTIME and m.uid == 0 and m.gid == 0 and m.uname == ""
                 and m.gname == "", "%s: %s: non-canonical header" % (label, m.name))
            if m.isfile():
                files[m.name] = tf.extractfile(m).read()
    return files


def check_layer_tar(raw, label):
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tf:
        names = [m.name for m in tf.getmembers()]
    need(names, label + ": empty layer")
    return names


def check_oci(files, label, expect_tags):
    need(json.loads(files["oci-layout"])["imageLayoutVersion"] == "1.0.0", label + ": oci-layout")
    for p, data in files.items():  # every blob is content-addressed
        if p.startswith("blobs/sha256/"):
            need(sha256(data) == p.rsplit("/", 1)[1], "%s: %s hash mismatch" % (label, p))
    idx = json.loads(files["index.json"])
    tags = [m.get("annotations", {}).get("org.opencontainers.image.ref.name")
            for m in idx["manifests"]]
    need(tags == expect_tags, "%s: tags %r" % (label, tags))
    n = [0]

    def blob(desc):
        p = "blobs/" + desc["digest"].replace(":", "/")
        need(p in files, "%s: missing blob %s" % (label, p))
        data = files[p]
        need(len(data) == desc["size"], "%s: size mismatch %s" % (label, p))
        need(digest(data) == desc["digest"], "%s: digest mismatch %s" % (label, p))
        return data

    def visit(desc):
        data = blob(desc)
        doc = json.loads(data)
        need(doc.get("mediaType") == desc["mediaType"], label + ": mediaType mismatch")
        if desc["mediaType"] == MT_OCI_INDEX:
            for d in doc["manifests"]:
                need("platform" in d, label + ": index entry without platform")
                visit(d)
            return
        need(doc["schemaVersion"] == 2 and desc["mediaType"] == MT_OCI_MANIFEST, label)
        need(doc["config"]["mediaType"] == MT_OCI_CONFIG, label + ": config mt")
        cfg = json.loads(blob(doc["config"]))
        diffs = []
        for l in doc["layers"]:
            raw = blob(l)
            if l["mediaType"] == MT_OCI_LAYER_GZ:
                raw = gzip.decompress(raw)
            else:
                need(l["mediaType"] == MT_OCI_LAYER, label + ": layer mt")
            check_layer_tar(raw, label)
            diffs.append(digest(raw))
        need(cfg["rootfs"]["diff_ids"] == diffs, label + ": diff_ids mismatch")
        n[0] += 1

    for d in idx["manifests"]:
        visit(d)
    return n[0]


def check_docker(files, label, expect_tags):
    mf = json.loads(files["manifest.json"])
    need([m["RepoTags"] for m in mf] == expect_tags, "%s: RepoTags" % label)
    repos = json.loads(files["repositories"])
    for m in mf:
        cfg_bytes = files[m["Config"]]
        base = m["Config"].rsplit("/", 1)[-1]
        need(base in (sha256(cfg_bytes), sha256(cfg_bytes) + ".json"), label + ": config name")
        cfg = json.loads(cfg_bytes)
        diffs = [digest(files[p]) for p in m["Layers"]]
        for p in m["Layers"]:
            check_layer_tar(files[p], label)
        need(cfg["rootfs"]["diff_ids"] == diffs, label + ": diff_ids mismatch")
        for dg, src in m.get("LayerSources", {}).items():
            need(src["digest"] == dg and dg in diffs, label + ": LayerSources")
        legacy = all(p.endswith("/layer.tar") for p in m["Layers"])
        parent = None
        for p in m["Layers"]:
            if legacy:
                lid = p.split("/")[0]
                v1 = json.loads(files[lid + "/json"])
                need(v1["id"] == lid and v1.get("parent") == parent, label + ": v1 chain")
                need(files[lid + "/VERSION"] == b"1.0", label + ": VERSION")
                parent = lid
        for t in m["RepoTags"]:
            repo, tag = t.rsplit(":", 1)
            top = parent if legacy else diffs[-1].split(":")[1]
            need(repos[repo][tag] == top, label + ": repositories")


def check():
    ok = []
    n = check_oci(read_dir(os.path.join(HERE, "oci-layout")), "oci-layout", ["latest"])
    ok.append("oci-layout (%d image)" % n)
    f = read_tar(open(os.path.join(HERE, "oci-archive.tar"), "rb").read(), "oci-archive.tar")
    ok.append("oci-archive.tar (%d image)" % check_oci(f, "oci-archive.tar", ["v1"]))
    legacy = open(os.path.join(HERE, "docker-legacy.tar"), "rb").read()
    check_docker(read_tar(legacy, "docker-legacy.tar"), "docker-legacy.tar", [["lab/app:1"]])
    ok.append("docker-legacy.tar")
    gzd = open(os.path.join(HERE, "docker-legacy.tar.gz"), "rb").read()
    need(gzd[3] == 0 and gzd[4:8] == b"\0\0\0\0", "gzip header has a name or mtime")
    need(gzip.decompress(gzd) == legacy, "docker-legacy.tar.gz content")
    ok.append("docker-legacy.tar.gz")
    f = read_tar(open(os.path.join(HERE, "docker25.tar"), "rb").read(), "docker25.tar")
    check_docker(f, "docker25.tar", [["lab/app:2"]])
    check_oci(f, "docker25.tar", ["2"])
    ok.append("docker25.tar (docker + OCI views)")
    f = read_tar(open(os.path.join(HERE, "docker-multi.tar"), "rb").read(), "docker-multi.tar")
    check_docker(f, "docker-multi.tar", [["lab/app:1"], ["docker.io/library/tool:3"]])
    ok.append("docker-multi.tar")
    n = check_oci(read_dir(os.path.join(HERE, "oci-index")), "oci-index", ["multi"])
    need(n == 2, "oci-index: expected 2 images")
    ok.append("oci-index (%d images)" % n)
    total = 0
    for name in OUTPUTS:
        p = os.path.join(HERE, name)
        if os.path.isdir(p):
            total += sum(len(v) for v in read_dir(p).values())
        else:
            total += os.path.getsize(p)
    need(total < 2 * 1024 * 1024, "testdata too big: %d" % total)
    print("self-check OK: " + ", ".join(ok) + "; total %d bytes" % total)


def main(argv):
    if "--check" not in argv:
        generate()
    try:
        check()
    except CheckError as e:
        print("self-check FAILED:", e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
