"""oras-py, the ORAS Python SDK from PyPI, as an independent client in the referrers tests
(tests/run-all.sh installs it): it pushes an artifact with a subject, reads manifests
back, and validates and walks an OCI layout. oras-py 0.2 cannot list referrers.

  oras_judge.py push HOST REPO:TAG FILE MEDIA_TYPE SUBJECT_DIGEST SUBJECT_SIZE
      prints the OCI-Subject header of the manifest PUT's answer (empty if none)
  oras_judge.py manifest HOST REPO@DIGEST      prints the manifest as JSON
  oras_judge.py layout DIR TAG...              validates the layout; prints, per tag,
                                               the blobs it reaches as a JSON list
"""
import json
import os
import sys

import oras.oci
import oras.provider
from oras.layout.layout import Layout


def main(cmd, *args):
    if cmd == "push":
        host, target, path, media_type, digest, size = args
        reg = oras.provider.Registry(host, insecure=True)
        os.chdir(os.path.dirname(path))
        subject = oras.oci.Subject(
            mediaType="application/vnd.oci.image.manifest.v1+json",
            digest=digest,
            size=int(size),
        )
        resp = reg.push(
            target=f"{host}/{target}",
            files=[f"{os.path.basename(path)}:{media_type}"],
            subject=subject,
            quiet=True,
        )
        print(resp.headers.get("OCI-Subject", ""))
    elif cmd == "manifest":
        host, ref = args
        reg = oras.provider.Registry(host, insecure=True)
        print(json.dumps(reg.get_manifest(f"{host}/{ref}")))
    elif cmd == "layout":
        layout = Layout(args[0], validate=True)
        for tag in args[1:]:
            print(json.dumps(layout.get_ordered_blobs(tag)))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(*sys.argv[1:])
