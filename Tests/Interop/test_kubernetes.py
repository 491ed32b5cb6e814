"""The Kubernetes manifests (deploy/kubernetes): every kustomization renders with `kubectl kustomize`, every object
of the Kubernetes API validates against its schema (kubernetes-validate from PyPI, offline, strict: unknown fields
fail), the custom resources (cert-manager, trust-manager, Prometheus Operator) have the fields their operators
need, and every Deployment's environment, with the Secrets and ConfigMaps it mounts laid out as the kubelet would
(group 10001, mode 0440), is accepted by `certauth check-config` run as uid 10001. No cluster runs here; this is
what can be checked without one."""
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
KUBE = ROOT / "deploy" / "kubernetes"
KUSTOMIZATIONS = ["base", "cert-manager-ca", "overlays/cert-manager", "overlays/monitoring", "overlays/production",
                  "overlays/tracing"]
# The Kubernetes version whose schemas the objects must satisfy (kubernetes-validate bundles them).
KUBERNETES_VERSION = "1.32.0"
CUSTOM_KINDS = {
    "Certificate": "cert-manager.io/v1", "ClusterIssuer": "cert-manager.io/v1",
    "Bundle": "trust.cert-manager.io/v1alpha1",
    "ServiceMonitor": "monitoring.coreos.com/v1", "PrometheusRule": "monitoring.coreos.com/v1",
}
SERVICES = {"token-issuer": 8444, "authn": 8443, "roles": 8445}
CONTAINER_UID = 10001


def kubectl():
    exe = shutil.which("kubectl")
    if exe is None:
        # Debian's kubernetes-client (1.20) embeds kustomize 2.0, too old for these files (components, patches).
        pytest.skip("kubectl is not installed: install kubectl 1.27 or later (kustomize 5 built in) to render "
                    "deploy/kubernetes; Debian's kubernetes-client 1.20 is too old")
    version = subprocess.run([exe, "version", "--client"], capture_output=True, text=True).stdout
    match = re.search(r"Kustomize Version: v(\d+)", version)
    if not match or int(match.group(1)) < 5:
        pytest.skip(f"kubectl's kustomize is older than v5 ({version.strip()!r}): install kubectl 1.27 or later")
    return exe


def render(path):
    result = subprocess.run([kubectl(), "kustomize", str(KUBE / path)], capture_output=True, text=True)
    assert result.returncode == 0, f"kubectl kustomize {path}: {result.stderr}"
    return [o for o in yaml.safe_load_all(result.stdout) if o]


@pytest.fixture(scope="module")
def rendered():
    return {path: render(path) for path in KUSTOMIZATIONS}


def by_kind(objects, kind):
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def test_every_object_validates_against_the_kubernetes_schemas(rendered):
    import kubernetes_validate
    for path, objects in rendered.items():
        core, custom = 0, 0
        for obj in objects:
            if obj["kind"] in CUSTOM_KINDS:
                assert obj["apiVersion"] == CUSTOM_KINDS[obj["kind"]], f"{path}: {obj['kind']} {obj['apiVersion']}"
                custom += 1
                continue
            try:
                kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(f"{path}: {obj['kind']}/{obj['metadata']['name']}: {error.message} at {list(error.path)}")
            core += 1
        print(f"kubectl kustomize {path}: {core} objects valid for Kubernetes {KUBERNETES_VERSION}, "
              f"{custom} custom resources")


def test_deployments_follow_the_deployment_rules(rendered):
    for path in ["base", "overlays/cert-manager", "overlays/monitoring", "overlays/production", "overlays/tracing"]:
        objects = rendered[path]
        deployments, services = by_kind(objects, "Deployment"), by_kind(objects, "Service")
        budgets, policies = by_kind(objects, "PodDisruptionBudget"), by_kind(objects, "NetworkPolicy")
        assert set(deployments) == set(SERVICES), path
        for name, deployment in deployments.items():
            pod = deployment["spec"]["template"]["spec"]
            container = pod["containers"][0]
            assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
            # Longer than the slowest request (a token exchange with retries is bounded by 30 s).
            assert pod["terminationGracePeriodSeconds"] > 30, name
            assert container["resources"]["limits"]["memory"] and container["resources"]["requests"]["cpu"]
            assert container["livenessProbe"]["httpGet"]["path"] == "/actuator/health/liveness"
            assert container["readinessProbe"]["httpGet"]["path"] == "/actuator/health/readiness"
            assert container["startupProbe"]["httpGet"]["path"] == "/actuator/health/liveness"
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                assert container[probe]["httpGet"]["port"] == "management", (name, probe)
            for volume in pod["volumes"]:
                if "secret" in volume:
                    assert volume["secret"]["defaultMode"] == 0o440, (name, volume["name"])
            assert not any("secretKeyRef" in (e.get("valueFrom") or {}) for e in container["env"]), \
                f"{name}: secrets are mounted as files, not put into the environment"
            assert budgets[name]["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}
        # Headless: authn's client resolves every pod and spreads its HTTP/2 connections.
        assert services["token-issuer"]["spec"]["clusterIP"] == "None"
        assert services["roles"]["spec"]["clusterIP"] == "None"
        roles_from = policies["roles"]["spec"]["ingress"][0]["from"]
        assert roles_from == [{"podSelector": {"matchLabels": {"certauth.io/roles-client": "true"}}}]
        issuer_from = policies["token-issuer"]["spec"]["ingress"][0]["from"]
        assert issuer_from == [{"podSelector": {"matchLabels": {"certauth.io/token-issuer-client": "true"}}}]
        authn_labels = deployments["authn"]["spec"]["template"]["metadata"]["labels"]
        assert authn_labels["certauth.io/roles-client"] == "true" and authn_labels["certauth.io/token-issuer-client"] == "true"
        assert "certauth.io/roles-client" not in deployments["token-issuer"]["spec"]["template"]["metadata"]["labels"]
    print("Deployments: non-root, read-only root, no capabilities, grace period > 30 s, liveness/readiness/startup "
          "probes on the management port, secrets as files 0440; headless Services; PDBs; NetworkPolicies: only authn "
          "(and labelled gateways) reach roles, only allowed callers reach token-issuer")


def test_cert_manager_overlay_issues_every_certificate_the_base_mounts(rendered):
    objects = rendered["overlays/production"]
    certificates = by_kind(objects, "Certificate")
    secrets_issued = {c["spec"]["secretName"]: c for c in certificates.values()}
    for name, deployment in by_kind(objects, "Deployment").items():
        for volume in deployment["spec"]["template"]["spec"]["volumes"]:
            secret = (volume.get("secret") or {}).get("secretName", "")
            if secret.endswith("-tls") or secret == "identity-certificate-secret":
                assert secret in secrets_issued, f"{name}: no Certificate writes Secret {secret}"
                assert [i["key"] for i in volume["secret"]["items"]] == ["keystore.p12"], (name, secret)
    for name in SERVICES:
        spec = certificates[name]["spec"]
        assert name in spec["dnsNames"], f"{name}: the certificate must name the Service"
    for certificate in certificates.values():
        spec = certificate["spec"]
        assert spec["keystores"]["pkcs12"]["create"] is True
        assert spec["keystores"]["pkcs12"]["passwordSecretRef"] == {"name": "certauth-keystore-password", "key": "password"}
        assert spec["issuerRef"] == {"name": "certauth-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}
        assert spec["privateKey"]["algorithm"] == "RSA"
    cluster = rendered["cert-manager-ca"]
    issuers = by_kind(cluster, "ClusterIssuer")
    assert issuers["certauth-ca"]["spec"]["ca"]["secretName"] == "certauth-ca-keypair"
    assert all("namespace" not in o["metadata"] for o in cluster if o["kind"] in ("ClusterIssuer", "Bundle"))
    bundle = by_kind(cluster, "Bundle")["certauth-ca"]["spec"]
    assert bundle["sources"] == [{"secret": {"name": "certauth-ca-keypair", "key": "ca.crt"}}]
    assert bundle["target"]["configMap"]["key"] == "truststore.pem"
    namespace = by_kind(objects, "Namespace")["certauth"]
    assert namespace["metadata"]["labels"] == {**namespace["metadata"]["labels"],
                                               **bundle["target"]["namespaceSelector"]["matchLabels"]}
    print(f"cert-manager overlay: {len(certificates)} Certificates (PKCS#12) cover every keystore the Deployments "
          "mount; trust-manager's Bundle publishes the CA as ConfigMap certauth-ca into the certauth namespace")


def test_monitoring_overlay_scrapes_and_alerts_on_exported_metrics(rendered):
    objects = rendered["overlays/production"]
    monitor = by_kind(objects, "ServiceMonitor")["certauth"]["spec"]
    assert monitor["endpoints"][0]["port"] == "management" and monitor["endpoints"][0]["path"] == "/metrics"
    services = by_kind(objects, "Service")
    for name in SERVICES:
        assert "management" in [p["name"] for p in services[name]["spec"]["ports"]], name
    rules = by_kind(objects, "PrometheusRule")["certauth"]["spec"]["groups"][0]["rules"]
    alerts = {r["alert"]: r for r in rules}
    assert set(alerts) == {"CertAuthCertificateExpiringSoon", "CertAuthJWKSStale", "CertAuthJWKSRefreshFailing",
                           "CertAuthIdPFailing", "CertAuthRefusalRateSpike", "CertAuthCRLNearlyStale",
                           "CertAuthRevocationSourceFailing", "CertAuthCredentialRotationFailing"}
    assert "certauth_authn_decisions_total" in alerts["CertAuthRefusalRateSpike"]["expr"]
    assert "14 * 86400" in alerts["CertAuthCertificateExpiringSoon"]["expr"]
    sources = "\n".join(p.read_text() for d in ("Services", "Shared") for p in (ROOT / d).rglob("*.swift"))
    for alert in alerts.values():
        assert alert["annotations"]["summary"] and alert["labels"]["severity"] in ("warning", "critical")
        for metric in set(re.findall(r"\b(certauth_[a-z_]+|http_server_[a-z_]+)", alert["expr"])):
            assert f'"{metric}"' in sources, f"{alert['alert']} uses {metric}, which no service exports"
    print("monitoring overlay: ServiceMonitor on every management port; alerts (certificate < 14 days, JWKS stale, "
          "JWKS refresh failing, IdP failing, refusal spike by decision reason, CRL near nextUpdate, revocation sources "
          "failing) on metrics the services export")


def test_every_deployment_environment_passes_check_config(rendered):
    """Each Deployment's env, with configMapKeyRef resolved from the rendered ConfigMap and every mounted Secret /
    ConfigMap key written under a scratch root as the kubelet mounts it (from a real dev PKI: the Secrets the base
    documents, or what the cert-manager overlay's Certificates produce), read by `certauth check-config`."""
    binaries = os.environ.get("CERTAUTH_BIN_DIR")
    if not binaries:
        pytest.fail("CERTAUTH_BIN_DIR is not set: run through scripts/interop.sh (make test)")
    certauth = os.path.join(binaries, "certauth")
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="certauth-kube-"))
    os.chmod(scratch, 0o755)
    try:
        password = "kube-test-Pa55"
        pki = scratch / "pki"
        subprocess.run([certauth, "pki", "init", "--out", str(pki)], env={**os.environ, "CERTAUTH_PKI_PASSWORD": password},
                       check=True, stdout=subprocess.DEVNULL)
        url = b"postgres://certauth:db-Pa55@postgres.example:5432/certauth?sslmode=require"
        truststore = (pki / "truststore.pem").read_bytes()
        for path in ["base", "overlays/cert-manager", "overlays/monitoring", "overlays/production", "overlays/tracing"]:
            objects = rendered[path]
            # What the cluster holds: the Secrets the base documents (created by the user) ...
            secrets = {
                "certauth-keystore-password": {"password": password.encode()},
                "identity-certificate-secret": {"identity.p12": (pki / "identity.p12").read_bytes(),
                                                "keystore-password": password.encode()},
                "certauth-database": {"url": url},
            }
            for name in SERVICES:
                secrets[f"{name}-tls"] = {"keystore.p12": (pki / f"{name}.p12").read_bytes()}
            # ... or, with cert-manager, what its Certificates write (keystore.p12, tls.crt, ca.crt).
            for certificate in by_kind(objects, "Certificate").values():
                name = certificate["spec"]["commonName"]
                secrets[certificate["spec"]["secretName"]] = {
                    "keystore.p12": (pki / f"{name}.p12").read_bytes(),
                    "ca.crt": truststore, "tls.crt": (pki / f"{name}.{'cer' if name == 'identity' else 'crt'}").read_bytes()}
            configmaps = {name: {k: v.encode() for k, v in cm["data"].items()}
                          for name, cm in by_kind(objects, "ConfigMap").items()}
            configmaps["certauth-ca"] = {"truststore.pem": truststore}   # the user's, or trust-manager's Bundle
            for name, deployment in by_kind(objects, "Deployment").items():
                root = scratch / path.replace("/", "-") / name
                pod = deployment["spec"]["template"]["spec"]
                container = pod["containers"][0]
                volumes = {v["name"]: v for v in pod["volumes"]}
                mounts = []
                for mount in container["volumeMounts"]:
                    volume = volumes[mount["name"]]
                    source = volume.get("secret") or volume.get("configMap")
                    store = secrets if "secret" in volume else configmaps
                    ref = source.get("secretName") or source.get("name")
                    target = root / mount["mountPath"].lstrip("/")
                    target.mkdir(parents=True, exist_ok=True)
                    for item in source["items"]:
                        assert ref in store and item["key"] in store[ref], \
                            f"{path}: {name} mounts key {item['key']} of {ref}, which nothing provides"
                        file = target / item["path"]
                        file.write_bytes(store[ref][item["key"]])
                        if "secret" in volume and os.geteuid() == 0:
                            os.chown(file, 0, CONTAINER_UID)   # fsGroup
                        os.chmod(file, source.get("defaultMode", 0o644))
                    mounts.append(mount["mountPath"])
                for directory in [root, *root.rglob("*")]:
                    if directory.is_dir():
                        os.chmod(directory, 0o755)
                environment = {"PATH": "/usr/bin:/bin"}
                for entry in container["env"]:
                    if "value" in entry:
                        # $(NAME) of an earlier variable is expanded by the kubelet
                        value = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                                       lambda m: environment.get(m.group(1), m.group(0)), entry["value"])
                    elif "fieldRef" in entry["valueFrom"]:   # the downward API: the pod's own name, namespace
                        value = {"metadata.name": f"{name}-5d9c7b8f6-x2x7q",
                                 "metadata.namespace": "certauth"}[entry["valueFrom"]["fieldRef"]["fieldPath"]]
                    else:
                        ref = entry["valueFrom"]["configMapKeyRef"]
                        value = configmaps[ref["name"]][ref["key"]].decode()
                    if any(value.startswith(m + "/") for m in mounts):
                        value = str(root) + value
                    environment[entry["name"]] = value
                extra = {"user": CONTAINER_UID, "group": CONTAINER_UID, "extra_groups": []} if os.geteuid() == 0 else {}
                result = subprocess.run([certauth, "check-config", container["command"][0]], env=environment,
                                        capture_output=True, text=True, **extra)
                assert result.returncode == 0, f"{path}: {name}: {result.stderr}"
                output = result.stdout + result.stderr
                assert password not in output and "db-Pa55" not in output
                assert "readable by" not in output, output
                if path == "overlays/tracing":
                    assert "traces: exported over OTLP/HTTP (http/protobuf) to http://otel-collector.observability.svc:4318" \
                        in output, output
                    assert environment["OTEL_RESOURCE_ATTRIBUTES"] == \
                        f"k8s.pod.name={name}-5d9c7b8f6-x2x7q,k8s.namespace.name=certauth", environment
                else:
                    assert "traces: not exported" in output, output
                print(f"{path}: {name}: check-config ok")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
