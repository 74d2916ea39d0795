"""A private dovecot for the IMAP tests: its own configuration, log and maildirs in a temp
directory, on a free port of 127.0.0.1, plain text login (no TLS), any user name with one password.

Each test takes a user name of its own, so it starts with an empty mailbox.
"""
import imaplib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DOVECOT = "/usr/sbin/dovecot"
PASSWORD = "imap-secret"

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
instance_name = hilo-test-{port}
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# No waiting after a failed login (its delay, and anvil's brute-force penalty): tests log in again at once.
auth_failure_delay = 0
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
mail_fsync = never
default_internal_user = {internal}
default_internal_group = {internal_group}
default_login_user = {login}
first_valid_uid = {mail_uid}
mail_location = maildir:{root}/mail/%u
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={root}/mail/%u
}}
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _accounts() -> dict:
    """Who runs what. As root, dovecot will not run its login or mail processes as root: they
    run as `nobody`. Otherwise every process is the current user (dovecot then cannot switch)."""
    me = pwd.getpwuid(os.getuid())
    if os.getuid() != 0:
        return {"internal": me.pw_name, "internal_group": me.pw_name, "login": me.pw_name,
                "mail_uid": me.pw_uid, "mail_gid": me.pw_gid}
    nobody = pwd.getpwnam("nobody")
    return {"internal": "root", "internal_group": "root", "login": "nobody",
            "mail_uid": nobody.pw_uid, "mail_gid": nobody.pw_gid}


class Dovecot:
    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="hilo-dovecot-"))
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 20) -> None:
        accounts = _accounts()
        self.root.chmod(0o711)  # the mail processes (nobody, as root) reach their maildirs
        (self.root / "mail").mkdir()
        os.chown(self.root / "mail", accounts["mail_uid"], accounts["mail_gid"])
        config = self.root / "dovecot.conf"
        config.write_text(CONFIG.format(root=self.root, port=self.port, password=PASSWORD, **accounts))
        self.process = subprocess.Popen([DOVECOT, "-F", "-c", str(config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dovecot did not start: {self.process.stderr.read()}{self.log()}")
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                return conn.recv(100).startswith(b"* OK")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def url(self, user: str, folder: str = "", password: str = PASSWORD) -> str:
        from urllib.parse import quote

        return f"imap://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{self.port}/{folder}"

    def connect(self, user: str) -> imaplib.IMAP4:
        conn = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        conn.login(user, PASSWORD)
        return conn

    def append(self, user: str, raw: bytes, folder: str = "INBOX", flags: str | None = None) -> int:
        """Put a mail into `user`'s folder as a delivery would; returns its UID."""
        with self.connect(user) as conn:
            status, data = conn.append(folder, flags, None, raw)
        assert status == "OK", data
        return int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))

    def flags(self, user: str, folder: str = "INBOX") -> dict[int, str]:
        """UID -> the mail's flags, as the server has them."""
        with self.connect(user) as conn:
            conn.select(folder, readonly=True)
            _, data = conn.uid("FETCH", "1:*", "(FLAGS)")
        found = (re.search(rb"UID (\d+) FLAGS \(([^)]*)\)", item) for item in data if item)
        return {int(match.group(1)): match.group(2).decode() for match in found if match}
