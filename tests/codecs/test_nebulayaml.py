"""Nebula host config: its YAML (reads back equal, strings that look like other types quoted), the config
builder, firewall validation, and ``nebula -test`` on rendered configs (integration)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from credentials.codecs import nebulacert as nc
from credentials.codecs.nebulayaml import (
    NebulaConfigError,
    dump,
    parse_host_port,
    render_host_config,
    render_host_config_yaml,
    validate_firewall_rules,
    validate_unsafe_routes,
)

# ------------------------------------------------------------------------------------------------
# YAML (PyYAML): what is dumped reads back equal, and no string can be read as another type.

AWKWARD = [
    "yes", "no", "on", "off", "y", "n", "Y", "N", "YES", "Off", "true", "False", "~", "null", "Null", "",
    "22", "-1", "+1", "0755", "0x1F", "0o17", "0b101", "1_000", "1e3", "1E-3", "1.5", ".5", "1.", ".inf", "-.Inf",
    ".nan", "1:20", "2024-01-02", "2024-01-02 10:00:00", "2024-01-02T10:00:00Z", "::1", "fd00::1", "2001:db8::/32",
    "[2001:db8::1]:4242", "a: b", "- x", "#x", "*x", "&x", "!x", "|", ">", "%x", "@x", "`x", "'", '"', "{}", "[]",
    "trailing ", " leading", "tab\there", "a\x01b", "=", "<<",
]  # fmt: skip
PLAIN = ["any", "tcp", "10.128.0.1", "1.2.3.4:4242", "192.168.9.0/24", "nebula1", "1-1024", "/etc/nebula/host.key"]
PEM_BUNDLE = "-----BEGIN A-----\nAAA\n-----END A-----\n\n-----BEGIN B-----\nBBB\n-----END B-----\n"


def scalar_styles(text: str) -> dict[str, str | None]:
    """The style each string value of ``{"k": [...]}`` was written in ('' = plain)."""
    return {item.value: item.style for item in yaml.compose(text).value[0][1].value}


def test_strings_another_reader_could_take_for_another_type_are_quoted():
    text = dump({"k": AWKWARD})
    assert yaml.safe_load(text) == {"k": AWKWARD}
    styles = scalar_styles(text)
    assert {value for value, style in styles.items() if style not in ("'", '"')} == set()


def test_ordinary_strings_stay_plain():
    text = dump({"k": PLAIN})
    assert yaml.safe_load(text) == {"k": PLAIN}
    assert set(scalar_styles(text).values()) == {None}


def test_multi_line_strings_are_literal_blocks():
    values = [PEM_BUNDLE, "line1\nline2", "x\n\n\n", " lead\nx"]
    text = dump({"k": values})
    assert yaml.safe_load(text) == {"k": values}
    assert set(scalar_styles(text).values()) == {"|"}
    assert "- |\n  -----BEGIN A-----\n  AAA\n  -----END A-----\n\n  -----BEGIN B-----\n" in text
    # a line ending in a space cannot be carried by a literal block: quoted, still equal
    assert yaml.safe_load(dump({"k": "a \nb"})) == {"k": "a \nb"}


def test_numbers_booleans_null_empty_collections_and_key_order():
    value = {"z": None, "b": [True, False], "n": [443, -2, 2**40], "e": [], "m": {}, "10.0.0.10": ["x"], "a": {"y": 1}}
    text = dump(value)
    assert yaml.safe_load(text) == value
    assert list(yaml.safe_load(text)) == list(value)  # the builder's order, not sorted
    assert "e: []\n" in text and "m: {}\n" in text
    long = "x " * 200
    assert dump({"k": long}).count("\n") == 1  # no folding of long lines


# ------------------------------------------------------------------------------------------------
# Host config builder

CA_BUNDLE = (
    "-----BEGIN NEBULA CERTIFICATE-----\nCAONE\n-----END NEBULA CERTIFICATE-----\n\n"
    "-----BEGIN NEBULA CERTIFICATE-----\nCATWO\n-----END NEBULA CERTIFICATE-----\n"
)
CERT = "-----BEGIN NEBULA CERTIFICATE-----\nHOST\n-----END NEBULA CERTIFICATE-----\n"
KEY = "-----BEGIN NEBULA X25519 PRIVATE KEY-----\nKEY\n-----END NEBULA X25519 PRIVATE KEY-----\n"

FULL = {
    "ca_pem": CA_BUNDLE,
    "cert_pem": CERT,
    "key_pem": KEY,
    "blocklist": ["B" * 64, "a" * 64, "b" * 64],
    "lighthouses": ["10.128.0.1", "10.128.0.10"],
    "static_host_map": {"10.128.0.10": "5.6.7.8:4242", "10.128.0.1": ["1.2.3.4:4242", "[2001:db8::1]:4242"]},
    "relays": ["10.128.0.7"],
    "mtu": 1400,
    "tun_dev": "nebula9",
    "unsafe_routes": [{"route": "192.168.9.0/24", "via": "10.128.0.1"}],
    "firewall_inbound": [
        {"port": "22", "proto": "tcp", "groups": ["admin", "yes", "0x1F", "1e3"]},
        {"port": 443.0, "proto": "tcp", "cidr": "10.0.0.0/8"},
        {"port": "any", "proto": "icmp", "host": "any"},
    ],
    "firewall_outbound": [],
}


def test_full_host_config_reads_back_equal_with_pem_as_literal_blocks():
    config = render_host_config(**FULL)
    text = render_host_config_yaml(**FULL)
    assert text == dump(config)
    assert yaml.safe_load(text) == config
    assert list(yaml.safe_load(text)) == list(config)
    pki = {key.value: value for key, value in yaml.compose(text).value[0][1].value}
    assert {name: pki[name].style for name in ("ca", "cert", "key")} == {"ca": "|", "cert": "|", "key": "|"}
    assert "  outbound: []\n" in text
    assert config["pki"]["blocklist"] == ["a" * 64, "b" * 64]
    assert config["firewall"]["inbound"][0]["groups"] == ["admin", "yes", "0x1F", "1e3"]
    assert config["firewall"]["inbound"][1]["port"] == 443


def base(**kw):
    args = {"ca_pem": CA_BUNDLE, "cert_pem": CERT, "key_pem": KEY}
    args.update(kw)
    return render_host_config(**args)


def test_plain_host_defaults():
    cfg = base(lighthouses=["10.128.0.1"], static_host_map={"10.128.0.1": "1.2.3.4:4242"})
    assert list(cfg) == [
        "pki",
        "lighthouse",
        "static_host_map",
        "listen",
        "punchy",
        "tun",
        "firewall",
        "logging",
    ]
    assert cfg["pki"] == {"ca": CA_BUNDLE, "cert": CERT, "key": KEY}  # no empty blocklist
    assert cfg["lighthouse"] == {"am_lighthouse": False, "interval": 60, "hosts": ["10.128.0.1"]}
    assert cfg["static_host_map"] == {"10.128.0.1": ["1.2.3.4:4242"]}
    assert cfg["listen"] == {"host": "0.0.0.0", "port": 0}  # noqa: S104
    assert cfg["punchy"] == {"punch": True, "respond": True}
    assert "relay" not in cfg
    assert cfg["tun"] == {
        "disabled": False,
        "dev": "nebula1",
        "drop_local_broadcast": False,
        "drop_multicast": False,
        "tx_queue": 500,
        "mtu": 1300,
    }
    assert cfg["firewall"] == {
        "outbound": [{"port": "any", "proto": "any", "host": "any"}],
        "inbound": [{"port": "any", "proto": "icmp", "host": "any"}],
    }
    assert cfg["logging"] == {"level": "info", "format": "text"}


def test_lighthouse_and_relay_roles():
    lh = base(is_lighthouse=True, public_host_port="203.0.113.5:4242", lighthouses=["10.128.0.1"])
    assert lh["lighthouse"] == {"am_lighthouse": True}
    assert "static_host_map" not in lh
    assert lh["listen"]["port"] == 4242
    with pytest.raises(NebulaConfigError, match="lighthouse needs a fixed listen port"):
        base(is_lighthouse=True)
    relay = base(is_relay=True, public_host_port="[2001:db8::5]:4243", relays=["10.128.0.9"])
    assert relay["relay"] == {"am_relay": True}
    assert relay["listen"]["port"] == 4243
    # relays sorted by address; a plain host does not listen on the public port
    host = base(relays=["10.128.0.10", "10.128.0.9"], public_host_port="1.2.3.4:4242")
    assert host["relay"] == {"relays": ["10.128.0.9", "10.128.0.10"]}
    assert host["listen"]["port"] == 0
    assert base(listen_port=5000)["listen"]["port"] == 5000


def test_device_held_key_path_and_key_choice():
    cfg = base(key_pem=None, key_path="/etc/nebula/host.key")
    assert cfg["pki"]["key"] == "/etc/nebula/host.key"
    assert "\n  key: /etc/nebula/host.key\n" in dump(cfg)
    with pytest.raises(NebulaConfigError, match="exactly one of key_pem"):
        base(key_path="/etc/nebula/host.key")
    with pytest.raises(NebulaConfigError, match="exactly one of key_pem"):
        base(key_pem=None)


def test_explicit_empty_firewall_is_kept_and_validation_applies():
    cfg = base(firewall_inbound=[])
    assert cfg["firewall"]["inbound"] == []
    with pytest.raises(NebulaConfigError, match="firewall.outbound rule #0"):
        base(firewall_outbound=[{"port": "any", "proto": "gre", "host": "any"}])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"blocklist": ["xyz"]}, "not a sha256 fingerprint"),
        ({"blocklist": "a" * 64}, "list of fingerprints"),
        ({"lighthouses": ["not-an-ip"]}, "not an IP address"),
        ({"static_host_map": {"10.128.0.1": "1.2.3.4"}}, "host:port"),
        ({"static_host_map": {"10.128.0.1": "1.2.3.4:99999"}}, "invalid port"),
        ({"static_host_map": {"10.128.0.1": "2001:db8::1:4242"}}, r"\[addr\]:port"),
        ({"mtu": 100}, "mtu"),
        ({"tun_dev": "this-name-is-too-long"}, "tun_dev"),
        ({"unsafe_routes": [{"route": "192.168.0.0/24"}]}, "route and via are required"),
        ({"unsafe_routes": [{"route": "192.168.0.0/24", "via": "x"}]}, "not an IP address"),
        ({"unsafe_routes": [{"route": "192.168.0.0/24", "via": "10.1.1.1", "gw": 1}]}, "unknown key"),
        ({"log_level": "loud"}, "log_level"),
        ({"cert_pem": ""}, "cert_pem is required"),
        ({"is_relay": True, "public_host_port": "nope"}, "host:port"),
    ],
)
def test_builder_rejects_bad_input(kwargs, message):
    with pytest.raises(NebulaConfigError, match=message):
        base(**kwargs)


def test_parse_host_port_and_unsafe_routes():
    assert parse_host_port("1.2.3.4:4242") == ("1.2.3.4", 4242)
    assert parse_host_port("[2001:db8::1]:4242") == ("[2001:db8::1]", 4242)
    assert parse_host_port("lh.example.com:4242") == ("lh.example.com", 4242)
    assert validate_unsafe_routes([{"route": "10.9.0.0/16", "via": "10.128.0.1", "mtu": 1300.0, "install": False}]) == [
        {"route": "10.9.0.0/16", "via": "10.128.0.1", "mtu": 1300, "install": False}
    ]


# ------------------------------------------------------------------------------------------------
# Firewall rules


def test_valid_firewall_rules_are_normalised():
    rules = [
        {"port": "any", "proto": "any", "host": "any"},
        {"port": 443.0, "proto": "tcp", "group": "web"},
        {"port": "8000-8100", "proto": "udp", "groups": ["a", "b"]},
        {"port": "fragment", "proto": "any", "cidr": "10.0.0.0/8"},
        {"port": 0, "proto": "tcp", "local_cidr": "192.168.0.0/16"},
        {"code": "any", "proto": "icmp", "ca_name": "acme-ca"},
        {"port": "22", "proto": "tcp", "ca_sha": "ab" * 32, "group": ["ops"]},
        {"port": "53", "proto": "udp", "groups": "dns"},
    ]
    out = validate_firewall_rules(rules)
    assert out[1] == {"port": 443, "proto": "tcp", "group": "web"}
    assert out[6]["group"] == "ops"
    assert out[7]["groups"] == "dns"
    assert [r["proto"] for r in out] == [r["proto"] for r in rules]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"port": "any", "proto": "any", "host": "any", "action": "drop"}, "unknown key"),
        ({"proto": "tcp", "host": "any"}, "port is required"),
        ({"port": "any", "host": "any"}, "proto must be one of"),
        ({"port": "any", "proto": "sctp", "host": "any"}, "proto must be one of"),
        (
            {"port": "any", "proto": "tcp"},
            "at least one of host, group, groups, cidr, local_cidr, ca_name, or ca_sha",
        ),
        ({"port": "100-10", "proto": "tcp", "host": "any"}, "starts after it ends"),
        ({"port": "1-70000", "proto": "tcp", "host": "any"}, "out of range"),
        ({"port": 65536, "proto": "tcp", "host": "any"}, "out of range"),
        ({"port": "http", "proto": "tcp", "host": "any"}, "port must be any, fragment"),
        ({"port": 22.5, "proto": "tcp", "host": "any"}, "whole number"),
        ({"port": True, "proto": "tcp", "host": "any"}, "port must be"),
        ({"port": "22", "code": "0", "proto": "icmp", "host": "any"}, "only one of port or code"),
        ({"port": "22", "proto": "tcp", "group": "a", "groups": ["b"]}, "only one of group or groups"),
        ({"port": "22", "proto": "tcp", "groups": []}, "non-empty list"),
        ({"port": "22", "proto": "tcp", "groups": ["a", 1]}, "each entry of groups"),
        ({"port": "22", "proto": "tcp", "group": ["a", "b"]}, "single value"),
        ({"port": "22", "proto": "tcp", "cidr": "10.0.0.300/8"}, "cidr did not parse"),
        ({"port": "22", "proto": "tcp", "local_cidr": "10.0.0.1"}, "CIDR notation"),
        ({"port": "22", "proto": "tcp", "host": ""}, "host must be a non-empty string"),
        ("port 22", "must be a mapping"),
    ],
)
def test_invalid_firewall_rules(rule, message):
    with pytest.raises(NebulaConfigError, match=message):
        validate_firewall_rules([rule], "firewall.inbound")


def test_firewall_rules_must_be_a_list():
    with pytest.raises(NebulaConfigError, match="array of rules"):
        validate_firewall_rules({"port": "any"})
    with pytest.raises(NebulaConfigError, match=r"firewall.inbound rule #1"):
        validate_firewall_rules([{"port": "any", "proto": "any", "host": "any"}, {}], "firewall.inbound")


# ------------------------------------------------------------------------------------------------
# nebula -test on rendered configs (Debian's nebula 1.6.1)


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found on PATH; install the Debian 'nebula' package (apt-get install nebula)")
    return path


class Network:
    """A CA and helpers to issue hosts and render their configs into a temporary directory."""

    def __init__(self, tmp_path: Path, ca_name: str = "acme-ca") -> None:
        self.tmp = tmp_path
        self.now = int(time.time())
        self.ca, self.key = nc.create_ca(ca_name, self.now - 3600, self.now + 365 * 86400)

    def host(self, name: str, ip: str, ca=None, key=None, public_key: bytes | None = None, groups=("web",)):
        priv = None
        if public_key is None:
            priv, public_key = nc.generate_host_keypair()
        cert = nc.HostSigner(ca or self.ca, key or self.key).sign(
            name,
            [ip],
            list(groups),
            self.now - 60,
            self.now + 30 * 86400,
            public_key,
        )
        return cert, priv

    def nebula_test(self, name: str, **kwargs) -> subprocess.CompletedProcess:
        path = self.tmp / f"{name}.yml"
        path.write_text(render_host_config_yaml(**kwargs))
        return subprocess.run(
            [binary("nebula"), "-test", "-config", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


def assert_ok(r: subprocess.CompletedProcess) -> None:
    assert r.returncode == 0, r.stdout + r.stderr


LH = {"lighthouses": ["10.128.0.1"], "static_host_map": {"10.128.0.1": "203.0.113.1:4242"}}


@pytest.mark.integration
def test_nebula_accepts_plain_host_config(tmp_path):
    net = Network(tmp_path)
    cert, priv = net.host("web-01", "10.128.0.5/16")
    assert_ok(
        net.nebula_test(
            "plain",
            ca_pem=net.ca.to_pem(),
            cert_pem=cert.to_pem(),
            key_pem=nc.x25519_private_key_to_pem(priv),
            firewall_inbound=[
                {"port": "22", "proto": "tcp", "groups": ["admin"]},
                {"port": 443.0, "proto": "tcp", "host": "any"},
                {"port": "8000-8100", "proto": "udp", "group": "web"},
                {"port": "any", "proto": "icmp", "host": "any"},
            ],
            unsafe_routes=[{"route": "192.168.9.0/24", "via": "10.128.0.1"}],
            mtu=1400,
            tun_dev="nebula7",
            **LH,
        )
    )


@pytest.mark.integration
def test_nebula_accepts_lighthouse_config(tmp_path):
    net = Network(tmp_path)
    cert, priv = net.host("lh-01", "10.128.0.1/16")
    assert_ok(
        net.nebula_test(
            "lighthouse",
            ca_pem=net.ca.to_pem(),
            cert_pem=cert.to_pem(),
            key_pem=nc.x25519_private_key_to_pem(priv),
            is_lighthouse=True,
            public_host_port="203.0.113.1:4242",
        )
    )


@pytest.mark.integration
def test_nebula_accepts_relay_configs(tmp_path):
    net = Network(tmp_path)
    relay_cert, relay_priv = net.host("relay-01", "10.128.0.7/16")
    assert_ok(
        net.nebula_test(
            "relay",
            ca_pem=net.ca.to_pem(),
            cert_pem=relay_cert.to_pem(),
            key_pem=nc.x25519_private_key_to_pem(relay_priv),
            is_relay=True,
            public_host_port="203.0.113.7:4243",
            listen_port=0,
            **LH,
        )
    )
    cert, priv = net.host("web-02", "10.128.0.6/16")
    assert_ok(
        net.nebula_test(
            "uses-relay",
            ca_pem=net.ca.to_pem(),
            cert_pem=cert.to_pem(),
            key_pem=nc.x25519_private_key_to_pem(priv),
            relays=["10.128.0.7"],
            **LH,
        )
    )


@pytest.mark.integration
def test_nebula_accepts_blocklist(tmp_path):
    net = Network(tmp_path)
    revoked, _ = net.host("revoked", "10.128.0.9/16")
    cert, priv = net.host("web-03", "10.128.0.8/16")
    r = net.nebula_test(
        "blocklist",
        ca_pem=net.ca.to_pem(),
        cert_pem=cert.to_pem(),
        key_pem=nc.x25519_private_key_to_pem(priv),
        blocklist=[revoked.fingerprint()],
        **LH,
    )
    assert_ok(r)
    assert revoked.fingerprint() in r.stdout + r.stderr  # nebula logs "Blocklisting cert"


@pytest.mark.integration
def test_nebula_accepts_two_ca_bundle_during_rotation(tmp_path):
    net = Network(tmp_path)
    new_ca, new_key = nc.create_ca("acme-ca-2", net.now - 60, net.now + 730 * 86400)
    bundle = net.ca.to_pem() + "\n" + new_ca.to_pem()
    old_cert, old_priv = net.host("old-host", "10.128.0.20/16")
    new_cert, new_priv = net.host("new-host", "10.128.0.21/16", ca=new_ca, key=new_key)
    for label, cert, priv in (("old", old_cert, old_priv), ("new", new_cert, new_priv)):
        assert_ok(
            net.nebula_test(
                f"rotation-{label}",
                ca_pem=bundle,
                cert_pem=cert.to_pem(),
                key_pem=nc.x25519_private_key_to_pem(priv),
                **LH,
            )
        )
    pool = nc.CAPool(nc.load_certificates(bundle))
    assert (pool.verify(new_cert), pool.verify(old_cert)) == (new_ca, net.ca)


AWKWARD_GROUPS = ["yes", "22", "0x1F", "1e3", "0o17", "y", "fd00::1", "2024-01-02"]


@pytest.mark.integration
def test_nebula_reads_strings_that_look_like_other_types_as_the_same_strings(tmp_path):
    """Group names a YAML reader could take for booleans, numbers or dates reach nebula's firewall unchanged.
    Written plain, nebula 1.6 reads 0x1F as 31 and 1e3 as 1000, and refuses the config."""
    net = Network(tmp_path)
    cert, priv = net.host("web-04", "10.128.0.44/16", groups=AWKWARD_GROUPS)
    r = net.nebula_test(
        "awkward",
        ca_pem=net.ca.to_pem(),
        cert_pem=cert.to_pem(),
        key_pem=nc.x25519_private_key_to_pem(priv),
        firewall_inbound=[
            {"port": "22", "proto": "tcp", "groups": AWKWARD_GROUPS},
            {"port": "any", "proto": "any", "group": "0x1F"},
        ],
        **LH,
    )
    assert_ok(r)
    logged = r.stdout + r.stderr
    assert f"groups:[{' '.join(AWKWARD_GROUPS)}]" in logged and "groups:[0x1F]" in logged


@pytest.mark.integration
def test_nebula_accepts_device_supplied_key_by_path(tmp_path):
    net = Network(tmp_path)
    priv, pub = nc.generate_host_keypair()
    key_file = tmp_path / "device.key"
    key_file.write_text(nc.x25519_private_key_to_pem(priv))
    public = nc.parse_public_key_pem_or_raw(nc.pem_encode(nc.X25519_PUBLIC_BANNER, pub))
    cert, _ = net.host("device-01", "10.128.0.30/16", public_key=public)
    cfg_kwargs = {"ca_pem": net.ca.to_pem(), "cert_pem": cert.to_pem(), "key_path": str(key_file), **LH}
    assert yaml.safe_load(render_host_config_yaml(**cfg_kwargs))["pki"]["key"] == str(key_file)
    assert_ok(net.nebula_test("device-key", **cfg_kwargs))


@pytest.mark.integration
def test_nebula_cert_keygen_keys_are_accepted_as_device_keys(tmp_path):
    nebula_cert = binary("nebula-cert")
    r = subprocess.run(
        [nebula_cert, "keygen", "-out-key", str(tmp_path / "kg.key"), "-out-pub", str(tmp_path / "kg.pub")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert_ok(r)
    public = nc.parse_public_key_pem_or_raw((tmp_path / "kg.pub").read_text())
    [(banner, private)] = nc.parse_pem((tmp_path / "kg.key").read_text())
    assert banner == nc.X25519_PRIVATE_BANNER
    assert X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw() == public
    net = Network(tmp_path)
    cert, _ = net.host("keygen-01", "10.128.0.31/16", public_key=public)
    assert cert.public_key == public
    assert_ok(
        net.nebula_test(
            "keygen", ca_pem=net.ca.to_pem(), cert_pem=cert.to_pem(), key_path=str(tmp_path / "kg.key"), **LH
        )
    )
    (tmp_path / "cert.crt").write_text(cert.to_pem())
    (tmp_path / "ca.crt").write_text(net.ca.to_pem())
    r = subprocess.run(
        [nebula_cert, "verify", "-ca", str(tmp_path / "ca.crt"), "-crt", str(tmp_path / "cert.crt")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert_ok(r)


@pytest.mark.integration
def test_nebula_test_rejects_mismatched_key(tmp_path):
    """``nebula -test`` does check the key pair: the configs above are really validated."""
    net = Network(tmp_path)
    cert, _priv = net.host("web-09", "10.128.0.40/16")
    other_priv, _ = nc.generate_host_keypair()
    r = net.nebula_test(
        "mismatch",
        ca_pem=net.ca.to_pem(),
        cert_pem=cert.to_pem(),
        key_pem=nc.x25519_private_key_to_pem(other_priv),
        **LH,
    )
    assert r.returncode != 0
    assert "private key is not a pair with public key" in r.stdout + r.stderr
