"""Which addresses the fleet may connect to: public unicast only; loopback only when allowed."""

from __future__ import annotations

import pytest

from harness.fleet.targets import judge_address, judge_addresses, judge_name

REFUSED = [
    ("169.254.169.254", "refused-link-local"),
    ("fe80::1", "refused-link-local"),
    ("fe80::1%eth0", "refused-link-local"),
    ("10.0.0.5", "refused-private"),
    ("172.16.3.4", "refused-private"),
    ("172.31.255.255", "refused-private"),
    ("192.168.1.1", "refused-private"),
    ("fd00:ec2::254", "refused-private"),
    ("fc00::1", "refused-private"),
    ("127.0.0.1", "refused-loopback"),
    ("127.0.0.2", "refused-loopback"),
    ("::1", "refused-loopback"),
    ("100.64.0.1", "refused-cgnat"),
    ("100.127.255.254", "refused-cgnat"),
    ("0.0.0.0", "refused-unspecified"),
    ("0.1.2.3", "refused-unspecified"),
    ("::", "refused-unspecified"),
    ("224.0.0.1", "refused-multicast"),
    ("ff02::1", "refused-multicast"),
    ("240.0.0.1", "refused-reserved"),
    ("255.255.255.255", "refused-reserved"),
    ("192.0.2.1", "refused-reserved"),
    ("198.51.100.7", "refused-reserved"),
    ("203.0.113.9", "refused-reserved"),
    ("198.18.0.1", "refused-reserved"),
    ("192.0.0.8", "refused-reserved"),
    ("2001:db8::1", "refused-reserved"),
    ("fec0::1", "refused-reserved"),
    ("::127.0.0.1", "refused-reserved"),
    ("2001:0:4136:e378:8000:63bf:f5ff:fffa", "refused-reserved"),
    # IPv6 forms that carry an IPv4 address are judged by it
    ("::ffff:10.0.0.5", "refused-private"),
    ("::ffff:169.254.169.254", "refused-link-local"),
    ("::ffff:127.0.0.1", "refused-loopback"),
    ("64:ff9b::a00:5", "refused-private"),
    ("2002:a00:5::", "refused-private"),
]
ALLOWED = ["8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808",
           "2002:808:808::", "93.184.216.34"]


@pytest.mark.parametrize("address, outcome", REFUSED)
def test_refused(address, outcome):
    refusal = judge_address(address)
    assert refusal is not None and refusal.outcome == outcome
    assert refusal.detail.startswith("refused: ")


@pytest.mark.parametrize("address", ALLOWED)
def test_public_unicast_is_allowed(address):
    assert judge_address(address) is None


@pytest.mark.parametrize("address, outcome", REFUSED)
def test_allow_loopback_allows_loopback_only(address, outcome):
    allowed = judge_address(address, allow_loopback=True) is None
    assert allowed == (outcome == "refused-loopback")


def test_the_detail_names_the_address_its_form_and_the_name():
    assert judge_address("::ffff:10.0.0.5", name="evil.example.org").detail == (
        "refused: private address 10.0.0.5 (IPv4-mapped ::ffff:10.0.0.5, evil.example.org)")
    assert judge_address("64:ff9b::a9fe:a9fe").detail == (
        "refused: link-local address 169.254.169.254 (NAT64 64:ff9b::a9fe:a9fe)")


def test_names_refused_without_a_lookup():
    assert judge_name("localhost").outcome == "refused-loopback"
    assert judge_name("db.localhost.").outcome == "refused-loopback"
    assert judge_name("localhost", allow_loopback=True) is None
    for name in ("metadata.google.internal", "printer.local", "nas.home.arpa", "x.corp", "router.lan"):
        refusal = judge_name(name, allow_loopback=True)
        assert refusal is not None and refusal.outcome == "refused-private", name
    for name in ("epicproxy.et0905.epichosted.com", "fhir.kp.org", "internal.example.org", "localhost.example.org"):
        assert judge_name(name) is None, name


def test_a_name_is_refused_when_any_of_its_addresses_is():
    assert judge_addresses("x.example.org", ["93.184.216.34", "2606:4700::1111"]) is None
    refusal = judge_addresses("x.example.org", ["93.184.216.34", "10.1.2.3"])
    assert refusal is not None and refusal.detail == "refused: private address 10.1.2.3 (x.example.org)"
