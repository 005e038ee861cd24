"""The roles infra/bicep/modules/roles.bicep assigns, checked against what each code path
needs: every data action (and control-plane action) a path performs is granted by a role
assigned on the resource it touches, according to Microsoft's definitions of the built-in
roles (tests/infra/fixtures/builtin_roles.json, which names its sources).

A role is found by its GUID in the fixture, never by a name in the template, so a wrong
GUID, or a right GUID for a role that lacks an action, fails here."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
ROLES_BICEP = ROOT / "infra" / "bicep" / "modules" / "roles.bicep"
FIXTURE = Path(__file__).with_name("fixtures") / "builtin_roles.json"

SIGNALR = "Microsoft.SignalRService/SignalR"
STORAGE = "Microsoft.Storage/storageAccounts"
BUS = "Microsoft.ServiceBus/namespaces"
COSMOS = "Microsoft.DocumentDB/databaseAccounts"


@dataclass(frozen=True)
class Need:
    """One thing a code path does to one resource, and the operation Azure checks."""

    resource: str  # the resource type the assignment is scoped to
    operation: str  # an Azure RBAC (data) action, exactly as Microsoft names it
    path: str  # the code path
    why: str  # where the need is documented
    data: bool = True  # a dataAction (False: a control-plane action)


NEEDS = [
    # --- SignalR: negotiate (HTTP trigger + signalRConnectionInfo input, identity-based) --
    Need(
        "Microsoft.SignalRService/signalR",
        f"{SIGNALR}/auth/accessKey/action",
        "functions/push.py negotiate: signalRConnectionInfo input with "
        "AzureSignalRConnectionString__credential=managedidentity",
        "With an identity the SignalR extension first generates an AccessKey "
        "(auth/accessKey: 'Generate an AccessKey for signing AccessTokens') and signs the "
        "client's token with it. Microsoft's SignalR managed-identity article: SignalR "
        "Service Owner is 'used for a negotiation server with an Azure SignalR Service "
        "resource running in Serverless mode. It requires both REST API permissions and "
        "authentication API permissions'; REST API Owner 'doesn't ... handle negotiation "
        "requests'. The Functions identity-connection docs recommend SignalR Service Owner.",
    ),
    # --- SignalR: negotiate's output binding adds the caller's user id to a group ------
    Need(
        "Microsoft.SignalRService/signalR",
        f"{SIGNALR}/group/write",
        "functions/push.py negotiate: signalR output binding, action 'add' (group_action)",
        "group/write: 'Join / Leave group' (Microsoft.SignalRService permissions).",
    ),
    Need(
        "Microsoft.SignalRService/signalR",
        f"{SIGNALR}/user/write",
        "functions/push.py negotiate: the group action names a user id, not a connection",
        "The REST call is PUT .../groups/{group}/users/{user}; the permissions page does "
        "not say whether group/write or user/write ('Modify a user') is checked for it, "
        "so both are required.",
    ),
    # --- SignalR: push_job_events sends each job to its job and tenant groups ----------
    Need(
        "Microsoft.SignalRService/signalR",
        f"{SIGNALR}/group/send/action",
        "functions/push.py push_job_events: signalR output binding, messages with groupName",
        "group/send/action: 'Broadcast message to group'.",
    ),
    # --- Service Bus: every dtq queue ---------------------------------------------------
    Need(
        "Microsoft.ServiceBus/namespaces/queues",
        f"{BUS}/messages/send/action",
        "submit, retries, requeue, the events queue (shared/adapters/azure/servicebus_queue.py)",
        "Azure Service Bus permissions: messages/send/action.",
    ),
    Need(
        "Microsoft.ServiceBus/namespaces/queues",
        f"{BUS}/messages/receive/action",
        "the queue triggers, DLQ peek and requeue",
        "Azure Service Bus permissions: messages/receive/action.",
    ),
    Need(
        "Microsoft.ServiceBus/namespaces/queues",
        "Microsoft.ServiceBus/*",
        "/api/v1/stats queue depth: get_queue_runtime_properties (the Manage claim)",
        "Entity management through the namespace endpoint needs the Manage claim, which "
        "among the built-in roles only Azure Service Bus Data Owner (Microsoft.ServiceBus/*) "
        "carries; Sender and Receiver do not.",
    ),
    # --- Storage: the Functions host (AzureWebJobsStorage) and dtq's tables ------------
    *[
        Need(
            "Microsoft.Storage/storageAccounts",
            f"{STORAGE}/blobServices/containers/blobs/{verb}",
            "the Functions host: timer locks, host keys, the Flex deployment package",
            "Functions docs (AzureWebJobsStorage identity): Storage Blob Data Owner.",
        )
        for verb in ("read", "write", "delete")
    ],
    Need(
        "Microsoft.Storage/storageAccounts",
        f"{STORAGE}/blobServices/containers/write",
        "the Functions host creates its containers (azure-webjobs-hosts, -secrets)",
        "Functions docs (AzureWebJobsStorage identity): Storage Blob Data Owner.",
        data=False,
    ),
    *[
        Need(
            "Microsoft.Storage/storageAccounts",
            f"{STORAGE}/queueServices/queues/messages/{verb}",
            "the Functions host's internal queues",
            "Functions docs (AzureWebJobsStorage identity): Storage Queue Data Contributor.",
        )
        for verb in ("read", "write", "delete", "process/action")
    ],
    *[
        Need(
            "Microsoft.Storage/storageAccounts",
            f"{STORAGE}/tableServices/tables/entities/{verb}",
            "status, API keys, rates, slots, idempotency (shared/adapters/azure/table_*.py: "
            "get/create/update/upsert/delete_entity, queries)",
            "Storage permissions for table entities.",
        )
        for verb in ("read", "write", "delete", "add/action", "update/action")
    ],
    # --- Cosmos DB (its own data-plane RBAC) --------------------------------------------
    *[
        Need(
            COSMOS,
            f"{COSMOS}/{operation}",
            "results (shared/adapters/azure/cosmos_results.py: create_item, read_item, "
            "container.read for health)",
            "Cosmos DB for NoSQL data plane actions reference.",
        )
        for operation in (
            "readMetadata",
            "sqlDatabases/containers/items/create",
            "sqlDatabases/containers/items/read",
        )
    ],
    # --- Application Insights, Entra ID ingestion ---------------------------------------
    Need(
        "Microsoft.Insights/components",
        "Microsoft.Insights/Telemetry/Write",
        "telemetry export (APPLICATIONINSIGHTS_AUTHENTICATION_STRING ... Authorization=AAD)",
        "Application Insights Entra ID authentication: Monitoring Metrics Publisher.",
    ),
]


@cache
def fixture() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


@cache
def tree() -> dict[str, Any]:
    return dict(BicepParser().parse(file_path=ROLES_BICEP))


def covers(pattern: str, operation: str) -> bool:
    """Azure's wildcard rule: ``*`` matches any run of characters (slashes too), and
    operation names compare case-insensitively."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, operation, re.IGNORECASE) is not None


def grants(role: dict[str, Any], operation: str, *, data: bool) -> bool:
    allow, deny = ("dataActions", "notDataActions") if data else ("actions", "notActions")
    return any(covers(p, operation) for p in role.get(allow, [])) and not any(
        covers(p, operation) for p in role.get(deny, [])
    )


def _symbol(node: Any) -> str:
    """The symbolic name of an assignment's scope: ``storage`` or ``queues[i]``."""
    if isinstance(node, str):
        return node
    return str(node["operator"]["operands"]["operand_1"])


def assignments() -> list[tuple[str, dict[str, Any], str]]:
    """(resource type scoped to, role definition, assignment name) for each assignment."""
    t = tree()
    variables = t["variables"]
    guids = variables["roles"]["value"]
    types = {name: r["type"] for name, r in t["resources"].items()}
    azure, cosmos = fixture()["azureRbac"]["roles"], fixture()["cosmosDataPlane"]["roles"]
    found = []
    for name, resource in t["resources"].items():
        config = resource["config"]
        while "loop_type" in config or "condition" in config:
            config = config["config"]
        if resource["type"] == "Microsoft.Authorization/roleAssignments":
            ref = config["properties"]["roleDefinitionId"]["function"]["parameters"]
            key = ref["resource_name_1"]["operator"]["operands"]["operand_2"]
            guid = guids[key]
            assert guid in azure, f"{name}: role {key} = {guid} is not a built-in role we know"
            found.append((types[_symbol(config["scope"])], azure[guid], name))
        elif resource["type"] == f"{COSMOS}/sqlRoleAssignments":
            text = config["properties"]["roleDefinitionId"]
            var = re.search(r"sqlRoleDefinitions/\$\{(\w+)\}", text)
            assert var, f"{name}: roleDefinitionId {text}"
            guid = variables[var.group(1)]["value"]
            assert guid in cosmos, f"{name}: Cosmos data-plane role {guid} is unknown"
            found.append((types[config["parent"]], cosmos[guid], name))
    return found


@pytest.mark.parametrize(
    "need", NEEDS, ids=[f"{n.resource.split('/')[-1]}:{n.operation}" for n in NEEDS]
)
def test_every_code_path_is_granted_what_it_does(need: Need) -> None:
    on_resource = [(role, name) for type_, role, name in assignments() if type_ == need.resource]
    granted = [name for role, name in on_resource if grants(role, need.operation, data=need.data)]
    assert granted, (
        f"{need.path} needs {need.operation} on {need.resource}; assigned there: "
        f"{[role['roleName'] for role, _ in on_resource]} (why: {need.why})"
    )


def test_no_role_is_assigned_that_no_code_path_needs() -> None:
    for type_, role, name in assignments():
        needs = [n for n in NEEDS if n.resource == type_]
        assert any(grants(role, n.operation, data=n.data) for n in needs), (
            f"{name} ({role['roleName']}) grants nothing a code path needs on {type_}"
        )


def test_the_push_paths_send_only_to_groups() -> None:
    """The SignalR needs above assume push sends to groups and adds users to groups
    only (no user or connection messages): keep them honest against the code."""
    from shared.push import group_action, signalr_messages

    job = {
        "job_id": "j1",
        "tenant_id": "t1",
        "updated_at": "2026-11-29T00:00:00Z",
        "status": "running",
    }
    messages = signalr_messages([json.dumps({"job": job}).encode()])
    assert messages and all("groupName" in m and "userId" not in m for m in messages)
    action = group_action("u" * 16, "g")
    assert action["action"] == "add" and "groupName" in action


def test_the_fixture_names_its_sources_and_each_role_its_guid() -> None:
    data = fixture()
    for plane in ("azureRbac", "cosmosDataPlane"):
        source = json.dumps(data[plane]["_source"])
        assert "learn.microsoft.com" in source
        for guid, role in data[plane]["roles"].items():
            assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", guid)
            assert role["roleName"] and isinstance(role["dataActions"], list)
    assert "MicrosoftDocs/azure-docs" in json.dumps(data["azureRbac"]["_source"])


def test_wildcards_match_as_azure_matches_them() -> None:
    assert covers("Microsoft.SignalRService/SignalR/*", f"{SIGNALR}/auth/accessKey/action")
    assert covers("Microsoft.ServiceBus/*/send/action", f"{BUS}/messages/send/action")
    assert covers("microsoft.insights/telemetry/write", "Microsoft.Insights/Telemetry/Write")
    assert not covers(
        "Microsoft.SignalRService/SignalR/group/*", f"{SIGNALR}/auth/accessKey/action"
    )
    assert not covers("Microsoft.ServiceBus/*/send/action", "Microsoft.ServiceBus/*")
