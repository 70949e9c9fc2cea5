"""The outside review's attacks (issue 13), replayed against a real `fieldcase serve`.

`bench/attack.py` runs them by hand; `tests/integration/test_attack_replay.py` runs a fast
subset so the replay cannot silently rot. Only the CLI (in subprocesses), HTTP, the `crypto`
package and the test helpers are used: nothing here reaches into the server's modules, so
the replay keeps working while they move.
"""
