"""`guard federate`: federated fine-tuning with Flower and Opacus DP-SGD (options in,
`guard.api.federate` called, the run summary printed), and one command per role of a real
deployment on Flower's Deployment Engine (`federated.deploy`): `certs`, `serve`, `node`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from guard.cli._common import JsonOpt, SetOpt, console, emit_json
from guard.core.errors import Interrupted

_EXIT_GRACE_S = 20.0

federate_app = typer.Typer(
    name="federate",
    add_completion=False,
    no_args_is_help=False,
    pretty_exceptions_enable=False,
)


@federate_app.callback(invoke_without_command=True)
def federate(
    ctx: typer.Context,
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="Federation config (TOML).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="New run directory.")] = None,
    resume: Annotated[
        Optional[Path], typer.Option("--resume", help="Continue this run from its last finished round.")
    ] = None,
    allow_data_change: Annotated[
        bool,
        typer.Option(
            "--allow-data-change",
            help="With --resume: go on although the corpus changed, as a new data segment of the privacy ledger.",
        ),
    ] = False,
    set_: SetOpt = [],  # noqa: B006
    canaries: Annotated[
        Optional[int], typer.Option("--canaries", help="Canaries per repeat count (for the privacy audit).")
    ] = None,
    canary_repeats: Annotated[
        list[int], typer.Option("--canary-repeats", help="Times each canary is repeated (repeatable).")
    ] = [],  # noqa: B006
    list_models: Annotated[bool, typer.Option("--list-models", help="List model and strategy names and exit.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune a model across data silos: Flower simulation, Opacus DP-SGD on every client,
    a privacy ledger with each client's cumulative epsilon.

    --resume refuses a damaged run directory or a changed corpus (exit 30). SIGINT/SIGTERM
    stop the run and Ray, keep the finished rounds and exit 128 + the signal.

    A real deployment, one command per role: `guard federate certs`, `guard federate serve`
    (SuperLink + the run), `guard federate node` (one per silo)."""
    if ctx.invoked_subcommand is not None:
        return
    from guard import api

    if list_models:
        names = api.federate_names()
        console.print(f"models: {', '.join(names['models'])}\nstrategies: {', '.join(names['strategies'])}")
        return
    overrides = list(set_)
    if canaries is not None:
        overrides.append(f"canaries.count={canaries}")
    if canary_repeats:
        overrides.append(f"canaries.repeats={list(canary_repeats)}")
    try:
        summary = api.federate(config, out, overrides=overrides, resume=resume, allow_data_change=allow_data_change)
    except Interrupted as e:
        from federated.stopping import exit_anyway

        exit_anyway(e.exit_code, after=_EXIT_GRACE_S)  # no thread left behind may hold the exit
        raise
    if as_json:
        emit_json(summary.to_json())
        return
    state = "finished" if summary.finished else f"stopped after round {summary.rounds_done}"
    console.print(
        f"federate: {summary.clients} clients, {summary.rounds_done} rounds, {state} -> {summary.run_dir}",
        highlight=False,
    )
    evaluate = summary.final_metrics.get("evaluate", {})
    if evaluate:
        console.print("held-out: " + ", ".join(f"{k} {v:.4g}" for k, v in sorted(evaluate.items())), highlight=False)
    console.print(summary.privacy_statement, highlight=False)


@federate_app.command("certs")
def certs(
    out: Annotated[Path, typer.Argument(help="Folder for ca.pem, ca.key, server.pem, server.key, NODE.key/.pub.")],
    host: Annotated[
        list[str],
        typer.Option("--host", help="Name or IP the nodes use for the SuperLink (repeatable; 127.0.0.1, localhost)."),
    ] = [],  # noqa: B006
    node: Annotated[
        list[str], typer.Option("--node", help="A node key pair to make (repeatable; default node-1, node-2).")
    ] = [],  # noqa: B006
    force: Annotated[bool, typer.Option("--force", help="Replace files that already exist.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Make a CA, a server certificate for --host names and ECDSA P-384 node keys (OpenSSH) for
    Flower's TLS and node authentication. Keeps every existing file unless --force."""
    from federated import deploy

    made = deploy.make_certs(
        out, hosts=tuple(host) or deploy.DEFAULT_HOSTS, nodes=tuple(node) or deploy.DEFAULT_NODES, force=force
    )
    if as_json:
        emit_json(made.to_json())
        return
    console.print(f"certs: CA and server certificate in {made.directory}", highlight=False)
    for n in made.nodes:
        console.print(f"  node {n.name}: {n.private.name} (to that node, 0600), {n.public.name} {n.fingerprint()}")
    console.print("Copy ca.pem and NODE.key to each node; keep ca.key off the SuperLink machine.", highlight=False)


@federate_app.command("serve")
def serve(
    config: Annotated[Path, typer.Option("--config", "-c", help="Federation config (TOML).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (created).")],
    certs_dir: Annotated[
        Optional[Path], typer.Option("--certs", help="Folder with ca.pem, server.pem, server.key (and *.pub).")
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address the SuperLink listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="The SuperLink's one port (Fleet, Control, Runtime).")] = 9092,
    node_key: Annotated[
        list[Path],
        typer.Option("--node-key", help="A node's public key to register (repeatable; default: --certs/*.pub)."),
    ] = [],  # noqa: B006
    insecure: Annotated[
        bool, typer.Option("--insecure", help="No TLS and no node authentication: any node may join. Recorded.")
    ] = False,
    nodes_timeout: Annotated[float, typer.Option("--nodes-timeout", help="Seconds to wait for the nodes.")] = 600.0,
    as_json: JsonOpt = False,
) -> None:
    """Start a SuperLink (TLS, node authentication), register the node keys, wait for [data]
    num_clients nodes, run the training and stream its log; exit with the run's result.
    RUN/deployment.json records TLS, node authentication and the registered key fingerprints."""
    from federated import deploy

    options = deploy.ServeOptions(
        config=config.absolute(),
        run_dir=out.absolute(),
        certs=None if certs_dir is None else deploy.CertSet.at(certs_dir),
        insecure=insecure,
        host=host,
        port=port,
        node_keys=tuple(p.absolute() for p in node_key),
        nodes_timeout_s=nodes_timeout,
    )
    if insecure:
        console.print("warning: --insecure: no TLS, no node authentication; the run records it", highlight=False)
    result = deploy.serve(options, echo=lambda line: console.print(line, highlight=False, markup=False))
    if as_json:
        emit_json({"run_dir": str(result.run_dir), "finished": result.finished, "rounds": result.rounds_done})
        return
    console.print(f"serve: {result.rounds_done} rounds, finished -> {result.run_dir}", highlight=False)


@federate_app.command("node")
def node(
    data: Annotated[Path, typer.Option("--data", help="This silo's JSONL file; it never leaves this machine.")],
    client_id: Annotated[str, typer.Option("--client-id", help="This silo's name in the run.")],
    superlink: Annotated[str, typer.Option("--superlink", help="The SuperLink as HOST:PORT.")],
    certs_dir: Annotated[
        Optional[Path], typer.Option("--certs", help="Folder with ca.pem and KEY.key (with --key).")
    ] = None,
    key: Annotated[Optional[str], typer.Option("--key", help="This node's key name in --certs (e.g. node-1).")] = None,
    root_certificates: Annotated[
        Optional[Path], typer.Option("--root-certificates", help="The CA certificate (instead of --certs).")
    ] = None,
    auth_key: Annotated[
        Optional[Path], typer.Option("--auth-key", help="This node's OpenSSH private key (instead of --key).")
    ] = None,
    state_dir: Annotated[
        Optional[Path], typer.Option("--state-dir", help="What stays on this node (default: beside --data).")
    ] = None,
    insecure: Annotated[bool, typer.Option("--insecure", help="Connect without TLS (a --insecure SuperLink).")] = False,
    cold: Annotated[
        bool, typer.Option("--cold", help="Flower's own per-message flwr-clientapp (no warm executor).")
    ] = False,
    max_wait: Annotated[
        float, typer.Option("--max-wait", help="Seconds to keep retrying an unreachable SuperLink before failing.")
    ] = 600.0,
    threads: Annotated[
        Optional[int],
        typer.Option("--threads", min=1, help="CPU threads for training on this node (default: all cores)."),
    ] = None,
) -> None:
    """Start a SuperNode for this silo and wait on it (Ctrl-C stops it): it reads only --data,
    keeps its held-out split and canary secrets in --state-dir, and signs in with its key."""
    from federated import deploy

    if certs_dir is not None:
        root_certificates = root_certificates or certs_dir / deploy.CA_CERT
        auth_key = auth_key or (certs_dir / f"{key}.key" if key else None)
    security = deploy.NodeSecurity(insecure, None if insecure else root_certificates, auth_key)
    options = deploy.node_options_for_silo(
        data=data,
        client_id=client_id,
        superlink=superlink,
        security=security,
        state_dir=state_dir,
        warm=not cold,
        max_wait_s=max_wait,
        threads=threads,
    )
    console.print(f"node {client_id}: SuperNode for {superlink} (logs in {options.home / 'logs'})", highlight=False)
    deploy.run_node(options)


def register(app: typer.Typer) -> None:
    app.add_typer(federate_app, name="federate")


__all__ = ["register"]
