"""A real SMTP server for the tests (aiosmtpd): STARTTLS required, AUTH required after it,
one file per accepted message in OUT_DIR. Usage: smtp_sink.py PORT CERT KEY OUT_DIR USER PASSWORD
"""
import os
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, cert, key, out_dir, user, password = sys.argv[1:7]
seen = {"n": 0}


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == user
        and auth_data.password.decode() == password
    )
    if not ok:
        with open(os.path.join(out_dir, "failed-auth.log"), "a") as log:
            log.write(mechanism + "\n")
    return AuthResult(success=True, auth_data=auth_data) if ok else AuthResult(success=False, handled=False)


class Handler:
    async def handle_DATA(self, server, session, envelope):
        seen["n"] += 1
        path = os.path.join(out_dir, "message-%d.eml" % seen["n"])
        with open(path + ".part", "wb") as f:
            login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else b""
            f.write(b"X-Sink-Login: " + login + b"\r\n")
            f.write(b"X-Sink-TLS: " + (b"yes" if session.ssl else b"no") + b"\r\n")
            f.write(b"X-Sink-Rcpt: " + ",".join(envelope.rcpt_tos).encode() + b"\r\n")
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".part", path)
        return "250 Message accepted"


context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)
controller = Controller(
    Handler(),
    hostname="127.0.0.1",
    port=int(port),
    tls_context=context,
    require_starttls=True,
    authenticator=authenticator,
    auth_require_tls=True,
    auth_required=True,
    auth_exclude_mechanism=["LOGIN"],
    ready_timeout=10,
)
# The controller's self-check talks plain SMTP to a server that requires STARTTLS; skip it.
controller._trigger_server = lambda: None
controller.start()
try:
    deadline = time.time() + 300
    while time.time() < deadline:
        time.sleep(0.2)
finally:
    controller.stop()
