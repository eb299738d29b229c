"""TLS on petrel-memcache's data port, met by clients nobody here wrote:
pymemcache over Python's ssl module (with and without a client
certificate) and `openssl s_client`. Certificates are made by `openssl`."""

import os
import shutil
import ssl
import subprocess
import tempfile

import pytest
from pymemcache.client.base import Client

from conftest import Server


def openssl(directory, *arguments):
    subprocess.run(["openssl", *arguments], cwd=directory, check=True, capture_output=True)


def make_certificate(directory, name, subject, ca, extension):
    openssl(directory, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", "/CN=" + subject, "-keyout", name + ".key", "-out", name + ".csr")
    with open(os.path.join(directory, name + ".ext"), "w") as ext:
        ext.write(extension + "\n")
    openssl(directory, "x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
            "-CAcreateserial", "-days", "30", "-extfile", name + ".ext", "-out", name + ".pem")


@pytest.fixture(scope="module")
def certificates():
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed: scripts/setup installs it")
    directory = tempfile.mkdtemp(prefix="petrel-tls-")
    for ca in ["ca", "stranger-ca"]:
        openssl(directory, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-days", "30", "-subj", "/CN=" + ca, "-keyout", ca + ".key", "-out", ca + ".pem")
    make_certificate(directory, "server", "localhost", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1")
    make_certificate(directory, "client", "a client", "ca", "extendedKeyUsage=clientAuth")
    make_certificate(directory, "stranger", "a stranger", "stranger-ca", "extendedKeyUsage=clientAuth")
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def tls_server(certificates, client_ca=False, min_version="1.2"):
    section = '[tls]\ncertificate = "{0}/server.pem"\nprivate_key = "{0}/server.key"\nmin_version = "{1}"\n'.format(
        certificates, min_version)
    if client_ca:
        section += 'client_ca = "{0}/ca.pem"\n'.format(certificates)
    return Server(tempfile.mkdtemp(prefix="petrel-pytest-"), sections=section)


@pytest.fixture
def stop_after():
    servers = []
    yield servers.append
    for server in servers:
        server.stop()
        shutil.rmtree(server.directory, ignore_errors=True)


def context(certificates, identity=None):
    tls = ssl.create_default_context(cafile=os.path.join(certificates, "ca.pem"))
    if identity is not None:
        tls.load_cert_chain(os.path.join(certificates, identity + ".pem"), os.path.join(certificates, identity + ".key"))
    return tls


def pymemcache(server, tls):
    return Client(("localhost", server.address[1]), tls_context=tls, connect_timeout=5, timeout=5)


def test_pymemcache_over_tls(certificates, stop_after):
    server = tls_server(certificates)
    stop_after(server)
    client = pymemcache(server, context(certificates))
    large = os.urandom(500_000)
    assert client.set("small", b"hello", noreply=False)
    assert client.set("large", large, noreply=False)
    assert client.set_many({"k%d" % i: b"v%d" % i for i in range(200)}, noreply=False) == []
    assert client.get("small") == b"hello"
    assert client.get("large") == large
    assert client.get_many(["k%d" % i for i in range(200)]) == {"k%d" % i: b"v%d" % i for i in range(200)}
    assert client.incr("missing", 1) is None
    assert client.sock.version() in ("TLSv1.2", "TLSv1.3")
    client.close()


def test_a_client_certificate_is_required_when_a_client_ca_is_set(certificates, stop_after):
    server = tls_server(certificates, client_ca=True)
    stop_after(server)
    for identity in [None, "stranger"]:
        refused = pymemcache(server, context(certificates, identity))
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            # TLS 1.3 reports a refused certificate at the first read.
            refused.set("key", b"value", noreply=False)
            refused.get("key")
        refused.close()
    client = pymemcache(server, context(certificates, "client"))
    assert client.set("key", b"authenticated", noreply=False)
    assert client.get("key") == b"authenticated"
    client.close()


def s_client(server, certificates, *options, stdin=b"", ca="ca.pem"):
    return subprocess.run(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % server.address[1], "-servername", "localhost",
         "-CAfile", os.path.join(certificates, ca), "-verify_return_error", "-quiet", *options],
        input=stdin, capture_output=True, timeout=30)


def test_openssl_s_client_talks_memcache_and_respects_min_version(certificates, stop_after):
    server = tls_server(certificates, min_version="1.3")
    stop_after(server)
    session = s_client(server, certificates, stdin=b"set a 5 0 3\r\nabc\r\nget a\r\nversion\r\nquit\r\n")
    assert session.stdout.startswith(b"STORED\r\nVALUE a 5 3\r\nabc\r\nEND\r\nVERSION "), session
    assert session.stdout.endswith(b"\r\n")
    old = s_client(server, certificates, "-tls1_2", stdin=b"version\r\n")
    assert b"VERSION" not in old.stdout and old.returncode != 0, old
    # A client that does not trust the server's CA refuses it.
    untrusting = s_client(server, certificates, stdin=b"version\r\n", ca="stranger-ca.pem")
    assert b"VERSION" not in untrusting.stdout and untrusting.returncode != 0, untrusting
