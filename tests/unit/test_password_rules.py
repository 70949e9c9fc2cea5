"""The rules a chosen password must meet, the shipped common-password list, generated
passwords, and the gate that bounds Argon2 work per process."""

from __future__ import annotations

import threading
import time

import pytest

from server.errors import Problem
from server.security import passwords
from server.security.passwords import (
    COMMON,
    CONTAINS_NAME,
    REPETITIVE,
    TOO_LONG,
    TOO_SHORT,
    VerificationGate,
    common_passwords,
    generate_password,
    password_problem,
)


@pytest.mark.parametrize(
    "password",
    [
        "a-password-of-14",
        "correct horse battery staple",
        "Ngày mai trời sẽ nắng to",
        "đi-chợ-mua-rau-muống",
        "tám con mèo đen 2025",
        "x7#Kq9!mZ2@w",
        "hello-world-2024",
    ],
)
def test_ordinary_passwords_are_accepted(password: str) -> None:
    assert password_problem(password, "lan.nguyen") is None


def test_length() -> None:
    assert password_problem("Short-1!") == TOO_SHORT
    assert password_problem("x" * 11 + "") == TOO_SHORT
    assert password_problem("q7-" * 400) == TOO_LONG


@pytest.mark.parametrize(
    ("password", "username"),
    [
        ("viewAviewAviewA", "viewA"),  # the example of the review
        ("my-name-is-LAN-ok", "lan"),  # three letters are enough, case does not matter
        ("thu.nguyen-secret-words", "thu.nguyen"),
        ("nguyen-is-my-family", "thu.nguyen"),  # a part of the name
        ("thunguyen-sky-blue", "thu.nguyen"),  # the name without its separator
        ("Nguyễn là họ của tôi", "nguyen_van_a"),  # without diacritics or spaces
        ("phuong hoa 2025 mai", "phuong.hoa"),  # spaces ignored: "phuonghoa2025mai"
    ],
)
def test_the_user_name_is_refused_inside_the_password(password: str, username: str) -> None:
    assert password_problem(password, username) == CONTAINS_NAME


def test_a_two_letter_name_is_not_looked_for() -> None:
    # Any two letters occur in ordinary words: refusing them would refuse good passphrases.
    assert password_problem("an ordinary phrase here", "an") is None
    assert password_problem("an ordinary phrase here", "lan") is None


@pytest.mark.parametrize(
    "password",
    [
        "aaaaaaaaaaaa",  # the example of the review
        "viewAviewAviewA",  # the other one (without a user name too)
        "abcabcabcabc",
        "matkhaumatkhau",
        "1212121212121",
        "abababababac",  # too few different characters
        "123456789012",  # a run, digits going round
        "abcdefghijklmn",
        "9876543210987",
    ],
)
def test_repetition_and_runs_are_refused(password: str) -> None:
    assert password_problem(password) == REPETITIVE


@pytest.mark.parametrize(
    "password",
    [
        "matkhau123456",  # Vietnamese "password"
        "Mật khẩu 123456",  # with diacritics and a space
        "Matkhau@123456",
        "123456789abc",  # from the zxcvbn list
        "qwertyuiop12",
        "Sunshine2024!!",  # a list word with digits and signs around it
        "p@ssw0rd12345",  # read as letters
        "iloveyou2025!",
        "anhyeuem12345",
        "quantri@2025!",
        "buonbannguoi1",
        "Admin@1234567",
        "2025dragon!!",  # digits in front
    ],
)
def test_common_passwords_are_refused(password: str) -> None:
    assert password_problem(password) == COMMON


def test_the_shipped_list_has_its_source_and_vietnamese_entries() -> None:
    listed = common_passwords()
    assert 5000 <= len(listed) <= 6000
    for entry in ("password", "qwerty", "matkhau123", "123456789a", "anhyeuem", "fieldcase"):
        assert entry in listed
    text = (passwords.resources.files("server.security") / "common_passwords.txt").read_text(
        "utf-8"
    )
    assert "zxcvbn" in text
    assert "MIT License" in text


def test_generated_passwords_meet_every_rule() -> None:
    seen = set()
    for _ in range(200):
        password = generate_password("thu")
        assert password_problem(password, "thu") is None
        assert len(password) == 23
        assert password.count("-") == 3
        assert not set(password) & set("0o1li")  # nothing to misread
        seen.add(password)
    assert len(seen) == 200


def test_the_gate_lets_one_verification_run_and_refuses_beyond_its_queue() -> None:
    gate = VerificationGate(slots=1, max_waiting=2, wait_seconds=5.0)
    running = 0
    most = 0
    refused: list[str] = []
    lock = threading.Lock()
    release = threading.Event()

    def work() -> None:
        nonlocal running, most
        try:
            with gate.turn():
                with lock:
                    running += 1
                    most = max(most, running)
                release.wait(5)
                with lock:
                    running -= 1
        except Problem as problem:
            refused.append(problem.code)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)  # one holds the slot, two wait, three were refused at once
    assert refused == ["503.2"] * 3
    release.set()
    for thread in threads:
        thread.join(10)
    assert most == 1
    assert refused == ["503.2"] * 3


def test_the_gate_gives_up_after_its_wait() -> None:
    gate = VerificationGate(slots=1, max_waiting=4, wait_seconds=0.2)
    with gate.turn():
        started = time.monotonic()
        with pytest.raises(Problem) as caught, gate.turn():
            pass
        assert caught.value.code == "503.2"
        assert caught.value.headers["Retry-After"]
        assert time.monotonic() - started < 2
