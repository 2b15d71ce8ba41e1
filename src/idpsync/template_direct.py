"""Mapping templates of the common subset evaluated directly, with exactly Jinja's result.

Most mapping templates are one expression such as
``{{ attributes.profile.login | fallback(attributes.login, login) }}``. Rendering one through
Jinja costs several microseconds of machinery (a context object, a generator, the sandbox's
checks) for a few dictionary lookups; at 100k users and five templates a user that is seconds
of a run. :func:`translate` turns a template whose every node is in a small subset into plain
Python closures that give **the same string** Jinja gives, and :func:`translate` returns
``None`` for anything else (the template is then always rendered by Jinja).

The subset: text, ``Name``, constants (``str``, ``int``, ``float``, ``bool``, ``None``),
``a.b`` and ``a['b']``/``a[0]`` with constant names (none starting with ``_``), the pure
filters in :data:`PURE_FILTERS`, a call of ``first_non_empty``, ``~``, ``or``, ``and``, ``not``.

At render time the direct path gives up (the caller renders with Jinja, which is always
correct) on anything it is not sure of: a context that is not a ``dict`` with ``str`` keys, a
value of any type but ``dict``/``list``/``str``/``int``/``float``/``bool``/``None`` (inside
containers too, before one is turned into text), a name an attribute lookup would find as a
Python attribute (``items``, ``get``, ``upper``…: the sandbox decides those), the global
``first_non_empty`` shadowed or read as a value, and any exception at all (Jinja then raises
its own error, or not). The direct path therefore never reads a Python attribute of a value.

Jinja's semantics reproduced: a missing name or key is Jinja's ``ChainableUndefined`` (renders
``""``, chains through lookups, is false and empty); ``a.b`` is the attribute first, then the
item, ``a['b']`` the item first; ``None`` renders ``""`` (the environment's ``finalize``), any
other value ``str()`` (``True`` → ``True``, a list → ``['a']``); ``~`` joins the ``str()`` of
its operands (``None`` → ``None``); filters are the environment's own functions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import Environment, nodes
from jinja2.runtime import Undefined

Value = Any
Expr = Callable[[dict[str, Any]], Value]
Direct = Callable[[Mapping[str, Any]], "str | None"]
"""A translated template: the rendered text, or ``None`` when Jinja must render it."""

PURE_FILTERS = frozenset(
    {"fallback", "first", "lower", "upper", "trim", "entra_guest", "strip_domain", "domain"}
)
"""Filters evaluated directly: pure functions of their arguments (``fallback`` takes any)."""

FUNCTIONS = frozenset({"first_non_empty"})
"""Global functions a direct template may call."""

_SCALARS: tuple[type, ...] = (str, int, float, bool, type(None))
_PLAIN: frozenset[type] = frozenset({dict, list, *_SCALARS})
_RESERVED = frozenset({"self", "loop", "caller", "varargs", "kwargs", "super"})
"""Names Jinja's compiler may treat specially: such templates are left to Jinja."""


class _Unusual(Exception):
    """A value or lookup the direct path does not handle: Jinja renders the template."""


class _Refused(Exception):
    """A node outside the subset: the template is left to Jinja."""


def _plain(value: Value) -> Value:
    """``value`` if its type is one the direct path handles (containers checked when used)."""
    if type(value) not in _PLAIN:
        raise _Unusual
    return value


def _plain_deep(value: Value) -> bool:
    """Whether a value and everything inside it are of the handled types."""
    kind = type(value)
    if kind is list:
        return all(_plain_deep(item) for item in value)
    if kind is dict:
        return all(type(k) in _SCALARS and _plain_deep(v) for k, v in value.items())
    return kind in _PLAIN


def _text_ready(value: Value) -> Value:
    """``value`` unchanged, once a container's content is checked (``str()`` reprs it)."""
    if type(value) in (list, dict) and not _plain_deep(value):
        raise _Unusual
    return value


def translate(env: Environment, source: str) -> Direct | None:
    """The direct evaluator of ``source`` in ``env``, or ``None`` if it is not in the subset."""
    try:
        return _Translator(env).template(env.parse(source))
    except _Refused:
        return None


class _Translator:
    """Compiles a parsed template's nodes into closures over one environment."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.undefined_class: type[Undefined] = env.undefined
        self.missing = env.undefined()
        self.finalize: Callable[[Value], Value] | None = env.finalize

    def template(self, tree: nodes.Template) -> Direct:
        parts: list[str | Expr] = []
        for output in tree.body:
            if not isinstance(output, nodes.Output):
                raise _Refused
            for child in output.nodes:
                if isinstance(child, nodes.TemplateData):
                    parts.append(child.data)
                else:
                    parts.append(self.output(self.expr(child)))
        return _runner(parts)

    def output(self, expr: Expr) -> Expr:
        finalize = self.finalize
        if finalize is None:
            raise _Refused

        def out(ctx: dict[str, Any]) -> str:
            value = expr(ctx)
            if type(value) is list or type(value) is dict:
                _text_ready(value)
            return str(finalize(value))

        return out

    def expr(self, node: nodes.Node) -> Expr:
        method = getattr(self, f"expr_{type(node).__name__}", None)
        if method is None:
            raise _Refused
        result: Expr = method(node)
        return result

    def expr_Const(self, node: nodes.Const) -> Expr:
        value = node.value
        if type(value) not in _SCALARS:
            raise _Refused
        return lambda ctx: value

    def expr_Name(self, node: nodes.Name) -> Expr:
        name, missing, globals_ = node.name, self.missing, self.env.globals
        if node.ctx != "load" or name in _RESERVED:
            raise _Refused

        def lookup(ctx: dict[str, Any]) -> Value:
            value = ctx.get(name, _ABSENT)
            if value is _ABSENT:
                if name in globals_:
                    raise _Unusual  # a global function read as a value
                return missing
            return _plain(value)

        return lookup

    def expr_Getattr(self, node: nodes.Getattr) -> Expr:
        """``a.b.c``: at each step the sandbox tries the attribute first, then the item."""
        steps: list[tuple[str, frozenset[type]]] = []
        inner_node: nodes.Node = node
        while isinstance(inner_node, nodes.Getattr):
            if inner_node.ctx != "load" or inner_node.attr.startswith("_"):
                raise _Refused
            steps.insert(0, (inner_node.attr, self._clashes(inner_node.attr)))
            inner_node = inner_node.node
        inner, missing, undefined_class = self.expr(inner_node), self.missing, self.undefined_class

        def getattr_(ctx: dict[str, Any]) -> Value:
            obj = inner(ctx)
            for name, clash in steps:
                kind = type(obj)
                if kind in clash:
                    raise _Unusual  # a Python attribute: the sandbox decides
                if kind is dict:
                    obj = obj.get(name, missing)
                    if type(obj) not in _PLAIN and obj is not missing:
                        raise _Unusual
                elif kind in _PLAIN or kind is undefined_class:
                    obj = missing  # no attribute, no item: undefined (an undefined chains)
                else:
                    raise _Unusual
            return obj

        return getattr_

    def expr_Getitem(self, node: nodes.Getitem) -> Expr:
        """``obj['name']`` / ``obj[0]``: the item first, then (for a name) the attribute."""
        if node.ctx != "load" or not isinstance(node.arg, nodes.Const):
            raise _Refused
        key = node.arg.value
        if type(key) not in (str, int) or (isinstance(key, str) and key.startswith("_")):
            raise _Refused
        inner, missing, undefined_class = self.expr(node.node), self.missing, self.undefined_class
        clash = self._clashes(key) if isinstance(key, str) else frozenset()

        def getitem(ctx: dict[str, Any]) -> Value:
            obj = inner(ctx)
            kind = type(obj)
            if kind is dict or kind is list or kind is str:
                try:
                    return _plain(obj[key])
                except (TypeError, LookupError):
                    pass
            elif kind is not undefined_class and kind not in _PLAIN:
                raise _Unusual
            if kind in clash:
                raise _Unusual  # the sandbox would look at the Python attribute
            return missing

        return getitem

    def _clashes(self, name: str) -> frozenset[type]:
        """The handled types (and the undefined) with a Python attribute ``name``.

        Looked up on the class: a superset of what an instance has, so a clash only ever sends
        the template to Jinja (whose sandbox decides) when it need not.
        """
        return frozenset(k for k in (*_PLAIN, self.undefined_class) if hasattr(k, name))

    def expr_Filter(self, node: nodes.Filter) -> Expr:
        if node.name not in PURE_FILTERS or node.node is None or _has_keywords(node):
            raise _Refused
        if node.name != "fallback" and node.args:
            raise _Refused  # the others take no arguments here (``trim(chars)`` left to Jinja)
        function = self.env.filters.get(node.name)
        if function is None:
            raise _Refused
        pass_arg = getattr(function, "jinja_pass_arg", None)
        if pass_arg is not None:
            if getattr(pass_arg, "name", None) != "environment":
                raise _Refused
            function = _with_environment(function, self.env)
        return _call(function, [self.expr(node.node), *map(self.expr, node.args)])

    def expr_Call(self, node: nodes.Call) -> Expr:
        if not isinstance(node.node, nodes.Name) or node.node.name not in FUNCTIONS:
            raise _Refused
        if _has_keywords(node) or node.node.name not in self.env.globals:
            raise _Refused
        name, function = node.node.name, self.env.globals[node.node.name]
        if not callable(function) or getattr(function, "jinja_pass_arg", None) is not None:
            raise _Refused
        call = _call(function, [self.expr(arg) for arg in node.args])

        def unshadowed(ctx: dict[str, Any]) -> Value:
            if name in ctx:
                raise _Unusual  # the context's value would be called
            return call(ctx)

        return unshadowed

    def expr_Concat(self, node: nodes.Concat) -> Expr:
        parts = [self.expr(n) for n in node.nodes]
        return lambda ctx: "".join([str(_text_ready(part(ctx))) for part in parts])

    def expr_Or(self, node: nodes.Or) -> Expr:
        left, right = self.expr(node.left), self.expr(node.right)
        return lambda ctx: left(ctx) or right(ctx)

    def expr_And(self, node: nodes.And) -> Expr:
        left, right = self.expr(node.left), self.expr(node.right)
        return lambda ctx: left(ctx) and right(ctx)

    def expr_Not(self, node: nodes.Not) -> Expr:
        inner = self.expr(node.node)
        return lambda ctx: not inner(ctx)


_ABSENT = object()


def _has_keywords(node: nodes.Filter | nodes.Call) -> bool:
    return bool(node.kwargs) or node.dyn_args is not None or node.dyn_kwargs is not None


def _with_environment(function: Callable[..., Value], env: Environment) -> Callable[..., Value]:
    return lambda *args: function(env, *args)


def _call(function: Callable[..., Value], args: list[Expr]) -> Expr:
    """``function`` of the arguments' values (containers checked: the filters ``str()`` them)."""
    if len(args) == 1:
        (only,) = args
        return lambda ctx: _plain_result(function(_text_ready(only(ctx))))
    return lambda ctx: _plain_result(function(*[_text_ready(arg(ctx)) for arg in args]))


def _plain_result(value: Value) -> Value:
    """A filter's result: one of its (checked) inputs, an element of one, text or undefined."""
    if type(value) in _PLAIN or isinstance(value, Undefined):
        return value
    raise _Unusual


def _runner(parts: list[str | Expr]) -> Direct:
    """The template's render function: text pieces and expressions joined, or ``None``."""
    exprs: list[Expr] = [p if callable(p) else _text(p) for p in parts]
    only = exprs[0] if len(exprs) == 1 else None

    def run(context: Mapping[str, Any]) -> str | None:
        if type(context) is not dict:
            return None
        try:
            "".join(context)  # Jinja passes the names as keyword arguments: str keys only
        except TypeError:
            return None
        try:
            if only is not None:
                result: str = only(context)
                return result
            return "".join([expr(context) for expr in exprs])
        except Exception:
            return None

    return run


def _text(data: str) -> Expr:
    return lambda ctx: data
