"""The Python worker's indexing rules, applied by the local host before it runs an app.

In Azure, Microsoft's Python worker indexes ``function_app.py`` when it starts and
refuses the whole app (every function, the HTTP API included) if one function breaks a
rule. The local host must not run an app Azure would refuse, so it checks the same rules
at start. They are copied from the worker's ``functions.Registry.add_indexed_function``
(``azure-functions-runtime`` 1.3.0 and the worker bundled for Python 3.9-3.12; the worker
library itself needs Python 3.13 and is not a dependency of the local host), and the
type checks are the ``azure-functions`` library's own binding converters, as the worker
calls them. ``tests/worker_host/test_indexing_rules.py`` holds this module and the real
worker to the same verdict on the same functions.
"""

from __future__ import annotations

import collections.abc
import inspect
import typing
from typing import Any

import azure.functions as func
from azure.functions.decorators.core import BindingDirection

from dtq.host.refused import FunctionRefused

_NOT_GENERIC = (typing.Union, tuple, typing.ClassVar, collections.abc.Callable)


def is_generic_type(tp: Any) -> bool:
    """The worker's vendored ``typing_inspect.is_generic_type``: ``typing.List[X]`` is
    generic, the PEP 585 ``list[X]`` and PEP 604 ``X | None`` are not."""
    aliases = (typing._GenericAlias, typing._SpecialGenericAlias)  # type: ignore[attr-defined]
    return (isinstance(tp, type) and issubclass(tp, typing.Generic)) or (
        isinstance(tp, aliases) and tp.__origin__ not in _NOT_GENERIC
    )


def _converter(binding_type: str) -> Any:
    return func.get_binding_registry().get(binding_type)


def _implicit_output(binding_type: str) -> bool:
    converter = _converter(binding_type)
    return bool(
        converter is not None and getattr(converter, "has_implicit_output", lambda: False)()
    )


def _type_checks(binding_type: str, pytype: Any, *, output: bool) -> bool:
    converter = _converter(binding_type)
    if converter is None:  # the worker's GenericBinding: str, bytes and (in) InputStream
        if output:
            return isinstance(pytype, type) and issubclass(pytype, str | bytes | bytearray)
        return isinstance(pytype, type) and issubclass(pytype, str | bytes | func.InputStream)
    check = (
        converter.check_output_type_annotation if output else converter.check_input_type_annotation
    )
    return bool(check(pytype))


def _is_out(annotation: Any) -> bool:
    origin = typing.get_origin(annotation) if is_generic_type(annotation) else None
    candidate = origin if origin is not None else annotation
    return isinstance(candidate, type) and candidate.__name__ == "Out"


def check_function(function: Any) -> None:
    """Raise :class:`FunctionRefused` where the worker's indexing would refuse ``function``
    (an ``azure.functions`` decorated function, as ``app.get_functions()`` lists them)."""
    name = str(function.get_function_name())
    user_fn = function.get_user_function()
    params = dict(inspect.signature(user_fn).parameters)
    annotations = typing.get_type_hints(user_fn)
    bound: dict[str, Any] = {}
    explicit_return = False
    for binding in function.get_bindings():
        direction = BindingDirection(binding.direction).name.lower()
        if direction == "inout":
            raise FunctionRefused(name, '"inout" bindings are not supported')
        if binding.name == "$return":
            if direction != "out":
                raise FunctionRefused(name, '"$return" binding must have direction set to "out"')
            explicit_return = True
        else:
            bound[binding.name] = (str(binding.type), direction == "out")
    if "context" in params and "context" not in bound:
        params.pop("context")
        anno = annotations.get("context")
        if "context" in annotations and (not isinstance(anno, type) or anno.__name__ != "Context"):
            raise FunctionRefused(name, "the context parameter must be azure.functions.Context")
    if set(params) - set(bound):
        raise FunctionRefused(
            name, f"parameters with no binding: {sorted(set(params) - set(bound))}"
        )
    if set(bound) - set(params):
        raise FunctionRefused(
            name, f"bindings with no parameter: {sorted(set(bound) - set(params))}"
        )
    for param in params:
        _check_param(name, param, annotations, *bound[param])
    if explicit_return and "return" in annotations:
        _check_return(name, annotations["return"], function)


def _check_param(name: str, param: str, annotations: dict[str, Any], kind: str, out: bool) -> None:
    if param not in annotations:
        return
    anno = annotations[param]
    is_out = _is_out(anno)
    pytype = anno
    if is_out:
        args = typing.get_args(anno)
        if len(args) != 1:
            raise FunctionRefused(name, f"binding {param} has invalid Out annotation {anno!r}")
        pytype = args[0]
    if not isinstance(pytype, type) and not is_generic_type(pytype):
        raise FunctionRefused(name, f"binding {param} has invalid non-type annotation {anno!r}")
    if out and not is_out:
        raise FunctionRefused(
            name, f"binding {param} is an output; annotate it azure.functions.Out"
        )
    if is_out and not out:
        raise FunctionRefused(
            name, f"binding {param} is an input, but annotated azure.functions.Out"
        )
    checked_as = "generic" if pytype in (str, bytes) and not _implicit_output(kind) else kind
    if not _type_checks(checked_as, pytype, output=is_out):
        raise FunctionRefused(name, f"type of {param} binding {kind!r} does not match {anno!r}")


def _check_return(name: str, anno: Any, function: Any) -> None:
    if _is_out(anno):
        raise FunctionRefused(name, "return annotation should not be azure.functions.Out")
    if not isinstance(anno, type):
        raise FunctionRefused(name, f"has invalid non-type return annotation {anno!r}")
    kind = next(str(b.type) for b in function.get_bindings() if b.name == "$return")
    if not _type_checks(kind, anno, output=True):
        raise FunctionRefused(name, f"return annotation {anno!r} does not match binding {kind!r}")


def check_app(functions: typing.Iterable[Any]) -> None:
    """Every function of an app, as the worker indexes them: the first refusal stops it."""
    for function in functions:
        check_function(function)
