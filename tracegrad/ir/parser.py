"""Parse the SSA text of ``tracegrad.ir.printer`` back into a Function.

The parser rebuilds every Value with ``Value.make`` from exactly the printed fields, without
running type rules (so malformed IR survives a round trip and the verifier can judge it).
Because Values are interned, parsing printed text whose parameter trace ids match the original
yields the very same Value objects. Malformed text raises ``ParseError`` naming the line and
column, with the line and a caret.

>>> from tracegrad.ir.printer import print_function
>>> text = '''
... func @f(%0: f64[n] "x" #3) -> (f64[n]) {
...   %1 = neg %0 : f64[n]
...   return %1
... }'''
>>> f = parse_function(text)
>>> f.outputs[0].op.value, f.params[0].attr("name"), str(f.params[0].type)
('neg', 'x', 'f64[n]')
>>> parse_function(print_function(f)).outputs[0] is f.outputs[0]
True
"""

from __future__ import annotations

import bisect
import json
import math
import re
from typing import Any

import numpy as np

from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import ParseError
from tracegrad.ir.ops import Op
from tracegrad.ir.types import Dim, TensorType
from tracegrad.ir.value import ConstData, Function, Value

_TOKEN = re.compile(
    r"""
    \s*(?:
    (?P<dimstr>dim"(?:[^"\\]|\\.)*")
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<ref>%\d+)
  | (?P<trace>\#\d+)
  | (?P<arrow>->)
  | (?P<hex>0x[0-9a-fA-F]+)
  | (?P<float>-?(?:\d+\.\d*(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|(?:inf|nan)(?![A-Za-z0-9_+])))
  | (?P<int>-?\d+)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_+]*)
  | (?P<punct>[()\[\]{},:=@])
  | (?P<eof>\s*\Z)
    )""",
    re.VERBOSE,
)

Token = tuple[str, str, int]  # kind, text, offset
_NAN_BITS = {
    DType.FLOAT64: (np.uint64, np.float64),
    DType.FLOAT32: (np.uint32, np.float32),
    DType.FLOAT16: (np.uint16, np.float16),
}


def parse_function(text: str) -> Function:
    """The Function printed as ``text``: its last ``func``; the ones before it are the
    sub-Functions of its loops and branches, which attributes name ``@label``."""
    parser = _Parser(text)
    function = parser.function()
    while parser.peek()[1] == "func" and parser.peek(1)[1] == "@":
        function = parser.function()
    parser.expect("eof")
    return function


def _tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    for match in _TOKEN.finditer(text):
        if match.start() != pos:  # finditer skipped something no token matches
            break
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind), match.start(kind)))
        pos = match.end()
        if kind == "eof":
            return tokens
    offset = len(text) - len(text[pos:].lstrip())
    raise _error(text, offset, f"unexpected character {text[offset]!r}")


def _error(text: str, offset: int, message: str) -> ParseError:
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    line = bisect.bisect_right(starts, offset) - 1
    column = offset - starts[line]
    source = text[starts[line] :].split("\n", 1)[0]
    error = ParseError(
        f"line {line + 1}, column {column + 1}: {message}\n  {source}\n  {' ' * column}^"
    )
    error.line, error.column = line + 1, column + 1  # type: ignore[attr-defined]
    return error


class _Parser:
    """Recursive descent over the token list; one ``env`` (%N -> Value) per ``func``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0
        self.functions: dict[str, Function] = {}  # by label: what ``@label`` attributes name

    # ---- token helpers ------------------------------------------------------------------

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def fail(self, message: str, token: Token | None = None) -> ParseError:
        token = token or self.peek()
        return _error(self.text, token[2], message)

    def accept(self, kind: str, text: str | None = None) -> Token | None:
        token = self.peek()
        if token[0] == kind and (text is None or token[1] == text):
            self.pos += 1
            return token
        return None

    def expect(self, kind: str, text: str | None = None) -> Token:
        token = self.accept(kind, text)
        if token is None:
            found = self.peek()
            shown = repr(found[1]) if found[0] != "eof" else "end of text"
            raise self.fail(f"expected {text or kind!r}, found {shown}")
        return token

    # ---- functions ----------------------------------------------------------------------

    def function(self) -> Function:
        self.expect("ident", "func")
        self.expect("punct", "@")
        name = self.accept("ident") or self.expect("string")
        real = self.accept("string")  # after a label made unique: the Function's own name
        env: dict[int, Value] = {}
        params = self.params(env)
        self.expect("arrow")
        result_types = self.type_list()
        self.expect("punct", "{")
        while (ret := self.accept("ident", "return")) is None:
            self.statement(env)
        outputs = []
        if self.peek()[0] == "ref":
            outputs.append(self.use(env))
            while self.accept("punct", ","):
                outputs.append(self.use(env))
        self.expect("punct", "}")
        if [o.type for o in outputs] != result_types:
            raise self.fail("returned types differ from the declared result types", ret)
        label = json.loads(name[1]) if name[0] == "string" else name[1]
        fname = json.loads(real[1]) if real is not None else label
        function = Function(fname, tuple(params), tuple(outputs))
        self.functions[label] = function
        return function

    def params(self, env: dict[int, Value]) -> list[Value]:
        self.expect("punct", "(")
        params: list[Value] = []
        while not self.accept("punct", ")"):
            if params:
                self.expect("punct", ",")
            params.append(self.param(len(params), env))
        return params

    def param(self, position: int, env: dict[int, Value]) -> Value:
        ref = self.expect("ref")
        self.expect("punct", ":")
        type_ = self.type()
        if self.peek()[1] == "{":
            attrs = self.attrs()
        else:
            name = self.accept("string")
            trace = self.accept("trace")
            attrs = (
                ("index", position),
                ("name", json.loads(name[1]) if name else ""),
                ("trace", int(trace[1][1:]) if trace else 0),
            )
        return self.define(ref, Value.make(Op.PARAM, type_, (), attrs), env)

    def define(self, ref: Token, value: Value, env: dict[int, Value]) -> Value:
        number = int(ref[1][1:])
        if number in env:
            raise self.fail(f"%{number} is defined twice", ref)
        env[number] = value
        return value

    def use(self, env: dict[int, Value]) -> Value:
        ref = self.expect("ref")
        value = env.get(int(ref[1][1:]))
        if value is None:
            raise self.fail(f"{ref[1]} is used before it is defined", ref)
        return value

    def statement(self, env: dict[int, Value]) -> None:
        ref = self.expect("ref")
        self.expect("punct", "=")
        op_token = self.expect("ident")
        try:
            op = Op(op_token[1])
        except ValueError:
            raise self.fail(f"unknown op {op_token[1]!r}", op_token) from None
        if op is Op.CONST and self.peek()[1] != "{":
            literal = self.literal()
            self.expect("punct", ":")
            type_token = self.peek()
            type_ = self.type()
            data = self.const_data(literal, type_, type_token)
            self.define(ref, Value.make(Op.CONST, type_, (), (("data", data),)), env)
            return
        operands: list[Value] = []
        if self.peek()[0] == "ref":
            operands.append(self.use(env))
            while self.accept("punct", ","):
                operands.append(self.use(env))
        attrs = self.attrs() if self.peek()[1] == "{" else ()
        self.expect("punct", ":")
        self.define(ref, Value.make(op, self.type(), tuple(operands), attrs), env)

    # ---- types --------------------------------------------------------------------------

    def type_list(self) -> list[TensorType]:
        self.expect("punct", "(")
        types: list[TensorType] = []
        while not self.accept("punct", ")"):
            if types:
                self.expect("punct", ",")
            types.append(self.type())
        return types

    def type(self) -> TensorType:
        token = self.expect("ident")
        try:
            dtype = DType.from_short(token[1])
        except KeyError:
            raise self.fail(f"unknown dtype {token[1]!r}", token) from None
        self.expect("punct", "[")
        dims: list[int | Dim] = []
        while not self.accept("punct", "]"):
            if dims:
                self.expect("punct", ",")
            dims.append(self.dim())
        return TensorType(dtype, tuple(dims))

    def dim(self) -> int | Dim:
        token = self.peek()
        if token[0] == "int":
            self.pos += 1
            return int(token[1])
        if token[0] == "ident":
            self.pos += 1
            return Dim(token[1])
        if token[0] == "dimstr":
            self.pos += 1
            return Dim(json.loads(token[1][3:]))
        raise self.fail(f"expected a dim, found {token[1]!r}")

    # ---- attributes ---------------------------------------------------------------------

    def attrs(self) -> tuple[tuple[str, Any], ...]:
        self.expect("punct", "{")
        items: list[tuple[str, Any]] = []
        while not self.accept("punct", "}"):
            if items:
                self.expect("punct", ",")
            key = self.expect("ident")[1]
            self.expect("punct", "=")
            items.append((key, self.attr_value()))
        return tuple(items)

    def attr_value(self) -> Any:
        token = self.peek()
        kind, text = token[0], token[1]
        if kind == "punct" and text == "(":
            return self.tuple_value()
        if kind == "punct" and text == "@":
            self.pos += 1
            label = self.accept("ident") or self.expect("string")
            key = json.loads(label[1]) if label[0] == "string" else label[1]
            if key not in self.functions:
                raise self.fail(f"no func @{key} before this use", label)
            return self.functions[key]
        if kind in ("float", "int", "string", "dimstr") or kind == "ident":
            self.pos += 1
            return self.atom(token)
        raise self.fail(f"expected an attribute value, found {text!r}")

    def tuple_value(self) -> tuple[Any, ...]:
        self.expect("punct", "(")
        items: list[Any] = []
        while not self.accept("punct", ")"):
            items.append(self.attr_value())
            if not self.accept("punct", ","):
                self.expect("punct", ")")
                break
        return tuple(items)

    def atom(self, token: Token) -> Any:
        kind, text = token[0], token[1]
        if kind == "int":
            return int(text)
        if kind == "float":
            return self.nan_payload() if text == "nan" else float(text)
        if kind == "string":
            return json.loads(text)
        if kind == "dimstr":
            return Dim(json.loads(text[3:]))
        if text in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[text]
        try:
            return DType.from_short(text)
        except KeyError:
            return Dim(text)

    def nan_payload(self) -> float:
        """After ``nan`` in an attribute: an optional ``(0x...)`` float64 bit pattern."""
        if not self.accept("punct", "("):
            return math.nan
        bits = int(self.expect("hex")[1], 16)
        self.expect("punct", ")")
        return float(np.array(bits, np.uint64).view(np.float64)[()])

    # ---- constants ----------------------------------------------------------------------

    def literal(self) -> Any:
        """A scalar token or nested ``[...]`` lists of them (kept as tokens until typed)."""
        if self.accept("punct", "["):
            items: list[Any] = []
            while not self.accept("punct", "]"):
                if items:
                    self.expect("punct", ",")
                items.append(self.literal())
            return items
        token = self.peek()
        if token[0] not in ("float", "int", "ident"):
            raise self.fail(f"expected a constant, found {token[1]!r}")
        self.pos += 1
        if token[1] == "nan" and self.accept("punct", "("):
            bits = self.expect("hex")
            self.expect("punct", ")")
            return ("nan", bits)
        return token

    def const_data(self, literal: Any, type_: TensorType, where: Token) -> ConstData:
        if not type_.is_concrete:
            raise self.fail("a constant needs a concrete shape", where)
        flat: list[Any] = []
        if not _flatten(literal, type_.shape, flat):
            raise self.fail(f"constant elements do not match the shape of {type_}", where)
        try:
            array = _elements(flat, type_.dtype).reshape(type_.concrete_shape)
        except (ValueError, OverflowError) as error:
            raise self.fail(f"bad constant for {type_}: {error}", where) from None
        return ConstData(array)


def _flatten(literal: Any, shape: tuple, out: list[Any]) -> bool:
    """Append the scalar tokens of ``literal`` to ``out``; False when nesting != shape."""
    if not shape:
        if isinstance(literal, list):
            return False
        out.append(literal)
        return True
    if not isinstance(literal, list) or len(literal) != shape[0]:
        return False
    return all(_flatten(item, shape[1:], out) for item in literal)


def _elements(tokens: list[Any], dtype: DType) -> np.ndarray:
    """The array of scalar tokens; floats go through their bit patterns so NaN payloads and
    -0.0 survive exactly."""
    if dtype.is_float:
        uint, flt = _NAN_BITS[dtype]
        bits = [_float_bits(t, uint, flt) for t in tokens]
        return np.array(bits, dtype=uint).view(flt)
    if dtype.is_bool:
        if any(t[1] not in ("True", "False") for t in tokens):
            raise ValueError("bool elements must be True or False")
        return np.array([t[1] == "True" for t in tokens], dtype=bool)
    if any(t[0] != "int" for t in tokens):
        raise ValueError("integer elements must be integers")
    return np.array([int(t[1]) for t in tokens], dtype=dtype.numpy)


def _float_bits(token: Any, uint: type, flt: type) -> int:
    if token[0] == "nan":
        return int(token[1][1], 16)
    if token[0] not in ("float", "int"):
        raise ValueError(f"{token[1]!r} is not a number")
    return int(np.array(float(token[1]), dtype=flt).view(uint))
