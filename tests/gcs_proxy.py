"""HTTPS in front of the GCS emulator, for TensorFlow's GCS client (tests only).

TensorFlow reaches storage.googleapis.com over HTTPS and uploads with chunked transfer
encoding, which fake-gcs-server refuses (HTTP 501 "Unsupported transfer encoding").
This proxy serves TLS with the tests' certificate, reads each request whole (a chunked
body decoded), and forwards it to the emulator's plain HTTP port with a Content-Length,
then returns the emulator's answer whole, its upload sessions' `Location` on https.
Nothing else is changed: the emulator still answers every request itself.
"""

import http.client
import http.server
import ssl
import threading

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-connection", "content-length", "expect"}


def _read_chunked(stream) -> bytes:
  body = bytearray()
  while True:
    size = int(stream.readline().split(b";")[0].strip() or b"0", 16)
    if size == 0:
      while stream.readline() not in (b"\r\n", b"\n", b""):    # trailers
        pass
      return bytes(body)
    body += stream.read(size)
    stream.readline()                                           # the chunk's CRLF


class TlsProxy:
  """Listens on ADDRESS:443 with `certificate` and `key`; forwards to `upstream`
  (host, port)."""

  def __init__(self, address: str, certificate: str, key: str, upstream: tuple[str, int]):
    upstream_host, upstream_port = upstream

    class Handler(http.server.BaseHTTPRequestHandler):
      protocol_version = "HTTP/1.1"        # keep-alive and `Expect: 100-continue`

      def _forward(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
          body = _read_chunked(self.rfile)
        else:
          body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        connection = http.client.HTTPConnection(upstream_host, upstream_port, timeout=60)
        try:
          connection.request(self.command, self.path, body=body if body or self.command in (
              "POST", "PUT", "PATCH") else None, headers=headers)
          answer = connection.getresponse()
          payload = answer.read()
          self.send_response(answer.status, answer.reason)
          for key, value in answer.getheaders():
            if key.lower() == "location":    # the emulator names its own scheme, http
              value = value.replace("http://", "https://", 1)
            if key.lower() not in HOP_BY_HOP:
              self.send_header(key, value)
          self.send_header("Content-Length", str(len(payload)))
          self.end_headers()
          if self.command != "HEAD":
            self.wfile.write(payload)
        finally:
          connection.close()

      do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward

      def log_message(self, *args):      # quiet: the emulator logs
        pass

    self.server = http.server.ThreadingHTTPServer((address, 443), Handler)
    self.server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
    self.thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                   name="gcs-tls-proxy")

  def start(self) -> "TlsProxy":
    self.thread.start()
    return self

  def stop(self) -> None:
    self.server.shutdown()
    self.server.server_close()
