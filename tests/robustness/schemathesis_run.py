"""One schemathesis run (the phases of `st run --checks all`) against an ASGI app, shared by the
contract tests of the annotator (test_serve_contract.py) and of the data engine's pages."""

from __future__ import annotations


def schemathesis_failures(app, max_examples: int, operations: list[dict]) -> tuple[list[str], int]:
    """(failures, number of checks run): every failed check as "LABEL CHECK: title: message".

    operations: schemathesis per-operation config ({"include-name": ..., "checks": {...}})."""
    import schemathesis
    from fastapi.testclient import TestClient
    from schemathesis.config import SchemathesisConfig
    from schemathesis.engine import events, from_schema

    config = SchemathesisConfig.from_dict({
        "seed": 1, "generation": {"max-examples": max_examples, "database": "none"}, "operations": operations})
    failures, checks = [], 0
    with TestClient(app):  # runs the lifespan (encoder thread) around the run
        schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
        for event in from_schema(schema).execute():
            if isinstance(event, events.ScenarioFinished):
                for results in event.recorder.checks.values():
                    for check in results:
                        checks += 1
                        if str(check.status) == "failure" or getattr(check.status, "name", "") == "FAILURE":
                            failure = check.failure_info.failure if check.failure_info else None
                            failures.append(f"{event.label} {check.name}: {getattr(failure, 'title', '')}: "
                                            f"{str(getattr(failure, 'message', ''))[:300]}")
            elif isinstance(event, events.NonFatalError):
                failures.append(f"error in {event.label}: {event.info.message[:300]}")
            elif isinstance(event, events.FatalError):
                failures.append(f"fatal: {event.exception}")
    return sorted(set(failures)), checks


def expected_refusals(codes_by_operation: dict[str, list[str]]) -> list[dict]:
    """Per-operation config: schema-valid requests the schema cannot tell are unusable may get these codes."""
    return [{"include-name": name, "checks": {"positive_data_acceptance": {"expected-statuses": codes}}}
            for name, codes in codes_by_operation.items()]
