#!/usr/bin/env bash
# Renders every kustomization under k8s/ (k8s/ itself and each k8s/overlays/*/) with
# `kubectl kustomize`, validates what comes out against the API schemas of one fixed Kubernetes
# version with kubernetes-validate (installed into the project's .venv at a pinned version when
# missing), and checks the properties the several-replica deployment depends on: three replicas
# rolled one at a time, spread over nodes, a PodDisruptionBudget, the preStop hand-over, MinIO as
# the image store, and in the cnpg overlay PostgreSQL from CloudNativePG instead of the base's
# StatefulSet. Exits non-zero on any failure. Run by tests/k8s.rs.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
# The kubernetes-validate release, and the Kubernetes version whose schemas it checks against:
# fixed, so that a new release of either cannot change the verdict on unchanged manifests.
validate_version=1.37.0
jsonschema_version=4.26.0
kubernetes_version=1.30.0

say() { echo "check-k8s: $*"; }

if ! command -v kubectl >/dev/null 2>&1; then
  cat >&2 <<'EOF'
check-k8s: kubectl is missing; it renders the kustomizations (`kubectl kustomize`).
check-k8s: install it with `apt-get install -y kubectl` (the package from the Kubernetes or
check-k8s: Google Cloud apt repository). Debian's own `kubernetes-client` (kubectl 1.20) is too
check-k8s: old: its kustomize does not know the `patches` field the overlays use.
EOF
  exit 1
fi

# The .venv also holds the PyTorch that install-torch.sh pins (tch builds against it): pip gets
# that version as a constraint, so that it fails rather than ever replace torch.
torch_version=$(sed -n 's/^torch_version=//p' scripts/install-torch.sh)
[ -n "$torch_version" ] || { say "no torch_version in scripts/install-torch.sh" >&2; exit 1; }

installed() {
  [ -x "$venv/bin/kubernetes-validate" ] && "$venv/bin/python" - "$validate_version" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
assert version("kubernetes-validate") == sys.argv[1]
import kubernetes_validate.utils, yaml
PY
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! installed; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  say "installing kubernetes-validate==$validate_version into $venv"
  echo "torch==$torch_version" >"$work/constraints.txt"
  "$venv/bin/pip" install -q --disable-pip-version-check -c "$work/constraints.txt" \
    "kubernetes-validate==$validate_version" "jsonschema==$jsonschema_version"
  installed || { say "kubernetes-validate $validate_version is still not usable in $venv" >&2; exit 1; }
fi

# Kinds whose schema kubernetes-validate cannot know (custom resources of an operator); their
# fields are checked below instead. "apiVersion kind" per line.
allowed_unknown='postgresql.cnpg.io/v1 Cluster'

dirs=(k8s)
for d in k8s/overlays/*/; do
  [ -f "$d/kustomization.yaml" ] && dirs+=("${d%/}")
done

failed=0
for dir in "${dirs[@]}"; do
  out="$work/$(echo "$dir" | tr / _).yaml"
  if ! kubectl kustomize "$dir" >"$out" 2>"$work/err"; then
    say "FAIL $dir: kubectl kustomize failed:" >&2
    cat "$work/err" >&2
    failed=1
    continue
  fi

  # --strict also rejects fields the schema does not have (a misspelt or misplaced key).
  rc=0
  "$venv/bin/kubernetes-validate" -k "$kubernetes_version" --strict --quiet "$out" >"$work/validate" 2>&1 || rc=$?
  # A resource it has no schema for is only a warning to kubernetes-validate: here it fails
  # unless it is one of the allowed custom resources.
  unknown=$(grep '^WARN' "$work/validate" | grep -v -F "$(
    while read -r api kind; do
      echo "Couldn't find schema for kind $kind with api version $api for"
    done <<<"$allowed_unknown"
  )" || true)
  if [ "$rc" -ne 0 ] || [ -n "$unknown" ]; then
    say "FAIL $dir: kubernetes-validate (Kubernetes $kubernetes_version):" >&2
    sed "s|$out|$dir|" "$work/validate" >&2
    failed=1
    continue
  fi

  if ! "$venv/bin/python" - "$dir" "$out" <<'PY'; then
import sys
import tomllib

import yaml

dir_, path = sys.argv[1], sys.argv[2]
with open(path) as f:
    docs = [d for d in yaml.safe_load_all(f) if d]
problems = []


def check(cond, what):
    if not cond:
        problems.append(what)
    return cond


def find(kind, name):
    for d in docs:
        if d["kind"] == kind and d["metadata"]["name"] == name:
            return d
    return None


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


def secret_ref(env):
    return (env or {}).get("valueFrom", {}).get("secretKeyRef", {})


# The server: three replicas, rolled one at a time, spread over nodes, handing over on stop.
dep = find("Deployment", "smartpark")
if check(dep is not None, "Deployment smartpark"):
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"]["labels"]
    check(spec.get("replicas") == 3, f"Deployment replicas is {spec.get('replicas')!r}, not 3")
    strategy = spec.get("strategy", {})
    rolling = strategy.get("rollingUpdate", {})
    check(strategy.get("type") == "RollingUpdate", "Deployment strategy RollingUpdate")
    check(rolling.get("maxUnavailable") == 0, "Deployment rollingUpdate.maxUnavailable 0")
    check(rolling.get("maxSurge") == 1, "Deployment rollingUpdate.maxSurge 1")
    check(pod.get("terminationGracePeriodSeconds") == 65, "terminationGracePeriodSeconds 65 (20 s preStop + 45 s stop)")
    check(
        any(
            t.get("topologyKey") == "kubernetes.io/hostname" and t.get("maxSkew") == 1
            and t.get("whenUnsatisfiable") == "ScheduleAnyway"
            for t in pod.get("topologySpreadConstraints", [])
        ),
        "topologySpreadConstraints over kubernetes.io/hostname (maxSkew 1, ScheduleAnyway)",
    )
    check(
        pod.get("affinity", {}).get("podAntiAffinity", {}).get("preferredDuringSchedulingIgnoredDuringExecution"),
        "a preferred podAntiAffinity",
    )
    containers = {c["name"]: c for c in pod["containers"]}
    main = containers.get("smartpark")
    if check(main is not None, "container smartpark"):
        prestop = main.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command")
        check(
            prestop == ["smartpark", "cluster", "leave", "--wait-s", "20"],
            f"preStop runs `smartpark cluster leave --wait-s 20` (is {prestop!r})",
        )
        check(
            main.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz",
            "readinessProbe on /readyz",
        )
        names = [e["name"] for e in main.get("env", [])]
        env = env_of(main)
        node = env.get("SMARTPARK_CLUSTER__NODE", {}).get("valueFrom", {}).get("fieldRef", {})
        check(node.get("fieldPath") == "metadata.name", "SMARTPARK_CLUSTER__NODE from metadata.name")
        pod_ip = env.get("POD_IP", {}).get("valueFrom", {}).get("fieldRef", {})
        check(pod_ip.get("fieldPath") == "status.podIP", "POD_IP from status.podIP")
        check(
            env.get("SMARTPARK_CLUSTER__ADVERTISE_URL", {}).get("value") == "http://$(POD_IP):8080",
            "SMARTPARK_CLUSTER__ADVERTISE_URL http://$(POD_IP):8080",
        )
        if "POD_IP" in names and "SMARTPARK_CLUSTER__ADVERTISE_URL" in names:
            check(
                names.index("POD_IP") < names.index("SMARTPARK_CLUSTER__ADVERTISE_URL"),
                "POD_IP declared before SMARTPARK_CLUSTER__ADVERTISE_URL (else $(POD_IP) stays literal)",
            )
        for var, key in [("SMARTPARK_STORAGE__S3__ACCESS_KEY", "access_key"), ("SMARTPARK_STORAGE__S3__SECRET_KEY", "secret_key")]:
            ref = secret_ref(env.get(var))
            check(
                ref.get("name") == "smartpark-s3" and ref.get("key") == key and ref.get("optional") is False,
                f"{var} from smartpark-s3/{key}, not optional",
            )

    # Voluntary disruptions take one replica at a time.
    pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    pdb = find("PodDisruptionBudget", "smartpark")
    if check(pdb is not None, f"PodDisruptionBudget smartpark (found {[p['metadata']['name'] for p in pdbs]})"):
        check(pdb["apiVersion"] == "policy/v1", "PodDisruptionBudget is policy/v1")
        check(pdb["spec"].get("maxUnavailable") == 1, "PodDisruptionBudget maxUnavailable 1")
        sel = pdb["spec"].get("selector", {}).get("matchLabels", {})
        check(
            sel and all(labels.get(k) == v for k, v in sel.items()),
            "PodDisruptionBudget selects the Deployment's pods",
        )

# The image store: MinIO, its bucket Job and the keys they share with the server.
config = find("ConfigMap", "smartpark-config")
s3 = {}
if check(config is not None, "ConfigMap smartpark-config"):
    s3 = tomllib.loads(config["data"]["smartpark.toml"]).get("storage", {}).get("s3", {})
minio = find("StatefulSet", "minio")
if check(minio is not None, "StatefulSet minio"):
    check(minio["spec"].get("replicas") == 1, "StatefulSet minio has one replica")
    claims = minio["spec"].get("volumeClaimTemplates", [])
    check(
        any(c["spec"]["resources"]["requests"]["storage"] == "10Gi" for c in claims),
        "StatefulSet minio claims 10Gi",
    )
    ctx = minio["spec"]["template"]["spec"].get("securityContext", {})
    check(ctx.get("runAsNonRoot") is True and "fsGroup" in ctx, "MinIO runs as non-root with an fsGroup")
    c = minio["spec"]["template"]["spec"]["containers"][0]
    check(":latest" not in c["image"] and c["image"].startswith("minio/minio:RELEASE."), "MinIO image pinned to a release")
    check(c.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/minio/health/ready", "MinIO readiness /minio/health/ready")
    check(c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/minio/health/live", "MinIO liveness /minio/health/live")
    env = env_of(c)
    check(secret_ref(env.get("MINIO_ROOT_USER")) == {"name": "smartpark-s3", "key": "access_key"}, "MINIO_ROOT_USER from smartpark-s3/access_key")
    check(secret_ref(env.get("MINIO_ROOT_PASSWORD")) == {"name": "smartpark-s3", "key": "secret_key"}, "MINIO_ROOT_PASSWORD from smartpark-s3/secret_key")
svc = find("Service", "minio")
if check(svc is not None, "Service minio"):
    check(any(p["port"] == 9000 for p in svc["spec"]["ports"]), "Service minio on port 9000")
check(
    s3.get("endpoint") == "http://minio.smartpark.svc.cluster.local:9000",
    f"[storage.s3] endpoint is the minio Service (is {s3.get('endpoint')!r})",
)
job = find("Job", "minio-bucket")
if check(job is not None, "Job minio-bucket"):
    c = job["spec"]["template"]["spec"]["containers"][0]
    check(c["image"].startswith("minio/mc:RELEASE."), "minio-bucket image pinned to a release")
    env = env_of(c)
    check(env.get("S3_BUCKET", {}).get("value") == s3.get("bucket"), "minio-bucket makes the bucket of [storage.s3]")
    check(env.get("S3_ENDPOINT", {}).get("value") == s3.get("endpoint"), "minio-bucket uses the endpoint of [storage.s3]")
keys = find("Secret", "smartpark-s3")
if check(keys is not None, "Secret smartpark-s3"):
    check({"access_key", "secret_key"} <= set(keys.get("stringData", {})), "Secret smartpark-s3 has access_key and secret_key")

# The database: the base's StatefulSet, or a CloudNativePG Cluster in the cnpg overlay.
cluster = find("Cluster", "smartpark-db")
if dir_.endswith("overlays/cnpg"):
    check(cluster is not None, "CloudNativePG Cluster smartpark-db")
operator_secrets = set()
if cluster is not None:
    operator_secrets = {"smartpark-db-app"}
    spec = cluster["spec"]
    check(cluster["apiVersion"] == "postgresql.cnpg.io/v1", "Cluster is postgresql.cnpg.io/v1")
    check(spec.get("instances") == 3, "Cluster has 3 instances")
    check(spec.get("storage", {}).get("size") == "10Gi", "Cluster storage 10Gi")
    initdb = spec.get("bootstrap", {}).get("initdb", {})
    check(initdb.get("database") == "smartpark" and initdb.get("owner") == "smartpark", "Cluster initdb database smartpark owner smartpark")
    check(find("StatefulSet", "postgres") is None, "no StatefulSet postgres beside CloudNativePG")
    check(find("Service", "postgres") is None, "no Service postgres beside CloudNativePG")
    if dep is not None:
        pod = dep["spec"]["template"]["spec"]
        for c in pod.get("initContainers", []) + pod["containers"]:
            if "DATABASE_URL" in env_of(c):
                check(
                    secret_ref(env_of(c)["DATABASE_URL"]) == {"name": "smartpark-db-app", "key": "uri"},
                    f"{c['name']}: DATABASE_URL from smartpark-db-app/uri",
                )
        check(
            all("DATABASE_URL" in env_of(c) for c in pod.get("initContainers", []) + pod["containers"]),
            "every container of the Deployment has DATABASE_URL",
        )
else:
    check(find("StatefulSet", "postgres") is not None, "StatefulSet postgres")
    check(find("Service", "postgres") is not None, "Service postgres")

# Every Secret a workload reads is in the rendering, or is one the operator makes.
secrets = {d["metadata"]["name"] for d in docs if d["kind"] == "Secret"} | operator_secrets
for d in docs:
    if d["kind"] not in ("Deployment", "StatefulSet", "Job"):
        continue
    pod = d["spec"]["template"]["spec"]
    for c in pod.get("initContainers", []) + pod["containers"]:
        for e in c.get("env", []):
            ref = secret_ref(e)
            if ref:
                check(ref["name"] in secrets, f"{d['kind']} {d['metadata']['name']}/{c['name']}: {e['name']} reads Secret {ref['name']}, which nothing makes")
    for v in pod.get("volumes", []):
        if "secret" in v:
            check(v["secret"]["secretName"] in secrets, f"{d['kind']} {d['metadata']['name']}: volume {v['name']} reads a Secret nothing makes")

for p in problems:
    print(f"check-k8s: FAIL {dir_}: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY
    failed=1
    continue
  fi
  say "ok $dir ($(grep -c '^kind:' "$out") resources, valid for Kubernetes $kubernetes_version)"
done

if [ "$failed" -ne 0 ]; then
  say "FAILED" >&2
  exit 1
fi
say "all ${#dirs[@]} kustomizations render, validate (kubernetes-validate $validate_version, Kubernetes $kubernetes_version) and pass the checks"
