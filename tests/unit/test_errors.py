"""Problem codes are stable and unique."""

from __future__ import annotations

import inspect

from server import errors


def _catalogue() -> dict[str, errors.Problem]:
    made = {}
    for name, function in inspect.getmembers(errors, inspect.isfunction):
        if function.__module__ != errors.__name__:
            continue
        params = inspect.signature(function).parameters
        args = [
            "x" if p.annotation in ("str", "str | None") else 1
            for p in params.values()
            if p.default is inspect.Parameter.empty
        ]
        made[name] = function(*args)
    return made


def test_every_code_is_used_once_and_matches_its_status() -> None:
    catalogue = _catalogue()
    codes = [problem.code for problem in catalogue.values()]
    assert len(codes) == len(set(codes)), codes
    for problem in catalogue.values():
        assert 400 <= problem.status < 600
        assert problem.message


def test_problem_json_shape() -> None:
    problem = errors.xml_differs("uuid:1")
    assert problem.status == 409
    assert problem.to_dict() == {"code": "409.1", "message": problem.message}
