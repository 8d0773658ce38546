"""Flower's Deployment Engine for `guard federate serve|node|certs`: certificates and node
keys, the command lines of Flower 1.42's own binaries, and the processes that run them.

Thin over Flower on purpose: the SuperLink, the SuperNodes, node registration and
`flwr run` are Flower's commands with Flower's flags and wire format; this module only
builds their arguments, starts them with the environment 1.42 needs (the virtualenv's
bin on PATH, no update check, no runtime `uv sync`), waits for them and stops every
process they started (also when guard itself is killed: a watchdog, as for Ray).

What Flower 1.42 accepts (read from the installed wheel):
- SuperLink TLS: `--ssl-ca-certfile --ssl-certfile --ssl-keyfile`, PEM files read as bytes
  (`flwr.common.args.try_obtain_server_certificates`); the ServerApp process it starts
  connects to 127.0.0.1 (a 0.0.0.0 bind is resolved to 127.0.0.1), so the server
  certificate must name 127.0.0.1 too.
- Node authentication: the SuperLink's `--enable-supernode-auth` (refused with
  `--insecure`), `flwr supernode register KEY.pub CONNECTION` (an OpenSSH public key on a
  NIST curve), the SuperNode's `--auth-supernode-private-key` read with
  `cryptography`'s `load_ssh_private_key` (an OpenSSH-format EC private key, no passphrase).
- The SuperNode's `--root-certificates` (PEM CA) and `--node-config` ("k='v' k2='v2'",
  parsed as TOML values by `flwr.common.config.parse_config_args`).
- Keeping the ClientApp warm: 1.42 starts one `flwr-clientapp` process per message, which
  imports torch again and rebuilds the client's data and model (the prestarted "warm" workers
  of `flwr.supercore.task_worker` serve only agent, model and connector tasks, on Kubernetes).
  `flower-supernode --isolation process` lets a separately started executor take the node's
  tasks; `python -m federated.warm_node superexec` (federated/warm_node.py) is one: Flower's own SuperExec loop with an
  executor that keeps one ClientApp worker process alive between messages (forked once from a
  forkserver that imported torch, Opacus, transformers and guard) and runs each task in it
  with Flower's `run_clientapp`; its SuperNode asks the SuperLink for messages every 0.2 s when
  idle instead of 3 s. `guard federate node --cold` is Flower's SuperNode and executor as they are.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from guard.core.errors import ExitCode, GuardError

log = logging.getLogger(__name__)

CA_CERT = "ca.pem"
CA_KEY = "ca.key"
SERVER_CERT = "server.pem"
SERVER_KEY = "server.key"
DEFAULT_HOSTS = ("127.0.0.1", "localhost")
DEFAULT_NODES = ("node-1", "node-2")
DEFAULT_PORT = 9092
CONNECTION = "guard"
DEPLOYMENT_FILE = "deployment.json"
DEPLOY_DIR = "deploy"  # RUN/deploy: the SuperLink's FLWR_HOME, app dir and logs
# The SuperLink keeps its state (nodes, runs, messages, the weights in transit) in Flower's
# Python in-memory store, not in a SQLite file: with a file, SQLAlchemy queries were most of the
# SuperLink's CPU (42 CPU-seconds per round of 2 nodes x 8 MB, py-spy: object pulls, log
# streaming's status checks, task-token clean-up). Nothing durable lives there: `serve` starts
# a SuperLink per session, registers the node keys again, and the run's state is RUN/.
SUPERLINK_STATE = ":flwr-in-memory:"
PRIVATE_MODE = 0o600
PUBLIC_MODE = 0o644
DIR_MODE = 0o700
CA_DAYS = 3650
CERT_DAYS = 825
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
APP_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
DEFAULT_COMPONENTS = ("federated.server_app:app", "federated.client_app:app")
# [secure_aggregation] enabled: Flower's SecAgg+ runs on its legacy ServerApp/ClientApp path
SECAGG_COMPONENTS = ("federated.secagg:server_app", "federated.secagg:client_app")


class DeployError(GuardError):
    """A deployment could not start or finish: a process failed, a node never came, certificates
    or keys are missing or unusable."""

    exit_code = ExitCode.FEDERATION


class CertsExistError(DeployError):
    """`guard federate certs` would overwrite a file (pass --force)."""

    exit_code = ExitCode.OUTPUT


# -- certificates and node keys -------------------------------------------------------------


@dataclass(frozen=True)
class NodeKey:
    """A SuperNode's authentication key pair: `NAME.key` (OpenSSH EC private key, 0600, stays on
    the node) and `NAME.pub` (OpenSSH public key, registered on the SuperLink)."""

    name: str
    private: Path
    public: Path

    def fingerprint(self) -> str:
        return key_fingerprint(self.public)


@dataclass(frozen=True)
class CertSet:
    """The files of `guard federate certs DIR`: where each one is, whether or not it exists yet."""

    directory: Path
    nodes: tuple[NodeKey, ...] = ()

    @classmethod
    def at(cls, directory: str | Path, nodes: Sequence[str] = ()) -> CertSet:
        d = Path(directory).expanduser().absolute()
        return cls(d, tuple(NodeKey(n, d / f"{n}.key", d / f"{n}.pub") for n in nodes))

    @property
    def ca_cert(self) -> Path:
        return self.directory / CA_CERT

    @property
    def ca_key(self) -> Path:
        return self.directory / CA_KEY

    @property
    def server_cert(self) -> Path:
        return self.directory / SERVER_CERT

    @property
    def server_key(self) -> Path:
        return self.directory / SERVER_KEY

    def files(self) -> list[Path]:
        pairs = [p for n in self.nodes for p in (n.private, n.public)]
        return [self.ca_cert, self.ca_key, self.server_cert, self.server_key, *pairs]

    def to_json(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "ca_cert": str(self.ca_cert),
            "server_cert": str(self.server_cert),
            "nodes": {n.name: {"public": str(n.public), "fingerprint": n.fingerprint()} for n in self.nodes},
        }


def key_fingerprint(public_key: Path) -> str:
    """`SHA256:<base64>` of an OpenSSH public key's blob, as `ssh-keygen -lf KEY.pub` prints it,
    so an operator can compare what the run recorded with the file a silo sent."""
    try:
        blob = base64.b64decode(public_key.read_text(encoding="ascii").split()[1], validate=True)
    except (OSError, IndexError, ValueError, UnicodeDecodeError) as e:
        raise DeployError(f"{public_key}: not an OpenSSH public key ({type(e).__name__})") from e
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")


def _check_names(hosts: Sequence[str], nodes: Sequence[str]) -> None:
    if not hosts:
        raise DeployError("the server certificate needs at least one --host (IP address or DNS name)")
    bad = [n for n in nodes if not NODE_NAME.fullmatch(n)]
    if bad:
        raise DeployError(f"node names must be letters, digits, '.', '_' or '-' (at most 64): {bad!r}")
    if len(set(nodes)) != len(nodes):
        raise DeployError(f"node names repeat: {sorted(nodes)!r}")


def _san(host: str) -> Any:
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _name(common_name: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "guard"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )


def _certificate(
    subject: Any, issuer: Any, public_key: Any, signer: Any, *, days: int, ca: bool, sans: list[Any]
) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)  # cert + CRL signing
    else:
        usage = x509.KeyUsage(True, False, True, False, False, False, False, False, False)  # signature + key agreement
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
    return builder.add_extension(usage, critical=True).sign(signer, hashes.SHA256())


def _pem_key(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization as ser

    return key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())


def _node_key_bytes(name: str) -> tuple[bytes, bytes]:
    """An ECDSA P-384 key pair in OpenSSH format, as `ssh-keygen -t ecdsa -b 384` writes it."""
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    private = key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.OpenSSH, ser.NoEncryption())
    public = key.public_key().public_bytes(ser.Encoding.OpenSSH, ser.PublicFormat.OpenSSH)
    return private, public + f" guard-{name}\n".encode("ascii")


def _certificate_files(certs: CertSet, hosts: Sequence[str]) -> dict[Path, tuple[bytes, int]]:
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric import ec

    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_name = _name("guard federation CA")
    ca = _certificate(ca_name, ca_name, ca_key.public_key(), ca_key, days=CA_DAYS, ca=True, sans=[])
    server_key = ec.generate_private_key(ec.SECP384R1())
    sans = [_san(h) for h in hosts]
    server = _certificate(
        _name(hosts[0]), ca_name, server_key.public_key(), ca_key, days=CERT_DAYS, ca=False, sans=sans
    )
    files = {
        certs.ca_cert: (ca.public_bytes(ser.Encoding.PEM), PUBLIC_MODE),
        certs.ca_key: (_pem_key(ca_key), PRIVATE_MODE),
        certs.server_cert: (server.public_bytes(ser.Encoding.PEM), PUBLIC_MODE),
        certs.server_key: (_pem_key(server_key), PRIVATE_MODE),
    }
    for node in certs.nodes:
        private, public = _node_key_bytes(node.name)
        files[node.private] = (private, PRIVATE_MODE)
        files[node.public] = (public, PUBLIC_MODE)
    return files


def write_atomic(path: Path, data: bytes, *, mode: int, overwrite: bool) -> None:
    """Write `data` to `path` through a temporary file in the same folder (created with `mode`,
    fsynced, then renamed), so a reader never sees half a key. Without `overwrite` the rename is
    a hard link, which fails when the target exists, even if it appeared a moment ago."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError as e:
                raise CertsExistError(f"{path} already exists; pass --force to replace it") from e
            os.unlink(tmp)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def make_certs(
    out_dir: str | Path,
    *,
    hosts: Sequence[str] = DEFAULT_HOSTS,
    nodes: Sequence[str] = DEFAULT_NODES,
    force: bool = False,
) -> CertSet:
    """A CA, a server certificate signed by it for `hosts` (IP and DNS SubjectAltNames; 127.0.0.1 and
    localhost always, since the SuperLink's ServerApp process connects there), and per
    node an ECDSA P-384 OpenSSH key pair for Flower's node authentication. For tests and first
    deployments: the CA key signs whatever it is given, so keep `ca.key` off the SuperLink
    machine once the server certificate is made. Refuses to replace any file unless `force`."""
    _check_names(tuple(hosts), tuple(nodes))
    # the SuperLink's own ServerApp process and serve's flwr CLI connect over loopback
    hosts, nodes = tuple(dict.fromkeys([*hosts, *DEFAULT_HOSTS])), tuple(nodes)
    certs = CertSet.at(out_dir, nodes)
    existing = [p for p in certs.files() if p.exists()]
    if existing and not force:
        names = ", ".join(p.name for p in existing)
        raise CertsExistError(f"{certs.directory} already holds {names}; pass --force to replace them")
    certs.directory.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    for path, (data, mode) in _certificate_files(certs, hosts).items():
        write_atomic(path, data, mode=mode, overwrite=force)
    return certs


# -- security settings and command lines ------------------------------------------------------


@dataclass(frozen=True)
class LinkSecurity:
    """How the SuperLink serves: TLS with these files and node authentication, or `--insecure`
    (plain HTTP, any node may join), which only an explicit user flag selects."""

    insecure: bool
    ca_cert: Path | None = None
    server_cert: Path | None = None
    server_key: Path | None = None
    node_auth: bool = True

    @classmethod
    def from_certs(cls, certs: CertSet, *, node_auth: bool = True) -> LinkSecurity:
        return cls(False, certs.ca_cert, certs.server_cert, certs.server_key, node_auth)

    @classmethod
    def plain(cls) -> LinkSecurity:
        return cls(insecure=True, node_auth=False)

    def check(self) -> None:
        if self.insecure:
            if self.node_auth:
                raise DeployError(
                    "node authentication needs TLS: Flower refuses --enable-supernode-auth with --insecure"
                )
            return
        files = {"CA certificate": self.ca_cert, "server certificate": self.server_cert, "server key": self.server_key}
        missing = [f"{what} {p}" for what, p in files.items() if p is None or not p.is_file()]
        if missing:
            raise DeployError(f"TLS needs {', '.join(missing)}", hint="make them with `guard federate certs DIR`")

    def args(self) -> list[str]:
        if self.insecure:
            return ["--insecure"]
        tls = ["--ssl-ca-certfile", str(self.ca_cert), "--ssl-certfile", str(self.server_cert)]
        tls += ["--ssl-keyfile", str(self.server_key)]
        return tls + (["--enable-supernode-auth"] if self.node_auth else [])


@dataclass(frozen=True)
class NodeSecurity:
    """How a SuperNode reaches the SuperLink: TLS verified against `root_certificates`, signing
    in with `auth_key`; or `--insecure`."""

    insecure: bool
    root_certificates: Path | None = None
    auth_key: Path | None = None

    def check(self) -> None:
        if self.insecure:
            if self.auth_key is not None:
                raise DeployError("node authentication needs TLS: drop --insecure or the node key")
            return
        if self.root_certificates is None:
            raise DeployError(
                "a node needs the federation's CA certificate to check the SuperLink",
                hint="pass --certs DIR or --root-certificates ca.pem (--insecure only for an --insecure SuperLink)",
            )
        if not self.root_certificates.is_file():
            raise DeployError(f"no CA certificate at {self.root_certificates}", hint="copy ca.pem from the server")
        if self.auth_key is not None:
            if not self.auth_key.is_file():
                raise DeployError(f"no node key at {self.auth_key}")
            _check_node_key(self.auth_key)

    def absolute(self) -> NodeSecurity:
        """Paths that still hold when the SuperNode runs in its own folder."""

        def _abs(p: Path | None) -> Path | None:
            return None if p is None else p.expanduser().absolute()

        return NodeSecurity(self.insecure, _abs(self.root_certificates), _abs(self.auth_key))

    def args(self) -> list[str]:
        if self.insecure:
            return ["--insecure"]
        out = ["--root-certificates", str(self.root_certificates)]
        return out + (["--auth-supernode-private-key", str(self.auth_key)] if self.auth_key else [])


def _check_node_key(path: Path) -> None:
    """Fail here, naming the file, rather than in the SuperNode with 'Unable to parse'."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_ssh_private_key

    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise DeployError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
    try:
        key = load_ssh_private_key(path.read_bytes(), None)
    except (ValueError, TypeError) as e:
        raise DeployError(f"{path}: not an unencrypted OpenSSH private key ({type(e).__name__})") from e
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise DeployError(f"{path}: Flower's node authentication needs an ECDSA key (ssh-keygen -t ecdsa -b 384)")


def silo_node_config(*, data_path: Path, client_id: str, state_dir: Path) -> dict[str, str]:
    """The node config of a silo's SuperNode (keys from `federated.silo`): its own data file, its
    client id, and the state directory that holds what stays on the node (its canary secrets)."""
    from federated.silo import NODE_CLIENT, NODE_DATA, NODE_STATE

    return {NODE_DATA: str(data_path), NODE_CLIENT: client_id, NODE_STATE: str(state_dir)}


def node_config_arg(config: Mapping[str, str | int | float | bool]) -> str:
    """`--node-config` text: `key='value'` pairs (TOML literal strings) that Flower's
    `parse_config_args` reads back; a value it cannot carry (a quote, a newline) is refused."""
    parts = []
    for key, value in config.items():
        if not re.fullmatch(r"[A-Za-z0-9_-]+", key):
            raise DeployError(f"node config key {key!r}: letters, digits, '_' and '-' only")
        if isinstance(value, bool):
            parts.append(f"{key}={'true' if value else 'false'}")
        elif isinstance(value, (int, float)):
            parts.append(f"{key}={value}")
        else:
            if any(c in value for c in "'\"\n\r"):
                raise DeployError(f"node config {key}: a value with quotes or newlines cannot pass Flower's parser")
            parts.append(f"{key}='{value}'")
    return " ".join(parts)


def superlink_command(*, host: str, port: int, database: Path | str, security: LinkSecurity) -> list[str]:
    """Fleet, Control and Runtime APIs of 1.42 share `--host`/`--port`."""
    return [
        "flower-superlink",
        *security.args(),
        "--disable-runtime-dependency-installation",
        "--host",
        host,
        "--port",
        str(port),
        "--database",
        str(database),
    ]


def supernode_command(
    *,
    superlink: str,
    security: NodeSecurity,
    node_config: Mapping[str, str | int | float | bool],
    runtime_port: int,
    isolation: str = "subprocess",
    max_wait_s: float | None = None,
) -> list[str]:
    """The node's Runtime API (where its ClientApp processes fetch their tasks) listens on
    127.0.0.1:`runtime_port` only; `max_wait_s` bounds how long it retries a SuperLink that
    refuses it (an unregistered key, a failed TLS handshake) instead of retrying forever."""
    cmd = ["flower-supernode", *security.args(), "--superlink", superlink, "--host", "127.0.0.1"]
    cmd += ["--port", str(runtime_port), "--isolation", isolation, "--node-config", node_config_arg(node_config)]
    if max_wait_s is not None:
        cmd += ["--max-wait-time", str(max_wait_s)]
    return cmd


def connection_toml(*, name: str, address: str, root_certificates: Path | None, insecure: bool) -> str:
    """An FLWR_HOME/config.toml with one SuperLink connection, the default one."""
    lines = [
        "[superlink]",
        f"default = {json.dumps(name)}",
        "",
        f"[superlink.{name}]",
        f"address = {json.dumps(address)}",
    ]
    if insecure:
        lines.append("insecure = true")
    else:
        lines.append(f"root-certificates = {json.dumps(str(root_certificates))}")
    return "\n".join(lines) + "\n"


def register_command(public_key: Path, connection: str = CONNECTION) -> list[str]:
    return ["flwr", "supernode", "register", str(public_key), connection, "--format", "json"]


def list_nodes_command(connection: str = CONNECTION) -> list[str]:
    return ["flwr", "supernode", "ls", connection, "--format", "json"]


def run_config_arg(*, run_dir: Path, config: Path) -> str:
    for what, p in (("run directory", run_dir), ("config", config)):
        if any(c in str(p) for c in "\"'\n\r\\"):
            raise DeployError(f"the {what} path {p} holds a quote, backslash or newline, which flwr run cannot pass")
    return f'run-dir="{run_dir}" config="{config}"'


def run_command(app_dir: Path, *, run_dir: Path, config: Path, connection: str = CONNECTION) -> list[str]:
    """`flwr run --stream` exits 0 even when the ServerApp raised: check the run directory."""
    run_config = run_config_arg(run_dir=run_dir, config=config)
    return ["flwr", "run", str(app_dir), connection, "--run-config", run_config, "--stream"]


def write_app_dir(
    directory: Path, *, components: tuple[str, str] = DEFAULT_COMPONENTS, name: str = "guard-federate"
) -> Path:
    """A Flower app without code: `pyproject.toml` naming the ServerApp and ClientApp entry points
    (`module:attribute`), which the SuperLink and each SuperNode import from the guard package
    installed there. The FAB is then a few hundred bytes and only names code; every machine
    runs its own installed guard (the same version on all of them: the run records it)."""
    if not APP_NAME.fullmatch(name):
        raise DeployError(f"Flower app names are letters, digits and hyphens: {name!r}")
    from guard import __version__

    server, client = components
    text = "\n".join(
        [
            "[build-system]",
            'requires = ["setuptools>=68"]',
            'build-backend = "setuptools.build_meta"',
            "",
            "[project]",
            f"name = {json.dumps(name)}",
            f"version = {json.dumps(__version__)}",
            'dependencies = ["guard[federate]"]',
            "",
            "[tool.flwr.app]",
            'publisher = "guard"',
            "",
            "[tool.flwr.app.components]",
            f"serverapp = {json.dumps(server)}",
            f"clientapp = {json.dumps(client)}",
            "",
            "[tool.flwr.app.config]",
            'run-dir = ""',
            'config = ""',
            "",
        ]
    )
    app = directory / name
    app.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    (app / "pyproject.toml").write_text(text, encoding="utf-8")
    return app


# -- processes --------------------------------------------------------------------------------


def flower_env(flwr_home: Path, *, session: str) -> dict[str, str]:
    """The environment 1.42's binaries need: they start `flower-superexec`, `flwr-serverapp`
    and `flwr-clientapp` by name (the virtualenv's bin first on PATH); no update check, no
    telemetry, no runtime dependency install (`uv sync` would fetch a CUDA torch). Every
    process carries the session token, so the watchdog finds them however they detached."""
    from federated._reaper import SESSION_ENV

    flwr_home.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    env = {k: v for k, v in os.environ.items() if k not in {"GUARD_RUN_DIR", "GUARD_FEDERATE_FAULT"}}
    bin_dir = str(Path(sys.executable).parent)
    env.update(
        {
            "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
            "FLWR_HOME": str(flwr_home),
            "FLWR_DISABLE_UPDATE_CHECK": "1",
            "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
            "FLWR_TELEMETRY_ENABLED": "0",
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
            SESSION_ENV: session,
        }
    )
    return env


def _resolve(cmd: list[str]) -> list[str]:
    """Flower's binaries from this interpreter's virtualenv, not whatever PATH finds first."""
    local = Path(sys.executable).parent / cmd[0]
    return [str(local) if local.exists() else cmd[0], *cmd[1:]]


@dataclass
class Processes:
    """The processes of one `serve` or `node`: each in its own process group, logging to a file;
    `stop()` ends them and everything they started (found by the session token), and a watchdog
    does the same if this process dies without a chance to (SIGKILL)."""

    log_dir: Path
    session: str = field(default_factory=lambda: uuid.uuid4().hex)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    _files: list[IO[bytes]] = field(default_factory=list)
    _watchdog: subprocess.Popen[bytes] | None = None

    def start(self, name: str, cmd: list[str], *, env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
        if self._watchdog is None:
            from federated.stopping import start_watchdog

            self._watchdog = start_watchdog(self.session, tempfile.mkdtemp(prefix="guard-deploy-"))
        self.log_dir.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        path = self.log_dir / f"{name}.log"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_MODE)
        out = os.fdopen(fd, "ab")
        self._files.append(out)
        log.debug("starting %s: %s", name, " ".join(cmd[:2]))
        proc = subprocess.Popen(
            _resolve(cmd),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: a Ctrl-C to guard reaches guard, which stops it in order
        )
        self.procs[name] = proc
        self.logs[name] = path
        return proc

    def failed(self) -> str | None:
        """The first started process that already exited, with its exit status and log tail."""
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                return f"{name} exited with {proc.returncode}\n{self.tail(name)}"
        return None

    def tail(self, name: str, chars: int = 2000) -> str:
        path = self.logs.get(name)
        text = path.read_text(encoding="utf-8", errors="replace") if path and path.is_file() else ""
        return f"--- {name} log (last {chars} characters) ---\n{text[-chars:]}"

    def stop(self, *, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM each group (newest first), SIGKILL what is left after `timeout`, then every
        other process of the session (the SuperExec and app processes Flower detached)."""
        from federated._reaper import reap

        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                _killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        exclude = frozenset({self._watchdog.pid}) if self._watchdog else frozenset()
        reap(self.session, exclude=exclude)
        for f in self._files:
            f.close()
        self._files.clear()
        if self._watchdog is not None:
            _close_watchdog(self._watchdog)
            self._watchdog = None


def _killpg(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _close_watchdog(watchdog: subprocess.Popen[bytes]) -> None:
    try:
        assert watchdog.stdin is not None
        watchdog.stdin.close()  # it wakes, finds nothing left, removes its temp dir and exits
        watchdog.wait(timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        watchdog.kill()
        watchdog.wait()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_until(what: str, ready: Callable[[], bool], procs: Processes, *, timeout: float, poll: float = 0.5) -> None:
    """Wait for `ready()`, failing at once when one of `procs` exits and after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        failed = procs.failed()
        if failed:
            raise DeployError(f"{what}: {failed}")
        time.sleep(poll)
    raise DeployError(f"{what}: not ready after {timeout:.0f} s")


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C (KeyboardInterrupt carrying the signal number), so `finally`
    blocks stop the SuperLink or SuperNode whichever signal ends the command."""

    def _raise(signum: int, frame: Any) -> None:
        err = KeyboardInterrupt()
        err.signum = signum  # type: ignore[attr-defined]
        raise err

    previous = {s: signal.signal(s, _raise) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


# -- serve ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServeOptions:
    config: Path
    run_dir: Path
    certs: CertSet | None  # None with insecure
    insecure: bool = False
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    node_keys: tuple[Path, ...] = ()  # public keys to register; default: every *.pub in the certs dir
    components: tuple[str, str] | None = None  # None: from the config (SecAgg+ or plain)
    nodes_timeout_s: float = 600.0
    run_timeout_s: float | None = None


@dataclass(frozen=True)
class Deployment:
    """`RUN/deployment.json`: how this run was served, for the release report."""

    tls: bool
    node_auth: bool
    insecure: bool
    superlink_address: str
    registered_nodes: tuple[dict[str, str], ...]  # {"key": file name, "fingerprint": SHA256:...}
    expected_nodes: int
    flower_version: str
    guard_version: str
    components: tuple[str, str]
    schema_version: int = 1

    def write(self, run_dir: Path) -> Path:
        from federated.rundir import write_private

        path = run_dir / DEPLOYMENT_FILE
        write_private(path, json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        return path


@dataclass(frozen=True)
class ServeResult:
    run_dir: Path
    finished: bool
    rounds_done: int
    rounds: int
    seconds: float
    deployment: Deployment


def _node_keys(options: ServeOptions) -> tuple[Path, ...]:
    if options.insecure:
        if options.node_keys:
            raise DeployError("--node-key registers keys for node authentication, which --insecure turns off")
        return ()
    keys = options.node_keys
    if not keys and options.certs is not None:
        keys = tuple(sorted(options.certs.directory.glob("*.pub")))
    if not keys:
        raise DeployError("no node public keys to register", hint="pass --node-key NAME.pub, one per silo")
    for k in keys:
        key_fingerprint(k)  # a file that is no OpenSSH public key fails here, named
    return tuple(Path(k).absolute() for k in keys)


def _security(options: ServeOptions) -> LinkSecurity:
    if options.insecure:
        return LinkSecurity.plain()
    if options.certs is None:
        raise DeployError("serve needs --certs DIR (TLS and node authentication) or an explicit --insecure")
    return LinkSecurity.from_certs(options.certs)


def _cli(procs: Processes, name: str, cmd: list[str], env: dict[str, str], cwd: Path, timeout: float) -> str:
    """Run a short flwr CLI command (register, ls) and return its stdout; its output goes to the log."""
    try:
        done = subprocess.run(_resolve(cmd), env=env, cwd=cwd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        raise DeployError(f"{' '.join(cmd[:3])} did not answer in {timeout:.0f} s") from e
    with (procs.log_dir / f"{name}.log").open("ab") as fh:
        fh.write(done.stdout + done.stderr)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).decode("utf-8", errors="replace")[-1500:]
        raise DeployError(f"{' '.join(cmd[:3])} failed (exit {done.returncode}): {tail}")
    return done.stdout.decode("utf-8", errors="replace")


def online_nodes(ls_json: str) -> int:
    """How many nodes `flwr supernode ls --format json` shows online (its last JSON object)."""
    start = ls_json.rfind('{"success"')
    try:
        nodes = json.loads(ls_json[start:] if start >= 0 else ls_json).get("nodes", [])
    except json.JSONDecodeError:
        return 0
    return sum(1 for n in nodes if n.get("status") == "online")


def _plan(config_path: Path, components: tuple[str, str] | None) -> tuple[int, tuple[str, str]]:
    """How many nodes the run needs ([data] num_clients) and which apps serve it."""
    from federated.config import load_config

    config = load_config(config_path)
    if components is None:
        components = SECAGG_COMPONENTS if config.secure_aggregation.enabled else DEFAULT_COMPONENTS
    return int(config.data.num_clients), components


def _run_state(run_dir: Path) -> tuple[bool, int, int]:
    path = run_dir / "state.json"
    if not path.is_file():
        return False, 0, 0
    state = json.loads(path.read_text(encoding="utf-8"))
    return bool(state.get("finished")), int(state.get("last_round", 0)), int(state.get("rounds", 0))


def serve(options: ServeOptions, *, echo: Callable[[str], None] = print) -> ServeResult:
    """Start the SuperLink, register the node keys, wait for [data] num_clients nodes, run the
    ServerApp with `flwr run --stream` (its log echoed) and stop the SuperLink, also on
    SIGINT/SIGTERM. The result is the run directory's state, since `flwr run` exits 0 when the
    ServerApp failed; a run that did not finish raises DeployError."""
    import flwr

    from guard import __version__

    security = _security(options)
    security.check()
    keys = _node_keys(options)
    expected, components = _plan(options.config, options.components)
    run_dir = options.run_dir.absolute()
    work = run_dir / DEPLOY_DIR
    work.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(run_dir, DIR_MODE)
    address = f"{'127.0.0.1' if options.host in ('0.0.0.0', '::') else options.host}:{options.port}"
    deployment = Deployment(
        tls=not options.insecure,
        node_auth=security.node_auth,
        insecure=options.insecure,
        superlink_address=f"{options.host}:{options.port}",
        registered_nodes=tuple({"key": k.name, "fingerprint": key_fingerprint(k)} for k in keys),
        expected_nodes=expected,
        flower_version=flwr.__version__,
        guard_version=__version__,
        components=components,
    )
    deployment.write(run_dir)
    procs = Processes(work / "logs")
    started = time.monotonic()
    try:
        with stop_on_signals():
            env = _start_superlink(procs, options, security, work, address)
            for key in keys:
                _cli(procs, "register", register_command(key), env, work, 60)
                echo(f"registered node key {key.name} ({key_fingerprint(key)})")
            echo(f"SuperLink on {options.host}:{options.port}; waiting for {expected} node(s)")
            _wait_for_nodes(procs, env, work, expected, options.nodes_timeout_s)
            app_dir = write_app_dir(work / "app", components=components)
            _flwr_run(procs, env, work, app_dir, run_dir, options, echo)
    finally:
        procs.stop()
    finished, done, rounds = _run_state(run_dir)
    result = ServeResult(run_dir, finished, done, rounds, time.monotonic() - started, deployment)
    if not finished:
        raise DeployError(
            f"the run stopped after round {done} of {rounds or '?'}; see {procs.log_dir}/flwr-run.log",
            hint=f"{run_dir}/failures.jsonl and the SuperLink log say why",
        )
    return result


def _start_superlink(
    procs: Processes, options: ServeOptions, security: LinkSecurity, work: Path, address: str
) -> dict[str, str]:
    env = flower_env(work / "flwr-home", session=procs.session)
    root = None if options.insecure else security.ca_cert
    (work / "flwr-home" / "config.toml").write_text(
        connection_toml(name=CONNECTION, address=address, root_certificates=root, insecure=options.insecure),
        encoding="utf-8",
    )
    cmd = superlink_command(host=options.host, port=options.port, database=SUPERLINK_STATE, security=security)
    procs.start("superlink", cmd, env=env, cwd=work)
    check_host = address.rsplit(":", 1)[0]
    wait_until("SuperLink", lambda: port_open(check_host, options.port), procs, timeout=START_TIMEOUT_S)
    return env


def _wait_for_nodes(procs: Processes, env: dict[str, str], work: Path, expected: int, timeout: float) -> None:
    def enough() -> bool:
        return online_nodes(_cli(procs, "supernode-ls", list_nodes_command(), env, work, 60)) >= expected

    wait_until(f"{expected} SuperNode(s)", enough, procs, timeout=timeout, poll=2.0)


def _flwr_run(
    procs: Processes,
    env: dict[str, str],
    work: Path,
    app_dir: Path,
    run_dir: Path,
    options: ServeOptions,
    echo: Callable[[str], None],
) -> None:
    cmd = run_command(app_dir, run_dir=run_dir, config=options.config.absolute())
    run = procs.start("flwr-run", cmd, env=env, cwd=work)
    deadline = None if options.run_timeout_s is None else time.monotonic() + options.run_timeout_s
    with _follow(procs.logs["flwr-run"]) as lines:
        while run.poll() is None:
            for line in lines():
                echo(line)
            if procs.procs["superlink"].poll() is not None:
                raise DeployError(f"the SuperLink exited during the run\n{procs.tail('superlink')}")
            if deadline is not None and time.monotonic() > deadline:
                raise DeployError(f"the run did not finish in {options.run_timeout_s:.0f} s")
            time.sleep(0.5)
        for line in lines():
            echo(line)


@contextmanager
def _follow(path: Path) -> Iterator[Callable[[], list[str]]]:
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        buffer = ""

        def lines() -> list[str]:
            nonlocal buffer
            buffer += fh.read()
            *complete, buffer = buffer.split("\n")
            return [line for line in complete if line.strip()]

        yield lines


# -- node -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeOptions:
    superlink: str
    security: NodeSecurity
    node_config: Mapping[str, str | int | float | bool]
    home: Path  # the node's FLWR_HOME (installed FABs) and logs
    runtime_port: int | None = None
    warm: bool = True  # --isolation process with guard's executor (a ClientApp worker kept alive)
    max_wait_s: float | None = None
    threads: int | None = None  # CPU threads for the ClientApp's torch (None: torch's default, all cores)


def node_options_for_silo(
    *,
    data: Path,
    client_id: str,
    superlink: str,
    security: NodeSecurity,
    state_dir: Path | None = None,
    warm: bool = True,
    max_wait_s: float | None = None,
    threads: int | None = None,
) -> NodeOptions:
    """A silo's node: its data file, its client id, and its state directory (default: beside the
    data file, `.guard-node-<client id>`), which also holds the node's Flower home and logs."""
    if not data.is_file():
        raise DeployError(f"no data file at {data}")
    state = (state_dir or data.absolute().parent / f".guard-node-{client_id}").absolute()
    config = silo_node_config(data_path=data.absolute(), client_id=client_id, state_dir=state)
    if threads is not None and threads < 1:
        raise DeployError(f"--threads must be at least 1, not {threads}")
    return NodeOptions(superlink, security, config, state / "flower", warm=warm, max_wait_s=max_wait_s, threads=threads)


# What torch, OpenMP and the BLAS libraries read for their thread count. Several nodes on one host
# (tests, the round-time bench) otherwise each start one thread per core and contend; a Ray
# simulation client gets its `cpus_per_client` threads the same way.
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def warm_superexec_command(runtime_address: str, *, parent_pid: int) -> list[str]:
    return [sys.executable, "-m", "federated.warm_node", "superexec", "--runtime-api-address", runtime_address,
            "--parent-pid", str(parent_pid)]  # fmt: skip


def start_node(options: NodeOptions, procs: Processes) -> subprocess.Popen[bytes]:
    """Start the SuperNode (and, warm, guard's executor for its ClientApp tasks)."""
    options = replace(options, security=options.security.absolute())
    options.security.check()
    port = options.runtime_port or free_port()
    env = flower_env(options.home / "flwr-home", session=procs.session)
    if options.threads is not None:  # read by torch at import, in the executor's forkserver or flwr-clientapp
        env.update({name: str(options.threads) for name in THREAD_ENV})
    isolation = "process" if options.warm else "subprocess"
    cmd = supernode_command(
        superlink=options.superlink,
        security=options.security,
        node_config=options.node_config,
        runtime_port=port,
        isolation=isolation,
        max_wait_s=options.max_wait_s,
    )
    if options.warm:
        cmd = [sys.executable, "-m", "federated.warm_node", "supernode", *cmd[1:]]
    node = procs.start("supernode", cmd, env=env, cwd=options.home)
    if options.warm:
        wait_until("SuperNode Runtime API", lambda: port_open("127.0.0.1", port), procs, timeout=START_TIMEOUT_S)
        procs.start(
            "superexec", warm_superexec_command(f"127.0.0.1:{port}", parent_pid=node.pid), env=env, cwd=options.home
        )
    return node


def run_node(options: NodeOptions) -> int:
    """Run a SuperNode until it exits or a signal stops it; its exit status (non-zero: refused,
    unreachable, or failed), with the last lines of its log in the error."""
    procs = Processes(options.home / "logs")
    gave_up = False
    try:
        with stop_on_signals():
            node = _start_or_refused(options, procs)
            with _follow(procs.logs["supernode"]) as lines:
                while node.poll() is None and not gave_up:
                    executor = procs.procs.get("superexec")
                    if executor is not None and executor.poll() is not None:
                        raise DeployError(f"the node's ClientApp executor stopped\n{procs.tail('superexec')}")
                    # 1.42 logs this and then hangs when the SuperLink went away mid-session
                    gave_up = any(_GAVE_UP in line for line in lines())
                    time.sleep(0.5)
    finally:
        procs.stop()
    if gave_up or node.returncode != 0:
        raise DeployError(_node_failure(options, procs), hint=f"the node's log: {procs.logs['supernode']}")
    return node.returncode


def _start_or_refused(options: NodeOptions, procs: Processes) -> subprocess.Popen[bytes]:
    """`start_node`; a SuperNode that already exited while starting (refused at once, e.g. an
    unregistered key) is returned, so that its log, not the start-up wait, explains it."""
    try:
        return start_node(options, procs)
    except DeployError:
        node = procs.procs.get("supernode")
        if node is None or node.poll() is None:
            raise
        return node


_GAVE_UP = "Giving up reconnection"
_RESET = "Connection reset by peer"
_INSECURE_TO_TLS = "the SuperLink closed the connection: it serves TLS and this node came without (--insecure)"

# What a 1.42 SuperNode log says when the SuperLink turned it away, and what that means here.
_REFUSALS = (
    ("Failed to activate SuperNode", "the SuperLink refused this node's key: it is not registered there"),
    (
        "CERTIFICATE_VERIFY_FAILED",
        "TLS failed: the SuperLink's certificate is not signed by this --root-certificates CA",
    ),
    ("Server disconnected without sending a response", _INSECURE_TO_TLS),
    ("Giving up reconnection", "no answer from the SuperLink within --max-wait (wrong address, port closed, or down)"),
    ("Failed to initialize the connection", "the node could not connect to the SuperLink"),
)


def _node_failure(options: NodeOptions, procs: Processes) -> str:
    text = procs.tail("supernode", chars=20000)
    node = procs.procs["supernode"]
    reason = next((why for needle, why in _REFUSALS if needle in text), "the SuperNode stopped")
    if options.security.insecure and _RESET in text:  # plain HTTP to a TLS port: closed before or after a reply
        reason = _INSECURE_TO_TLS
    key = options.security.auth_key
    who = f" (key {key.name}, {public_fingerprint(key)})" if key is not None and "key" in reason else ""
    status = f"; exit {node.returncode}" if node.returncode and node.returncode > 0 else ""
    return f"{reason}{who}{status}"


def public_fingerprint(private_key: Path) -> str:
    """The fingerprint of a node's public key computed from its private key file, to compare
    with what the server registered (`deployment.json`)."""
    from cryptography.hazmat.primitives import serialization as ser

    key = ser.load_ssh_private_key(private_key.read_bytes(), None)
    blob = base64.b64decode(key.public_key().public_bytes(ser.Encoding.OpenSSH, ser.PublicFormat.OpenSSH).split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")


__all__ = [
    "CONNECTION",
    "CertSet",
    "CertsExistError",
    "DeployError",
    "Deployment",
    "LinkSecurity",
    "NodeKey",
    "NodeOptions",
    "NodeSecurity",
    "Processes",
    "ServeOptions",
    "ServeResult",
    "connection_toml",
    "key_fingerprint",
    "make_certs",
    "node_config_arg",
    "node_options_for_silo",
    "register_command",
    "run_command",
    "run_node",
    "serve",
    "silo_node_config",
    "start_node",
    "superlink_command",
    "supernode_command",
    "write_app_dir",
]
