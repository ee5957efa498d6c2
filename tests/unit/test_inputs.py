"""The request reader (idp/inputs.py), the HTTP Basic parser and the echoed-parameter check:
the boundary every face reads through, tested without HTTP."""

from __future__ import annotations

import base64

import pytest

from idp.errors import IdpError
from idp.inputs import MAX_DEPTH, check_parameters, read_json
from idp.oauth.clients import basic_credentials
from idp.oauth.errors import check_echoed_parameters


def refused(call, *args) -> IdpError:
    with pytest.raises(IdpError) as caught:
        call(*args)
    assert caught.value.code == "request.invalid"
    return caught.value


def test_plain_json_reads_as_before():
    assert read_json(b'{"a": [1, "x", {"b": null}], "c": true}') == {"a": [1, "x", {"b": None}], "c": True}
    assert read_json('{"name": "张三 😀"}'.encode()) == {"name": "张三 😀"}


@pytest.mark.parametrize(
    "raw", [b"", b"  \n", b"{", b"not json", b"\xff\xfe{}", b"NaN", b'{"a": Infinity}', b"1" * 5000]
)
def test_what_is_not_json_reads_as_no_body(raw):
    assert read_json(raw) is None


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 990, 5000, 100_000])
def test_deep_nesting_is_refused_not_recursed(depth):
    exc = refused(read_json, b"[" * depth + b"1" + b"]" * depth)
    assert "nested" in exc.message


def test_nesting_up_to_the_bound_is_read():
    value = read_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)
    for _ in range(MAX_DEPTH - 1):
        assert isinstance(value, list)
        value = value[0]
    assert value == []


@pytest.mark.parametrize(
    "raw",
    [
        b'{"client_secret": "x\\udfffy"}',  # a lone low surrogate
        b'{"name": "\\ud800"}',  # a lone high surrogate
        b'{"\\ud800": 1}',  # in a key
        b'[[["\\udc00"]]]',  # nested
        b'{"username": "a\\u0000b"}',  # U+0000
    ],
)
def test_strings_that_are_not_clean_text_are_refused(raw):
    refused(read_json, raw)


def test_a_surrogate_pair_is_one_character_and_fine():
    assert read_json(b'{"emoji": "\\ud83d\\ude00"}') == {"emoji": "😀"}


def test_numbers_out_of_range_are_refused():
    exc = refused(read_json, b'{"code_ttl": 1e400}')
    assert "range" in exc.message


def test_parameters_are_checked_names_and_values():
    check_parameters([("state", ["abc", "déf"])])
    refused(check_parameters, [("state", ["a\x00b"])])
    refused(check_parameters, [("a\x00", ["b"])])


def basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (basic(b"app:secret"), ("app", "secret")),
        (basic(b"app%3A1:s%3Acret"), ("app:1", "s:cret")),  # RFC 6749 2.3.1 form-encoding
        (basic(b"spa:"), ("spa", "")),
        (basic(b"spa"), ("spa", None)),
        ("basic " + base64.b64encode(b"a:b").decode(), ("a", "b")),  # the scheme is case-insensitive
    ],
)
def test_basic_credentials(header, expected):
    assert basic_credentials(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Basic",
        "Basic ",
        "Basic    ",
        "Basic //46gIE=",  # base64 of bytes that are not UTF-8
        "Basic \xe9\xff",  # not ASCII
        "Basic not-base64!",
        basic(b":secret"),  # no client_id
        "Bearer ",
        "Bearer abc",
        "Digest x",
    ],
)
def test_malformed_or_other_authorization_is_no_credentials(header):
    assert basic_credentials(header) is None


@pytest.mark.parametrize(
    "params",
    [
        {"redirect_uri": "\r\nX-Injected: 1"},
        {"redirect_uri": "https://app.example/cb\u00e9"},
        {"response_type": "code\n"},
        {"grant_type": 'x"y'},
        {"post_logout_redirect_uri": "https://app.example/\\"},
    ],
)
def test_parameters_an_oauth_error_would_echo_must_be_printable_ascii(params):
    exc = refused(check_echoed_parameters, params)
    assert next(iter(params)) in exc.message
    assert next(iter(params.values())) not in exc.message  # named, never repeated


def test_ordinary_oauth_parameters_pass():
    check_echoed_parameters(
        {"redirect_uri": "https://app.example/cb?x=1&y=%20", "response_type": "code", "state": "\r\n"}
    )
