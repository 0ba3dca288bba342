"""`r3 registry` and `r3 rollback`: see a spec's registered versions and move `champion` back by hand.

A champion can evaluate best and still misbehave in use; these commands let a user look at the versions
(aliases, scores, promotion and rollback notes) and restore the previous champion without the MLflow UI.

    r3 registry --spec NAME                       list versions, newest first
    r3 rollback --spec NAME [--to VERSION] [--reason TEXT]
"""

from __future__ import annotations

import argparse

from r3_pipeline import tracking
from r3_pipeline.layout import Layout


def add_registry_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Add the `registry` and `rollback` subcommands to `r3`'s parser."""
    p = subparsers.add_parser("registry", help="list a spec's registered model versions with aliases and scores")
    p.add_argument("--spec", required=True, help="spec name")
    p.set_defaults(func=cmd_registry)
    p = subparsers.add_parser("rollback", help="move the champion alias back to the previous champion")
    p.add_argument("--spec", required=True, help="spec name")
    p.add_argument("--to", dest="to_version", help="version to restore (default: the champion's previous champion)")
    p.add_argument("--reason", default="", help="why, recorded on the demoted version")
    p.set_defaults(func=cmd_rollback)


def cmd_registry(args) -> int:
    name = _configure(args.spec)
    print(f"version\taliases\t{tracking.SCORE_TAG}\tnotes")
    for mv in reversed(tracking.model_versions(name)):
        print(format_version(mv))
    return 0


def cmd_rollback(args) -> int:
    done = tracking.rollback(_configure(args.spec), args.to_version, args.reason)
    print(f"{done.registered_name}: champion is now v{done.champion}; v{done.demoted} {done.note} "
          f"(load it as models:/{done.registered_name}@{tracking.ROLLED_BACK})")
    return 0


def format_version(mv) -> str:
    tags = mv.tags
    notes = [tags.get(tracking.REASON_TAG, "not promoted")]
    if tracking.PREVIOUS_TAG in tags:
        notes.append(f"previous champion v{tags[tracking.PREVIOUS_TAG]}")
    if tracking.RESTORED_TAG in tags:
        notes.append(f"restored from v{tags[tracking.RESTORED_TAG]}")
    if tracking.ROLLBACK_TAG in tags:
        notes.append(tags[tracking.ROLLBACK_TAG])
    aliases = ",".join(mv.aliases) or "-"
    return f"v{mv.version}\t{aliases}\t{tags.get(tracking.SCORE_TAG, '-')}\t{'; '.join(notes)}"


def _configure(spec_name: str) -> str:
    """Point MLflow at this installation's store; return the spec's registered model name."""
    from r3_pipeline.spec import load_specs

    specs = {s.name: s for s in load_specs()}
    if spec_name not in specs:
        raise ValueError(f"unknown spec {spec_name!r}; known: {', '.join(specs)}")
    tracking.configure(Layout().home, spec_name)
    return specs[spec_name].registered_name
