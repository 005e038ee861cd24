"""infra/bicep, checked without a Bicep compiler: every file parses (pycep-parser) and
its tree is walked; the names the code reads (settings, queues, tables, the Cosmos
container, the SignalR hub) are the ones the templates create and set; every role the
code needs is assigned; nothing secret is output; checkov passes offline."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pycep import BicepParser

from shared.settings import Settings, env_name

ROOT = Path(__file__).resolve().parents[2]
BICEP = ROOT / "infra" / "bicep"
FILES = sorted(BICEP.rglob("*.bicep"))

#: App settings read by the Functions host, its extensions or the Python worker, not by
#: dtq's code: each set for a reason given here.
HOST_SETTINGS = {
    # The host's storage, identity-based.
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsStorage__queueServiceUri",
    "AzureWebJobsStorage__tableServiceUri",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    # Telemetry with Entra ID ingestion; the worker streams its own logs.
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "PYTHON_ENABLE_OPENTELEMETRY",
    # The Service Bus trigger and the SignalR bindings authenticate with the identity.
    "ServiceBusConnection__credential",
    "AzureSignalRConnectionString__credential",
    "AzureSignalRConnectionString__clientId",
    # Azure SDK connection conventions, kept for the same connection name everywhere.
    "TableStorageConnection__credential",
    "CosmosDBConnection__credential",
}

#: Settings the Azure deployment must set: backends, connections, names, access.
REQUIRED = {
    "DTQ_QUEUE_BACKEND",
    "DTQ_STATUS_BACKEND",
    "DTQ_RESULT_BACKEND",
    "ServiceBusConnection__fullyQualifiedNamespace",
    "ServiceBusConnection__clientId",
    "TableStorageConnection__tableServiceUri",
    "TableStorageConnection__clientId",
    "CosmosDBConnection__accountEndpoint",
    "CosmosDBConnection__clientId",
    "AzureSignalRConnectionString__serviceUri",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "DTQ_JOBS_QUEUE",
    "DTQ_JOBS_QUEUE_HIGH",
    "DTQ_JOBS_QUEUE_LOW",
    "DTQ_EVENTS_QUEUE",
    "DTQ_WEBHOOKS_QUEUE",
    "DTQ_WEBHOOKS_TABLE",
    "DTQ_SCHEDULES_TABLE",
    "DTQ_WEBHOOK_SWEEP_SCHEDULE",
    "DTQ_SCHEDULES_TIMER_SCHEDULE",
    "DTQ_SIGNALR_HUB",
    "DTQ_STATUS_TABLE",
    "DTQ_API_KEYS_TABLE",
    "DTQ_RATES_TABLE",
    "DTQ_SLOTS_TABLE",
    "DTQ_IDEMPOTENCY_TABLE",
    "DTQ_COSMOS_DATABASE",
    "DTQ_COSMOS_RESULTS_CONTAINER",
    "DTQ_RETENTION_SCHEDULE",
    "DTQ_RECONCILE_SCHEDULE",
    "DTQ_REQUIRE_API_KEYS",
}


@cache
def parsed(path: Path) -> dict[str, Any]:
    return dict(BicepParser().parse(file_path=path))


def main() -> dict[str, Any]:
    return parsed(BICEP / "main.bicep")


def module(name: str) -> dict[str, Any]:
    return parsed(BICEP / "modules" / f"{name}.bicep")


def var(name: str) -> Any:
    return main()["variables"][name]["value"]


def resolve(value: Any) -> Any:
    """A main.bicep value as a literal where it is one: strings, numbers, var names,
    ``var.key`` accessors and ``string(var)``; anything else as parsed."""
    if isinstance(value, str) and value in main()["variables"]:
        return resolve(var(value))
    if isinstance(value, str) and value in main()["parameters"]:
        return resolve(main()["parameters"][value].get("default"))
    if isinstance(value, dict) and "operator" in value:
        op = value["operator"]
        if op["type"] == "property_accessor":
            base = resolve(op["operands"]["operand_1"])
            if isinstance(base, dict):
                return resolve(base[op["operands"]["operand_2"]])
    if isinstance(value, dict) and "function" in value:
        fn = value["function"]
        if fn["type"] == "string":  # Bicep's string(): JSON for booleans
            converted = resolve(fn["parameters"]["value_to_convert"])
            return json.dumps(converted) if isinstance(converted, bool) else str(converted)
    return value


def body(config: dict[str, Any]) -> dict[str, Any]:
    """A resource's or module's declaration, inside any loop or condition."""
    while "loop_type" in config or "condition" in config:
        config = config["config"]
    return config


def resources(tree: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    """Resources of a type, each as {"config": its declaration} (loops unwrapped)."""
    return [
        {**r, "config": body(r["config"]), "looped": "loop_type" in r["config"]}
        for r in tree.get("resources", {}).values()
        if r["type"] == type_
    ]


def params(name: str) -> dict[str, Any]:
    return dict(body(main()["modules"][name]["config"])["params"])


def walk(node: Any) -> Any:
    yield node
    if isinstance(node, dict):
        for child in node.values():
            yield from walk(child)
    elif isinstance(node, list):
        for child in node:
            yield from walk(child)


# --- every file --------------------------------------------------------------------------


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_bicep_file_parses_and_pins_its_api_versions(path: Path) -> None:
    tree = parsed(path)
    for name, resource in tree.get("resources", {}).items():
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}(-preview)?", resource["api_version"] or ""), name
    for name, mod in tree.get("modules", {}).items():
        assert (path.parent / mod["detail"]["path"]).is_file(), f"{name} -> {mod['detail']['path']}"
    for name in tree.get("outputs", {}):
        assert not re.search(r"key|secret|password|token|sas", name, re.I), f"output {name}"


def test_main_uses_every_module_and_every_module_is_used() -> None:
    used = {Path(m["detail"]["path"]).name for m in main()["modules"].values()}
    assert used == {p.name for p in (BICEP / "modules").glob("*.bicep")}


def test_no_key_or_connection_secret_is_read_anywhere() -> None:
    for path in FILES:
        text = path.read_text()
        assert not re.search(r"listKeys|listConnectionStrings|primaryKey|listSecrets", text), (
            path.name
        )


def test_local_auth_and_old_tls_are_off_wherever_the_service_allows() -> None:
    storage = resources(module("storage"), "Microsoft.Storage/storageAccounts")[0]["config"][
        "properties"
    ]
    assert storage["allowSharedKeyAccess"] is False and storage["minimumTlsVersion"] == "TLS1_2"
    assert storage["allowBlobPublicAccess"] is False
    namespace = resources(module("servicebus"), "Microsoft.ServiceBus/namespaces")[0]["config"][
        "properties"
    ]
    assert namespace["disableLocalAuth"] is True and namespace["minimumTlsVersion"] == "1.2"
    cosmos = resources(module("cosmos"), "Microsoft.DocumentDB/databaseAccounts")[0]["config"][
        "properties"
    ]
    assert cosmos["disableLocalAuth"] is True and cosmos["minimalTlsVersion"] == "Tls12"
    assert {"name": "EnableServerless"} in cosmos["capabilities"]
    signalr = resources(module("signalr"), "Microsoft.SignalRService/signalR")[0]["config"][
        "properties"
    ]
    assert signalr["disableLocalAuth"] is True
    assert {"flag": "ServiceMode", "value": "Serverless"} in signalr["features"]
    insights = resources(module("monitoring"), "Microsoft.Insights/components")[0]["config"][
        "properties"
    ]
    assert insights["DisableLocalAuth"] is True
    site = resources(module("functionapp"), "Microsoft.Web/sites")[0]["config"]
    assert site["properties"]["httpsOnly"] is True
    assert site["properties"]["siteConfig"]["minTlsVersion"] == "1.2"
    assert site["identity"]["type"] == "UserAssigned"
    policies = resources(
        module("functionapp"), "Microsoft.Web/sites/basicPublishingCredentialsPolicies"
    )
    assert [p["config"]["properties"]["allow"] for p in policies] == [False, False]


def test_the_function_app_runs_python_on_flex_consumption() -> None:
    plan = resources(module("functionapp"), "Microsoft.Web/serverfarms")[0]["config"]
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    config = resources(module("functionapp"), "Microsoft.Web/sites")[0]["config"]["properties"][
        "functionAppConfig"
    ]
    assert config["runtime"]["name"] == "python"
    assert config["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"


# --- names: what the code reads is what the templates make and set ---------------------------


def app_settings() -> dict[str, Any]:
    return {k: resolve(v) for k, v in var("appSettings").items()}


def test_every_app_setting_is_one_the_code_or_the_host_reads_and_none_is_missing() -> None:
    settings = app_settings()
    ours = {env_name(field) for field in Settings.model_fields}
    unused = set(settings) - ours - HOST_SETTINGS
    assert not unused, f"set by the templates, read by nobody: {unused}"
    assert not REQUIRED - set(settings), f"not set by the templates: {REQUIRED - set(settings)}"
    # Flex Consumption takes the runtime from functionAppConfig, and refuses these.
    assert not {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION"} & set(settings)


def test_app_settings_are_valid_settings_for_the_code() -> None:
    literal = {
        k: v for k, v in app_settings().items() if isinstance(v, str) and k.startswith("DTQ_")
    }
    loaded = Settings(
        **{
            field: literal[env_name(field)]
            for field in Settings.model_fields
            if env_name(field) in literal
        }
    )
    assert (loaded.queue_backend, loaded.status_backend, loaded.result_backend) == (
        "servicebus",
        "table",
        "cosmos",
    )
    assert loaded.require_api_keys is True
    assert loaded.trust_client_principal is False, "off unless a deployment opts in (param)"


def test_the_templates_create_the_queues_tables_and_container_the_settings_name() -> None:
    settings = app_settings()
    defaults = Settings()
    queues = var("jobQueues")
    assert (
        {
            settings["DTQ_JOBS_QUEUE_HIGH"],
            settings["DTQ_JOBS_QUEUE"],
            settings["DTQ_JOBS_QUEUE_LOW"],
        }
        == set(queues.values())
        == {defaults.jobs_queue_high, defaults.jobs_queue, defaults.jobs_queue_low}
    )
    assert settings["DTQ_EVENTS_QUEUE"] == var("eventsQueue") == defaults.events_queue
    sb = params("servicebus")
    assert [resolve(q) for q in sb["jobQueues"]] == [
        queues["high"],
        queues["normal"],
        queues["low"],
    ]
    assert resolve(sb["eventsQueue"]) == defaults.events_queue
    assert settings["DTQ_WEBHOOKS_QUEUE"] == var("webhooksQueue") == defaults.webhooks_queue
    assert resolve(sb["webhooksQueue"]) == defaults.webhooks_queue
    tables = {
        settings[k]
        for k in (
            "DTQ_STATUS_TABLE",
            "DTQ_API_KEYS_TABLE",
            "DTQ_RATES_TABLE",
            "DTQ_SLOTS_TABLE",
            "DTQ_IDEMPOTENCY_TABLE",
            "DTQ_WEBHOOKS_TABLE",
            "DTQ_SCHEDULES_TABLE",
        )
    }
    created = {resolve(t) for t in params("storage")["tables"]}
    assert (
        tables
        == created
        == {
            defaults.status_table,
            defaults.api_keys_table,
            defaults.rates_table,
            defaults.slots_table,
            defaults.idempotency_table,
            defaults.webhooks_table,
            defaults.schedules_table,
        }
    )
    cosmos = params("cosmos")
    assert (
        (resolve(cosmos["databaseName"]), resolve(cosmos["containerName"]))
        == (
            settings["DTQ_COSMOS_DATABASE"],
            settings["DTQ_COSMOS_RESULTS_CONTAINER"],
        )
        == (defaults.cosmos_database, defaults.cosmos_results_container)
    )
    assert settings["DTQ_SIGNALR_HUB"] == defaults.signalr_hub
    assert (settings["DTQ_RETENTION_SCHEDULE"], settings["DTQ_RECONCILE_SCHEDULE"]) == (
        defaults.retention_schedule,
        defaults.reconcile_schedule,
    )
    assert settings["DTQ_WEBHOOK_SWEEP_SCHEDULE"] == defaults.webhook_sweep_schedule
    assert settings["DTQ_SCHEDULES_TIMER_SCHEDULE"] == defaults.schedules_timer_schedule


def test_the_results_container_is_partitioned_and_indexed_as_the_adapter_expects() -> None:
    from shared.adapters.azure.cosmos_results import INDEXING_POLICY

    container = resources(
        module("cosmos"), "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers"
    )[0]
    resource = container["config"]["properties"]["resource"]
    assert resource["partitionKey"]["paths"] == ["/job_id"]
    assert resource["indexingPolicy"] == INDEXING_POLICY
    assert (
        resolve(main()["modules"]["cosmos"]["config"]["params"]["defaultTtl"])
        == Settings().result_ttl_seconds
    )


def test_queues_behave_as_the_embedded_queue_imitates() -> None:
    defaults = Settings()
    assert var("maxDeliveryCount") == defaults.queue_max_delivery_count
    assert var("lockSeconds") == defaults.queue_lock_seconds
    assert var("duplicateWindow") == f"PT{int(defaults.queue_duplicate_window_seconds // 60)}M"
    queue = resources(module("servicebus"), "Microsoft.ServiceBus/namespaces/queues")[0]["config"]
    props = queue["properties"]
    assert (
        props["requiresDuplicateDetection"] is True
        and props["deadLetteringOnMessageExpiration"] is True
    )
    namespace = resources(module("servicebus"), "Microsoft.ServiceBus/namespaces")[0]["config"]
    assert namespace["sku"]["name"] == "Standard", (
        "duplicate detection and scheduling need Standard"
    )


# --- roles -----------------------------------------------------------------------------------

# What each role grants, against what each code path does: tests/infra/test_roles.py
# (Microsoft's role definitions in tests/infra/fixtures/builtin_roles.json).


def test_the_roles_go_to_the_app_identity() -> None:
    app = params("appRoles")
    assert app["principalType"] == "ServicePrincipal"
    assert "identity" in json.dumps(app["principalId"]), "the app's managed identity"


def test_the_deploying_user_gets_the_same_roles_only_when_named() -> None:
    user = main()["modules"]["userRoles"]["config"]
    # A user from a laptop, the OIDC service principal in CI: azd says which.
    assert params("userRoles")["principalType"] == "principalType"
    assert main()["parameters"]["principalType"]["default"] == "User"
    deployment = json.loads((BICEP / "main.parameters.json").read_text())["parameters"]
    assert deployment["principalType"]["value"] == "${AZURE_PRINCIPAL_TYPE=User}"
    assert "empty" in json.dumps(user["condition"]), "only if principalId is given"


# --- checkov -----------------------------------------------------------------------------------


def checkov() -> str | None:
    local = ROOT / ".venv-checkov" / "bin" / "checkov"
    return str(local) if local.exists() else shutil.which("checkov")


def test_checkov_passes_offline_with_only_documented_skips() -> None:
    tool = checkov()
    if tool is None:
        if os.environ.get("DTQ_REQUIRE_CHECKOV") == "1":
            pytest.fail("checkov is not installed (./dev test installs it in .venv-checkov)")
        pytest.skip("checkov is not installed (./dev test installs it in .venv-checkov)")

    def scan(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [tool, *args, "--skip-download", "--compact", "--quiet"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )

    def finished(scan: subprocess.Popen[str]) -> tuple[int, str, str]:
        try:
            out, err = scan.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            scan.kill()
            out, err = scan.communicate()
        return scan.returncode, out, err

    # The two scans side by side: each spends most of its time starting checkov.
    templates = scan("-d", str(BICEP), "--config-file", str(ROOT / "infra" / "checkov.yaml"))
    workflows = scan("-d", str(ROOT / ".github" / "workflows"), "--framework", "github_actions")
    done, workflows_done = finished(templates), finished(workflows)
    assert done[0] == 0, done[1][-4000:] + done[2][-2000:]
    assert workflows_done[0] == 0, workflows_done[1][-4000:]
    skipped = set(yaml.safe_load((ROOT / "infra" / "checkov.yaml").read_text())["skip-check"])
    documented = set(re.findall(r"`(CKV_[A-Z0-9_]+)`", (ROOT / "docs" / "deploy.md").read_text()))
    assert skipped == documented, "every skipped check is listed and justified in docs/deploy.md"


# --- azd, hooks, host.json, workflows ------------------------------------------------------------


def test_azure_yaml_deploys_the_api_and_the_web_ui_from_these_templates() -> None:
    azd = yaml.safe_load((ROOT / "azure.yaml").read_text())
    assert azd["infra"] == {"provider": "bicep", "path": "infra/bicep", "module": "main"}
    assert (
        azd["services"]["api"]["host"] == "function"
        and azd["services"]["api"]["language"] == "python"
    )
    assert (
        azd["services"]["web"]["host"] == "staticwebapp"
        and azd["services"]["web"]["project"] == "static-web"
    )
    tags = {
        json.dumps(resources(module(name), type_)[0]["config"]["tags"])
        for name, type_ in (
            ("functionapp", "Microsoft.Web/sites"),
            ("staticwebapp", "Microsoft.Web/staticSites"),
        )
    }
    assert any('"api"' in t for t in tags) and any('"web"' in t for t in tags), (
        "azd-service-name tags"
    )
    hook = azd["hooks"]["postprovision"]["posix"]["run"]
    assert (ROOT / hook.split()[-1]).is_file()


def test_the_postprovision_hook_writes_identity_based_settings_beside_the_local_ones(
    tmp_path: Path,
) -> None:
    hook = (ROOT / "scripts" / "write_local_settings.py").read_text()
    assert '"local.settings.azure.json"' in hook and 'ROOT / "local.settings.json"' not in hook
    outputs = {
        "SERVICEBUS_NAMESPACE": "sb-dtq-x.servicebus.windows.net",
        "TABLE_SERVICE_URI": "https://stdtqx.table.core.windows.net/",
        "COSMOS_ENDPOINT": "https://cosmos-dtq-x.documents.azure.com:443/",
    }
    env = {**{k: v for k, v in os.environ.items() if k not in outputs}, **outputs}
    done = subprocess.run(
        ["python3", "scripts/write_local_settings.py", "--print"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    values = json.loads(done.stdout)["Values"]
    assert (
        values["ServiceBusConnection__fullyQualifiedNamespace"] == outputs["SERVICEBUS_NAMESPACE"]
    )
    loaded = Settings(
        **{f: values[env_name(f)] for f in Settings.model_fields if values.get(env_name(f))}
    )
    assert (loaded.queue_backend, loaded.status_backend, loaded.result_backend) == (
        "servicebus",
        "table",
        "cosmos",
    )
    assert not any(re.search(r"AccountKey|SharedAccessKey", str(v)) for v in values.values())
    missing = subprocess.run(
        ["python3", "scripts/write_local_settings.py", "--print"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"]},
        cwd=ROOT,
        timeout=60,
    )
    assert missing.returncode == 1 and "SERVICEBUS_NAMESPACE" in missing.stderr


def test_host_json_holds_what_both_hosts_expect() -> None:
    host = json.loads((ROOT / "host.json").read_text())
    assert host["version"] == "2.0" and host["telemetryMode"] == "OpenTelemetry"
    assert host["extensions"]["http"]["routePrefix"] == "api"
    bus = host["extensions"]["serviceBus"]
    # The worker's settlement rules (functions/run_job.py): return completes, raise abandons.
    assert bus["autoCompleteMessages"] is True
    assert bus["maxConcurrentCalls"] >= 1 and "maxAutoLockRenewalDuration" in bus
    hours, minutes, seconds = (int(p) for p in host["functionTimeout"].split(":"))
    assert hours * 3600 + minutes * 60 + seconds > Settings().job_timeout_seconds, (
        "a job's limit fits in a function's"
    )
    assert host["extensionBundle"]["id"] == "Microsoft.Azure.Functions.ExtensionBundle"
    example = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    assert example["FUNCTIONS_WORKER_RUNTIME"] == "python" and "AzureWebJobsStorage" in example


def test_workflows_test_on_every_push_and_deploy_with_oidc_only() -> None:
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    assert {"push", "pull_request"} <= set(ci["on"])
    assert any(step.get("run") == "./dev test" for step in ci["jobs"]["test"]["steps"])
    deploy_text = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    deploy = yaml.safe_load(deploy_text)
    assert deploy["jobs"]["deploy"]["permissions"]["id-token"] == "write"
    assert "secrets." not in deploy_text, "no stored secret: OIDC federated credentials"
    steps = " ".join(step.get("run", "") for step in deploy["jobs"]["deploy"]["steps"])
    assert (
        "--federated-credential-provider github" in steps
        and "azd provision" in steps
        and "azd deploy" in steps
    )


def test_the_function_package_holds_the_app_and_leaves_the_rest_out() -> None:
    ignored = {
        line.strip().rstrip("/")
        for line in (ROOT / ".funcignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {
        ".venv",
        "node_modules",
        "tests",
        "static-web",
        ".venv-checkov",
        "local.settings.json",
    } <= ignored
    needed = {"function_app.py", "functions", "shared", "host.json", "requirements.txt", "examples"}
    assert not needed & ignored
