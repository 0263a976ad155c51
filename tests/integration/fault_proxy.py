#!/usr/bin/env python3
"""An HTTPS reverse proxy between an ACME client and Pebble that injects the
faults Pebble cannot produce (integration tests only; stdlib only).

    python3 fault_proxy.py --listen 127.0.0.1:14443 --upstream 127.0.0.1:14000 \
        --cert C --key K --cafile TLSCA --faults FAULTS.json --log LOG.jsonl \
        [--pidfile F]

tests/integration/pebble.sh's fault_proxy_start runs it. It prints nothing
unless something goes wrong. HTTP/1.1 with keep-alive on both sides;
upstream TLS is verified against --cafile. Every answer carries a
Content-Length (Pebble itself sends bodies over 2 KiB, e.g. certificates,
chunked); upstream trouble is answered 502.

The client's Host header is forwarded unchanged: Pebble builds every URL
(directory, Location, Link, the JWS "url" it expects) from the request's
Host, so the URLs the client sees already point at the proxy and nothing is
rewritten.

Requests are tagged with a DNS identifier: the JWS payload of each newOrder
POST is decoded and the FIRST identifier value of the order becomes the tag
of that order's URL, its authorizations (and their challenges), its
finalize URL and its certificate URL (and the certificate's
rel="alternate" URLs), all learned from Pebble's responses.

FAULTS.json is re-read on every request and maps an identifier value to a
fault name ({"web01.test": "5xx"}); the key "wrongkey_pem" names a PEM file.
A missing file means no faults; one that does not parse counts as unchanged
(still, write it to a temporary name and mv it into place). A value may
carry a suffix after ":" that only serves to make it new: the newOrder
counters of a tag start again at 0 whenever a request for that tag finds
another value than the previous one did, so "5xx:2" arms 5xx once more.

  5xx           newOrder #1 for the tag: 503, Retry-After: 1; #2: 500, no
                Retry-After (both urn:ietf:params:acme:error:serverInternal);
                #3 and later pass. Failed ones are not forwarded.
  rate-seconds  newOrder #1: 429 urn:ietf:params:acme:error:rateLimited,
                Retry-After: 2; not forwarded. Later ones pass.
  rate-date     the same with Retry-After as an IMF-fixdate 3 s ahead.
  processing    the finalize response and every POST-as-GET of that order
                after its finalize are Pebble's real answer (forwarded, so
                the certificate IS issued upstream) with "status":
                "processing", no "certificate" member and Retry-After: 1:
                the order never looks valid to the client.
  truncate      the certificate download (forwarded) is answered with the
                full Content-Length but only the first half of the body,
                then the connection is closed.
  oversize      the order's authorization responses (forwarded) are padded
                with whitespace after the opening "{" to exactly 2 MiB of
                valid JSON.
  wrongkey      the certificate download (forwarded) gets the body of the
                PEM file FAULTS["wrongkey_pem"] instead of Pebble's.
  plainhttp     the order's answers (newOrder and every poll, forwarded)
                name its finalize URL with http:// instead of https://.

A synthesized error carries a fresh Replay-Nonce taken from upstream (HEAD
newNonce, with the client's Host) and Link: <directory>;rel="index".

LOG.jsonl: one JSON line per request, written after the answer:
{"method", "path", "tag", "kind", "status", "fault"} where kind is one of
directory, newNonce, newAccount, newOrder, order, authz, challenge,
finalize, cert, other; status the status sent to the client; fault the
fault applied to this request or null. Count finalize POSTs with status 200
per tag to prove nothing was issued twice.
"""

import argparse
import base64
import email.utils
import http.client
import http.server
import json
import os
import re
import socket
import ssl
import sys
import threading
import time
import urllib.parse

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "transfer-encoding",
    "te", "trailer", "upgrade", "proxy-authenticate", "proxy-authorization",
    "content-length", "expect",
}
OVERSIZE = 2 * 1024 * 1024


def b64url_decode(s):
    s = s.encode() if isinstance(s, str) else s
    return base64.urlsafe_b64decode(s + b"=" * (-len(s) % 4))


def url_path(url):
    """The path of an absolute URL (or of a path)."""
    return urllib.parse.urlsplit(url).path


class State:
    """What the proxy has learned, shared by all connections."""

    def __init__(self, faults_file, log_file):
        self.lock = threading.Lock()
        self.faults_file = faults_file
        self.log = open(log_file, "a", buffering=1)
        self.directory = {}      # "newOrder" etc. -> path
        self.paths = {}          # path -> (kind, tag, order path or None)
        self.finalized = set()   # order paths whose finalize was POSTed
        self.armed = {}          # tag -> fault the counters belong to
        self.count = {}          # tag -> newOrder POSTs seen while armed
        self.last_faults = {}

    def faults(self):
        """FAULTS.json now: {} if it is missing; what it last was if it
        does not parse (a test may be in the middle of writing it)."""
        try:
            with open(self.faults_file) as f:
                d = json.load(f)
        except OSError:
            d = {}
        except ValueError:
            return self.last_faults
        if not isinstance(d, dict):
            return self.last_faults
        self.last_faults = d
        return d

    def fault_for(self, faults, tag):
        """The fault named for tag now (None if none); its counters start
        again when the value is not the one they were counted under."""
        value = faults.get(tag) if tag else None
        if not isinstance(value, str) or not value:
            value = None
        with self.lock:
            if tag and self.armed.get(tag) != value:
                self.armed[tag] = value
                self.count[tag] = 0
        return value.split(":", 1)[0] if value else None

    def bump(self, tag):
        with self.lock:
            self.count[tag] = self.count.get(tag, 0) + 1
            return self.count[tag]

    def learn(self, path, kind, tag, order=None):
        if path:
            with self.lock:
                self.paths[path] = (kind, tag, order)

    def lookup(self, path):
        with self.lock:
            return self.paths.get(path)

    def write_log(self, rec):
        line = json.dumps(rec, sort_keys=True)
        with self.lock:
            self.log.write(line + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fault-proxy"
    sys_version = ""

    # -- plumbing ---------------------------------------------------------

    def setup(self):
        self.upstream = None
        try:
            self.request.settimeout(60)
            self.request.do_handshake()
        except (OSError, ssl.SSLError):
            self.handshake_failed = True
        else:
            self.handshake_failed = False
        super().setup()

    def handle(self):
        if self.handshake_failed:
            return
        try:
            super().handle()
        except (OSError, ssl.SSLError):
            pass

    def finish(self):
        try:
            super().finish()
        except (OSError, ssl.SSLError):
            pass
        if self.upstream is not None:
            self.upstream.close()

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):  # quiet: the JSONL log says it all
        pass

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def connect_upstream(self):
        cfg = self.server.cfg
        return http.client.HTTPSConnection(
            cfg.up_host, cfg.up_port, context=cfg.up_ctx, timeout=60)

    def upstream_request(self, method, path, body, headers):
        """(status, reason, [(name, value)], body) from Pebble, over this
        connection's keep-alive upstream connection (reopened once)."""
        for attempt in (1, 2):
            if self.upstream is None:
                self.upstream = self.connect_upstream()
            try:
                c = self.upstream
                c.putrequest(method, path, skip_host=True,
                             skip_accept_encoding=True)
                for k, v in headers:
                    c.putheader(k, v)
                if body or method in ("POST", "PUT", "PATCH"):
                    c.putheader("Content-Length", str(len(body)))
                c.endheaders(body if body else None)
                r = c.getresponse()
                data = r.read()  # b"" for HEAD, and frees the connection
                if r.will_close:
                    c.close()
                    self.upstream = None
                return r.status, r.reason, r.getheaders(), data
            except (OSError, http.client.HTTPException):
                if self.upstream is not None:
                    self.upstream.close()
                self.upstream = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def forward_headers(self):
        return [(k, v) for k, v in self.headers.items()
                if k.lower() not in HOP_BY_HOP]

    def base_url(self):
        return "https://" + self.headers.get("Host", "%s:%d" % self.server.server_address[:2])

    def send(self, status, headers, body, truncate=False, reason=None):
        self.send_response(status, reason)
        for k, v in headers:
            if k.lower() not in HOP_BY_HOP and k.lower() not in ("date", "server"):
                self.send_header(k, v)
        # A truncated answer does not say Connection: close: the client
        # must notice the short body by itself, as after a real drop.
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if truncate:
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.request.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.wfile.write(body)

    # -- ACME knowledge ----------------------------------------------------

    def ensure_directory(self):
        st = self.server.state
        if "newOrder" in st.directory:
            return
        status, _, _, data = self.upstream_request(
            "GET", self.server.cfg.dir_path, b"",
            [("Host", self.headers.get("Host", ""))])
        if status == 200:
            self.learn_directory(data)

    def learn_directory(self, data):
        try:
            d = json.loads(data)
        except ValueError:
            return
        if isinstance(d, dict) and "newOrder" in d:
            with self.server.state.lock:
                for k, v in d.items():
                    if isinstance(v, str):
                        self.server.state.directory[k] = url_path(v)

    def fresh_nonce(self):
        st = self.server.state
        path = st.directory.get("newNonce")
        if not path:
            return None
        try:
            _, _, hdrs, _ = self.upstream_request(
                "HEAD", path, b"", [("Host", self.headers.get("Host", ""))])
        except (OSError, http.client.HTTPException):
            return None
        for k, v in hdrs:
            if k.lower() == "replay-nonce":
                return v
        return None

    def problem(self, status, ptype, detail, retry_after=None):
        hdrs = [("Content-Type", "application/problem+json"),
                ("Cache-Control", "public, max-age=0, no-cache"),
                ("Link", '<%s%s>;rel="index"' % (self.base_url(), self.server.cfg.dir_path))]
        nonce = self.fresh_nonce()
        if nonce:
            hdrs.append(("Replay-Nonce", nonce))
        if retry_after is not None:
            hdrs.append(("Retry-After", retry_after))
        body = json.dumps({"type": ptype, "detail": detail, "status": status},
                          indent=2).encode() + b"\n"
        return status, hdrs, body

    def learn_order(self, tag, order_path, body):
        """Tag the URLs an order object names."""
        st = self.server.state
        try:
            o = json.loads(body)
        except ValueError:
            return
        if not isinstance(o, dict):
            return
        for a in o.get("authorizations") or []:
            st.learn(url_path(a), "authz", tag, order_path)
        if o.get("finalize"):
            st.learn(url_path(o["finalize"]), "finalize", tag, order_path)
        if o.get("certificate"):
            st.learn(url_path(o["certificate"]), "cert", tag, order_path)

    def learn_authz(self, tag, order_path, body):
        try:
            a = json.loads(body)
        except ValueError:
            return
        if isinstance(a, dict):
            for ch in a.get("challenges") or []:
                if isinstance(ch, dict) and ch.get("url"):
                    self.server.state.learn(url_path(ch["url"]), "challenge",
                                            tag, order_path)

    def learn_cert_links(self, tag, order_path, headers):
        for k, v in headers:
            if k.lower() != "link":
                continue
            for m in re.finditer(r'<([^>]*)>\s*;\s*rel="?alternate"?', v):
                self.server.state.learn(url_path(m.group(1)), "cert", tag,
                                        order_path)

    @staticmethod
    def as_processing(body):
        try:
            o = json.loads(body)
        except ValueError:
            return body
        if not isinstance(o, dict):
            return body
        o["status"] = "processing"
        o.pop("certificate", None)
        return json.dumps(o, indent=2).encode() + b"\n"

    # -- the request ---------------------------------------------------------

    def do_any(self):
        st = self.server.state
        path = urllib.parse.urlsplit(self.path).path
        body = self.read_body()
        faults = st.faults()
        kind, tag, order = "other", None, None
        applied = None
        status = 502
        try:
            if self.command == "POST":
                self.ensure_directory()
            d = st.directory
            known = st.lookup(path)
            if path == self.server.cfg.dir_path:
                kind = "directory"
            elif path == d.get("newNonce"):
                kind = "newNonce"
            elif path == d.get("newAccount"):
                kind = "newAccount"
            elif self.command == "POST" and path == d.get("newOrder"):
                kind = "newOrder"
                tag = self.order_tag(body)
            elif known:
                kind, tag, order = known
            elif self.command == "POST" and path.startswith("/my-order/"):
                kind = "order"
            fault = st.fault_for(faults, tag)

            # Faults that answer without forwarding.
            if kind == "newOrder" and fault in ("5xx", "rate-seconds", "rate-date"):
                n = st.bump(tag)
                synth = None
                if fault == "5xx" and n == 1:
                    synth = self.problem(503, "urn:ietf:params:acme:error:serverInternal",
                                         "injected: service unavailable", "1")
                elif fault == "5xx" and n == 2:
                    synth = self.problem(500, "urn:ietf:params:acme:error:serverInternal",
                                         "injected: internal server error")
                elif fault == "rate-seconds" and n == 1:
                    synth = self.problem(429, "urn:ietf:params:acme:error:rateLimited",
                                         "injected: too many new orders", "2")
                elif fault == "rate-date" and n == 1:
                    synth = self.problem(429, "urn:ietf:params:acme:error:rateLimited",
                                         "injected: too many new orders",
                                         email.utils.formatdate(time.time() + 3, usegmt=True))
                if synth:
                    applied = fault
                    status, hdrs, out = synth
                    self.send(status, hdrs, out)
                    return

            status, reason, hdrs, out = self.upstream_request(
                self.command, self.path, body, self.forward_headers())
            truncate = False

            # Learn from the answer.
            if kind == "directory" and status == 200:
                self.learn_directory(out)
            elif kind == "newOrder" and status == 201:
                loc = dict((k.lower(), v) for k, v in hdrs).get("location")
                order = url_path(loc) if loc else None
                if order:
                    st.learn(order, "order", tag, order)
                self.learn_order(tag, order, out)
            elif kind in ("order", "finalize") and status == 200:
                self.learn_order(tag, order, out)
            elif kind == "authz" and status == 200:
                self.learn_authz(tag, order, out)
            elif kind == "cert" and status == 200:
                self.learn_cert_links(tag, order, hdrs)

            if kind == "finalize" and status == 200 and order:
                with st.lock:
                    st.finalized.add(order)

            # Faults on the real answer.
            if fault == "processing" and self.command == "POST" and status == 200:
                if kind in ("finalize", "order") and order in st.finalized:
                    out = self.as_processing(out)
                    hdrs = [(k, v) for k, v in hdrs if k.lower() != "retry-after"]
                    hdrs.append(("Retry-After", "1"))
                    applied = fault
            elif fault == "truncate" and kind == "cert" and status == 200:
                truncate = True
                applied = fault
            elif fault == "oversize" and kind == "authz" and status == 200 \
                    and out.startswith(b"{") and len(out) < OVERSIZE:
                out = b"{" + b" " * (OVERSIZE - len(out)) + out[1:]
                applied = fault
            elif fault == "plainhttp" and kind in ("newOrder", "order") \
                    and status in (200, 201):
                out = out.replace(b'"finalize": "https://', b'"finalize": "http://')
                applied = fault
            elif fault == "wrongkey" and kind == "cert" and status == 200:
                with open(faults["wrongkey_pem"], "rb") as f:
                    out = f.read()
                applied = fault
            self.send(status, hdrs, out, truncate=truncate, reason=reason)
        except Exception as e:  # report upstream trouble as a 502
            status = 502
            try:
                msg = json.dumps({"type": "urn:ietf:params:acme:error:serverInternal",
                                  "detail": "fault proxy: %s" % e, "status": 502}).encode()
                self.send(502, [("Content-Type", "application/problem+json")], msg)
            except (OSError, ssl.SSLError):
                self.close_connection = True
            print("fault_proxy: %s %s: %r" % (self.command, self.path, e),
                  file=sys.stderr, flush=True)
        finally:
            st.write_log({"method": self.command, "path": path, "tag": tag,
                          "kind": kind, "status": status, "fault": applied})

    def order_tag(self, body):
        try:
            jws = json.loads(body)
            payload = json.loads(b64url_decode(jws["payload"]))
            return payload["identifiers"][0]["value"]
        except (ValueError, KeyError, IndexError, TypeError):
            return None

    do_GET = do_any
    do_HEAD = do_any
    do_POST = do_any
    do_PUT = do_any
    do_DELETE = do_any


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def get_request(self):
        sock, addr = self.socket.accept()
        # The TLS handshake is done in the connection's own thread.
        return self.cfg.ctx.wrap_socket(sock, server_side=True,
                                        do_handshake_on_connect=False), addr


class Config:
    pass


def host_port(s):
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--listen", required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--cafile", required=True)
    p.add_argument("--faults", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--pidfile")
    p.add_argument("--directory-path", default="/dir")
    a = p.parse_args()

    cfg = Config()
    cfg.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cfg.ctx.load_cert_chain(a.cert, a.key)
    cfg.ctx.set_alpn_protocols(["http/1.1"])
    cfg.up_ctx = ssl.create_default_context(cafile=a.cafile)
    cfg.up_ctx.set_alpn_protocols(["http/1.1"])
    cfg.up_host, cfg.up_port = host_port(a.upstream)
    cfg.dir_path = a.directory_path

    srv = Server(host_port(a.listen), Handler)
    srv.cfg = cfg
    srv.state = State(a.faults, a.log)
    if a.pidfile:
        with open(a.pidfile, "w") as f:
            f.write("%d\n" % os.getpid())
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
