#!/usr/bin/env python3
"""Writes the sync benchmark's images into one OCI layout: REPOS repositories x TAGS tags,
sharing base layers as real images do: one base layer common to all (BASE_MB), one per
repository (REPO_MB), one per tag (TAG_MB). Contents are files of this machine (under
/usr), so they compress as real layers do. Generated at run time, never committed.

    make-sync-images.py OUT_LAYOUT [REPOS TAGS BASE_MB REPO_MB TAG_MB]

Each image is tagged `repoR-T` in the layout (R from 0, T from 1)."""
import gzip, hashlib, io, json, os, sys, tarfile

out = sys.argv[1]
repos, tags, base_mb, repo_mb, tag_mb = (int(x) for x in (sys.argv[2:] + ["8", "5", "24", "6", "1"][len(sys.argv) - 2:]))

files = []
for root, _, names in os.walk("/usr"):
    for n in names:
        p = os.path.join(root, n)
        try:
            if os.path.isfile(p) and not os.path.islink(p) and os.access(p, os.R_OK):
                files.append((p, os.path.getsize(p)))
        except OSError:
            pass
files.sort()
cursor = 0

def layer(mb, salt):
    """A gzip'd tar of the next files, up to mb MiB, plus a file naming `salt`."""
    global cursor
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        used = 0
        while used < mb << 20 and cursor < len(files):
            p, size = files[cursor]
            cursor += 1
            if size > 8 << 20:
                continue
            try:
                with open(p, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            info = tarfile.TarInfo(p.lstrip("/"))
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            t.addfile(info, io.BytesIO(data))
            used += len(data)
        stamp = salt.encode()
        info = tarfile.TarInfo("etc/image-" + salt)
        info.size, info.mtime = len(stamp), 0
        t.addfile(info, io.BytesIO(stamp))
    tar = raw.getvalue()
    gz = gzip.compress(tar, compresslevel=1, mtime=0)
    return blob(gz), "sha256:" + hashlib.sha256(tar).hexdigest(), len(gz)

def blob(data):
    d = hashlib.sha256(data).hexdigest()
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
    path = os.path.join(out, "blobs", "sha256", d)
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
    return "sha256:" + d

def desc(mt, digest, size):
    return {"mediaType": mt, "digest": digest, "size": size}

LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
base = layer(base_mb, "base")
entries = []
for r in range(repos):
    rl = layer(repo_mb, f"repo{r}")
    for t in range(1, tags + 1):
        tl = layer(tag_mb, f"repo{r}-{t}")
        layers = [base, rl, tl]
        config = json.dumps({
            "architecture": "amd64", "os": "linux",
            "config": {"Cmd": ["/bin/sh"], "Labels": {"repo": str(r), "tag": str(t)}},
            "rootfs": {"type": "layers", "diff_ids": [l[1] for l in layers]},
            "history": [{"created_by": "bench"} for _ in layers],
        }, sort_keys=True).encode()
        cd = blob(config)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": desc("application/vnd.oci.image.config.v1+json", cd, len(config)),
            "layers": [desc(LAYER, l[0], l[2]) for l in layers],
        }).encode()
        md = blob(manifest)
        d = desc("application/vnd.oci.image.manifest.v1+json", md, len(manifest))
        d["annotations"] = {"org.opencontainers.image.ref.name": f"repo{r}-{t}"}
        entries.append(d)
with open(os.path.join(out, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": entries}, f)
print(f"{len(entries)} images in {out}")
