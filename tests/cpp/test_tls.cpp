// test_tls: wss:// through the wrapper's TLS options, with a CA and a
// certificate for 127.0.0.1 made at run time by the openssl command in a
// temporary directory: a trusted round trip, and a client that does not trust
// the server failing with WS_ERR_TLS and close code 1015, and reloading the
// server's certificate.
#include <stdlib.h>

#include <cstdlib>
#include <string>

#include "check.hpp"

using check::journal;

// Makes ca.pem and server.pem/server.key (for IP 127.0.0.1, signed by the CA) in `dir`.
static bool make_certificates(const std::string &dir) {
  const std::string script =
      "cd '" + dir + "' && ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes' && "
      "openssl req -x509 $ec -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca "
      "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign && "
      "openssl req $ec -keyout server.key -out server.csr -subj /CN=127.0.0.1 && "
      "printf 'subjectAltName=IP:127.0.0.1\\n' >san && "
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
      "-extfile san -out server.pem";
  return std::system(("(" + script + ") >/dev/null 2>&1").c_str()) == 0;
}

int main() {
  check::note("wss:// with server_config::tls_cert_file and client_config::add_tls_ca_file");
  const char *tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/libwebsocket-cpp-tls-XXXXXX";
  if (!mkdtemp(dir.data()) || !make_certificates(dir)) {
    CHECK(false, "openssl made a CA and a certificate in " + dir);
    return check::summary();
  }

  journal sj, cj, untrusted;
  ws::handlers echo = check::journaling(sj);
  echo.on_text = [](ws::connection c, std::string_view t) { c.send_text(t); };
  {
    ws::server server("127.0.0.1", 0, echo,
                      ws::server_config().tls_cert_file(dir + "/server.pem", dir + "/server.key"));
    CHECK(server.is_secure(), "a server with a certificate is secure");
    const std::string url = "wss://127.0.0.1:" + std::to_string(server.port()) + "/";

    ws::client client(url, check::journaling(cj),
                      ws::client_config().add_tls_ca_file(dir + "/ca.pem").tls_system_roots(false));
    ws::connection conn = client.connection();
    conn.wait_open(check::wait_time);
    CHECK(conn.is_secure(), "the client's connection runs over TLS");
    conn.send_text("secret");
    CHECK(cj.wait_for("text secret"), "a wss:// round trip");
    conn.close();
    CHECK(cj.wait_for("close 1000 "), "closed with 1000");

    ws::client stranger(url, check::journaling(untrusted), ws::client_config().tls_system_roots(true));
    std::string message;
    ws_status status = check::error_of([&] { stranger.connection().wait_open(check::wait_time); }, &message);
    CHECK(status == WS_ERR_TLS, "a client not trusting the CA: wait_open throws WS_ERR_TLS: " + message);
    CHECK(untrusted.wait_for("close 1015 "), "its on_close has 1015 (close_code::tls_handshake_fail)");

    server.reload_tls_cert_file(dir + "/server.pem", dir + "/server.key");
    ws::client after_reload(url, {}, ws::client_config().add_tls_ca_file(dir + "/ca.pem"));
    after_reload.connection().wait_open(check::wait_time);
    CHECK(after_reload.connection().is_secure(), "reload_tls_cert_file: new connections get the reloaded pair");
    CHECK_THROWS(WS_ERR_TLS, "reload_tls_cert_file with a missing file",
                 server.reload_tls_cert_file(dir + "/missing.pem", dir + "/server.key"));
    ws::server plain("127.0.0.1", 0);
    CHECK_THROWS(WS_ERR_BAD_STATE, "reload_tls_cert_file on a server without TLS",
                 plain.reload_tls_cert_file(dir + "/server.pem", dir + "/server.key"));
  }
  CHECK(std::system(("rm -rf '" + dir + "'").c_str()) == 0, "the temporary directory is removed");
  return check::summary();
}
