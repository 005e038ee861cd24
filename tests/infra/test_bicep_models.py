"""infra/bicep's resource bodies against the Azure SDK's management models (issue 16,
item 6): an unknown property name, a value of the wrong type or an invalid enum value in a
template fails here instead of in a deployment. The checker is tests/support/bicep_models.py;
the mutation tests below prove that it reports each kind of mistake in a copy of a real
template, and the coverage test that it checks most of what the templates say literally."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from tests.support.bicep_models import (
    MODELS,
    Check,
    Resource,
    check_resources,
    model_for,
    parse_file,
    parse_text,
    shape_of,
)

ROOT = Path(__file__).resolve().parents[2]
BICEP = ROOT / "infra" / "bicep"
FILES = sorted(BICEP.rglob("*.bicep"))

#: Resource types the templates use that no SDK model is checked against, each with its
#: reason: "type (lower case)": "why". Empty today: every type in infra/bicep is mapped in
#: tests/support/bicep_models.py MODELS. Add a type here only if no azure-mgmt-* package
#: models it (say so), never to silence a finding.
NOT_CHECKED: dict[str, str] = {}


@cache
def template_resources() -> tuple[Resource, ...]:
    return tuple(r for path in FILES for r in parse_file(path, ROOT))


@cache
def real_check() -> Check:
    check, _ = check_resources(list(template_resources()))
    return check


def summary(check: Check) -> str:
    lines = ["resource -> SDK model (SDK module's API version):"]
    for res in template_resources():
        mapped = model_for(res.type, res.api_version)
        if mapped is None:
            lines.append(f"  {res.where}: not checked ({NOT_CHECKED.get(res.type.lower())})")
            continue
        note = "" if mapped.exact else f"  [template {res.api_version}, SDK {mapped.sdk_version}]"
        lines.append(f"  {res.where} -> {mapped.cls.__module__}.{mapped.cls.__name__}{note}")
    lines.append("counts: " + ", ".join(f"{k}={v}" for k, v in sorted(check.stats.items())))
    lines += [f"finding: {f}" for f in check.findings]
    return "\n".join(lines)


# --- the real templates -----------------------------------------------------------------------


def test_every_resource_type_is_checked_or_listed_with_its_reason() -> None:
    types = {r.type.lower() for r in template_resources()}
    assert types, "no resource found in infra/bicep"
    unmapped = types - set(MODELS) - set(NOT_CHECKED)
    assert not unmapped, f"map these in tests/support/bicep_models.py MODELS: {sorted(unmapped)}"
    assert all(reason.strip() for reason in NOT_CHECKED.values())
    assert not set(NOT_CHECKED) & set(MODELS), "a type is either checked or listed, not both"
    for res in template_resources():
        mapped = model_for(res.type, res.api_version)
        if mapped is not None:
            assert shape_of(mapped.cls), f"{res.where}: {mapped.cls} has no properties"


def test_the_templates_match_the_sdk_models() -> None:
    check = real_check()
    print(summary(check))
    assert not check.findings, "\n" + "\n".join(str(f) for f in check.findings)


def test_the_check_covers_most_of_what_the_templates_say() -> None:
    """The walk must not check nothing in silence: most literal keys are matched against a
    model, values are type- and enum-checked, and the expressions it skips are counted."""
    check = real_check()
    stats = check.stats
    mapped = [r for r in template_resources() if model_for(r.type, r.api_version)]
    assert (
        stats["resources"]
        == len(mapped)
        == len(template_resources())
        - sum(1 for r in template_resources() if r.type.lower() in NOT_CHECKED)
    )
    literal_keys = (
        stats["keys checked"]
        + stats["unknown keys"]
        + stats["keys of an open object"]
        + stats["expression keys"]
    )
    assert stats["keys checked"] >= 150, summary(check)
    assert stats["keys checked"] / literal_keys >= 0.95, summary(check)
    values = stats["literal values checked"] + stats["enum values checked"]
    assert values >= 100 and stats["enum values checked"] >= 25, summary(check)
    # Skipped expressions stay a minority of the values the walk reached.
    assert stats["expression values"] < values, summary(check)
    # Nested models, arrays of models and for-loop bodies are reached, in both SDK styles.
    checked = {(where.split(" ")[0], path) for where, path, _ in check.enums}
    for expected in [
        ("infra/bicep/modules/storage.bicep:storage", "properties.minimumTlsVersion"),
        ("infra/bicep/modules/storage.bicep:storage", "properties.networkAcls.defaultAction"),
        ("infra/bicep/modules/servicebus.bicep:namespace", "properties.minimumTlsVersion"),
        ("infra/bicep/modules/cosmos.bicep:account", "properties.minimalTlsVersion"),
        ("infra/bicep/modules/cosmos.bicep:container", "properties.resource.partitionKey.kind"),
        ("infra/bicep/modules/functionapp.bicep:app", "properties.siteConfig.minTlsVersion"),
        ("infra/bicep/modules/signalr.bicep:signalr", "properties.features[0].flag"),
    ]:
        assert expected in checked, f"{expected} was not enum-checked:\n{summary(check)}"
    assert stats["loop bodies"] >= 1, "the app settings' [for ...] body is walked"
    assert stats["values checked through a parameter"] >= 1, "@allowed values are checked"
    # Every resource that says more than its name had keys checked.
    for res in mapped:
        body = res.body if isinstance(res.body, dict) else {}
        if set(body) - {"name", "parent", "scope", "dependsOn", "depends_on"}:
            one, _ = check_resources([res])
            assert one.stats["keys checked"] >= 1, res.where


# --- the checker fails where a template is wrong -----------------------------------------------

#: (file, resource symbol, text in the real template, the mistake put in its place,
#: kind of finding, path of the finding). Each mutation is applied to a copy of the
#: template's text, never to the file.
MUTATIONS = [
    pytest.param(
        "modules/functionapp.bicep",
        "app",
        "serverFarmId: plan.id",
        "serverFarmID2: plan.id",
        "unknown-property",
        "properties.serverFarmID2",
        id="misspelled-property",
    ),
    pytest.param(
        "modules/storage.bicep",
        "storage",
        "minimumTlsVersion: 'TLS1_2'",
        "minimumTlsVersion: 'tls1_9'",
        "invalid-enum",
        "properties.minimumTlsVersion",
        id="invalid-enum",
    ),
    pytest.param(
        "modules/functionapp.bicep",
        "app",
        "minTlsVersion: '1.2'",
        "minTlsVersion: '1.9'",
        "invalid-enum",
        "properties.siteConfig.minTlsVersion",
        id="nested-enum",
    ),
    pytest.param(
        "modules/functionapp.bicep",
        "app",
        "supportCredentials: false",
        "supportsCredentials: false",
        "unknown-property",
        "properties.siteConfig.cors.supportsCredentials",
        id="nested-property",
    ),
    pytest.param(
        "modules/functionapp.bicep",
        "app",
        "{ name: setting.key, value: setting.value }",
        "{ name: setting.key, val: setting.value }",
        "unknown-property",
        "properties.siteConfig.appSettings[for].val",
        id="for-loop-body",
    ),
    pytest.param(
        "modules/functionapp.bicep",
        "app",
        "httpsOnly: true",
        "httpsOnly: 'true'",
        "wrong-type",
        "properties.httpsOnly",
        id="wrong-type",
    ),
    pytest.param(
        "modules/functionapp.bicep",
        "app",
        "httpsOnly: true",
        "httpsOnly: true\n    defaultHostName: 'example.azurewebsites.net'",
        "read-only",
        "properties.defaultHostName",
        id="read-only",
    ),
    pytest.param(
        "modules/servicebus.bicep",
        "namespace",
        "minimumTlsVersion: '1.2'",
        "minimumTlsVersion: '1.9'",
        "invalid-enum",
        "properties.minimumTlsVersion",
        id="typespec-model-enum",
    ),
    pytest.param(
        "modules/servicebus.bicep",
        "events",
        "requiresDuplicateDetection: false",
        "requiresDuplicateDetection: false\n    enableExpressQueue: false",
        "unknown-property",
        "properties.enableExpressQueue",
        id="typespec-model-property",
    ),
    pytest.param(
        "modules/cosmos.bicep",
        "container",
        "kind: 'Hash'",
        "kind: 'Hashed'",
        "invalid-enum",
        "properties.resource.partitionKey.kind",
        id="deep-enum",
    ),
    pytest.param(
        "modules/roles.bicep",
        "blobOwner",
        "@allowed([ 'ServicePrincipal', 'User' ])",
        "@allowed([ 'ServicePrincipal', 'User', 'Robot' ])",
        "invalid-enum",
        "properties.principalType (param principalType)",
        id="enum-through-allowed-param",
    ),
]


@pytest.mark.parametrize(("file", "symbol", "original", "mutated", "kind", "path"), MUTATIONS)
def test_a_mistake_put_into_a_real_template_is_reported(
    file: str, symbol: str, original: str, mutated: str, kind: str, path: str
) -> None:
    text = (BICEP / file).read_text()
    assert text.count(original) == 1, (
        f"{file} no longer holds {original!r} once: move this mutation to text it holds"
    )

    def findings(source: str) -> list[tuple[str, str, str]]:
        resources = parse_text(source, file)
        assert symbol in {r.symbol for r in resources}
        check, _ = check_resources(resources)
        return [(f.where.split(" ")[0], f.kind, f.path) for f in check.findings]

    before = findings(text)
    after = findings(text.replace(original, mutated))
    new = [f for f in after if f not in before]
    # The mistake is reported where it was made, and nothing else is (a parameter's
    # @allowed value is reported at every resource that uses the parameter).
    assert (f"{file}:{symbol}", kind, path) in new, after
    assert {(k, p) for _, k, p in new} == {(kind, path)}, after


def test_a_misspelling_is_reported_with_the_property_it_resembles() -> None:
    text = (BICEP / "modules" / "functionapp.bicep").read_text()
    check, _ = check_resources(parse_text(text.replace("serverFarmId:", "serverFarmID2:")))
    messages = [str(f) for f in check.findings]
    assert any("did you mean serverFarmId" in m for m in messages), messages


def test_a_resource_type_nobody_mapped_is_not_checked_in_silence() -> None:
    source = """
param location string
resource thing 'Microsoft.Example/widgets@2024-01-01' = {
  name: 'w'
  location: location
  properties: { anything: 'goes' }
}
"""
    check, unmapped = check_resources(parse_text(source))
    assert [r.type for r in unmapped] == ["Microsoft.Example/widgets"]
    assert check.stats["resources"] == 0 and not check.findings


def test_expressions_are_skipped_and_counted_not_checked() -> None:
    source = """
param tls string
param flag bool
resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'st${uniqueString(resourceGroup().id)}'
  location: resourceGroup().location
  kind: flag ? 'StorageV2' : 'BlobStorage'
  sku: { name: 'Standard_LRS' }
  properties: {
    minimumTlsVersion: tls
    supportsHttpsTrafficOnly: flag
    '${tls}': true
  }
}
"""
    check, _ = check_resources(parse_text(source))
    assert not check.findings, [str(f) for f in check.findings]
    assert check.stats["expression values"] == 4  # location, kind, minimumTlsVersion, https
    assert check.stats["expression keys"] == 1
    assert check.stats["enum values checked"] == 1  # sku.name


def test_each_mapped_type_resolves_to_its_api_versions_sdk_module_where_shipped() -> None:
    """Where the installed SDK ships the template's API version, that module's model is
    the one checked (the pins in pyproject.toml choose releases that ship them)."""
    for res in template_resources():
        mapped = model_for(res.type, res.api_version)
        assert mapped is not None
        version_module = "v" + res.api_version.replace("-", "_")
        if version_module in mapped.cls.__module__.split("."):
            assert mapped.exact
        if mapped.exact and re.search(r"\.v\d{4}_", mapped.cls.__module__):
            assert version_module in mapped.cls.__module__.split(".")
