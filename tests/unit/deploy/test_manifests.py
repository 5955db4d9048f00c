"""Static checks of the Kubernetes manifests under deploy/.

No cluster is involved: the YAML is read and checked against what the application
defines. Every document is a named Kubernetes object; each Deployment runs the
project image as `serve <service>` on that service's gRPC port, with gRPC probes
on the same port; every CROSSCLEAR_* variable is a field of `shared.config.Settings`
and its literal value passes the Settings validation; Services, the autoscaler,
the disruption budgets, the secrets and the kustomization all point at things
that exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.auth import CallerKind, parse_caller
from shared.config import Settings

REPO_ROOT = Path(__file__).resolve().parents[3]
DEPLOY_DIR = REPO_ROOT / "deploy"
KUSTOMIZE_DIR = DEPLOY_DIR / "k8s"

PROJECT_IMAGE = "ghcr.io/crossclear/crossclear"
SERVICE_GRPC_PORT = {"filing": 50051, "settlement": 50052, "clearing": 50053}
METRICS_PORT = 9100
ENV_PREFIX = "CROSSCLEAR_"
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")
# Below this a broker or database blip (health NOT_SERVING) would restart pods.
LIVENESS_MIN_TOLERANCE_S = 60
ENV_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")

Doc = dict[str, Any]


def _load_documents() -> list[tuple[Path, Doc]]:
    documents: list[tuple[Path, Doc]] = []
    paths = sorted([*DEPLOY_DIR.rglob("*.yaml"), *DEPLOY_DIR.rglob("*.yml")])
    for path in paths:
        with path.open(encoding="utf-8") as stream:
            for doc in yaml.safe_load_all(stream):
                if doc is None:  # an empty document between two "---"
                    continue
                assert isinstance(doc, dict), f"{path}: a document is not a mapping"
                documents.append((path, doc))
    return documents


DOCUMENTS = _load_documents()


def _of_kind(kind: str) -> list[Doc]:
    return [doc for _, doc in DOCUMENTS if doc.get("kind") == kind]


def _name(doc: Doc) -> str:
    return doc["metadata"]["name"]


def _by_name(kind: str) -> dict[str, Doc]:
    return {_name(doc): doc for doc in _of_kind(kind)}


def _pod_spec(workload: Doc) -> Doc:
    return workload["spec"]["template"]["spec"]


def _pod_labels(workload: Doc) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"]["labels"]


def _containers(workload: Doc) -> list[Doc]:
    pod = _pod_spec(workload)
    return [*pod.get("initContainers", []), *pod["containers"]]


def _workloads() -> Iterator[tuple[str, Doc]]:
    for kind in ("Deployment", "Job"):
        for doc in _of_kind(kind):
            yield f"{kind}/{_name(doc)}", doc


def _all_containers() -> list[tuple[str, Doc]]:
    return [
        (f"{label}/{container['name']}", container)
        for label, workload in _workloads()
        for container in _containers(workload)
    ]


def _config_map_env(container: Doc) -> dict[str, str]:
    """The variables a container gets through envFrom ConfigMaps."""
    config_maps = _by_name("ConfigMap")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        assert "configMapRef" in source, "envFrom sources are ConfigMaps defined in deploy/"
        name = source["configMapRef"]["name"]
        assert name in config_maps, f"envFrom names ConfigMap {name!r}, not defined"
        env.update({key: str(value) for key, value in config_maps[name]["data"].items()})
    return env


def _effective_env(container: Doc) -> dict[str, Doc]:
    """Every variable of a container: envFrom first, then env (which wins)."""
    env: dict[str, Doc] = {
        key: {"name": key, "value": value} for key, value in _config_map_env(container).items()
    }
    env.update({entry["name"]: entry for entry in container.get("env", [])})
    return env


def _literal_env(container: Doc) -> dict[str, str]:
    return {
        name: entry["value"]
        for name, entry in _effective_env(container).items()
        if "value" in entry and not ENV_REFERENCE.search(entry["value"])
    }


def _settings_values(container: Doc) -> dict[str, str]:
    """Literal CROSSCLEAR_* values keyed by Settings field name."""
    return {
        name.removeprefix(ENV_PREFIX).lower(): value
        for name, value in _literal_env(container).items()
        if name.startswith(ENV_PREFIX)
    }


def _service_container(deployment: Doc) -> Doc:
    name = _name(deployment)
    matches = [c for c in _pod_spec(deployment)["containers"] if c["name"] == name]
    assert len(matches) == 1, f"Deployment {name}: one container named {name!r} expected"
    return matches[0]


def _named_port(container: Doc, port_name: str) -> int:
    ports = {port.get("name"): port["containerPort"] for port in container.get("ports", [])}
    assert port_name in ports, f"container {container['name']}: no port named {port_name!r}"
    return ports[port_name]


def _image_repository_and_tag(image: str) -> tuple[str, str]:
    repository, _, tag = image.rpartition(":")
    return repository, tag


# The channels' HTTP gateway: a Deployment of its own kind (HTTP, no database).
GATEWAY = "gateway"
GATEWAY_PORT = 8443
GRPC_DEPLOYMENTS = [d for d in _of_kind("Deployment") if _name(d) != GATEWAY]
WORKLOADS = list(_workloads())
ALL_CONTAINERS = _all_containers()
CONTAINER_IDS = [label for label, _ in ALL_CONTAINERS]


# --- every file ----------------------------------------------------------------------


def test_deploy_directory_has_manifests():
    assert (KUSTOMIZE_DIR / "kustomization.yaml").is_file()
    assert len(DOCUMENTS) >= 10, "deploy/ should hold the whole base, not a stub"


@pytest.mark.parametrize(
    ("path", "doc"),
    DOCUMENTS,
    ids=[f"{path.relative_to(DEPLOY_DIR)}:{doc.get('kind')}" for path, doc in DOCUMENTS],
)
def test_every_document_is_a_named_object(path: Path, doc: Doc):
    assert isinstance(doc.get("apiVersion"), str) and doc["apiVersion"], path
    assert isinstance(doc.get("kind"), str) and doc["kind"], path
    metadata = doc.get("metadata")
    assert isinstance(metadata, dict), f"{path}: {doc['kind']} has no metadata"
    assert isinstance(metadata.get("name"), str) and metadata["name"], path


def test_names_are_unique_per_kind():
    seen: set[tuple[str, str, str]] = set()
    for path, doc in DOCUMENTS:
        key = (doc["apiVersion"], doc["kind"], _name(doc))
        assert key not in seen, f"{path}: {key} is defined twice"
        seen.add(key)


def test_kustomization_lists_every_manifest_file():
    kustomization = yaml.safe_load((KUSTOMIZE_DIR / "kustomization.yaml").read_text("utf-8"))
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed)), "a resource is listed twice"
    for entry in listed:
        assert (KUSTOMIZE_DIR / entry).is_file(), f"kustomization lists missing {entry}"
    on_disk = {
        path.relative_to(KUSTOMIZE_DIR).as_posix()
        for path in [*KUSTOMIZE_DIR.rglob("*.yaml"), *KUSTOMIZE_DIR.rglob("*.yml")]
        if path.name != "kustomization.yaml"
    }
    assert on_disk == set(listed)
    assert kustomization["namespace"] == "crossclear"
    assert [image["name"] for image in kustomization["images"]] == [PROJECT_IMAGE]


# --- Deployments ---------------------------------------------------------------------


def test_each_service_has_one_deployment():
    assert sorted(_by_name("Deployment")) == sorted([*SERVICE_GRPC_PORT, GATEWAY])


@pytest.mark.parametrize("deployment", GRPC_DEPLOYMENTS, ids=_name)
def test_deployment_serves_its_service(deployment: Doc):
    for container in _containers(deployment):
        repository, tag = _image_repository_and_tag(container["image"])
        assert repository == PROJECT_IMAGE, container["image"]
        assert tag and tag != "latest", f"{container['image']}: pin a release tag"

    container = _service_container(deployment)
    args = container.get("args", [])
    assert len(args) == 2 and args[0] == "serve", f"args {args}: expected serve <service>"
    service = args[1]
    assert service in SERVICE_GRPC_PORT, f"{service!r} is not a crossclear service"
    assert service == _name(deployment)
    assert "command" not in container, "the image's entrypoint is the crossclear command"
    assert _named_port(container, "grpc") == SERVICE_GRPC_PORT[service]
    assert _named_port(container, "metrics") == METRICS_PORT


@pytest.mark.parametrize("deployment", GRPC_DEPLOYMENTS, ids=_name)
def test_probes_are_grpc_on_the_service_port(deployment: Doc):
    container = _service_container(deployment)
    port = _named_port(container, "health")
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    assert env.get("CROSSCLEAR_HEALTH_PORT") == str(port), "probes must hit the health-only port"
    for probe_name in PROBES:
        probe = container.get(probe_name)
        assert probe is not None, f"{_name(deployment)}: no {probe_name}"
        handlers = {"grpc", "httpGet", "tcpSocket", "exec"} & probe.keys()
        assert handlers == {"grpc"}, f"{probe_name}: a native gRPC probe expected"
        assert probe["grpc"]["port"] == port, f"{probe_name} probes the wrong port"

    # Readiness follows what the RPCs need (service ""); liveness must not fail while a
    # dependency is down, so it asks for the host's always-serving entry.
    from shared.grpc_server import LIVE_HEALTH

    assert container["readinessProbe"]["grpc"].get("service", "") == ""
    liveness = container["livenessProbe"]
    assert liveness["grpc"].get("service") == LIVE_HEALTH
    tolerance_s = liveness.get("periodSeconds", 10) * liveness.get("failureThreshold", 3)
    assert tolerance_s >= LIVENESS_MIN_TOLERANCE_S


@pytest.mark.parametrize("deployment", GRPC_DEPLOYMENTS, ids=_name)
def test_deployment_listens_and_exports_metrics_on_its_ports(deployment: Doc):
    container = _service_container(deployment)
    env = _literal_env(container)
    port = SERVICE_GRPC_PORT[_name(deployment)]
    assert env.get("CROSSCLEAR_GRPC_LISTEN") == f"0.0.0.0:{port}", (
        "the server must listen on the pod address for probes and the Service"
    )
    assert env.get("CROSSCLEAR_METRICS_PORT") == str(_named_port(container, "metrics"))
    annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
    assert annotations.get("prometheus.io/scrape") == "true"
    assert annotations.get("prometheus.io/port") == str(METRICS_PORT)
    assert annotations.get("prometheus.io/path") == "/metrics"


@pytest.mark.parametrize("deployment", GRPC_DEPLOYMENTS, ids=_name)
def test_deployment_mounts_its_tls_directory(deployment: Doc):
    container = _service_container(deployment)
    env = _literal_env(container)
    assert env.get("CROSSCLEAR_INSECURE_DEV", "false").lower() in {"false", "0", "no"}
    tls_dir = env.get("CROSSCLEAR_TLS_DIR")
    assert tls_dir, "mutual TLS: CROSSCLEAR_TLS_DIR must be set in the cluster"
    mounts = {mount["mountPath"].rstrip("/"): mount for mount in container["volumeMounts"]}
    assert tls_dir.rstrip("/") in mounts, f"nothing is mounted at {tls_dir}"
    volume_name = mounts[tls_dir.rstrip("/")]["name"]
    volumes = {volume["name"]: volume for volume in _pod_spec(deployment)["volumes"]}
    assert "secret" in volumes[volume_name], "the TLS directory comes from a secret"


@pytest.mark.parametrize("deployment", _of_kind("Deployment"), ids=_name)
def test_deployment_is_hardened_and_bounded(deployment: Doc):
    pod = _pod_spec(deployment)
    assert pod["securityContext"]["runAsNonRoot"] is True
    for container in _containers(deployment):
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= container["resources"][bound].keys()
    assert pod.get("topologySpreadConstraints"), "replicas should spread over nodes"


@pytest.mark.parametrize("deployment", _of_kind("Deployment"), ids=_name)
def test_grace_period_covers_the_drain(deployment: Doc):
    container = _service_container(deployment)
    drain_s = Settings.model_validate(_settings_values(container)).shutdown_grace_s
    pre_stop = container.get("lifecycle", {}).get("preStop", {})
    pause_s = pre_stop.get("sleep", {}).get("seconds", 0)
    grace_s = _pod_spec(deployment).get("terminationGracePeriodSeconds", 30)
    assert grace_s > drain_s + pause_s


# --- environment ---------------------------------------------------------------------


@pytest.mark.parametrize(("label", "container"), ALL_CONTAINERS, ids=CONTAINER_IDS)
def test_crossclear_variables_are_settings_fields(label: str, container: Doc):
    fields = Settings.model_fields
    for name in _effective_env(container):
        if name.startswith(ENV_PREFIX):
            field = name.removeprefix(ENV_PREFIX).lower()
            assert field in fields, f"{label}: {name} is not a Settings field"


@pytest.mark.parametrize(("label", "container"), ALL_CONTAINERS, ids=CONTAINER_IDS)
def test_literal_values_pass_settings_validation(label: str, container: Doc):
    Settings.model_validate(_settings_values(container))


@pytest.mark.parametrize(("label", "container"), ALL_CONTAINERS, ids=CONTAINER_IDS)
def test_variable_references_are_defined_before_use(label: str, container: Doc):
    defined = set(_config_map_env(container))
    for entry in container.get("env", []):
        for reference in ENV_REFERENCE.findall(entry.get("value", "")):
            assert reference in defined, f"{label}: {entry['name']} uses $({reference}) first"
        defined.add(entry["name"])


def _operator_secrets() -> set[str]:
    """Secrets that the operators create for the clusters defined in deploy/."""
    postgres = {f"{_name(doc)}-app" for doc in _of_kind("Cluster")}
    rabbitmq = {f"{_name(doc)}-default-user" for doc in _of_kind("RabbitmqCluster")}
    certificates = {doc["spec"]["secretName"] for doc in _of_kind("Certificate")}
    return postgres | rabbitmq | certificates | set(_by_name("Secret"))


def test_referenced_secrets_exist_or_are_made_by_an_operator():
    known = _operator_secrets()
    for label, workload in _workloads():
        for container in _containers(workload):
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref is not None:
                    assert ref["name"] in known, f"{label}: unknown secret {ref['name']}"
        for volume in _pod_spec(workload).get("volumes", []):
            if "secret" in volume:
                name = volume["secret"]["secretName"]
                assert name in known, f"{label}: unknown secret {name}"


def test_database_and_broker_urls_come_from_every_container_that_needs_them():
    for label, container in ALL_CONTAINERS:
        env = _effective_env(container)
        args = container.get("args", [])
        if args[:1] == ["serve"] or args == ["migrate"]:
            assert "CROSSCLEAR_DATABASE_URL" in env, label
        if args[:1] == ["serve"] or args == ["topology"]:
            assert "CROSSCLEAR_AMQP_URL" in env, label


def test_targets_name_a_service_and_its_grpc_port():
    services = _by_name("Service")
    for label, container in ALL_CONTAINERS:
        for name, value in _literal_env(container).items():
            if not (name.startswith(ENV_PREFIX) and name.endswith("_TARGET")):
                continue
            service = name.removeprefix(ENV_PREFIX).removesuffix("_TARGET").lower()
            host, _, port = value.rpartition(":")
            assert host in services, f"{label}: {name}={value} names no Service"
            grpc_ports = [p["port"] for p in services[host]["spec"]["ports"] if p["name"] == "grpc"]
            assert grpc_ports == [int(port)] == [SERVICE_GRPC_PORT[service]], f"{name}={value}"


@pytest.mark.parametrize("deployment", GRPC_DEPLOYMENTS, ids=_name)
def test_tls_secret_is_issued_for_the_service_identity(deployment: Doc):
    """The mounted certificate names the service as caller and as server."""
    service = _name(deployment)
    certificates = {doc["spec"]["secretName"]: doc for doc in _of_kind("Certificate")}
    secret_names = [
        v["secret"]["secretName"] for v in _pod_spec(deployment)["volumes"] if "secret" in v
    ]
    assert len(secret_names) == 1, f"{service}: one TLS secret expected"
    certificate = certificates.get(secret_names[0])
    assert certificate is not None, f"{service}: {secret_names[0]} is issued by no Certificate"
    spec = certificate["spec"]
    caller = parse_caller(spec["commonName"])
    assert caller.kind is CallerKind.SERVICE and caller.code == f"svc-{service}"
    assert service in spec["dnsNames"], "peers dial the Service name; it must verify"
    assert {"server auth", "client auth"} <= set(spec["usages"])
    issuers = {_name(doc) for doc in _of_kind("Issuer")}
    assert spec["issuerRef"]["name"] in issuers


# --- Services, autoscaler, disruption budgets ---------------------------------------------


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


# The one Service for parties outside the cluster: the regions' AMQP over TLS to RabbitMQ.
REGION_SERVICE = "crossclear-mq-regions"


@pytest.mark.parametrize(
    "service", [s for s in _of_kind("Service") if _name(s) != REGION_SERVICE], ids=_name
)
def test_service_targets_a_deployment_and_its_ports(service: Doc):
    spec = service["spec"]
    assert spec.get("type", "ClusterIP") == "ClusterIP"
    targets = [
        deployment
        for deployment in _of_kind("Deployment")
        if _selects(spec["selector"], _pod_labels(deployment))
    ]
    assert len(targets) == 1, f"Service {_name(service)} selects {len(targets)} Deployments"
    container_ports = [
        port for container in _containers(targets[0]) for port in container.get("ports", [])
    ]
    by_name = {port["name"]: port["containerPort"] for port in container_ports}
    numbers = set(by_name.values())
    expected = {"https"} if _name(targets[0]) == GATEWAY else {"grpc", "metrics"}
    assert {port["name"] for port in spec["ports"]} == expected
    for port in spec["ports"]:
        target = port.get("targetPort", port["port"])
        assert target in by_name or target in numbers, f"targetPort {target} is not exposed"
        resolved = by_name.get(target, target)
        assert resolved == port["port"], "Service and container ports should match"


def test_regions_reach_only_their_queue_over_tls():
    (service,) = [s for s in _of_kind("Service") if _name(s) == REGION_SERVICE]
    assert [p["port"] for p in service["spec"]["ports"]] == [5671]
    assert service["spec"]["selector"] == {"app.kubernetes.io/name": "crossclear-mq"}
    (cluster,) = _of_kind("RabbitmqCluster")
    assert cluster["spec"]["tls"]["secretName"] in {
        c["spec"]["secretName"] for c in _of_kind("Certificate")
    }
    users = {_name(u) for u in _of_kind("User")}
    for permission in _of_kind("Permission"):
        assert permission["spec"]["userReference"]["name"] in users
        rules = permission["spec"]["permissions"]
        assert rules["configure"] == "^$" and rules["write"] == "^$", _name(permission)
        code = _name(permission).rsplit("-", 1)[1]
        assert rules["read"] == f"^crossclear\\.region\\.{code}$", rules
    policies = [p for p in _of_kind("NetworkPolicy") if _name(p) == "rabbitmq-ingress"]
    tls_rules = [
        rule for rule in policies[0]["spec"]["ingress"]
        if any(port["port"] == 5671 for port in rule.get("ports", []))
    ]  # fmt: skip
    assert tls_rules and all("ipBlock" in peer for rule in tls_rules for peer in rule["from"])


def test_deployment_selectors_match_their_pod_labels():
    for deployment in _of_kind("Deployment"):
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert _selects(selector, _pod_labels(deployment)), _name(deployment)


def test_autoscaler_targets_settlement():
    autoscalers = _of_kind("HorizontalPodAutoscaler")
    assert len(autoscalers) == 1
    spec = autoscalers[0]["spec"]
    target = spec["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        "apps/v1",
        "Deployment",
        "settlement",
    )
    assert target["name"] in _by_name("Deployment")
    assert (spec["minReplicas"], spec["maxReplicas"]) == (3, 20)
    assert [metric["resource"]["name"] for metric in spec["metrics"]] == ["cpu"]
    assert {"scaleUp", "scaleDown"} <= spec["behavior"].keys()
    # A replica count in the Deployment would fight the autoscaler on each apply.
    assert "replicas" not in _by_name("Deployment")["settlement"]["spec"]


def _operator_pod_labels() -> list[dict[str, str]]:
    return [{"app.kubernetes.io/name": _name(doc)} for doc in _of_kind("RabbitmqCluster")]


def test_every_deployment_has_a_disruption_budget_and_each_budget_selects_pods():
    pod_label_sets = [_pod_labels(d) for d in _of_kind("Deployment")] + _operator_pod_labels()
    covered: set[str] = set()
    for budget in _of_kind("PodDisruptionBudget"):
        selector = budget["spec"]["selector"]["matchLabels"]
        assert any(_selects(selector, labels) for labels in pod_label_sets), _name(budget)
        covered |= {_name(d) for d in _of_kind("Deployment") if _selects(selector, _pod_labels(d))}
    assert covered == set(_by_name("Deployment"))


# --- migration Job, broker, database -------------------------------------------------


def test_job_migrates_then_declares_the_topology():
    jobs = _of_kind("Job")
    assert len(jobs) == 1
    pod = _pod_spec(jobs[0])
    assert pod["restartPolicy"] in {"Never", "OnFailure"}
    assert [c["args"] for c in pod.get("initContainers", [])] == [["migrate"]]
    assert [c["args"] for c in pod["containers"]] == [["topology"]]
    for container in _containers(jobs[0]):
        assert _image_repository_and_tag(container["image"])[0] == PROJECT_IMAGE


def test_broker_is_a_three_node_cluster_with_quorum_queues():
    (broker,) = _of_kind("RabbitmqCluster")
    assert broker["apiVersion"] == "rabbitmq.com/v1beta1"
    assert broker["spec"]["replicas"] == 3
    config = broker["spec"]["rabbitmq"]["additionalConfig"]
    assert re.search(r"^\s*default_queue_type\s*=\s*quorum\s*$", config, re.MULTILINE)


def test_database_is_a_three_instance_cluster_owning_crossclear():
    (database,) = _of_kind("Cluster")
    assert database["apiVersion"] == "postgresql.cnpg.io/v1"
    assert database["spec"]["instances"] == 3
    initdb = database["spec"]["bootstrap"]["initdb"]
    assert initdb["database"] == "crossclear"
    assert initdb["owner"]


# --- network policies ------------------------------------------------------------------


def test_policies_for_one_service_open_only_its_grpc_port():
    for policy in _of_kind("NetworkPolicy"):
        selector = policy["spec"]["podSelector"].get("matchLabels", {})
        service = selector.get("app.kubernetes.io/name")
        if service not in SERVICE_GRPC_PORT:
            continue
        for rule in policy["spec"].get("ingress", []):
            ports = {port["port"] for port in rule.get("ports", [])}
            assert ports == {SERVICE_GRPC_PORT[service]}, _name(policy)


def _peer_selects(peer: Doc, labels: dict[str, str]) -> bool:
    """A same-namespace podSelector peer that selects pods with these labels."""
    if set(peer) != {"podSelector"}:
        return False
    selector = peer["podSelector"].get("matchLabels", {})
    return all(labels.get(key) == value for key, value in selector.items())


def _rule_allows(rule: Doc, peers_key: str, labels: dict[str, str], port: int) -> bool:
    ports = {entry["port"] for entry in rule.get("ports", [])}
    if ports and port not in ports:
        return False
    return any(_peer_selects(peer, labels) for peer in rule.get(peers_key, []))


def _policies_selecting(labels: dict[str, str], policy_type: str) -> list[Doc]:
    return [
        policy
        for policy in _of_kind("NetworkPolicy")
        if policy_type in policy["spec"]["policyTypes"]
        and all(
            labels.get(key) == value
            for key, value in policy["spec"]["podSelector"].get("matchLabels", {}).items()
        )
    ]


def _reachable(source: dict[str, str], target: dict[str, str], port: int) -> bool:
    ingress = _policies_selecting(target, "Ingress")
    ingress_ok = not ingress or any(
        _rule_allows(rule, "from", source, port)
        for policy in ingress
        for rule in policy["spec"].get("ingress", [])
    )
    egress = _policies_selecting(source, "Egress")
    egress_ok = not egress or any(
        _rule_allows(rule, "to", target, port)
        for policy in egress
        for rule in policy["spec"].get("egress", [])
    )
    return ingress_ok and egress_ok


@pytest.mark.parametrize(("label", "workload"), WORKLOADS, ids=[label for label, _ in WORKLOADS])
def test_workloads_reach_the_database_and_the_broker(label: str, workload: Doc):
    (database,) = _of_kind("Cluster")
    (broker,) = _of_kind("RabbitmqCluster")
    database_pods = {"cnpg.io/cluster": _name(database)}
    broker_pods = {"app.kubernetes.io/name": _name(broker)}
    env_names = {name for c in _containers(workload) for name in _effective_env(c)}
    pods = _pod_labels(workload)
    if "CROSSCLEAR_DATABASE_URL" in env_names:
        assert _reachable(pods, database_pods, 5432), f"{label} cannot reach PostgreSQL"
    if "CROSSCLEAR_AMQP_URL" in env_names:
        assert _reachable(pods, broker_pods, 5672), f"{label} cannot reach RabbitMQ"


def test_services_reach_each_other():
    deployments = _by_name("Deployment")
    for caller in deployments.values():
        for callee, port in SERVICE_GRPC_PORT.items():
            callee_pods = _pod_labels(deployments[callee])
            assert _reachable(_pod_labels(caller), callee_pods, port), (_name(caller), callee)


# --- the channels' HTTP gateway --------------------------------------------------------


def test_gateway_serves_https_and_calls_as_each_online_channel_and_as_itself():
    deployment = _by_name("Deployment")[GATEWAY]
    container = _service_container(deployment)
    assert container["args"] == ["gateway"]
    assert _named_port(container, "https") == GATEWAY_PORT
    assert _named_port(container, "metrics") == METRICS_PORT
    env = _literal_env(container)
    assert env["CROSSCLEAR_GATEWAY_LISTEN"] == f"0.0.0.0:{GATEWAY_PORT}"
    assert env.get("CROSSCLEAR_INSECURE_DEV", "false") == "false"
    assert env["CROSSCLEAR_METRICS_PORT"] == str(METRICS_PORT)
    annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
    assert annotations.get("prometheus.io/port") == str(METRICS_PORT)
    for probe_name in ("readinessProbe", "livenessProbe"):
        probe = container[probe_name]["httpGet"]
        assert probe["path"] == "/healthz" and probe["port"] in ("https", GATEWAY_PORT)
        assert probe["scheme"] == "HTTPS"
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in _pod_spec(deployment)["volumes"]}
    certificates = {doc["spec"]["secretName"]: doc for doc in _of_kind("Certificate")}
    # HTTPS: the gateway's own certificate, whose ca.crt (the platform CA, cert-manager's
    # issuer) is the CA institutions' client certificates are verified against.
    https = volumes[mounts[env["CROSSCLEAR_GATEWAY_HTTPS_DIR"]]]["secret"]["secretName"]
    served = certificates[https]["spec"]
    assert parse_caller(served["commonName"]).kind is CallerKind.GATEWAY
    assert "server auth" in served["usages"] and "client auth" in served["usages"]
    assert served["issuerRef"]["name"] == "crossclear-ca"
    # One certificate directory per online channel, and the gateway's own for settlement,
    # under CROSSCLEAR_TLS_DIR.
    tls_dir = env["CROSSCLEAR_TLS_DIR"]
    sources = volumes[mounts[tls_dir]]["projected"]["sources"]
    codes = set()
    for source in sources:
        secret = source["secret"]
        code = parse_caller(certificates[secret["name"]]["spec"]["commonName"])
        assert code.kind in (CallerKind.CHANNEL, CallerKind.GATEWAY)
        paths = {item["path"] for item in secret["items"]}
        assert paths == {f"{code.code}/{f}" for f in ("ca.crt", "tls.crt", "tls.key")}
        codes.add(code.code)
    assert codes == {"channel-app", "channel-mini-program", "channel-web", "svc-gateway"}
