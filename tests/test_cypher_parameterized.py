"""Every Cypher statement is fixed text with parameters: nothing a user sends is ever spliced
into a query. Checked on the source, so a new query that breaks the rule fails here."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUERY_MODULES = [*sorted((ROOT / "graph" / "queries").glob("*.py")), ROOT / "graph" / "events.py"]
CALLERS = sorted(p for d in ("graph", "api") for p in (ROOT / d).rglob("*.py"))


def constant_expression(node: ast.expr) -> bool:
    """Text made of literals, constants and calls of query templates with literal arguments."""
    match node:
        case ast.Constant(value=str()) | ast.Name() | ast.Attribute():
            return True
        case ast.BinOp(op=ast.Add(), left=left, right=right):
            return constant_expression(left) and constant_expression(right)
        case ast.IfExp(body=body, orelse=orelse):
            return constant_expression(body) and constant_expression(orelse)
        case ast.Call(func=ast.Name(), args=args, keywords=[]):
            return all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args)
    return False


def test_query_modules_build_text_from_literals_only() -> None:
    for path in QUERY_MODULES:
        tree = ast.parse(path.read_text())
        templates = [
            f
            for f in tree.body
            if isinstance(f, ast.FunctionDef)
            and ast.unparse(f.returns or ast.Constant(None)) in ("LiteralString", "'LiteralString'")
        ]
        for template in templates:  # functions that return query text: literals only inside
            for node in ast.walk(template):
                assert not isinstance(node, ast.JoinedStr), f"{path.name}:{node.lineno}"
                assert not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod))
        for statement in tree.body:
            if isinstance(statement, (ast.Assign, ast.AnnAssign)) and statement.value:
                assert constant_expression(statement.value), (
                    f"{path.name}:{statement.lineno}: a query built from something not constant"
                )


def test_every_run_call_passes_a_query_constant_and_parameters_apart() -> None:
    calls = 0
    for path in CALLERS:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("run", "execute_query")
                and node.args
                and not (
                    isinstance(node.func.value, ast.Name)
                    and node.func.value.id in ("uvicorn", "asyncio", "subprocess")
                )
            ):
                calls += 1
                query = node.args[0]
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                assert isinstance(query, (ast.Name, ast.Attribute, ast.IfExp)), where
                assert constant_expression(query), where
    assert calls > 50  # the check saw the repositories
