//! The long help texts of the commands, shown after `--help` and in the man page.

pub(super) const TRANSPORT_HELP: &str = "\
Image references:
  docker://HOST[:PORT]/REPO[:TAG|@DIGEST]  a registry (`alpine`: docker.io/library/alpine)
  oci:DIR[:TAG]                            an OCI image layout directory
  oci-archive:FILE[:TAG]                   a tar of an OCI image layout
  docker-archive:FILE[:NAME:TAG|:@N]       a `docker save` / `docker load` tarball
  docker-daemon:NAME[:TAG]|sha256:ID       an image of the Docker Engine, through its Unix
                                           socket ($DOCKER_HOST=unix:///PATH, or
                                           /var/run/docker.sock); written by NAME:TAG only

A path ends at its first ':'; what follows is the tag or the image name.

Examples:
  oci-copy docker-archive:app.tar oci:layouts/app:1          # docker save → OCI layout
  oci-copy oci:layouts/app:1 docker://registry.example/lab/app:1
  oci-copy --all docker://quay.io/lab/app:1 oci-archive:app-all.tar:1
  oci-copy inspect docker-archive:app.tar
  oci-copy verify oci:layouts/app

Exit status: 0 success; 1 failure; 2 usage error; 75 temporary failure, worth retrying
later (the registry or network was unavailable and retries ran out, or the registry kept
losing upload sessions).

Registry requests that fail for a transient reason (connection refused or reset, timeout,
HTTP 408, 429, 500, 502, 503, 504) are retried --retry-times times, with exponential backoff
from 0.5s capped at 10s and jitter, or a fixed --retry-delay; --debug logs each retry and
why. A download that breaks resumes with a Range request; an upload whose session the
registry lost restarts in a fresh session. 401, 403, 404 and digest mismatches are not
retried.";

pub(super) const COPY_EXAMPLES: &str = "\
Examples:
  oci-copy docker-archive:app.tar oci:layout:app        # docker save tarball → OCI layout
  oci-copy oci:layout:app docker-archive:app.tar:lab/app:1
  oci-copy oci:layout:app oci-archive:app-oci.tar:v1
  oci-copy docker-archive:multi.tar:@1 oci:layout:second
  oci-copy docker://alpine:3.20 oci:layout:alpine         # pull from Docker Hub
  oci-copy docker-daemon:app:1 docker://registry.example/lab/app:1   # no docker save
  oci-copy oci:layout:app docker-daemon:lab/app:1          # as docker load
  oci-copy oci:layout:app docker://registry.example:5000/lab/app:1 --dest-creds me:secret
  oci-copy --tls-verify=false docker://127.0.0.1:5000/a:1 docker://127.0.0.1:5000/b:1
Credentials: --src-creds/--dest-creds/--creds, then --authfile or $REGISTRY_AUTH_FILE, then
containers auth.json, then $DOCKER_CONFIG/config.json or ~/.docker/config.json (with
credHelpers and credsStore).";

pub(super) const VERIFY_HELP: &str = "\
Reads every manifest, config and layer the image reaches (every instance of an index),
re-hashes each blob, checks its size, and decompresses each layer (gzip, zstd or none)
to check it against the config's diff_id. Prints one line per image, each problem below
it naming the blob by digest, and a summary. Exit status: 0 clean, 1 any problem, 75 the
registry was unavailable (retries ran out).

Examples:
  oci-copy verify oci:layout              # every image of the layout
  oci-copy verify oci:layout:app          # one tag (--all: every image)
  oci-copy verify docker-archive:app.tar
  oci-copy verify docker://registry.example/lab/app:1";

pub(super) const PROBE_HELP: &str = "\
Pushes tiny blobs and manifests (a few hundred bytes) to REPO only, under tags named
oci-copy-probe-ID-*, and reports what the registry accepted, with the HTTP status and the
registry's error code as evidence for each answer: OCI and Docker manifests, indexes and
lists, OCI artifacts (artifactType, subject), the referrers API, chunked, monolithic and
single-POST uploads, mounts, blob and manifest DELETE, tag listing and pagination. It then
runs several uploads of several requests each, every request on a new connection, to catch
upload sessions that vanish between requests (replicas behind a load balancer that share
neither storage nor http.secret, or an unreliable NFS), and explains what it found. Last,
it deletes what it wrote wherever the registry allows, and says what it could not delete.

Exit status: 0 when the registry can take images of --format (that manifest type is
accepted, and uploads work and keep their sessions); 1 when it cannot, or on any failure;
2 on a usage error; 75 when the registry cannot be reached (try again later).

Examples:
  oci-copy probe docker://registry.example:5000/lab/probe
  oci-copy probe --format v2s2 --creds me:secret docker://registry.example/team/app
  oci-copy probe --json --tls-verify=false docker://127.0.0.1:5000/scratch | jq .capabilities";
