"""Each FCM and Web Push provider module's ``__all__`` lists exactly the public names it defines."""

from __future__ import annotations

import ast
import inspect
from types import ModuleType

import pytest

from pushgate.providers import (
    fcm,
    fcm_credentials,
    fcm_oauth,
    retry_after,
    webpush,
    webpush_crypto,
    webpush_vapid,
)


def defined_public_names(module: ModuleType) -> set[str]:
    """Top-level functions, classes and assignments of the module without a leading underscore."""
    names: set[str] = set()
    for node in ast.parse(inspect.getsource(module)).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
    return {name for name in names if not name.startswith("_")}


@pytest.mark.parametrize(
    "module",
    [fcm, fcm_credentials, fcm_oauth, retry_after, webpush, webpush_crypto, webpush_vapid],
)
def test_all_lists_the_public_names(module: ModuleType):
    assert sorted(module.__all__) == sorted(defined_public_names(module))
