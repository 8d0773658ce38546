"""`guard federate certs` and the command lines of `federated.deploy`: the files Flower 1.42's
SuperLink and SuperNodes are given (formats checked with the loaders Flower itself uses), their
permissions, the server certificate's names, and that nothing is ever silently replaced."""

from __future__ import annotations

import ipaddress
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_ssh_private_key, load_ssh_public_key
from typer.testing import CliRunner

from federated import deploy
from guard.cli import app
from guard.core.errors import ExitCode

runner = CliRunner()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> deploy.CertSet:
    return deploy.make_certs(tmp_path_factory.mktemp("certs") / "c", hosts=("link.example", "10.0.0.5"))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_certs_writes_ca_server_and_node_files_with_private_keys_0600(certs: deploy.CertSet) -> None:
    names = sorted(p.name for p in certs.directory.iterdir())
    assert names == sorted(
        ["ca.pem", "ca.key", "server.pem", "server.key", *(f"node-{i}.{e}" for i in (1, 2) for e in ("key", "pub"))]
    )
    for private in (certs.ca_key, certs.server_key, *(n.private for n in certs.nodes)):
        assert _mode(private) == 0o600, private
    for public in (certs.ca_cert, certs.server_cert, *(n.public for n in certs.nodes)):
        assert _mode(public) == 0o644, public
    assert _mode(certs.directory) == 0o700
    assert not [p for p in certs.directory.iterdir() if p.name.startswith(".")], "a temporary file was left behind"


def test_server_certificate_names_every_host_and_is_signed_by_the_ca(certs: deploy.CertSet) -> None:
    ca = x509.load_pem_x509_certificate(certs.ca_cert.read_bytes())
    server = x509.load_pem_x509_certificate(certs.server_cert.read_bytes())
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = [ipaddress.ip_address(a) for a in ("10.0.0.5", "127.0.0.1")]
    assert san.get_values_for_type(x509.IPAddress) == ips
    assert san.get_values_for_type(x509.DNSName) == ["link.example", "localhost"]  # loopback always: the ServerApp
    cn = server.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value
    assert cn == "link.example"
    server.verify_directly_issued_by(ca)  # raises when the signature or issuer does not match
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    key = load_pem_private_key(certs.server_key.read_bytes(), None)
    assert key.public_key().public_numbers() == server.public_key().public_numbers()


def test_node_keys_are_openssh_ecdsa_p384_as_flower_loads_them(certs: deploy.CertSet) -> None:
    from flwr.cli.supernode.register import try_load_public_key  # what `flwr supernode register` runs

    for node in certs.nodes:
        private = load_ssh_private_key(node.private.read_bytes(), None)  # what flower-supernode runs
        assert isinstance(private, ec.EllipticCurvePrivateKey) and private.curve.name == "secp384r1"
        public = load_ssh_public_key(node.public.read_bytes())
        assert public.public_numbers() == private.public_key().public_numbers()
        assert try_load_public_key(node.public)  # Flower accepts it for registration (NIST curve)
        assert node.public.read_text(encoding="ascii").startswith("ecdsa-sha2-nistp384 ")


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen not installed")
def test_fingerprint_is_what_ssh_keygen_prints(certs: deploy.CertSet) -> None:
    for node in certs.nodes:
        out = subprocess.run(["ssh-keygen", "-lf", str(node.public)], capture_output=True, text=True, check=True)
        assert out.stdout.split()[1] == node.fingerprint()
        assert deploy.public_fingerprint(node.private) == node.fingerprint()


def test_certs_refuse_to_overwrite_and_leave_existing_files_untouched(tmp_path: Path) -> None:
    made = deploy.make_certs(tmp_path / "c", nodes=("site-a",))
    before = {p: p.read_bytes() for p in made.files()}
    with pytest.raises(deploy.CertsExistError, match="--force"):
        deploy.make_certs(tmp_path / "c", nodes=("site-a",))
    assert {p: p.read_bytes() for p in made.files()} == before
    # one file already there is enough to refuse, and nothing else is written
    other = tmp_path / "d"
    other.mkdir()
    (other / "server.key").write_bytes(b"keep me")
    with pytest.raises(deploy.CertsExistError):
        deploy.make_certs(other)
    assert sorted(p.name for p in other.iterdir()) == ["server.key"]
    assert (other / "server.key").read_bytes() == b"keep me"
    again = deploy.make_certs(tmp_path / "c", nodes=("site-a",), force=True)
    assert again.nodes[0].public.read_bytes() != before[made.nodes[0].public]


def test_write_atomic_never_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "k"
    target.write_bytes(b"old")
    with pytest.raises(deploy.CertsExistError):
        deploy.write_atomic(target, b"new", mode=0o600, overwrite=False)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["k"]


def test_cli_certs_makes_named_nodes_and_a_second_run_exits_output(tmp_path: Path) -> None:
    args = ["federate", "certs", str(tmp_path / "c"), "--host", "10.0.0.5", "--node", "st-marys", "--node", "lakeside"]
    first = runner.invoke(app, args)
    assert first.exit_code == ExitCode.OK, first.output
    assert (tmp_path / "c" / "st-marys.key").is_file() and (tmp_path / "c" / "lakeside.pub").is_file()
    assert "SHA256:" in first.output
    second = runner.invoke(app, args)
    assert second.exit_code == ExitCode.OUTPUT
    assert "--force" in second.output


@pytest.mark.parametrize("bad", [["../x"], ["a b"], ["n", "n"]])
def test_certs_refuse_unsafe_or_repeated_node_names(tmp_path: Path, bad: list[str]) -> None:
    with pytest.raises(deploy.DeployError, match="node names"):
        deploy.make_certs(tmp_path / "c", nodes=bad)
    assert not (tmp_path / "c").exists()


def test_node_config_round_trips_through_flowers_parser(tmp_path: Path) -> None:
    from flwr.common.config import parse_config_args

    config = deploy.silo_node_config(data_path=tmp_path / "a dir" / "n.jsonl", client_id="site-a", state_dir=tmp_path)
    assert parse_config_args([deploy.node_config_arg(config)]) == config
    with pytest.raises(deploy.DeployError, match="quotes"):
        deploy.node_config_arg({"data-path": "/x/it's.jsonl"})


def test_commands_carry_tls_and_node_auth_and_insecure_only_when_asked(certs: deploy.CertSet, tmp_path: Path) -> None:
    link = deploy.superlink_command(
        host="0.0.0.0", port=9092, database=tmp_path / "db", security=deploy.LinkSecurity.from_certs(certs)
    )
    assert "--insecure" not in link and "--enable-supernode-auth" in link
    assert link[link.index("--ssl-certfile") + 1] == str(certs.server_cert)
    node_sec = deploy.NodeSecurity(False, certs.ca_cert, certs.nodes[0].private)
    node_sec.check()
    node = deploy.supernode_command(
        superlink="h:9092", security=node_sec, node_config={"client-id": "a"}, runtime_port=1
    )
    assert node[node.index("--auth-supernode-private-key") + 1] == str(certs.nodes[0].private)
    assert "--insecure" not in node
    with pytest.raises(deploy.DeployError, match="needs TLS"):
        deploy.LinkSecurity(insecure=True, node_auth=True).check()
    with pytest.raises(deploy.DeployError, match="CA certificate"):
        deploy.NodeSecurity(False, None, None).check()
    assert (
        deploy.superlink_command(host="h", port=1, database=tmp_path, security=deploy.LinkSecurity.plain())[1]
        == "--insecure"
    )


def test_a_node_key_readable_by_others_is_refused(certs: deploy.CertSet, tmp_path: Path) -> None:
    key = tmp_path / "node.key"
    key.write_bytes(certs.nodes[0].private.read_bytes())
    key.chmod(0o644)
    with pytest.raises(deploy.DeployError, match="chmod 600"):
        deploy.NodeSecurity(False, certs.ca_cert, key).check()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pathspec's gitwildmatch, inside flwr build
def test_generated_app_dir_builds_a_fab_without_code(tmp_path: Path) -> None:
    from flwr.cli.build import build_fab_from_disk

    app_dir = deploy.write_app_dir(tmp_path, components=("federated.secagg:server_app", "federated.secagg:client_app"))
    fab = build_fab_from_disk(app_dir)
    assert len(fab) < 2000
    import io
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(fab)).namelist()
    assert sorted(names) == [".info/CONTENT", "pyproject.toml"]
    assert b"federated.secagg:client_app" in zipfile.ZipFile(io.BytesIO(fab)).read("pyproject.toml")


def test_serve_without_certs_or_insecure_refuses_before_starting_anything(tmp_path: Path) -> None:
    config = tmp_path / "f.toml"
    config.write_text((Path(__file__).resolve().parents[2] / "examples" / "silo_federate.toml").read_text("utf-8"))
    result = runner.invoke(app, ["federate", "serve", "--config", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == ExitCode.FEDERATION, result.output
    assert "--insecure" in result.output and "--certs" in result.output
    assert not (tmp_path / "run").exists()


def test_node_without_the_ca_certificate_refuses_before_starting_anything(tmp_path: Path) -> None:
    data = tmp_path / "notes.jsonl"
    data.write_text('{"text": "x", "label": "billing"}\n', encoding="utf-8")
    args = ["federate", "node", "--data", str(data), "--client-id", "site-a", "--superlink", "127.0.0.1:1"]
    result = runner.invoke(app, args)
    assert result.exit_code == ExitCode.FEDERATION, result.output
    assert "CA certificate" in result.output
    assert not (tmp_path / ".guard-node-site-a" / "flower" / "logs").exists()


def test_node_keys_register_every_key_in_certs_unless_node_key_names_some(
    certs: deploy.CertSet, tmp_path: Path
) -> None:
    """`serve` registers every *.pub of --certs by default, only the --node-key files when given
    (the deployment test's refusals use a key from another folder, so this selection is checked here)."""
    config = tmp_path / "federate.toml"
    every = deploy._node_keys(deploy.ServeOptions(config, tmp_path / "run", certs))
    assert [k.name for k in every] == sorted(n.public.name for n in certs.nodes) and len(every) >= 2
    one = certs.nodes[0].public
    chosen = deploy._node_keys(deploy.ServeOptions(config, tmp_path / "run", certs, node_keys=(one,)))
    assert chosen == (one.absolute(),)
    with pytest.raises(deploy.DeployError, match="--insecure turns off"):
        deploy._node_keys(deploy.ServeOptions(config, tmp_path / "run", None, insecure=True, node_keys=(one,)))
