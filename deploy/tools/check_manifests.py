#!/usr/bin/env python3
"""Structural and policy checks of deploy/ that no schema expresses (PyYAML only).

    check_manifests.py structure      every YAML file parses; every Kubernetes document has
                                      apiVersion, kind, metadata.name; kustomization.yaml
                                      lists exactly the manifests of its directory
    check_manifests.py kubernetes     the deployment's promises: replicas, migrate init
                                      container, probes, resources, security context,
                                      graceful shutdown, HPA/PDB/Service wiring
    check_manifests.py compose        the compose file's promises: start-up order,
                                      required secret, hardening, health checks
    check_manifests.py env SET        prints the USERS__* environment of SET (k8s-serve,
                                      k8s-migrate, image), KEY=VALUE per line, for
                                      `users-service check-config`

Run from anywhere; paths are relative to the repository root (two levels up). Prints
one line per failed promise and exits 1 when there is any.
"""

import glob
import json
import math
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
K8S_DIR = os.path.join(ROOT, "deploy", "kubernetes")
COMPOSE = os.path.join(ROOT, "deploy", "docker-compose.yml")
DOCKERFILE = os.path.join(ROOT, "deploy", "Dockerfile")
PORT = 3003
UID = 10001
# actix-web's default graceful shutdown timeout (in-flight requests after SIGTERM).
ACTIX_SHUTDOWN_SECS = 30

problems = []


def problem(where, message):
    problems.append(f"{where}: {message}")


def rel(path):
    return os.path.relpath(path, ROOT)


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def manifests():
    """(path, document) for every Kubernetes manifest except the kustomization."""
    out = []
    for path in sorted(glob.glob(os.path.join(K8S_DIR, "*.yaml"))):
        if os.path.basename(path) == "kustomization.yaml":
            continue
        for doc in load_all(path):
            out.append((path, doc))
    return out


def find(kind, name=None):
    found = [(p, d) for p, d in manifests() if d.get("kind") == kind
             and (name is None or d.get("metadata", {}).get("name") == name)]
    if len(found) != 1:
        problem("deploy/kubernetes", f"expected exactly one {kind}"
                + (f" named {name}" if name else "") + f", found {len(found)}")
        return None
    return found[0][1]


def dig(node, *keys, default=None):
    for key in keys:
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            return default
    return node


# ---------------------------------------------------------------------------- structure

def check_structure():
    for path in sorted(glob.glob(os.path.join(K8S_DIR, "*.yaml"))) + [COMPOSE]:
        try:
            docs = load_all(path)
        except yaml.YAMLError as e:
            problem(rel(path), f"not valid YAML: {e}")
            continue
        if not docs:
            problem(rel(path), "empty")
        if path == COMPOSE or os.path.basename(path) == "kustomization.yaml":
            continue
        for i, doc in enumerate(docs):
            where = f"{rel(path)} document {i + 1}"
            if not isinstance(doc, dict):
                problem(where, "not a mapping")
                continue
            for field in ("apiVersion", "kind"):
                if not isinstance(doc.get(field), str) or not doc[field]:
                    problem(where, f"missing {field}")
            if not dig(doc, "metadata", "name"):
                problem(where, "missing metadata.name")
    kustomization = os.path.join(K8S_DIR, "kustomization.yaml")
    if not os.path.isfile(kustomization):
        problem("deploy/kubernetes", "kustomization.yaml is missing")
        return
    docs = load_all(kustomization)
    listed = dig(docs[0] if docs else {}, "resources", default=[]) or []
    present = sorted(os.path.basename(p) for p in glob.glob(os.path.join(K8S_DIR, "*.yaml"))
                     if os.path.basename(p) != "kustomization.yaml")
    for name in listed:
        if name not in present:
            problem(rel(kustomization), f"lists {name}, which does not exist")
    for name in present:
        if name not in listed:
            problem(rel(kustomization), f"does not list {name}")
    compose = load_all(COMPOSE)
    if not isinstance(compose[0] if compose else None, dict) or "services" not in compose[0]:
        problem(rel(COMPOSE), "has no services")


# --------------------------------------------------------------------------- kubernetes

def quantity_cpu(value):
    text = str(value)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def env_list(container):
    return {e["name"]: e.get("value") for e in container.get("env", []) or []}


def env_sources(container):
    return [(k, v.get("name")) for src in container.get("envFrom", []) or []
            for k, v in src.items() if k in ("configMapRef", "secretRef")]


def check_container_hardening(where, container):
    sc = container.get("securityContext", {}) or {}
    if sc.get("allowPrivilegeEscalation") is not False:
        problem(where, "securityContext.allowPrivilegeEscalation must be false")
    if sc.get("readOnlyRootFilesystem") is not True:
        problem(where, "securityContext.readOnlyRootFilesystem must be true")
    if "ALL" not in (dig(sc, "capabilities", "drop", default=[]) or []):
        problem(where, "securityContext.capabilities.drop must contain ALL")
    if sc.get("privileged"):
        problem(where, "must not be privileged")
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            if dig(container, "resources", kind, resource) is None:
                problem(where, f"resources.{kind}.{resource} is missing")


def check_kubernetes():
    deployment = find("Deployment", "users-service")
    configmap = find("ConfigMap")
    secret = find("Secret")
    service = find("Service", "users-service")
    hpa = find("HorizontalPodAutoscaler")
    pdb = find("PodDisruptionBudget")
    if deployment is None:
        return
    where = "deployment.yaml"
    spec = deployment.get("spec", {})
    pod = dig(spec, "template", "spec", default={})
    labels = dig(spec, "template", "metadata", "labels", default={}) or {}
    selector = dig(spec, "selector", "matchLabels", default={}) or {}
    if not selector or any(labels.get(k) != v for k, v in selector.items()):
        problem(where, "spec.selector.matchLabels must match the pod template's labels")
    if (spec.get("replicas") or 1) < 2:
        problem(where, "replicas must be at least 2 (MongoDB store, horizontal scaling)")

    psc = pod.get("securityContext", {}) or {}
    if psc.get("runAsNonRoot") is not True:
        problem(where, "pod securityContext.runAsNonRoot must be true")
    if psc.get("runAsUser") != UID:
        problem(where, f"pod securityContext.runAsUser must be {UID} (the image's user)")
    if dig(psc, "seccompProfile", "type") != "RuntimeDefault":
        problem(where, "pod securityContext.seccompProfile.type must be RuntimeDefault")

    containers = pod.get("containers", []) or []
    inits = pod.get("initContainers", []) or []
    main = next((c for c in containers if c.get("name") == "users-service"), None)
    if main is None:
        problem(where, "no container named users-service")
        return
    migrate = next((c for c in inits if c.get("name") == "migrate"), None)
    for c in containers + inits:
        check_container_hardening(f"{where} container {c.get('name')}", c)

    # Migrations: once, before the service, with the same settings.
    if migrate is None:
        problem(where, "no init container named migrate")
    else:
        if (migrate.get("args") or migrate.get("command")) != ["migrate"]:
            problem(where, "init container migrate must run `users-service migrate` (args: [migrate])")
        if migrate.get("image") != main.get("image"):
            problem(where, "init container migrate must use the service's image")
        if env_sources(migrate) != env_sources(main):
            problem(where, "init container migrate must read the same envFrom as the service")
    if (main.get("args") or ["serve"]) != ["serve"]:
        problem(where, "the service container must run `serve`")
    env = env_list(main)
    if env.get("USERS__DATABASE__MIGRATE_ON_START") != "false":
        problem(where, "USERS__DATABASE__MIGRATE_ON_START must be \"false\" (the init container migrates)")

    # Workers sized to the CPU limit.
    cpu_limit = dig(main, "resources", "limits", "cpu")
    workers = env.get("USERS__SERVER__WORKERS")
    if cpu_limit is not None:
        expected = max(1, math.ceil(quantity_cpu(cpu_limit)))
        if workers != str(expected):
            problem(where, f"USERS__SERVER__WORKERS must be \"{expected}\" for a CPU limit of {cpu_limit}, got {workers!r}")

    # Port and probes.
    ports = {p.get("name"): p.get("containerPort") for p in main.get("ports", []) or []}
    if ports.get("http") != PORT:
        problem(where, f"the service container must expose containerPort {PORT} named http")
    for probe, path in (("readinessProbe", "/ready"), ("livenessProbe", "/health"),
                        ("startupProbe", "/health")):
        got = dig(main, probe, "httpGet", "path")
        if got != path:
            problem(where, f"{probe} must GET {path}, got {got!r}")
        elif dig(main, probe, "httpGet", "port") not in ("http", PORT):
            problem(where, f"{probe} must use the http port")

    # Graceful shutdown: preStop drain, then actix's 30 s, within the grace period.
    pre_stop = dig(main, "lifecycle", "preStop", default={}) or {}
    delay = 0
    if "sleep" in pre_stop:
        delay = int(dig(pre_stop, "sleep", "seconds", default=0))
    elif dig(pre_stop, "exec", "command", 0) == "sleep":
        delay = int(dig(pre_stop, "exec", "command", 1, default=0))
    if delay <= 0:
        problem(where, "the service container needs a preStop sleep so endpoints drain before SIGTERM")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if grace < delay + ACTIX_SHUTDOWN_SECS:
        problem(where, f"terminationGracePeriodSeconds ({grace}) must cover preStop ({delay} s) "
                       f"+ actix's {ACTIX_SHUTDOWN_SECS} s shutdown")

    # Settings: the store is MongoDB, secrets only in the Secret.
    names = {kind: name for kind, name in env_sources(main)}
    if configmap is not None:
        if names.get("configMapRef") != dig(configmap, "metadata", "name"):
            problem(where, "envFrom must reference the ConfigMap of configmap.yaml")
        data = configmap.get("data", {}) or {}
        if data.get("USERS__DATABASE__KIND") != "mongo":
            problem("configmap.yaml", "USERS__DATABASE__KIND must be mongo (the embedded store is single-process)")
        for key in data:
            if not key.startswith("USERS__"):
                problem("configmap.yaml", f"{key} is not a USERS__SECTION__KEY setting")
            if any(s in key for s in ("SECRET", "PASSWORD", "URL")):
                problem("configmap.yaml", f"{key} belongs in the Secret")
    if secret is not None:
        if names.get("secretRef") != dig(secret, "metadata", "name"):
            problem(where, "envFrom must reference the Secret of secret.yaml")
        data = secret.get("stringData", {}) or {}
        for key in ("USERS__AUTH__JWT_SECRET", "USERS__DATABASE__URL"):
            if key not in data:
                problem("secret.yaml", f"stringData.{key} is missing")

    # Service → pods.
    if service is not None:
        sel = dig(service, "spec", "selector", default={}) or {}
        if not sel or any(labels.get(k) != v for k, v in sel.items()):
            problem("service.yaml", "selector must match the pod labels")
        sports = dig(service, "spec", "ports", default=[]) or []
        if not any(p.get("port") == 80 and p.get("targetPort") in ("http", PORT) for p in sports):
            problem("service.yaml", f"must map port 80 to the http port ({PORT})")
        if dig(service, "spec", "type", default="ClusterIP") != "ClusterIP":
            problem("service.yaml", "type must be ClusterIP")

    # Autoscaling and disruptions.
    min_replicas = None
    if hpa is not None:
        ref = dig(hpa, "spec", "scaleTargetRef", default={}) or {}
        if ref.get("kind") != "Deployment" or ref.get("name") != dig(deployment, "metadata", "name"):
            problem("hpa.yaml", "scaleTargetRef must be the users-service Deployment")
        min_replicas = dig(hpa, "spec", "minReplicas", default=1)
        max_replicas = dig(hpa, "spec", "maxReplicas", default=0)
        if min_replicas < 2 or max_replicas < min_replicas:
            problem("hpa.yaml", "needs minReplicas >= 2 and maxReplicas >= minReplicas")
        cpu = [m for m in dig(hpa, "spec", "metrics", default=[]) or []
               if dig(m, "resource", "name") == "cpu"]
        if not cpu:
            problem("hpa.yaml", "needs a CPU metric")
        if dig(main, "resources", "requests", "cpu") is None:
            problem(where, "CPU utilisation scaling needs a CPU request")
    if pdb is not None:
        sel = dig(pdb, "spec", "selector", "matchLabels", default={}) or {}
        if not sel or any(labels.get(k) != v for k, v in sel.items()):
            problem("pdb.yaml", "selector must match the pod labels")
        available = dig(pdb, "spec", "minAvailable")
        if not isinstance(available, int) or available < 1:
            problem("pdb.yaml", "minAvailable must be at least 1")
        elif min_replicas is not None and available >= min_replicas:
            problem("pdb.yaml", "minAvailable must stay below the HPA's minReplicas, or nodes never drain")

    # One namespace for everything.
    namespaces = {dig(d, "metadata", "namespace") for _, d in manifests() if d.get("kind") != "Namespace"}
    if len(namespaces) != 1:
        problem("deploy/kubernetes", f"manifests disagree on the namespace: {sorted(map(str, namespaces))}")


# ------------------------------------------------------------------------------ compose

def check_compose():
    docs = load_all(COMPOSE)
    services = (docs[0] if docs else {}).get("services", {}) or {}
    where = "docker-compose.yml"
    for name in ("mongo", "migrate", "users"):
        if name not in services:
            problem(where, f"no service {name}")
    if problems:
        return
    mongo, migrate, users = services["mongo"], services["migrate"], services["users"]
    if not str(mongo.get("image", "")).startswith("mongo:7"):
        problem(where, "mongo must run mongo:7")
    if "healthcheck" not in mongo:
        problem(where, "mongo needs a healthcheck (migrate waits for service_healthy)")
    volumes = (docs[0].get("volumes") or {})
    if not any(str(v).split(":")[0] in volumes and str(v).endswith("/data/db")
               for v in mongo.get("volumes", []) or []):
        problem(where, "mongo must keep /data/db in a named volume")

    if migrate.get("command") != ["migrate"]:
        problem(where, "migrate must run [migrate]")
    if dig(migrate, "depends_on", "mongo", "condition") != "service_healthy":
        problem(where, "migrate must depend on mongo being service_healthy")
    if dig(users, "depends_on", "migrate", "condition") != "service_completed_successfully":
        problem(where, "users must depend on migrate being service_completed_successfully")
    if migrate.get("image") != users.get("image"):
        problem(where, "migrate and users must run the same image")

    env = users.get("environment", {}) or {}
    if not isinstance(env, dict):
        problem(where, "users.environment must be a mapping")
        env = {}
    if env.get("USERS__DATABASE__MIGRATE_ON_START") != "false":
        problem(where, "users: USERS__DATABASE__MIGRATE_ON_START must be \"false\" (migrate ran)")
    if not re.fullmatch(r"\$\{[A-Z_]+:\?.+\}", str(env.get("USERS__AUTH__JWT_SECRET", ""))):
        problem(where, "users: USERS__AUTH__JWT_SECRET must be a required variable (${VAR:?message})")
    if not str(env.get("USERS__DATABASE__URL", "")).startswith("${") and \
            "mongodb://mongo:27017" not in str(env.get("USERS__DATABASE__URL", "")):
        problem(where, "users: USERS__DATABASE__URL must point at the mongo service")
    if not any(str(p).endswith(f":{PORT}") for p in users.get("ports", []) or []):
        problem(where, f"users must publish container port {PORT}")
    test = " ".join(map(str, dig(users, "healthcheck", "test", default=[]) or []))
    if "/health" not in test:
        problem(where, "users needs a healthcheck on /health")
    for name, service in (("migrate", migrate), ("users", users)):
        if service.get("read_only") is not True:
            problem(where, f"{name} must have read_only: true")
        if str(service.get("user", "")).split(":")[0] != str(UID):
            problem(where, f"{name} must run as user {UID}")
        if "ALL" not in (service.get("cap_drop") or []):
            problem(where, f"{name} must drop all capabilities")
    if users.get("restart") not in ("always", "unless-stopped", "on-failure"):
        problem(where, "users needs a restart policy")


# ---------------------------------------------------------------------------------- env

def dockerfile_env():
    """The ENV of the Dockerfile's last stage (the runtime image)."""
    with open(DOCKERFILE, encoding="utf-8") as f:
        text = f.read().replace("\\\n", " ")
    stages = re.split(r"(?im)^FROM\s", text)
    env = {}
    for line in stages[-1].splitlines():
        m = re.match(r"(?i)^\s*ENV\s+(.*)$", line)
        if m:
            for key, value in re.findall(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)', m.group(1)):
                env[key] = value.strip('"')
    return env


def print_env(which):
    env = dockerfile_env()
    if which == "image":
        pass
    elif which in ("k8s-serve", "k8s-migrate"):
        deployment = find("Deployment", "users-service")
        configmap = find("ConfigMap")
        secret = find("Secret")
        if problems:
            return
        env.update(configmap.get("data", {}) or {})
        env.update(secret.get("stringData", {}) or {})
        pod = dig(deployment, "spec", "template", "spec")
        name = "users-service" if which == "k8s-serve" else "migrate"
        containers = (pod.get("containers") or []) + (pod.get("initContainers") or [])
        container = next(c for c in containers if c.get("name") == name)
        env.update({k: v for k, v in env_list(container).items() if v is not None})
    else:
        problem("env", f"unknown set {which!r}; sets are image, k8s-serve, k8s-migrate")
        return
    for key in sorted(env):
        print(f"{key}={env[key]}")


def main(argv):
    commands = {"structure": check_structure, "kubernetes": check_kubernetes,
                "compose": check_compose}
    if len(argv) == 3 and argv[1] == "env":
        print_env(argv[2])
    elif len(argv) == 2 and argv[1] in commands:
        commands[argv[1]]()
    else:
        sys.stderr.write(__doc__)
        return 2
    for line in problems:
        print(f"  {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
