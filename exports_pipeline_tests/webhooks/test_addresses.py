"""Webhook URLs: https only, and only addresses on the public internet, unless the dev flag."""

from __future__ import annotations

import pytest

from exports_pipeline.webhooks.addresses import RefusedUrl, check_url

REFUSED = [
    ("http://8.8.8.8/hook", "must be an https:// URL"),
    ("ftp://8.8.8.8/hook", "must be an https:// URL"),
    ("https://127.0.0.1/hook", "loopback"),
    ("https://127.9.9.9:8443/hook", "loopback"),
    ("https://localhost/hook", "loopback"),
    ("https://[::1]/hook", "loopback"),
    ("https://[::ffff:127.0.0.1]/hook", "loopback"),
    ("https://2130706433/hook", "loopback"),
    ("https://10.1.2.3/hook", "private"),
    ("https://172.16.0.1/hook", "private"),
    ("https://192.168.1.1/hook", "private"),
    ("https://[::ffff:192.168.1.1]/hook", "private"),
    ("https://[fd12:3456::1]/hook", "private"),
    ("https://169.254.1.1/hook", "link-local"),
    ("https://[fe80::1]/hook", "link-local"),
    ("https://169.254.169.254/latest/meta-data", "metadata"),
    ("https://[fd00:ec2::254]/hook", "metadata"),
    ("https://[::ffff:169.254.169.254]/hook", "metadata"),
    ("https://0.0.0.0/hook", "unspecified"),
    ("https://[::]/hook", "unspecified"),
    ("https://224.0.0.1/hook", "multicast"),
    ("https://[ff02::1]/hook", "multicast"),
    ("https://240.0.0.1/hook", "reserved"),
    ("https://100.64.0.1/hook", "not a public internet address"),
    ("https://[2002:7f00:1::1]/hook", "loopback"),  # 6to4 of 127.0.0.1
    ("https://[64:ff9b::a00:1]/hook", "private"),  # NAT64 of 10.0.0.1
    ("https://user:pass@8.8.8.8/hook", "user name or password"),
    ("https:///hook", "must name a host"),
    ("https://8.8.8.8:99999/hook", "not a valid URL"),
    ("https://8.8.8.8/a b", "spaces"),
    ("https://no-such-host.invalid/hook", "does not resolve"),
    ("https://8.8.8.8/" + "a" * 2048, "at most 2048"),
]


@pytest.mark.parametrize(("url", "rule"), REFUSED)
def test_refused_without_the_dev_flag(url: str, rule: str) -> None:
    with pytest.raises(RefusedUrl, match=rule):
        check_url(url)


@pytest.mark.parametrize(
    "url", ["https://8.8.8.8/hook", "https://[2001:4860:4860::8888]:8443/x?y=1", "HTTPS://1.1.1.1"]
)
def test_public_https_urls_pass(url: str) -> None:
    target = check_url(url)
    assert target.scheme == "https"
    assert target.addresses


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "https://localhost/hook",
        "http://[::1]:9000/hook",
        "http://10.0.0.5/hook",
        "http://169.254.169.254/",
    ],
)
def test_the_dev_flag_lifts_both_rules(url: str) -> None:
    assert check_url(url, allow_private=True).addresses


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("ftp://127.0.0.1/hook", "must be an https:// URL"),
        ("http://user:pw@127.0.0.1/hook", "user name or password"),
        ("http://no-such-host.invalid/hook", "does not resolve"),
    ],
)
def test_the_dev_flag_keeps_the_other_rules(url: str, rule: str) -> None:
    with pytest.raises(RefusedUrl, match=rule):
        check_url(url, allow_private=True)


def test_a_host_is_refused_when_any_of_its_addresses_is_refused() -> None:
    # `localhost` resolves to 127.0.0.1 (and often ::1): every address is checked.
    with pytest.raises(RefusedUrl, match=r"^must not point at a loopback address: localhost$"):
        check_url("https://localhost:8443/hook")


def test_a_refused_hosts_message_never_shows_the_address_it_resolved_to() -> None:
    with pytest.raises(RefusedUrl, match="loopback") as refused:
        check_url("https://localhost/hook")
    assert "127.0.0.1" not in str(refused.value) and "::1" not in str(refused.value)
