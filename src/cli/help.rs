//! The long help texts of the commands, shown after `--help` and in the man page.

pub(super) const TRANSPORT_HELP: &str = "\
Image references:
  docker://HOST[:PORT]/REPO[:TAG|@DIGEST]  a registry (`alpine`: docker.io/library/alpine)
  oci:DIR[:TAG]                            an OCI image layout directory
  oci-archive:FILE[:TAG]                   a tar of an OCI image layout
  docker-archive:FILE[:NAME:TAG|:@N]       a `docker save` / `docker load` tarball
  dir:PATH                                 skopeo's directory format (one image per directory)
  docker-daemon:NAME[:TAG]|sha256:ID       an image of the Docker Engine, through its Unix
                                           socket ($DOCKER_HOST=unix:///PATH, or
                                           /var/run/docker.sock); written by NAME:TAG only

A path ends at its first ':'; what follows is the tag or the image name (dir: takes
the whole rest as its path).

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
  oci-copy --all dir:skopeo-dir oci:layout:app            # what skopeo wrote to dir:
  oci-copy --multi-arch index-only oci:layout:multi docker://registry.example/lab/app:1
  oci-copy docker://alpine:3.20 oci:layout:alpine         # pull from Docker Hub
  oci-copy docker-daemon:app:1 docker://registry.example/lab/app:1   # no docker save
  oci-copy oci:layout:app docker-daemon:lab/app:1          # as docker load
  oci-copy oci:layout:app docker://registry.example:5000/lab/app:1 --dest-creds me:secret
  oci-copy --tls-verify=false docker://127.0.0.1:5000/a:1 docker://127.0.0.1:5000/b:1
  oci-copy --all --referrers docker://ghcr.io/acme/app:1 oci:bundle:app-1  # with signatures
Credentials: --src-creds/--dest-creds/--creds, then --authfile or $REGISTRY_AUTH_FILE, then
containers auth.json (which `oci-copy login` writes), then $DOCKER_CONFIG/config.json or
~/.docker/config.json (with credHelpers and credsStore). A pull tries the mirrors that
registries.conf lists first; a short name may be an alias there (--registries-conf).";

pub(super) const VERIFY_HELP: &str = "\
Reads every manifest, config and layer the image reaches (every instance of an index),
re-hashes each blob, checks its size, and decompresses each layer (gzip, zstd or none)
to check it against the config's diff_id. With --referrers, also every referrer (its own
line): its subject, its blobs, and a cosign signature's signed digest. Prints one line per image, each problem below
it naming the blob by digest, and a summary. Exit status: 0 clean, 1 any problem, 75 the
registry was unavailable (retries ran out).

Examples:
  oci-copy verify oci:layout              # every image of the layout
  oci-copy verify oci:layout:app          # one tag (--all: every image)
  oci-copy verify docker-archive:app.tar
  oci-copy verify docker://registry.example/lab/app:1
  oci-copy verify --referrers oci:bundle  # with signatures, SBOMs, attestations";

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

pub const SYNC_HELP: &str = "\
Examples:
  oci-copy sync --src docker --dest docker registry.example/lab/app mirror.local/lab
  oci-copy sync --src yaml --dest docker sync.yml mirror.local
  oci-copy sync --src yaml --dest bundle sync.yml /media/usb/bundle
  oci-copy sync --src bundle --dest docker /media/usb/bundle registry.site.local
  oci-copy sync --src yaml --plan sync.yml | jq length
  oci-copy sync --src yaml --dest docker --shard k8s --report /out/report.jsonl sync.yml mirror.local

Exit status: 0 all done; 1 some images failed; 75 every failure was temporary (network,
rate limit: run again later); 66 a source does not exist; 77 credentials missing or
refused; 78 the configuration is wrong (do not retry 77 or 78).";

pub(super) const DELETE_HELP: &str = "\
Deletes the manifest REF names, by digest: a tag is first resolved to the digest of the
manifest it points at, so every tag pointing at that manifest goes too, as with skopeo
delete. The blobs stay until the registry's garbage collector frees them. A registry with
deletion disabled (distribution answers 405 UNSUPPORTED) is reported as such.

Examples:
  oci-copy delete docker://registry.example:5000/lab/app:1
  oci-copy delete --creds me:secret docker://registry.example/lab/app@sha256:0123...";

pub(super) const LOGIN_HELP: &str = "\
Sends the credentials to the registry first (GET /v2/ with them, through a bearer token
where the registry asks for one), and stores them only when it takes them, as skopeo
login does: base64 of USER:PASSWORD in auths.REGISTRY.auth of the auth file, every other
entry and field kept, the file replaced atomically with mode 0600. Every command then finds
them. The password is never shown, logged or put in an error.

Examples:
  oci-copy login registry.example:5000                       # asks for both
  printf '%s' \"$TOKEN\" | oci-copy login -u ci --password-stdin registry.example
  oci-copy login --authfile ./auth.json -u me --password-stdin quay.io < pass.txt
  oci-copy login --get-login registry.example:5000";

pub(super) const LOGOUT_HELP: &str = "\
Removes the entry for REGISTRY (in any spelling: https://REGISTRY/v1/ too) from the auth
file login writes, keeping every other entry and field; --all removes every entry. Exit 1
when there was nothing to remove. Credentials in docker's config.json or in a credential
helper are left alone.

Examples:
  oci-copy logout registry.example:5000
  oci-copy logout --all";
