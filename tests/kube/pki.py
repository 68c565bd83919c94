"""The control plane's certificates: one CA, serving certificates for the apiserver and for kwok's
kubelet endpoint, an admin client certificate (group system:masters) and the service-account
signing key. Made fresh for each cluster in its own directory: nothing is shared between runs."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_LIFETIME = datetime.timedelta(days=2)
_LOOPBACK = ipaddress.ip_address("127.0.0.1")


@dataclass(frozen=True, slots=True)
class Pki:
    """Paths of the PEM files a cluster's components are started with."""

    ca_cert: Path
    ca_key: Path
    apiserver_cert: Path
    apiserver_key: Path
    kubelet_cert: Path          # kwok's kubelet endpoint, which the apiserver calls for pod logs
    kubelet_key: Path
    admin_cert: Path
    admin_key: Path
    sa_key: Path                # service-account token signing key (private)
    sa_pub: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(parts)


def _issue(ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, subject: x509.Name,
           key: ec.EllipticCurvePrivateKey, usage: list[x509.ObjectIdentifier],
           dns: tuple[str, ...] = (), ips: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...] = ()
           ) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + _LIFETIME)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, content_commitment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage(usage), critical=False))
    if dns or ips:
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns] + [x509.IPAddress(i) for i in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def make_pki(directory: Path) -> Pki:
    """Write a fresh CA and every certificate and key the cluster needs into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(*(directory / n for n in ("ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "kubelet.crt",
                                        "kubelet.key", "admin.crt", "admin.key", "sa.key", "sa.pub")))
    now = datetime.datetime.now(datetime.UTC)
    ca_key = _key()
    ca_name = _name("kit-test-ca")
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + _LIFETIME)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, content_commitment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    _write_cert(pki.ca_cert, ca)
    _write_key(pki.ca_key, ca_key)

    server = [ExtendedKeyUsageOID.SERVER_AUTH]
    client = [ExtendedKeyUsageOID.CLIENT_AUTH]
    apiserver_dns = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                     "kubernetes.default.svc.cluster.local")
    for cert_path, key_path, subject, usage, dns, ips in (
        (pki.apiserver_cert, pki.apiserver_key, _name("kube-apiserver"), server + client, apiserver_dns,
         (_LOOPBACK, ipaddress.ip_address("10.96.0.1"))),
        (pki.kubelet_cert, pki.kubelet_key, _name("kwok-kubelet"), server, ("localhost",), (_LOOPBACK,)),
        (pki.admin_cert, pki.admin_key, _name("kit-test-admin", "system:masters"), client, (), ()),
    ):
        key = _key()
        _write_cert(cert_path, _issue(ca, ca_key, subject, key, usage, dns, ips))
        _write_key(key_path, key)

    # RSA: every Kubernetes version accepts it as a service-account signing key
    sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_key(pki.sa_key, sa)
    pki.sa_pub.write_bytes(sa.public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo))
    return pki


@dataclass(frozen=True, slots=True)
class NodeCerts:
    """A real kubelet's certificates: its client identity and its serving certificate."""

    client_cert: Path     # CN=system:node:<name>, O=system:nodes: what the Node authorizer knows a kubelet by
    client_key: Path
    serving_cert: Path    # for the API server's calls to the kubelet (logs), on the node's address
    serving_key: Path


def issue_node_certs(pki: Pki, node: str, address: str, directory: Path) -> NodeCerts:
    """Sign a kubelet's client and serving certificates with the cluster's CA, into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    certs = NodeCerts(*(directory / n for n in ("node-client.crt", "node-client.key", "node-serving.crt",
                                                "node-serving.key")))
    for cert_path, key_path, subject, usage, dns, ips in (
        (certs.client_cert, certs.client_key, _name(f"system:node:{node}", "system:nodes"),
         [ExtendedKeyUsageOID.CLIENT_AUTH], (), ()),
        (certs.serving_cert, certs.serving_key, _name(node), [ExtendedKeyUsageOID.SERVER_AUTH], (node,),
         (ipaddress.ip_address(address),)),
    ):
        key = _key()
        _write_cert(cert_path, _issue(ca, ca_key, subject, key, usage, dns, ips))
        _write_key(key_path, key)
    return certs
