"""``qinternet encrypt`` / ``decrypt`` / ``keygen-mlkem`` end to end against ``qinternet serve``.

The network: alice and bob (and carol) are users joined through a trusted relay, each with an SAE
(``sae-<node>``) at its own KME. Alice encrypts for sae-bob with her KME; bob decrypts with his.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.servers import free_ports

Cli = Callable[..., tuple[int, str, str]]

SCENARIO = """
name: three-users
seed: 7
time: {duration_s: 1d, step_s: 60s}
nodes:
  - {id: alice, kind: user, lat_deg: 46.2, lon_deg: 6.1}
  - {id: relay, kind: trusted-relay, lat_deg: 46.5, lon_deg: 6.6}
  - {id: bob, kind: user, lat_deg: 46.9, lon_deg: 7.4}
  - {id: carol, kind: user, lat_deg: 46.4, lon_deg: 6.9}
links:
  - {id: l1, a: alice, b: relay, length_km: 20, block_s: 60}
  - {id: l2, a: relay, b: bob, length_km: 30, block_s: 60}
  - {id: l3, a: relay, b: carol, length_km: 25, block_s: 60}
"""
KMES = ("kme-alice", "kme-bob", "kme-carol", "kme-relay")  # serve gives them ports in this (sorted) order


class Site:
    """A running ``qinternet serve`` and the options each SAE passes to reach its KME."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port

    def url(self, kme: str) -> str:
        return f"https://localhost:{self.port + KMES.index(kme)}"

    def sae(self, node: str, kme: str | None = None) -> list[str]:
        pki = self.folder / "pki"
        return [
            "--kme",
            self.url(kme or f"kme-{node}"),
            "--cert",
            str(pki / f"sae-{node}.pem"),
            "--key",
            str(pki / f"sae-{node}.key"),
            "--ca",
            str(pki / "ca.pem"),
        ]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("site")
    (folder / "net.yaml").write_text(SCENARIO)
    port = free_ports(len(KMES))
    log = (folder / "serve.log").open("wb")
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "qinternet", "serve", str(folder / "net.yaml")),
            *("--pki", str(folder / "pki"), "--db", f"sqlite:///{folder / 'kms.db'}", "--base-port", str(port)),
            *("--speed", "60", "--warm-up", "2min", "--ops-port", "0"),
        ],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError((folder / "serve.log").read_text())
            if "serving" in (folder / "serve.log").read_text():  # ports bound, pools warmed up, servers up
                break
            if time.monotonic() > deadline:
                raise TimeoutError("serve did not start")
            time.sleep(0.1)
        yield Site(folder, port)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert err.startswith("qinternet: error: "), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)


@pytest.mark.parametrize(("mode", "size"), [("aes-gcm", 10_000), ("otp", 3_000), ("otp", 0)])
def test_alice_encrypts_for_bob_and_bob_decrypts(
    site: Site, apps_cli: Cli, tmp_path: Path, mode: str, size: int
) -> None:
    secret = tmp_path / "report.pdf"
    secret.write_bytes(bytes(range(256)) * (size // 256) + b"x" * (size % 256))
    code, out, err = apps_cli("encrypt", secret, *site.sae("alice"), "--slave", "sae-bob", "--mode", mode)
    assert code == 0, err
    assert f"{mode} for sae-bob" in out
    sealed = tmp_path / "report.pdf.qkd"
    assert sealed.read_bytes()[:4] == b"\x89QKD"
    received = tmp_path / "bob"
    received.mkdir()
    (received / sealed.name).write_bytes(sealed.read_bytes())
    code, out, err = apps_cli("decrypt", received / sealed.name, *site.sae("bob"))
    assert code == 0, err
    assert (received / "report.pdf").read_bytes() == secret.read_bytes()


def test_hybrid_with_an_mlkem_key_pair_of_bob(site: Site, apps_cli: Cli, tmp_path: Path) -> None:
    code, _out, err = apps_cli("keygen-mlkem", tmp_path / "bob-keys")
    assert code == 0, err
    public, private = tmp_path / "bob-keys" / "mlkem768-public.pem", tmp_path / "bob-keys" / "mlkem768-private.pem"
    assert private.stat().st_mode & 0o077 == 0
    code, _, err = apps_cli("keygen-mlkem", tmp_path / "bob-keys")
    one_line_error(code, err, "DIR", "already holds")
    (tmp_path / "note.txt").write_bytes(b"QKD and ML-KEM: both must fall" * 100)
    args = ["--slave", "sae-bob", "--mode", "hybrid", "--mlkem-public", public, "--out", tmp_path / "note.bin"]
    code, _, err = apps_cli("encrypt", tmp_path / "note.txt", *site.sae("alice"), *args)
    assert code == 0, err
    decrypt = ["decrypt", tmp_path / "note.bin", *site.sae("bob"), "--out", tmp_path / "back.txt"]
    code, _, err = apps_cli(*decrypt)  # without the private key: refused before the KME is asked
    one_line_error(code, err, "--mlkem-private", "hybrid")
    code, _, err = apps_cli(*decrypt, "--mlkem-private", private)
    assert code == 0, err
    assert (tmp_path / "back.txt").read_bytes() == (tmp_path / "note.txt").read_bytes()


@pytest.mark.parametrize("mode", ["aes-gcm", "otp"])
def test_a_tampered_file_fails_and_writes_nothing(site: Site, apps_cli: Cli, tmp_path: Path, mode: str) -> None:
    (tmp_path / "pay.txt").write_bytes(b"pay 100 CHF to bob")
    code, _, err = apps_cli("encrypt", tmp_path / "pay.txt", *site.sae("alice"), "--slave", "sae-bob", "--mode", mode)
    assert code == 0, err
    data = bytearray((tmp_path / "pay.txt.qkd").read_bytes())
    data[-20] ^= 0x08  # in the ciphertext
    (tmp_path / "pay.txt.qkd").write_bytes(bytes(data))
    (tmp_path / "pay.txt").unlink()
    code, _, err = apps_cli("decrypt", tmp_path / "pay.txt.qkd", *site.sae("bob"))
    one_line_error(code, err, "FILE", "ciphertext", "authentication failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pay.txt.qkd"]  # no output, no partial file


def test_another_sae_cannot_decrypt_and_its_attempts_spend_nothing(site: Site, apps_cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "m.txt").write_bytes(b"for bob's eyes only")
    code, _, err = apps_cli("encrypt", tmp_path / "m.txt", *site.sae("alice"), "--slave", "sae-bob")
    assert code == 0, err
    out = ["--out", tmp_path / "carol.txt"]
    code, _, err = apps_cli("decrypt", tmp_path / "m.txt.qkd", *site.sae("carol", kme="kme-bob"), *out)
    one_line_error(code, err, "--kme", "HTTP 401")  # bob's KME does not serve carol
    code, _, err = apps_cli("decrypt", tmp_path / "m.txt.qkd", *site.sae("carol"), *out)
    one_line_error(code, err, "--kme", "HTTP 400", "one or more keys specified are not found on KME")
    assert "issued for 'sae-bob' by 'sae-alice', and --cert is 'sae-carol'" in err  # the header names them
    code, _, err = apps_cli(
        "decrypt", tmp_path / "m.txt.qkd", *site.sae("bob", kme="kme-carol"), "--kme-id", "kme-bob", *out
    )
    one_line_error(code, err, "--kme-id", "kme-carol")  # the certificate is not the KME bob expects: nothing asked
    assert not (tmp_path / "carol.txt").exists()
    bob = [*site.sae("bob"), "--kme-id", "kme-bob"]
    code, _, err = apps_cli("decrypt", tmp_path / "m.txt.qkd", *bob, "--out", tmp_path / "bob.txt")
    assert code == 0, err
    assert (tmp_path / "bob.txt").read_bytes() == b"for bob's eyes only"
    # a decryption whose answer was lost can be done again: the KME hands the same slave SAE the same key
    # within its redelivery window (60 s; strict once-only with 0: tests/kms/test_redelivery.py)
    code, _, err = apps_cli("decrypt", tmp_path / "m.txt.qkd", *site.sae("bob"), "--out", tmp_path / "again.txt")
    assert code == 0, err
    assert (tmp_path / "again.txt").read_bytes() == b"for bob's eyes only"


def test_encrypting_for_an_unknown_sae_names_the_kme_s_answer(site: Site, apps_cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "m.txt").write_bytes(b"x")
    code, _, err = apps_cli("encrypt", tmp_path / "m.txt", *site.sae("alice"), "--slave", "sae-mallory")
    one_line_error(code, err, "--kme", "HTTP 400", "unknown SAE")
    assert not (tmp_path / "m.txt.qkd").exists()


def test_bad_input_is_one_line_naming_the_option(apps_cli: Cli, tmp_path: Path) -> None:
    """No KME is needed to refuse these: nothing is asked of one."""
    (tmp_path / "pki").mkdir()
    for name in ("ca.pem", "sae-alice.pem", "sae-alice.key"):
        (tmp_path / "pki" / name).write_text("not PEM")
    (tmp_path / "f.txt").write_bytes(b"data")
    (tmp_path / "f.txt.qkd").write_bytes(b"data")
    (tmp_path / "plain.qkd").write_bytes(b"just some text, not a container")
    sae = ["--cert", tmp_path / "pki" / "sae-alice.pem", "--key", tmp_path / "pki" / "sae-alice.key"]
    sae += ["--ca", tmp_path / "pki" / "ca.pem"]
    kme = ["--kme", "https://localhost:1"]
    cases = [
        (["encrypt", tmp_path / "nope.txt", *kme, *sae, "--slave", "b"], ["FILE", "no such file"]),
        (["encrypt", tmp_path / "f.txt", *kme, *sae, "--slave", "b"], ["--out", "exists"]),
        (
            ["encrypt", tmp_path / "f.txt", *kme, *sae, "--slave", "b", "--out", tmp_path / "o", "--mode", "rot13"],
            ["rot13"],
        ),
        (
            ["encrypt", tmp_path / "f.txt", *kme, *sae, "--slave", "b", "--out", tmp_path / "o", "--mode", "hybrid"],
            ["--mlkem-public"],
        ),
        (
            ["encrypt", tmp_path / "f.txt", "--kme", "http://kme", *sae, "--slave", "b", "--out", tmp_path / "o"],
            ["--kme", "https://"],
        ),
        (["encrypt", tmp_path / "f.txt", *kme, *sae, "--slave", "b", "--out", tmp_path / "o"], ["--ca", "PEM"]),
        (["decrypt", tmp_path / "plain.qkd", *kme, *sae], ["FILE", "header.magic", "not a qinternet"]),
        (["decrypt", tmp_path / "f.txt", *kme, *sae], ["--out", "name the decrypted file"]),
        (
            [
                "decrypt",
                tmp_path / "plain.qkd",
                *kme,
                *sae,
                "--out",
                tmp_path / "o",
                "--mlkem-private",
                tmp_path / "no.pem",
            ],
            ["FILE"],
        ),
    ]
    for args, needles in cases:
        code, _, err = apps_cli(*args)
        one_line_error(code, err, *needles)
    assert not (tmp_path / "o").exists()
