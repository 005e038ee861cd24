"""Bicep resource bodies checked against the Azure SDK's management models.

No Bicep compiler runs here, so the templates' resource bodies are held to the models of
the ``azure-mgmt-*`` packages, which are generated from the same REST API specifications
that Bicep's own type checks come from. Each ``resource`` declaration is parsed with
``pycep-parser``; its body is walked key by key against the model class of its resource
type, taken from the SDK module of the template's API version where the package ships it
(else the closest one, recorded in the result):

* every literal key must be a REST property of the model (``properties.serverFarmId`` in a
  flattened msrest model is ``properties: { serverFarmId }``), recursing into nested
  models, lists of models (literal arrays and ``[for ...]`` bodies) and maps of models;
* a literal value must have the attribute's type (string, bool, int, object, array) and,
  for an enum-typed attribute, be one of the enum's values (exact spelling);
* a read-only property set in a template is reported too (ARM ignores or refuses it).

Expressions (parameters, variables, function calls, interpolations, conditions) cannot be
evaluated without a compiler: they are skipped and counted, so a test can assert that the
walk checked most of what the templates say literally.

Two SDK model styles exist and both are read: msrest models (``_attribute_map`` with
flattened REST keys, enums named in the ``__init__`` type hints) and the newer TypeSpec
models (``rest_field`` descriptors, nested ``properties`` models, resolved type hints).
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import enum
import importlib
import inspect
import pkgutil
import re
import sys
import types
import typing
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser
from pycep.models import BicepElement

# --- what each resource type is in the SDK ----------------------------------------------------

#: Resource type (case-insensitive, as ARM treats it) -> (SDK package, model class of the
#: PUT body). The PUT body model, not the GET one, where the SDK has both.
MODELS: dict[str, tuple[str, str]] = {
    "microsoft.resources/resourcegroups": ("azure.mgmt.resource.resources", "ResourceGroup"),
    "microsoft.managedidentity/userassignedidentities": ("azure.mgmt.msi", "Identity"),
    "microsoft.managedidentity/userassignedidentities/federatedidentitycredentials": (
        "azure.mgmt.msi",
        "FederatedIdentityCredential",
    ),
    "microsoft.operationalinsights/workspaces": ("azure.mgmt.loganalytics", "Workspace"),
    "microsoft.insights/components": (
        "azure.mgmt.applicationinsights",
        "ApplicationInsightsComponent",
    ),
    "microsoft.insights/workbooks": ("azure.mgmt.applicationinsights", "Workbook"),
    "microsoft.storage/storageaccounts": (
        "azure.mgmt.storage",
        "StorageAccountCreateParameters",
    ),
    "microsoft.storage/storageaccounts/blobservices": (
        "azure.mgmt.storage",
        "BlobServiceProperties",
    ),
    "microsoft.storage/storageaccounts/blobservices/containers": (
        "azure.mgmt.storage",
        "BlobContainer",
    ),
    "microsoft.storage/storageaccounts/tableservices": (
        "azure.mgmt.storage",
        "TableServiceProperties",
    ),
    "microsoft.storage/storageaccounts/tableservices/tables": ("azure.mgmt.storage", "Table"),
    "microsoft.storage/storageaccounts/queueservices": (
        "azure.mgmt.storage",
        "QueueServiceProperties",
    ),
    "microsoft.storage/storageaccounts/queueservices/queues": (
        "azure.mgmt.storage",
        "StorageQueue",
    ),
    "microsoft.servicebus/namespaces": ("azure.mgmt.servicebus", "SBNamespace"),
    "microsoft.servicebus/namespaces/queues": ("azure.mgmt.servicebus", "SBQueue"),
    "microsoft.servicebus/namespaces/topics": ("azure.mgmt.servicebus", "SBTopic"),
    "microsoft.documentdb/databaseaccounts": (
        "azure.mgmt.cosmosdb",
        "DatabaseAccountCreateUpdateParameters",
    ),
    "microsoft.documentdb/databaseaccounts/sqldatabases": (
        "azure.mgmt.cosmosdb",
        "SqlDatabaseCreateUpdateParameters",
    ),
    "microsoft.documentdb/databaseaccounts/sqldatabases/containers": (
        "azure.mgmt.cosmosdb",
        "SqlContainerCreateUpdateParameters",
    ),
    "microsoft.documentdb/databaseaccounts/sqlroleassignments": (
        "azure.mgmt.cosmosdb",
        "SqlRoleAssignmentCreateUpdateParameters",
    ),
    "microsoft.signalrservice/signalr": ("azure.mgmt.signalr", "SignalRResource"),
    "microsoft.web/serverfarms": ("azure.mgmt.web", "AppServicePlan"),
    "microsoft.web/sites": ("azure.mgmt.web", "Site"),
    "microsoft.web/sites/config": ("azure.mgmt.web", "SiteConfigResource"),
    "microsoft.web/sites/basicpublishingcredentialspolicies": (
        "azure.mgmt.web",
        "CsmPublishingCredentialsPoliciesEntity",
    ),
    "microsoft.web/staticsites": ("azure.mgmt.web", "StaticSiteARMResource"),
    "microsoft.web/staticsites/linkedbackends": (
        "azure.mgmt.web",
        "StaticSiteLinkedBackendARMResource",
    ),
    "microsoft.authorization/roleassignments": (
        "azure.mgmt.authorization",
        "RoleAssignmentCreateParameters",
    ),
}

#: Keys of a resource declaration that are Bicep's or ARM's, not the resource provider's.
DECLARATION_KEYS = {"name", "parent", "scope", "dependsOn", "depends_on"}


# --- the templates ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Resource:
    file: str
    symbol: str
    type: str
    api_version: str
    existing: bool
    body: Any
    #: The file's parameters (pycep's form): a value that names one is checked through
    #: its @allowed values and its literal default.
    params: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.symbol} ({self.type}@{self.api_version})"


def _unwrap(config: Any) -> Any:
    """The object literal of a resource: pycep wraps loops and conditions around it."""
    while isinstance(config, dict) and "config" in config:
        if "loop_type" in config or set(config) == {"condition", "config"}:
            config = config["config"]
        else:
            break
    return config


def resources_in(tree: dict[str, Any], file: str) -> list[Resource]:
    found = []
    params = dict(tree.get("parameters") or {})
    for symbol, decl in (tree.get("resources") or {}).items():
        # pycep gives a nested child resource's type as 'parent/child@version'.
        type_ = decl["type"].split("@")[0]
        found.append(
            Resource(
                file=file,
                symbol=symbol,
                type=type_,
                api_version=decl["api_version"],
                existing=bool(decl.get("existing")),
                body=_unwrap(decl["config"]),
                params=params,
            )
        )
    return found


def parse_file(path: Path, root: Path) -> list[Resource]:
    return resources_in(dict(BicepParser().parse(file_path=path)), str(path.relative_to(root)))


def parse_text(text: str, file: str = "<text>") -> list[Resource]:
    return resources_in(dict(BicepParser().parse(text=text)), file)


# --- the SDK's models as types --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ModelT:
    cls: type


@dataclasses.dataclass(frozen=True)
class ListT:
    item: Any


@dataclasses.dataclass(frozen=True)
class DictT:
    value: Any


@dataclasses.dataclass(frozen=True)
class EnumT:
    cls: type

    @property
    def values(self) -> list[str]:
        return [str(m.value) for m in self.cls]  # type: ignore[attr-defined]


@dataclasses.dataclass(frozen=True)
class PrimT:
    kind: str  # "str", "bool", "int", "number", "any"


@dataclasses.dataclass(frozen=True)
class Field:
    attr: str
    type: Any
    readonly: bool


#: A model's REST shape: key -> Field, or key -> a nested shape (flattened 'properties.x').
Shape = dict[str, Any]
#: Marks a shape that takes keys of its own (msrest ``additional_properties``).
OPEN = "\0open"

_MSREST_PRIMS = {
    "str": "str",
    "duration": "str",
    "iso-8601": "str",
    "rfc-1123": "str",
    "date": "str",
    "time": "str",
    "base64": "str",
    "bytearray": "str",
    "bool": "bool",
    "int": "int",
    "long": "int",
    "unix-time": "int",
    "float": "number",
    "decimal": "number",
    "object": "any",
}


def _models_module(cls: type) -> types.ModuleType:
    """The ``models`` package a model class belongs to (its ``_models`` in annotations)."""
    name = cls.__module__
    while name and not name.endswith(".models"):
        name = name.rpartition(".")[0]
    return importlib.import_module(name or cls.__module__)


def _enum_in(annotation: Any, models: types.ModuleType) -> type | None:
    """The SDK enum an msrest ``__init__`` annotation names (``Union[str, "_models.X"]``)."""
    for name in re.findall(r"_models\.(\w+)", str(annotation)):
        candidate = getattr(models, name, None)
        if isinstance(candidate, type) and issubclass(candidate, enum.Enum):
            return candidate
    return None


def _known_values(cls: type, attr: str) -> list[str] | None:
    """Fallback: the docstring's 'Known values are: "a", "b", and "c".' for an attribute."""
    doc = inspect.getdoc(cls) or ""
    match = re.search(rf":ivar {attr}:(.*?)(?=\n:ivar |\n:vartype |\Z)", doc, re.S)
    if match and "Known values are:" in match.group(1):
        return re.findall(r'"([^"]*)"', match.group(1).split("Known values are:")[1])
    return None


def _msrest_type(type_str: str, models: types.ModuleType) -> Any:
    if type_str.startswith("[") and type_str.endswith("]"):
        return ListT(_msrest_type(type_str[1:-1], models))
    if type_str.startswith("{") and type_str.endswith("}"):
        return DictT(_msrest_type(type_str[1:-1], models))
    if type_str in _MSREST_PRIMS:
        return PrimT(_MSREST_PRIMS[type_str])
    model = getattr(models, type_str, None)
    if isinstance(model, type):
        if issubclass(model, enum.Enum):
            return EnumT(model)
        return ModelT(model)
    return PrimT("any")  # a type this walker does not know: checked no further


def _with_enum(typ: Any, enum_cls: type | None) -> Any:
    """An msrest 'str' (or '[str]') attribute whose hint names an enum is that enum."""
    if enum_cls is None:
        return typ
    if typ == PrimT("str"):
        return EnumT(enum_cls)
    if isinstance(typ, ListT) and typ.item == PrimT("str"):
        return ListT(EnumT(enum_cls))
    return typ


def _hint_type(hint: Any) -> Any:
    """A resolved TypeSpec-model type hint as a walker type."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        for a in options:
            if isinstance(a, type) and issubclass(a, enum.Enum):
                return EnumT(a)
        for a in options:
            if a is not str:
                return _hint_type(a)
        return PrimT("str") if options else PrimT("any")
    if origin is typing.Literal:
        return PrimT("str")
    if origin in (list, typing.List):  # noqa: UP006
        return ListT(_hint_type(args[0]) if args else PrimT("any"))
    if origin in (dict, typing.Dict):  # noqa: UP006
        return DictT(_hint_type(args[1]) if len(args) == 2 else PrimT("any"))
    if isinstance(hint, type):
        if issubclass(hint, enum.Enum):
            return EnumT(hint)
        if issubclass(hint, bool):
            return PrimT("bool")
        if issubclass(hint, int):
            return PrimT("int")
        if issubclass(hint, float):
            return PrimT("number")
        if issubclass(hint, str | datetime.datetime | datetime.timedelta | bytes):
            return PrimT("str")
        if hasattr(hint, "_attr_to_rest_field") or _rest_fields(hint):
            return ModelT(hint)
    return PrimT("any")


def _rest_fields(cls: type) -> dict[str, Any]:
    """A TypeSpec model's rest_field descriptors by attribute name, bases first."""
    fields: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            if (
                not attr.startswith("_")
                and hasattr(value, "_rest_name_input")
                and hasattr(value, "_visibility")
            ):
                fields[attr] = value
    return fields


def _put(shape: Shape, path: list[str], field: Field) -> None:
    for part in path[:-1]:
        node = shape.setdefault(part, {})
        if isinstance(node, Field):  # 'properties' both a field and a flattening prefix
            node = shape[part] = {}
        shape = node
    shape[path[-1]] = field


@cache
def shape_of(cls: type) -> Shape:
    """The REST keys a model accepts, nested as they appear in a template."""
    models = _models_module(cls)
    shape: Shape = {}
    if hasattr(cls, "_attribute_map"):  # msrest
        validation = getattr(cls, "_validation", {}) or {}
        try:
            hints = dict(inspect.signature(cls.__init__).parameters)
        except (TypeError, ValueError):
            hints = {}
        for attr, spec in cls._attribute_map.items():
            if spec["key"] == "":  # additional_properties: keys of the template's own
                shape[OPEN] = True
                continue
            hint = hints.get(attr)
            enum_cls = _enum_in(hint.annotation, models) if hint is not None else None
            typ = _with_enum(_msrest_type(spec["type"], models), enum_cls)
            if typ == PrimT("str") and hint is None:
                known = _known_values(cls, attr)
                if known:
                    typ = EnumT(enum.Enum(f"{cls.__name__}_{attr}", {v: v for v in known}))
            path = [p.replace("\\.", ".") for p in re.split(r"(?<!\\)\.", spec["key"])]
            _put(shape, path, Field(attr, typ, bool(validation.get(attr, {}).get("readonly"))))
        return shape
    fields = _rest_fields(cls)
    if not fields:
        raise TypeError(f"{cls!r} is neither an msrest nor a TypeSpec model")
    module = sys.modules[cls.__module__]
    hints = typing.get_type_hints(cls, globalns=vars(module), localns={"_models": models})
    for attr, rf in fields.items():
        readonly = rf._visibility == ["read"]
        shape[rf._rest_name_input or attr] = Field(attr, _hint_type(hints.get(attr)), readonly)
    return shape


# --- which SDK module for which API version -----------------------------------------------------


def _version_key(version: str) -> tuple[str, bool]:
    return (version[:10], version.endswith("preview"))


def _sdk_default_version(package: types.ModuleType) -> str:
    source = Path(package.__file__ or "").with_name("_configuration.py")
    text = source.read_text() if source.exists() else ""
    found = re.findall(r'"(\d{4}-\d{2}-\d{2}(?:-preview)?)"', text)
    return found[-1] if found else "?"


@dataclasses.dataclass(frozen=True)
class Mapped:
    cls: type
    sdk_package: str
    sdk_version: str  # the SDK module's API version
    exact: bool


@cache
def model_for(resource_type: str, api_version: str) -> Mapped | None:
    """The model class for a resource type, from the SDK module of the template's API
    version if the package has it, else the nearest newer one, else the nearest older,
    else the package's default; None when the type is not mapped."""
    entry = MODELS.get(resource_type.lower())
    if entry is None:
        return None
    package_name, class_name = entry
    package = importlib.import_module(package_name)
    versions = {
        m.name[1:].replace("_", "-"): m.name
        for m in pkgutil.iter_modules(package.__path__)
        if re.fullmatch(r"v\d{4}_\d{2}_\d{2}(_preview)?", m.name)
    }
    if versions:
        ordered = sorted(versions, key=_version_key)
        newer = [v for v in ordered if _version_key(v) > _version_key(api_version)]
        older = [v for v in reversed(ordered) if _version_key(v) < _version_key(api_version)]
        exact = [api_version] if api_version in versions else []
        for version in exact + newer + older:
            models = importlib.import_module(f"{package_name}.{versions[version]}.models")
            cls = getattr(models, class_name, None)
            if isinstance(cls, type):
                return Mapped(cls, package_name, version, version == api_version)
    models = importlib.import_module(f"{package_name}.models")
    version = _sdk_default_version(package)
    return Mapped(getattr(models, class_name), package_name, version, version == api_version)


# --- the walk -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Finding:
    where: str
    path: str
    kind: str  # "unknown-property", "invalid-enum", "wrong-type", "read-only"
    detail: str

    def __str__(self) -> str:
        return f"{self.where}: {self.path}: {self.kind}: {self.detail}"


def is_expression(value: Any) -> bool:
    """True for what only a compiler could evaluate."""
    if isinstance(value, BicepElement):  # a parameter, variable or resource symbol
        return True
    if isinstance(value, str):
        return "${" in value  # an interpolation
    if isinstance(value, dict) and len(value) == 1:
        ((key, inner),) = value.items()
        if key == "function" and isinstance(inner, dict) and "parameters" in inner:
            return True
        if key == "operator" and isinstance(inner, dict) and "operands" in inner:
            return True
    return False


def _loop_body(value: Any) -> Any | None:
    if isinstance(value, dict) and "loop_type" in value and "config" in value:
        return _unwrap(value)
    return None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


@dataclasses.dataclass
class Check:
    findings: list[Finding] = dataclasses.field(default_factory=list)
    stats: Counter[str] = dataclasses.field(default_factory=Counter)
    #: (where, path, enum class name) of every enum value checked.
    enums: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    #: (where, path) of every value skipped as an expression.
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def resource(self, res: Resource, mapped: Mapped) -> None:
        self.stats["resources"] += 1
        self._params = res.params
        if not isinstance(res.body, dict):
            self.stats["expression values"] += 1
            return
        shape = shape_of(mapped.cls)
        for key, value in res.body.items():
            if key in DECLARATION_KEYS:
                self.stats["declaration keys"] += 1
                continue
            self._key(res.where, "", shape, key, value)

    def _key(self, where: str, path: str, shape: Shape, key: str, value: Any) -> None:
        if key.startswith("'") and key.endswith("'"):
            key = key[1:-1]
        here = f"{path}.{key}" if path else key
        if "${" in key:
            self.stats["expression keys"] += 1
            return
        node = shape.get(key)
        if node is None or key == OPEN:
            if shape.get(OPEN):
                self.stats["keys of an open object"] += 1
                return
            self.stats["unknown keys"] += 1
            known = sorted(k for k in shape if k != OPEN)
            close = difflib.get_close_matches(key, known, n=3) or [
                k for k in known if k.lower() == key.lower()
            ]
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            self.findings.append(
                Finding(where, here, "unknown-property", f"not a property of this model{hint}")
            )
            return
        self.stats["keys checked"] += 1
        if isinstance(node, dict):  # a flattening prefix such as 'properties'
            if is_expression(value):
                self.stats["expression values"] += 1
                self.skipped.append((where, here))
            elif isinstance(value, dict):
                for k, v in value.items():
                    self._key(where, here, node, k, v)
            else:
                self._wrong(where, here, "object", value)
            return
        if node.readonly:
            self.findings.append(
                Finding(where, here, "read-only", "the API sets this; a template cannot")
            )
        self._value(where, here, node.type, value)

    _params: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    def _param_values(self, name: str) -> list[Any]:
        """The literal values a parameter can take: its @allowed list and its default."""
        param = self._params.get(name)
        if not isinstance(param, dict):
            return []
        values: list[Any] = []
        for decorator in param.get("decorators") or []:
            if decorator.get("type") == "allowed" and isinstance(decorator.get("argument"), list):
                values += [v for v in decorator["argument"] if not is_expression(v)]
        default = param.get("default")
        if default is not None and not is_expression(default) and default not in values:
            values.append(default)
        return values

    def _wrong(self, where: str, path: str, expected: str, value: Any) -> None:
        self.findings.append(
            Finding(where, path, "wrong-type", f"expected {expected}, got {_kind(value)}")
        )

    def _value(self, where: str, path: str, typ: Any, value: Any) -> None:
        if value is None:
            self.stats["null values"] += 1
            return
        if isinstance(value, BicepElement) and isinstance(typ, EnumT | PrimT):
            candidates = self._param_values(value)
            if candidates:
                self.stats["values checked through a parameter"] += 1
                for candidate in candidates:
                    self._value(where, f"{path} (param {value})", typ, candidate)
                return
        if is_expression(value):
            self.stats["expression values"] += 1
            self.skipped.append((where, path))
            return
        if isinstance(typ, ModelT):
            if not isinstance(value, dict) or _loop_body(value) is not None:
                self._wrong(where, path, "object", value)
                return
            shape = shape_of(typ.cls)
            for k, v in value.items():
                self._key(where, path, shape, k, v)
        elif isinstance(typ, ListT):
            body = _loop_body(value)
            if body is not None:
                self.stats["loop bodies"] += 1
                self._value(where, f"{path}[for]", typ.item, body)
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    self._value(where, f"{path}[{i}]", typ.item, item)
            else:
                self._wrong(where, path, "array", value)
        elif isinstance(typ, DictT):
            if not isinstance(value, dict) or _loop_body(value) is not None:
                self._wrong(where, path, "object", value)
                return
            for k, v in value.items():
                self.stats["map keys"] += 1
                self._value(where, f"{path}[{k}]", typ.value, v)
        elif isinstance(typ, EnumT):
            if not isinstance(value, str):
                self._wrong(where, path, "string", value)
                return
            self.stats["enum values checked"] += 1
            self.enums.append((where, path, typ.cls.__name__))
            if value not in typ.values:
                self.findings.append(
                    Finding(
                        where,
                        path,
                        "invalid-enum",
                        f"{value!r} is not one of {typ.values} ({typ.cls.__name__})",
                    )
                )
        elif isinstance(typ, PrimT):
            expected = {
                "str": (str,),
                "bool": (bool,),
                "int": (int,),
                "number": (int, float),
            }.get(typ.kind)
            if expected is None:
                self.stats["free-form values"] += 1
                return
            ok = isinstance(value, expected) and (typ.kind == "bool") == isinstance(value, bool)
            self.stats["literal values checked"] += 1
            if not ok:
                self._wrong(where, path, typ.kind, value)


def check_resources(found: list[Resource]) -> tuple[Check, list[Resource]]:
    """Walks every mapped resource; returns the result and the resources not mapped."""
    check = Check()
    unmapped = []
    for res in found:
        mapped = model_for(res.type, res.api_version)
        if mapped is None:
            unmapped.append(res)
            continue
        check.resource(res, mapped)
    return check, unmapped
