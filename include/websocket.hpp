/*
 * websocket.hpp: a header-only C++17 interface to libwebsocket, over the C API
 * of websocket.h, which it includes: everything there stays usable alongside.
 * Not wrapped here (call the C API; each class gives its C handle with
 * native_handle()): messages in parts, the frame codec, the log callback,
 * per-connection user data, listing a connection's or a request's headers
 * (ws_conn_header_at, ws_handshake_header_at), the PEM-text forms of the
 * certificates by server name, client CAs and client certificates, the
 * reloads other than reload_tls_cert_file (ws_server_reload_tls_cert_pem,
 * ws_server_reload_tls_sni_cert_*), the deflate memory level, and the
 * process-wide compression threshold.
 *
 *   ws::handlers echo;
 *   echo.on_text = [](ws::connection conn, std::string_view text) { conn.send_text(text); };
 *   ws::server server("127.0.0.1", 0, echo);          // port 0: any free port
 *
 * Link with -lwebsocket (and -pthread). examples-cpp/tutorial.cpp is a whole
 * program; README.md's "C++" section walks through it.
 *
 * Errors are exceptions. A call that fails throws ws::error, a
 * std::runtime_error whose code() is the ws_status and whose what() is the
 * library's sentence (ws_last_error_message()). Exceptions were chosen over
 * an expected-like result because C++17 has no std::expected, failures are
 * rare (a bad option, a refused connection, a send on a closed connection)
 * and a result that is easy to ignore would hide them. Outcomes that are not
 * failures are return values: a send returns send_result::backpressure when
 * its message was queued but the peer is behind, waiting for a close returns
 * false when time ran out.
 *
 * Callbacks are std::function members of ws::handlers; unset ones are not
 * registered with the library at all. std::function rather than template
 * parameters because the C side keeps one untyped pointer per server or
 * client, so the handlers are type-erased anyway, and a ws::server whose
 * type does not depend on its lambdas can be stored and moved like any
 * value. The cost is one indirect call per event, next to the library's
 * own work per message.
 *
 * A callback must not let an exception escape into C, and cannot: each
 * handler runs inside a catch-all. An exception from a handler is printed on
 * stderr (one line: which handler, the connection's id, what()) and the
 * connection is closed with 1011 (close_code::internal_server_error, reason
 * "internal error"); a throwing on_handshake rejects the request with 500.
 *
 * Lifetimes (the C rules, held by the classes):
 * - ws::server and ws::client own their handle and their handlers, are
 *   move-only, and free both in their destructor. No handler starts after the
 *   destructor returns; outside callbacks none is running either, so what the
 *   handlers capture may go right after. Destroyed inside a callback (any
 *   handler of this header), the library cannot wait there for callbacks
 *   running on other threads, so the handle is freed, and the handlers
 *   destroyed, on a short-lived background thread once they have returned.
 * - ws::connection is a borrowed view (copy it freely), as the ws_conn * of
 *   a C callback: valid until that connection's on_close returns, or for
 *   client::connection() while the client lives (with reconnect, until the
 *   connection is replaced). ws::connection_ref holds a
 *   reference (ws_conn_retain / ws_conn_release) and is valid until it is
 *   destroyed: once the connection has closed, its sends and closes throw
 *   ws::error with WS_ERR_NOT_OPEN (its getters keep answering), and a
 *   moved-from one throws WS_ERR_NULL.
 * - Data given to a handler (std::string_view, bytes_view) is valid only
 *   during the call: copy what you keep.
 * - The configs are copied by the server or client they start, so they may go
 *   right after.
 *
 * Threads (as in C): callbacks run on the connection's I/O thread in
 * dispatch_mode::thread (the default), or inside ws::dispatch() on the thread
 * that calls it in dispatch_mode::poll. One connection's callbacks never
 * overlap and keep their order; with several I/O threads (ws::set_io_threads,
 * WS_IO_THREADS) different connections' callbacks may run at the same time,
 * so the handlers of a server must be safe to call from several threads at
 * once. Every call, sends and closes included, may be made from any thread,
 * callbacks included, and never blocks, except the wait_* calls, which a
 * thread-mode callback must not make, and the destructors of server and
 * client outside callbacks, which wait for their running callbacks. Keep
 * callbacks short.
 */
#ifndef WEBSOCKET_HPP
#define WEBSOCKET_HPP

#include <atomic>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "websocket.h"

namespace ws {

// ------------------------------------------------------------ errors, enums

/// A failed call: code() is the ws_status (WS_ERR_*), what() the library's
/// sentence saying why (ws_last_error_message()).
class error : public std::runtime_error {
 public:
  /// An error with this status and message.
  error(ws_status code, const std::string &message) : std::runtime_error(message), code_(code) {}
  /// The status, a negative WS_ERR_* value.
  ws_status code() const noexcept { return code_; }
  /// The status's name, e.g. "WS_ERR_NOT_OPEN" (ws_status_name).
  const char *name() const noexcept { return ws_status_name(code_); }

 private:
  ws_status code_;
};

/// A close code (RFC 6455 7.4.1), with the values of the C constants WS_OK ...
/// WS_TLS_HANDSHAKE_FAIL. Codes 3000-4999 belong to applications: write them
/// ws::close_code{4000}; a C constant converts the same way, ws::close_code{WS_OK}.
enum class close_code : int {
  ok = WS_OK,                                            ///< 1000: normal closure
  gone = WS_GONE,                                        ///< 1001: going away
  protocol_error = WS_PROTOCOL_ERROR,                    ///< 1002: protocol error
  not_acceptable = WS_NOT_ACCEPTABLE,                    ///< 1003: data it cannot accept
  no_status = WS_NO_STATUS,                              ///< 1005: no code (never sent)
  closed_abnormally = WS_CLOSED_ABNORMALLY,              ///< 1006: no close frame (never sent)
  bad_message = WS_BAD_MESSAGE,                          ///< 1007: e.g. text not UTF-8
  forbidden = WS_FORBIDDEN,                              ///< 1008: policy violation
  message_too_large = WS_MESSAGE_TOO_LARGE,              ///< 1009: message too large
  extensions_not_available = WS_EXTENSIONS_NOT_AVAILABLE,  ///< 1010: extension missing
  internal_server_error = WS_INTERNAL_SERVER_ERROR,      ///< 1011: unexpected condition
  tls_handshake_fail = WS_TLS_HANDSHAKE_FAIL,            ///< 1015: TLS failed (never sent)
};

/// What a send did with a message that it queued (a refused one throws).
enum class send_result : int {
  ok = WS_STATUS_OK,                      ///< queued
  backpressure = WS_STATUS_BACKPRESSURE,  ///< queued, but the peer is behind: wait for on_drain
};

/// Where callbacks run (WS_DISPATCH_*): see "Threads" at the top.
enum class dispatch_mode : int {
  thread = WS_DISPATCH_THREAD,  ///< on the connection's I/O thread (the default)
  poll = WS_DISPATCH_POLL,      ///< inside ws::dispatch(), on the caller's thread
};

/// A connection's state (WS_STATE_*).
enum class conn_state : int {
  connecting = WS_STATE_CONNECTING,  ///< opening handshake under way
  open = WS_STATE_OPEN,              ///< messages flow both ways
  closing = WS_STATE_CLOSING,        ///< close handshake under way; sends are refused
  closed = WS_STATE_CLOSED,          ///< closed
};

/// What happens to a topic's subscriber too slow to take a published message
/// (WS_SLOW_*; server_config::slow_subscriber).
enum class slow_subscriber : int {
  skip = WS_SLOW_SKIP,    ///< it misses the message and stays subscribed (the default)
  close = WS_SLOW_CLOSE,  ///< it is closed with 1008 (close_code::forbidden)
};

namespace detail {

/// Throws the calling thread's last error, with status `code`.
[[noreturn]] inline void throw_last_error(int code) {
  throw error(static_cast<ws_status>(code), ws_last_error_message());
}

/// Returns a status or count `n` of a call, throwing when it is negative.
inline int check(int n) {
  if (n < 0) throw_last_error(n);
  return n;
}

/// Returns a string a call returned, throwing its error when it is NULL.
inline std::string_view check_str(const char *s) {
  if (!s) throw_last_error(ws_last_error_code());
  return s;
}

/// A timeout as the C API's int milliseconds (negative: no limit).
inline int to_int_ms(std::chrono::milliseconds ms) {
  return ms.count() > INT_MAX ? INT_MAX : ms.count() < 0 ? -1 : static_cast<int>(ms.count());
}

/// A duration as the C setters' milliseconds (negative becomes 0: refused by the
/// timeouts, "off" for keepalive).
inline std::uint64_t to_u64_ms(std::chrono::milliseconds ms) {
  return ms.count() < 0 ? 0 : static_cast<std::uint64_t>(ms.count());
}

/// The error of a call on a handle that was moved from.
[[noreturn]] inline void throw_moved_from(const char *what) {
  throw error(WS_ERR_NULL, std::string(what) + " was moved from");
}

}  // namespace detail

// ---------------------------------------------------------------- bytes_view

/// Read-only bytes of binary data (C++17 has no std::span): a pointer and a
/// size, borrowed like std::string_view. Made from a pointer and a size, from
/// any container of std::uint8_t with data() and size() (std::vector,
/// std::array, std::basic_string), or explicitly from a std::string_view.
class bytes_view {
 public:
  /// No bytes.
  constexpr bytes_view() noexcept = default;
  /// `size` bytes at `data`.
  constexpr bytes_view(const std::uint8_t *data, std::size_t size) noexcept : data_(data), size_(size) {}
  /// The bytes of a contiguous container of std::uint8_t.
  template <class Bytes, class = std::enable_if_t<std::is_convertible_v<
                             decltype(std::declval<const Bytes &>().data()), const std::uint8_t *>>>
  constexpr bytes_view(const Bytes &bytes) noexcept : data_(bytes.data()), size_(bytes.size()) {}
  /// The bytes of a string.
  explicit bytes_view(std::string_view s) noexcept
      : data_(reinterpret_cast<const std::uint8_t *>(s.data())), size_(s.size()) {}

  /// The first byte (may be null when empty).
  constexpr const std::uint8_t *data() const noexcept { return data_; }
  /// How many bytes.
  constexpr std::size_t size() const noexcept { return size_; }
  /// True when there are no bytes.
  constexpr bool empty() const noexcept { return size_ == 0; }
  /// Iteration, for range-for and algorithms.
  constexpr const std::uint8_t *begin() const noexcept { return data_; }
  /// Iteration, for range-for and algorithms.
  constexpr const std::uint8_t *end() const noexcept { return data_ + size_; }
  /// The byte at `i` (< size(), unchecked).
  constexpr std::uint8_t operator[](std::size_t i) const noexcept { return data_[i]; }

 private:
  const std::uint8_t *data_ = nullptr;
  std::size_t size_ = 0;
};

// ---------------------------------------------------------------- connection

class connection_ref;

/// A connection, borrowed: what handlers are given, and client::connection().
/// Valid until the connection's on_close returns (a client's: while the
/// client lives, or with reconnect until it is replaced); hold a
/// connection_ref (retain()) to use it longer. Copies
/// are the same connection. Every call may be made from any thread.
class connection {
 public:
  /// Borrows a C handle (not retained).
  explicit connection(ws_conn *conn) noexcept : conn_(conn) {}

  /// Queues a text message (must be UTF-8; WS_ERR_INVALID_UTF8 otherwise).
  /// Throws WS_ERR_NOT_OPEN once closing or closed, WS_ERR_QUEUE_FULL over
  /// the send queue limit (ws_conn_send).
  send_result send_text(std::string_view text) const {
    return sent(ws_conn_send_text(get(), text.data(), text.size()));
  }
  /// Queues a binary message; throws as send_text.
  send_result send_binary(bytes_view data) const {
    return sent(ws_conn_send_binary(get(), data.data(), data.size()));
  }
  /// Queues a ping with up to 125 bytes of payload (WS_ERR_TOO_LARGE otherwise).
  void ping(bytes_view payload = {}) const { detail::check(ws_conn_ping(get(), payload.data(), payload.size())); }
  /// Queues an unsolicited pong (pings are answered by the library).
  void pong(bytes_view payload = {}) const { detail::check(ws_conn_pong(get(), payload.data(), payload.size())); }
  /// Starts the close handshake: `code` 1000-1003, 1007-1011 or 3000-4999
  /// (WS_ERR_INVALID_CLOSE_CODE otherwise), `reason` at most 123 bytes of
  /// UTF-8. on_close follows. Throws WS_ERR_NOT_OPEN if already closing or closed.
  void close(close_code code = close_code::ok, std::string_view reason = {}) const {
    detail::check(ws_conn_close(get(), static_cast<ws_close_code>(code), std::string(reason).c_str()));
  }

  /// Closes at once, without the close handshake: nothing more is sent, the
  /// peer sees the TCP connection end, on_close follows with 1006
  /// (ws_conn_abort). Throws WS_ERR_NOT_OPEN unless open. From any thread.
  void abort() const { detail::check(ws_conn_abort(get())); }
  /// Whether the library answers this connection's pings itself (the
  /// default, see server_config::auto_pong); off, answer with pong() from
  /// on_ping (ws_conn_set_auto_pong). From any thread.
  void auto_pong(bool on) const { detail::check(ws_conn_set_auto_pong(get(), on ? 1 : 0)); }
  /// The largest message accepted from now on (> 0; larger ones fail the
  /// connection with 1009), for this connection only
  /// (ws_conn_set_max_message_size). From any thread.
  void max_message_size(std::uint64_t bytes) const { detail::check(ws_conn_set_max_message_size(get(), bytes)); }

  /// Stops reading from the socket after at most one more message, so that
  /// TCP pushes back on a peer sending faster than you take messages; sends
  /// still go out (ws_conn_pause). From any thread.
  void pause() const { detail::check(ws_conn_pause(get())); }
  /// Reads again after pause() (ws_conn_resume). From any thread.
  void resume() const { detail::check(ws_conn_resume(get())); }

  /// Subscribes a server's connection to `topic` (1 to 1024 bytes): from now
  /// on it gets what server::publish_text / publish_binary publish there.
  /// Subscribing again is no error; closing leaves every topic. Throws
  /// WS_ERR_NOT_OPEN for a closed connection or a client's,
  /// WS_ERR_INVALID_ARGUMENT for a bad name (ws_conn_subscribe). From any thread.
  void subscribe(const std::string &topic) const { detail::check(ws_conn_subscribe(get(), topic.c_str())); }
  /// Unsubscribes the connection from `topic`; no error when it was not
  /// subscribed (ws_conn_unsubscribe). From any thread.
  void unsubscribe(const std::string &topic) const { detail::check(ws_conn_unsubscribe(get(), topic.c_str())); }
  /// True when the connection is subscribed to `topic` (ws_conn_is_subscribed);
  /// throws WS_ERR_INVALID_ARGUMENT for a bad name.
  bool is_subscribed(const std::string &topic) const {
    return detail::check(ws_conn_is_subscribed(get(), topic.c_str())) == 1;
  }

  /// Blocks until the connection is open, at most `timeout` (negative: no
  /// limit); throws why it failed (WS_ERR_CONNECT, WS_ERR_HANDSHAKE, WS_ERR_TLS,
  /// ...) or WS_ERR_TIMEOUT. Not in a thread-mode callback (WS_ERR_BAD_STATE).
  void wait_open(std::chrono::milliseconds timeout) const {
    detail::check(ws_conn_wait_open(get(), detail::to_int_ms(timeout)));
  }
  /// Blocks until the connection is closed, at most `timeout` (negative: no
  /// limit): true when closed, false when time ran out. Its on_close may still
  /// be running when this returns. Not in a thread-mode callback.
  bool wait_closed(std::chrono::milliseconds timeout) const {
    int status = ws_conn_wait_closed(get(), detail::to_int_ms(timeout));
    if (status == WS_ERR_TIMEOUT) return false;
    detail::check(status);
    return true;
  }

  /// The state.
  conn_state state() const { return static_cast<conn_state>(detail::check(ws_conn_state(get()))); }
  /// The close code it closed with (as given to on_close), nothing while not closed.
  std::optional<close_code> closed_with() const {
    int code = detail::check(ws_conn_close_code(get()));
    return code == 0 ? std::nullopt : std::optional<close_code>(static_cast<close_code>(code));
  }
  /// The subprotocol the handshake settled on ("" for none).
  std::string_view subprotocol() const { return detail::check_str(ws_conn_subprotocol(get())); }
  /// The permessage-deflate parameters in use ("" for none).
  std::string_view extensions() const { return detail::check_str(ws_conn_extensions(get())); }
  /// The peer's address, "127.0.0.1:54321" or "[::1]:54321".
  std::string_view peer_address() const { return detail::check_str(ws_conn_peer_address(get())); }
  /// The request path ("/chat").
  std::string_view path() const { return detail::check_str(ws_conn_path(get())); }
  /// The request query without "?" ("" for none).
  std::string_view query() const { return detail::check_str(ws_conn_query(get())); }
  /// The first handshake header the peer sent named `name` (any case), if any.
  std::optional<std::string_view> header(const std::string &name) const {
    const char *value = ws_conn_header(get(), name.c_str());
    return value ? std::optional<std::string_view>(value) : std::nullopt;
  }
  /// True when the connection runs over TLS.
  bool is_secure() const { return detail::check(ws_conn_is_secure(get())) == 1; }
  /// The opening handshake's request as it went over the wire (a client's
  /// as sent, a server's as received), when its config kept it
  /// (keep_handshake_text) and the connection has opened (ws_conn_request_text).
  std::optional<std::string_view> request_text() const {
    const char *text = ws_conn_request_text(get());
    return text ? std::optional<std::string_view>(text) : std::nullopt;
  }
  /// The opening handshake's response as it went over the wire, as
  /// request_text (ws_conn_response_text).
  std::optional<std::string_view> response_text() const {
    const char *text = ws_conn_response_text(get());
    return text ? std::optional<std::string_view>(text) : std::nullopt;
  }
  /// Bytes queued and not yet written to the socket.
  std::size_t buffered_amount() const { return ws_conn_buffered_amount(get()); }
  /// The id of the connection, unique in the process (the log lines' conn_id).
  std::uint64_t id() const { return ws_conn_id(get()); }
  /// What the connection carried so far (ws_conn_get_stats).
  ws_conn_stats stats() const {
    ws_conn_stats out{};
    out.size = sizeof out;
    detail::check(ws_conn_get_stats(get(), &out));
    return out;
  }

  /// A reference that keeps the connection valid after its callbacks.
  connection_ref retain() const;
  /// The C handle (borrowed), for the calls of websocket.h.
  ws_conn *native_handle() const noexcept { return conn_; }

 protected:
  /// The handle, or WS_ERR_NULL when there is none (moved from).
  ws_conn *get() const {
    if (!conn_) detail::throw_moved_from("ws::connection_ref");
    return conn_;
  }
  ws_conn *conn_;  ///< the C handle; null only in a moved-from connection_ref

 private:
  static send_result sent(ws_status status) { return static_cast<send_result>(detail::check(status)); }
};

/// A connection with a reference held (ws_conn_retain): valid, and usable from
/// any thread, until destroyed, whatever became of the connection, its server
/// or its client. Move-only. Once the connection is closed, sends and closes
/// throw WS_ERR_NOT_OPEN; its getters keep answering.
class connection_ref : public connection {
 public:
  /// Takes over a reference the caller holds (from ws_conn_retain, or
  /// ws_server_connections), released by the destructor.
  static connection_ref adopt(ws_conn *retained) noexcept { return connection_ref(retained); }
  /// Releases the reference (ws_conn_release).
  ~connection_ref() { ws_conn_release(conn_); }
  /// Takes the other's reference; the other is left without a connection.
  connection_ref(connection_ref &&other) noexcept : connection(std::exchange(other.conn_, nullptr)) {}
  /// Releases this reference and takes the other's.
  connection_ref &operator=(connection_ref &&other) noexcept {
    if (this != &other) {
      ws_conn_release(conn_);
      conn_ = std::exchange(other.conn_, nullptr);
    }
    return *this;
  }
  connection_ref(const connection_ref &) = delete;
  connection_ref &operator=(const connection_ref &) = delete;

 private:
  explicit connection_ref(ws_conn *retained) noexcept : connection(retained) {}
};

inline connection_ref connection::retain() const { return connection_ref::adopt(ws_conn_retain(get())); }

// ----------------------------------------------------------------- handshake

/// A server's upgrade request, given to on_handshake (borrowed). Answer it
/// once, with accept() or reject(), during on_handshake or later from any
/// thread (a copy stays valid until answered; unanswered requests get 503
/// after the handshake timeout). Its strings stay valid until it is answered.
/// Answer every one, even late: an unanswered request keeps its memory.
class handshake {
 public:
  /// Borrows a C handle.
  explicit handshake(ws_handshake *hs) noexcept : hs_(hs) {}

  /// The request method ("GET").
  std::string_view method() const { return detail::check_str(ws_handshake_method(hs_)); }
  /// The request path ("/chat", still percent-encoded).
  std::string_view path() const { return detail::check_str(ws_handshake_path(hs_)); }
  /// The query without "?" ("" for none).
  std::string_view query() const { return detail::check_str(ws_handshake_query(hs_)); }
  /// The client's address, "ip:port".
  std::string_view peer_address() const { return detail::check_str(ws_handshake_peer_address(hs_)); }
  /// True when the request came over TLS.
  bool is_secure() const { return detail::check(ws_handshake_is_secure(hs_)) == 1; }
  /// The first request header named `name` (any case), if any.
  std::optional<std::string_view> header(const std::string &name) const {
    const char *value = ws_handshake_header(hs_, name.c_str());
    return value ? std::optional<std::string_view>(value) : std::nullopt;
  }
  /// The subprotocols the client offered, in its order.
  std::vector<std::string_view> subprotocols() const {
    std::vector<std::string_view> out;
    for (std::size_t i = 0; const char *name = ws_handshake_subprotocol_at(hs_, i); i++) out.emplace_back(name);
    return out;
  }
  /// Adds a header to the response, whether it accepts or rejects.
  void add_header(const std::string &name, const std::string &value) const {
    detail::check(ws_handshake_add_header(hs_, name.c_str(), value.c_str()));
  }
  /// Accepts the upgrade with the server's own choice of subprotocol.
  void accept() const { detail::check(ws_handshake_accept(hs_, nullptr)); }
  /// Accepts the upgrade with `subprotocol`, one the client offered.
  void accept(const std::string &subprotocol) const {
    detail::check(ws_handshake_accept(hs_, subprotocol.c_str()));
  }
  /// Refuses the upgrade with HTTP `status` (200-599 but 101) and a text body.
  void reject(int status, std::string_view body = {}) const {
    detail::check(
        ws_handshake_reject(hs_, status, reinterpret_cast<const std::uint8_t *>(body.data()), body.size()));
  }
  /// The C handle, for the calls of websocket.h.
  ws_handshake *native_handle() const noexcept { return hs_; }

 private:
  ws_handshake *hs_;
};

// ------------------------------------------------------------------ handlers

/// The callbacks of a server or a client; leave the ones you do not need
/// empty. They run as the C callbacks of ws_callbacks do (see "Threads" at
/// the top); on_close is the last one of every connection, including one that
/// never opened, unless its server or client is destroyed first (then none
/// runs after the destructor). An exception thrown by one is caught: see the
/// top comment.
struct handlers {
  /// The connection is open.
  std::function<void(connection)> on_open;
  /// A text message arrived (valid UTF-8). With only on_binary set, text
  /// messages are dropped (and the other way round).
  std::function<void(connection, std::string_view)> on_text;
  /// A binary message arrived.
  std::function<void(connection, bytes_view)> on_binary;
  /// A ping arrived (the library answers it).
  std::function<void(connection, bytes_view)> on_ping;
  /// A pong arrived.
  std::function<void(connection, bytes_view)> on_pong;
  /// The connection closed: the peer's code (no_status when its close frame
  /// had none, closed_abnormally without a close frame) and reason.
  std::function<void(connection, close_code, std::string_view)> on_close;
  /// Something failed (connect, handshake, protocol, I/O, timeout); on_close follows.
  std::function<void(connection, const error &)> on_error;
  /// After a send returned send_result::backpressure, the queue has drained
  /// to the low-water mark: sending may go on.
  std::function<void(connection)> on_drain;
  /// Servers only: an upgrade request arrived; answer it (see handshake).
  /// Unset, the server accepts every request its config allows.
  std::function<void(handshake)> on_handshake;
  /// Reconnecting clients only (client_config::reconnect): the connection
  /// was lost (its on_close came just before) and reconnect attempt number
  /// `attempt` will connect after `delay`. Return true to let it go ahead,
  /// false to cancel it and every later one (a handler that throws cancels
  /// too). Unset, every attempt goes ahead.
  std::function<bool(connection, std::uint32_t attempt, std::chrono::milliseconds delay)> on_reconnect;
  /// Reconnecting clients only: attempt number `attempt` opened the client's
  /// new connection (its on_open came just before): subscribe again here.
  std::function<void(connection, std::uint32_t attempt)> on_reconnected;
};

namespace detail {

/// How many handlers the calling thread is inside (a handler may call
/// ws::dispatch, which runs others): the destructors of server and client
/// need to know whether the library can wait for callbacks here.
inline thread_local int callback_depth = 0;

/// What a server or client gives the C side as user_data: its handlers, and
/// whether they may still run.
struct endpoint {
  handlers on;                        ///< the application's callbacks
  std::atomic<bool> dropped{false};   ///< set when the owner is gone: run no handler
};

/// Closes the connection of a handler that threw with 1011, and says so on stderr.
inline void handler_threw(const char *handler, ws_conn *conn, const char *what) noexcept {
  bool closing = ws_conn_close(conn, WS_INTERNAL_SERVER_ERROR, "internal error") == WS_STATUS_OK;
  std::fprintf(stderr, "ws: %s of connection %llu threw: %s%s\n", handler,
               static_cast<unsigned long long>(ws_conn_id(conn)), what, closing ? " (closing it with 1011)" : "");
}

/// Runs `call` (a handler of the endpoint `user_data`) unless the endpoint was
/// dropped; `failed(what)` handles an exception it throws.
template <class Call, class Failed>
void run(void *user_data, Call &&call, Failed &&failed) noexcept {
  auto *ep = static_cast<endpoint *>(user_data);
  if (ep->dropped.load()) return;
  ++callback_depth;
  try {
    call(ep->on);
  } catch (const std::exception &e) {
    failed(e.what());
  } catch (...) {
    failed("an exception not derived from std::exception");
  }
  --callback_depth;
}

/// Runs a handler of connection `conn` (see run).
template <class Call>
void run_for(void *user_data, ws_conn *conn, const char *handler, Call &&call) noexcept {
  run(user_data, call, [&](const char *what) { handler_threw(handler, conn, what); });
}

// The C callbacks (ws_callbacks), one per handler: each wraps its arguments in
// the C++ types and runs the handler through run_for (on_handshake: run).
inline void on_open(void *ud, ws_conn *c) {
  run_for(ud, c, "on_open", [&](const handlers &h) { h.on_open(connection(c)); });
}
inline void on_message(void *ud, ws_conn *c, ws_message_type kind, const std::uint8_t *data, std::size_t len) {
  if (kind == WS_MESSAGE_TEXT) {
    run_for(ud, c, "on_text", [&](const handlers &h) {
      if (h.on_text) h.on_text(connection(c), std::string_view(reinterpret_cast<const char *>(data), len));
    });
  } else {
    run_for(ud, c, "on_binary", [&](const handlers &h) {
      if (h.on_binary) h.on_binary(connection(c), bytes_view(data, len));
    });
  }
}
inline void on_ping(void *ud, ws_conn *c, const std::uint8_t *data, std::size_t len) {
  run_for(ud, c, "on_ping", [&](const handlers &h) { h.on_ping(connection(c), bytes_view(data, len)); });
}
inline void on_pong(void *ud, ws_conn *c, const std::uint8_t *data, std::size_t len) {
  run_for(ud, c, "on_pong", [&](const handlers &h) { h.on_pong(connection(c), bytes_view(data, len)); });
}
inline void on_close(void *ud, ws_conn *c, ws_close_code code, const char *reason) {
  run_for(ud, c, "on_close", [&](const handlers &h) {
    h.on_close(connection(c), static_cast<close_code>(code), reason ? reason : "");
  });
}
inline void on_error(void *ud, ws_conn *c, ws_status status, const char *message) {
  run_for(ud, c, "on_error", [&](const handlers &h) { h.on_error(connection(c), error(status, message ? message : "")); });
}
inline void on_drain(void *ud, ws_conn *c) {
  run_for(ud, c, "on_drain", [&](const handlers &h) { h.on_drain(connection(c)); });
}
inline void on_handshake(void *ud, ws_handshake *hs) {
  run(ud, [&](const handlers &h) { h.on_handshake(handshake(hs)); },
      [&](const char *what) {
        std::fprintf(stderr, "ws: on_handshake threw: %s (rejecting the request with 500)\n", what);
        (void)ws_handshake_reject(hs, 500, nullptr, 0);
      });
}

inline int on_reconnect(void *ud, ws_conn *c, std::uint32_t attempt, std::uint64_t delay_ms) {
  bool go = true;
  run(ud,
      [&](const handlers &h) {
        go = h.on_reconnect(connection(c), attempt, std::chrono::milliseconds(static_cast<std::int64_t>(delay_ms)));
      },
      [&](const char *what) {
        std::fprintf(stderr, "ws: on_reconnect threw: %s (cancelling the attempt)\n", what);
        go = false;
      });
  return go ? 0 : 1;
}
inline void on_reconnected(void *ud, ws_conn *c, std::uint32_t attempt) {
  run_for(ud, c, "on_reconnected", [&](const handlers &h) { h.on_reconnected(connection(c), attempt); });
}

/// The C callbacks for the handlers that are set.
inline ws_callbacks callbacks_for(const handlers &h) {
  ws_callbacks cb = WS_CALLBACKS_INIT;
  if (h.on_open) cb.on_open = on_open;
  if (h.on_text || h.on_binary) cb.on_message = on_message;
  if (h.on_ping) cb.on_ping = on_ping;
  if (h.on_pong) cb.on_pong = on_pong;
  if (h.on_close) cb.on_close = on_close;
  if (h.on_error) cb.on_error = on_error;
  if (h.on_drain) cb.on_drain = on_drain;
  if (h.on_handshake) cb.on_handshake = on_handshake;
  if (h.on_reconnect) cb.on_reconnect = on_reconnect;
  if (h.on_reconnected) cb.on_reconnected = on_reconnected;
  return cb;
}

/// Frees a server or client `handle` with `free_handle`, then its endpoint:
/// at once outside callbacks, where the library waits for running callbacks
/// before it returns; from inside a callback, where it cannot, on a thread
/// of its own that it can wait on (see "Lifetimes" at the top).
template <class Handle>
void free_endpoint(Handle *handle, void (*free_handle)(Handle *), std::unique_ptr<endpoint> ep) noexcept {
  if (callback_depth == 0) {
    free_handle(handle);
    return;
  }
  ep->dropped.store(true);
  try {
    std::thread([handle, free_handle, doomed = ep.get()] {
      free_handle(handle);
      delete doomed;
    }).detach();
    ep.release();
  } catch (...) {  // no thread to be had: stop the callbacks, keep the handlers
    free_handle(handle);
    ep.release();
  }
}

}  // namespace detail

// ------------------------------------------------------------------- configs

/// Options of a server, set with fluent setters that throw ws::error
/// (WS_ERR_INVALID_ARGUMENT, WS_ERR_TLS ...) for a value the library refuses.
/// Each is one ws_server_config_* call of websocket.h, which has its details
/// and defaults. Move-only.
class server_config {
 public:
  /// The defaults.
  server_config() : cfg_(ws_server_config_new(), ws_server_config_free) {
    if (!cfg_) throw std::bad_alloc();
  }

  /// Where callbacks run.
  server_config &dispatch(dispatch_mode mode) { return set(ws_server_config_set_dispatch(get(), static_cast<int>(mode))); }
  /// Largest message accepted (larger ones fail the connection with 1009).
  server_config &max_message_size(std::uint64_t bytes) { return set(ws_server_config_set_max_message_size(get(), bytes)); }
  /// Most frames one message may be made of (0: no limit).
  server_config &max_fragments(std::uint64_t count) { return set(ws_server_config_set_max_fragments(get(), count)); }
  /// Most bytes queued per connection; sends beyond throw WS_ERR_QUEUE_FULL.
  server_config &send_queue_limit(std::uint64_t bytes) { return set(ws_server_config_set_send_queue_limit(get(), bytes)); }
  /// Flow control: backpressure over `high` bytes queued, on_drain at `low`.
  server_config &send_watermarks(std::uint64_t low, std::uint64_t high) {
    return set(ws_server_config_set_send_watermarks(get(), low, high));
  }
  /// Time a client has to complete the opening handshake.
  server_config &handshake_timeout(std::chrono::milliseconds t) {
    return set(ws_server_config_set_handshake_timeout_ms(get(), detail::to_u64_ms(t)));
  }
  /// Time the peer has to answer a close frame.
  server_config &close_timeout(std::chrono::milliseconds t) {
    return set(ws_server_config_set_close_timeout_ms(get(), detail::to_u64_ms(t)));
  }
  /// Pings a client silent this long; fails it when silent as long again (0: off).
  server_config &keepalive(std::chrono::milliseconds t) {
    return set(ws_server_config_set_keepalive_ms(get(), detail::to_u64_ms(t)));
  }
  /// Most open connections; further requests get 503.
  server_config &max_connections(std::uint64_t max) { return set(ws_server_config_set_max_connections(get(), max)); }
  /// Listens with SO_REUSEPORT: servers that all set it share one port.
  server_config &reuse_port(bool on = true) { return set(ws_server_config_set_reuse_port(get(), on ? 1 : 0)); }
  /// Most connections at once still in the opening handshake.
  server_config &max_handshakes(std::uint64_t max) { return set(ws_server_config_set_max_handshakes(get(), max)); }
  /// The server's memory budgets, received and to send, over all its connections.
  server_config &memory_budget(std::size_t inbound, std::size_t outbound) {
    return set(ws_server_config_set_memory_budget(get(), inbound, outbound));
  }
  /// What happens to a topic's subscriber whose send queue cannot take a
  /// published message: it misses it (slow_subscriber::skip, the default) or
  /// is closed with 1008 (slow_subscriber::close).
  server_config &slow_subscriber(ws::slow_subscriber policy) {
    return set(ws_server_config_set_slow_subscriber(get(), static_cast<ws_slow_subscriber>(policy)));
  }
  /// Whether the library answers pings itself (default on); off, on_ping
  /// answers with connection::pong.
  server_config &auto_pong(bool on) { return set(ws_server_config_set_auto_pong(get(), on ? 1 : 0)); }
  /// Keeps each connection's handshake text for connection::request_text
  /// and response_text (off by default: a few hundred bytes per connection).
  server_config &keep_handshake_text(bool on = true) {
    return set(ws_server_config_set_keep_handshake_text(get(), on ? 1 : 0));
  }
  /// Accepts permessage-deflate from clients that offer it.
  server_config &deflate(bool on = true) { return set(ws_server_config_set_deflate(get(), on)); }
  /// Resets the compression contexts after each message (turns deflate on).
  server_config &deflate_no_context_takeover(bool server_side, bool client_side) {
    return set(ws_server_config_set_deflate_no_context_takeover(get(), server_side, client_side));
  }
  /// Largest LZ77 windows, 9 to 15 bits (turns deflate on).
  server_config &deflate_max_window_bits(int server_bits, int client_bits) {
    return set(ws_server_config_set_deflate_max_window_bits(get(), server_bits, client_bits));
  }
  /// zlib compression level, 0 to 9 (turns deflate on).
  server_config &deflate_level(int level) { return set(ws_server_config_set_deflate_level(get(), level)); }
  /// Messages smaller than this go uncompressed.
  server_config &compression_threshold(std::uint64_t bytes) {
    return set(ws_server_config_set_compression_threshold(get(), bytes));
  }
  /// Speaks TLS only, with this certificate chain and key (PEM files).
  server_config &tls_cert_file(const std::string &cert_file, const std::string &key_file) {
    return set(ws_server_config_set_tls_cert_file(get(), cert_file.c_str(), key_file.c_str()));
  }
  /// Speaks TLS only, with this certificate chain and key (PEM text).
  server_config &tls_cert_pem(std::string_view cert_pem, std::string_view key_pem) {
    return set(ws_server_config_set_tls_cert_pem(get(), bytes_view(cert_pem).data(), cert_pem.size(),
                                                 bytes_view(key_pem).data(), key_pem.size()));
  }
  /// Presents this pair (PEM files) to clients asking for `hostname` (SNI).
  server_config &add_tls_sni_cert_file(const std::string &hostname, const std::string &cert_file,
                                       const std::string &key_file) {
    return set(ws_server_config_add_tls_sni_cert_file(get(), hostname.c_str(), cert_file.c_str(), key_file.c_str()));
  }
  /// Asks clients for a certificate issued by the CAs in this PEM file (mutual TLS).
  server_config &add_tls_client_ca_file(const std::string &ca_file) {
    return set(ws_server_config_add_tls_client_ca_file(get(), ca_file.c_str()));
  }
  /// With client CAs: lets clients without a certificate in.
  server_config &tls_client_cert_optional(bool optional) {
    return set(ws_server_config_set_tls_client_cert_optional(get(), optional));
  }
  /// Adds a subprotocol the server speaks (preferred first).
  server_config &add_subprotocol(const std::string &name) {
    return set(ws_server_config_add_subprotocol(get(), name.c_str()));
  }
  /// Adds an origin to the allow-list (then other origins get 403).
  server_config &add_allowed_origin(const std::string &origin) {
    return set(ws_server_config_add_allowed_origin(get(), origin.c_str()));
  }
  /// Serves the files of this directory to plain HTTP requests.
  server_config &static_dir(const std::string &path) { return set(ws_server_config_set_static_dir(get(), path.c_str())); }
  /// The response to plain HTTP requests when no static directory is set.
  server_config &http_response(int status, const std::string &content_type, std::string_view body) {
    return set(ws_server_config_set_http_response(get(), status, content_type.c_str(), bytes_view(body).data(),
                                                  body.size()));
  }

  /// The C handle, for the setters of websocket.h not wrapped here.
  ws_server_config *native_handle() const noexcept { return cfg_.get(); }

 private:
  ws_server_config *get() const {
    if (!cfg_) detail::throw_moved_from("ws::server_config");
    return cfg_.get();
  }
  server_config &set(ws_status status) {
    detail::check(status);
    return *this;
  }
  std::unique_ptr<ws_server_config, void (*)(ws_server_config *)> cfg_;
};

/// Options of a client, set as server_config's are; each is one
/// ws_client_config_* call of websocket.h. Move-only.
class client_config {
 public:
  /// The defaults.
  client_config() : cfg_(ws_client_config_new(), ws_client_config_free) {
    if (!cfg_) throw std::bad_alloc();
  }

  /// Where callbacks run.
  client_config &dispatch(dispatch_mode mode) { return set(ws_client_config_set_dispatch(get(), static_cast<int>(mode))); }
  /// Largest message accepted (larger ones fail the connection with 1009).
  client_config &max_message_size(std::uint64_t bytes) { return set(ws_client_config_set_max_message_size(get(), bytes)); }
  /// Most frames one message may be made of (0: no limit).
  client_config &max_fragments(std::uint64_t count) { return set(ws_client_config_set_max_fragments(get(), count)); }
  /// Most bytes queued; sends beyond throw WS_ERR_QUEUE_FULL.
  client_config &send_queue_limit(std::uint64_t bytes) { return set(ws_client_config_set_send_queue_limit(get(), bytes)); }
  /// Flow control: backpressure over `high` bytes queued, on_drain at `low`.
  client_config &send_watermarks(std::uint64_t low, std::uint64_t high) {
    return set(ws_client_config_set_send_watermarks(get(), low, high));
  }
  /// Time allowed to make the TCP connection.
  client_config &connect_timeout(std::chrono::milliseconds t) {
    return set(ws_client_config_set_connect_timeout_ms(get(), detail::to_u64_ms(t)));
  }
  /// Time allowed for the TLS and WebSocket handshakes.
  client_config &handshake_timeout(std::chrono::milliseconds t) {
    return set(ws_client_config_set_handshake_timeout_ms(get(), detail::to_u64_ms(t)));
  }
  /// Time the server has to answer a close frame.
  client_config &close_timeout(std::chrono::milliseconds t) {
    return set(ws_client_config_set_close_timeout_ms(get(), detail::to_u64_ms(t)));
  }
  /// Pings a server silent this long; fails it when silent as long again (0: off).
  client_config &keepalive(std::chrono::milliseconds t) {
    return set(ws_client_config_set_keepalive_ms(get(), detail::to_u64_ms(t)));
  }
  /// Adds a header to the opening request.
  client_config &add_header(const std::string &name, const std::string &value) {
    return set(ws_client_config_add_header(get(), name.c_str(), value.c_str()));
  }
  /// Offers a subprotocol (preferred first); the server must choose one.
  client_config &add_subprotocol(const std::string &name) {
    return set(ws_client_config_add_subprotocol(get(), name.c_str()));
  }
  /// The Origin header to send.
  client_config &origin(const std::string &origin) { return set(ws_client_config_set_origin(get(), origin.c_str())); }
  /// The HTTP proxy: "" for none, "http://[user:password@]host[:port]".
  client_config &proxy(const std::string &url) { return set(ws_client_config_set_proxy(get(), url.c_str())); }
  /// Whether the library answers pings itself (default on); off, on_ping
  /// answers with connection::pong.
  client_config &auto_pong(bool on) { return set(ws_client_config_set_auto_pong(get(), on ? 1 : 0)); }
  /// Keeps the connection's handshake text for connection::request_text
  /// and response_text (off by default).
  client_config &keep_handshake_text(bool on = true) {
    return set(ws_client_config_set_keep_handshake_text(get(), on ? 1 : 0));
  }
  /// Offers permessage-deflate.
  client_config &deflate(bool on = true) { return set(ws_client_config_set_deflate(get(), on)); }
  /// Resets the compression contexts after each message (turns deflate on).
  client_config &deflate_no_context_takeover(bool server_side, bool client_side) {
    return set(ws_client_config_set_deflate_no_context_takeover(get(), server_side, client_side));
  }
  /// Largest LZ77 windows, 9 to 15 bits (turns deflate on).
  client_config &deflate_max_window_bits(int server_bits, int client_bits) {
    return set(ws_client_config_set_deflate_max_window_bits(get(), server_bits, client_bits));
  }
  /// zlib compression level, 0 to 9 (turns deflate on).
  client_config &deflate_level(int level) { return set(ws_client_config_set_deflate_level(get(), level)); }
  /// Reconnects when the connection fails or is lost, after a delay between
  /// half and all of `initial` doubled per attempt in a row, at most `max`;
  /// at most `max_tries` attempts in a row (0: no limit). Which closes
  /// reconnect: ws_client_config_set_reconnect. `initial` 0 turns it off.
  client_config &reconnect(std::chrono::milliseconds initial = std::chrono::milliseconds(WS_RECONNECT_INITIAL_DELAY_MS),
                           std::chrono::milliseconds max = std::chrono::milliseconds(WS_RECONNECT_MAX_DELAY_MS),
                           std::uint32_t max_tries = 0) {
    return set(ws_client_config_set_reconnect(get(), detail::to_u64_ms(initial), detail::to_u64_ms(max), max_tries));
  }
  /// Messages smaller than this go uncompressed.
  client_config &compression_threshold(std::uint64_t bytes) {
    return set(ws_client_config_set_compression_threshold(get(), bytes));
  }
  /// Trusts the CA certificates of this PEM file for wss://, besides the system's.
  client_config &add_tls_ca_file(const std::string &ca_file) {
    return set(ws_client_config_add_tls_ca_file(get(), ca_file.c_str()));
  }
  /// Trusts the CA certificates of this PEM text for wss://, besides the system's.
  client_config &add_tls_ca_pem(std::string_view ca_pem) {
    return set(ws_client_config_add_tls_ca_pem(get(), bytes_view(ca_pem).data(), ca_pem.size()));
  }
  /// Whether to trust the system's CA store (the default) besides the added CAs.
  client_config &tls_system_roots(bool use_system) { return set(ws_client_config_set_tls_system_roots(get(), use_system)); }
  /// A client certificate and key (PEM files) for servers that ask for one.
  client_config &tls_client_cert_file(const std::string &cert_file, const std::string &key_file) {
    return set(ws_client_config_set_tls_client_cert_file(get(), cert_file.c_str(), key_file.c_str()));
  }
  /// DANGEROUS: accepts any server certificate (see the C call); tests only.
  client_config &dangerous_disable_tls_verification() {
    return set(ws_client_config_dangerous_disable_tls_verification(get()));
  }

  /// The C handle, for the setters of websocket.h not wrapped here.
  ws_client_config *native_handle() const noexcept { return cfg_.get(); }

 private:
  ws_client_config *get() const {
    if (!cfg_) detail::throw_moved_from("ws::client_config");
    return cfg_.get();
  }
  client_config &set(ws_status status) {
    detail::check(status);
    return *this;
  }
  std::unique_ptr<ws_client_config, void (*)(ws_client_config *)> cfg_;
};

// -------------------------------------------------------------------- server

/// A listening server (ws_server_listen) and its handlers. Move-only; the
/// destructor closes every connection with 1001 and frees the server (see
/// "Lifetimes" at the top). A moved-from server throws WS_ERR_NULL.
class server {
 public:
  /// Listens on `host` ("127.0.0.1", "::1", "0.0.0.0", a name) and `port`
  /// (0: a free one, see port()); bound when this returns. Throws ws::error
  /// (address in use, bad host, a config the handlers do not fit ...).
  server(const std::string &host, std::uint16_t port, handlers on = {}, const server_config &config = server_config())
      : ep_(new detail::endpoint{std::move(on)}) {
    if (!config.native_handle()) detail::throw_moved_from("ws::server_config");
    ws_callbacks cb = detail::callbacks_for(ep_->on);
    server_ = ws_server_listen(host.c_str(), port, config.native_handle(), &cb, ep_.get());
    if (!server_) detail::throw_last_error(ws_last_error_code());
  }
  /// Serves on a TCP socket you already bound and put in the listening
  /// state (ws_server_listen_fd): the server works on a duplicate of `fd`
  /// (close yours when you like; the socket becomes non-blocking). TLS comes
  /// from `config`. Throws WS_ERR_INVALID_ARGUMENT when `fd` is no listening
  /// TCP socket.
  static server adopt(int fd, handlers on = {}, const server_config &config = server_config()) {
    return server(fd, std::move(on), config);
  }
  /// Stops and frees the server: ws_server_free.
  ~server() { reset(); }
  /// Takes the other's server; the other is left without one.
  server(server &&other) noexcept : server_(std::exchange(other.server_, nullptr)), ep_(std::move(other.ep_)) {}
  /// Frees this server and takes the other's.
  server &operator=(server &&other) noexcept {
    if (this != &other) {
      reset();
      server_ = std::exchange(other.server_, nullptr);
      ep_ = std::move(other.ep_);
    }
    return *this;
  }
  server(const server &) = delete;
  server &operator=(const server &) = delete;

  /// The port it listens on.
  std::uint16_t port() const { return ws_server_port(get()); }
  /// True when it speaks TLS.
  bool is_secure() const { return detail::check(ws_server_is_secure(get())) == 1; }
  /// Connections past the opening handshake and not yet closed.
  std::size_t connection_count() const { return ws_server_connection_count(get()); }
  /// Those connections, each with a reference held.
  std::vector<connection_ref> connections() const {
    std::vector<ws_conn *> raw;
    for (;;) {
      std::size_t n = static_cast<std::size_t>(detail::check(ws_server_connections(get(), raw.data(), raw.size())));
      if (n <= raw.size()) {
        raw.resize(n);
        break;
      }
      for (ws_conn *c : raw) ws_conn_release(c);  // more came meanwhile: again, with room for all
      raw.assign(n, nullptr);
    }
    std::vector<connection_ref> out;
    out.reserve(raw.size());
    for (ws_conn *c : raw) out.push_back(connection_ref::adopt(c));
    return out;
  }
  /// Queues a text message to every open connection; returns how many took it.
  int broadcast_text(std::string_view text) const {
    return detail::check(ws_server_broadcast(get(), WS_MESSAGE_TEXT, bytes_view(text).data(), text.size()));
  }
  /// Queues a binary message to every open connection; returns how many took it.
  int broadcast_binary(bytes_view data) const {
    return detail::check(ws_server_broadcast(get(), WS_MESSAGE_BINARY, data.data(), data.size()));
  }
  /// Queues a text message (UTF-8) to every connection subscribed to `topic`
  /// (connection::subscribe), encoded once for all; returns how many
  /// subscribers it went to (0 when none). Never blocks; from any thread,
  /// handlers included. Throws WS_ERR_INVALID_ARGUMENT for a bad topic name
  /// (empty, over 1024 bytes), WS_ERR_INVALID_UTF8 for text that is not UTF-8
  /// (ws_server_publish). A subscriber too slow to take it misses it or is
  /// closed: server_config::slow_subscriber.
  int publish_text(const std::string &topic, std::string_view text) const {
    return detail::check(
        ws_server_publish(get(), topic.c_str(), WS_MESSAGE_TEXT, bytes_view(text).data(), text.size()));
  }
  /// Queues a binary message to every connection subscribed to `topic`; as publish_text.
  int publish_binary(const std::string &topic, bytes_view data) const {
    return detail::check(ws_server_publish(get(), topic.c_str(), WS_MESSAGE_BINARY, data.data(), data.size()));
  }
  /// How many connections are subscribed to `topic` (0 for a bad name).
  std::size_t subscriber_count(const std::string &topic) const {
    return ws_server_subscriber_count(get(), topic.c_str());
  }
  /// Stops accepting and closes every connection with 1001, gracefully; the
  /// handlers keep running until those have closed.
  void stop() const { detail::check(ws_server_stop(get())); }
  /// Blocks until no connection is open, at most `timeout` (negative: no
  /// limit): true then, false when time ran out. Not in a thread-mode callback.
  bool wait_closed(std::chrono::milliseconds timeout) const {
    int status = ws_server_wait_closed(get(), detail::to_int_ms(timeout));
    if (status == WS_ERR_TIMEOUT) return false;
    detail::check(status);
    return true;
  }
  /// Replaces the certificate and key (PEM files) of a running TLS server.
  void reload_tls_cert_file(const std::string &cert_file, const std::string &key_file) const {
    detail::check(ws_server_reload_tls_cert_file(get(), cert_file.c_str(), key_file.c_str()));
  }
  /// What the server counted since it started (ws_server_get_stats).
  ws_server_stats stats() const {
    ws_server_stats out{};
    out.size = sizeof out;
    detail::check(ws_server_get_stats(get(), &out));
    return out;
  }
  /// The C handle (still owned by this object), for the calls of websocket.h.
  ws_server *native_handle() const noexcept { return server_; }

 private:
  server(int fd, handlers on, const server_config &config) : ep_(new detail::endpoint{std::move(on)}) {
    if (!config.native_handle()) detail::throw_moved_from("ws::server_config");
    ws_callbacks cb = detail::callbacks_for(ep_->on);
    server_ = ws_server_listen_fd(fd, config.native_handle(), &cb, ep_.get());
    if (!server_) detail::throw_last_error(ws_last_error_code());
  }
  ws_server *get() const {
    if (!server_) detail::throw_moved_from("ws::server");
    return server_;
  }
  void reset() noexcept {
    if (server_) detail::free_endpoint(std::exchange(server_, nullptr), ws_server_free, std::move(ep_));
  }
  ws_server *server_ = nullptr;
  std::unique_ptr<detail::endpoint> ep_;
};

// -------------------------------------------------------------------- client

/// A client (ws_client_connect) and its handlers: its connection, and with
/// client_config::reconnect the ones that replace it when it is lost.
/// Move-only; the destructor closes the connection with 1001 if it is still
/// open and frees the client (see "Lifetimes" at the top). A moved-from
/// client throws WS_ERR_NULL.
class client {
 public:
  /// Starts connecting to `url` (ws://host[:port][/path][?query] or wss://)
  /// and returns at once: on_open, or on_error and on_close, tell the outcome;
  /// or wait with connection().wait_open(). Throws ws::error at once for a
  /// malformed URL (WS_ERR_BAD_URL) or TLS options that cannot work.
  explicit client(const std::string &url, handlers on = {}, const client_config &config = client_config())
      : ep_(new detail::endpoint{std::move(on)}) {
    if (!config.native_handle()) detail::throw_moved_from("ws::client_config");
    ws_callbacks cb = detail::callbacks_for(ep_->on);
    client_ = ws_client_connect(url.c_str(), config.native_handle(), &cb, ep_.get());
    if (!client_) detail::throw_last_error(ws_last_error_code());
  }
  /// Closes the connection with 1001 if open and frees the client: ws_client_free.
  ~client() { reset(); }
  /// Takes the other's client; the other is left without one.
  client(client &&other) noexcept : client_(std::exchange(other.client_, nullptr)), ep_(std::move(other.ep_)) {}
  /// Frees this client and takes the other's.
  client &operator=(client &&other) noexcept {
    if (this != &other) {
      reset();
      client_ = std::exchange(other.client_, nullptr);
      ep_ = std::move(other.ep_);
    }
    return *this;
  }
  client(const client &) = delete;
  client &operator=(const client &) = delete;

  /// The client's connection, borrowed: valid while this client lives, or
  /// with reconnect until on_reconnect for it has returned (see
  /// ws_client_conn). From other threads, prefer send_text, send_binary and
  /// close here, or hold it with retained_connection().
  ws::connection connection() const { return ws::connection(ws_client_conn(get())); }
  /// The client's connection, held: valid until destroyed, whatever the
  /// client does meanwhile.
  connection_ref retained_connection() const { return connection_ref::adopt(ws_client_retain_conn(get())); }
  /// Queues a text message on the client's connection, from any thread;
  /// throws WS_ERR_NOT_OPEN while it has none open (reconnecting): nothing
  /// is kept for the next connection (ws_client_send).
  send_result send_text(std::string_view text) const {
    return sent(ws_client_send(get(), WS_MESSAGE_TEXT, reinterpret_cast<const std::uint8_t *>(text.data()),
                               text.size()));
  }
  /// Queues a binary message on the client's connection; throws as send_text.
  send_result send_binary(bytes_view data) const {
    return sent(ws_client_send(get(), WS_MESSAGE_BINARY, data.data(), data.size()));
  }
  /// Closes the client for good: no more reconnect attempts, and the
  /// connection, if open, starts the close handshake (ws_client_close).
  /// Throws WS_ERR_NOT_OPEN when the client had already ended.
  void close(close_code code = close_code::ok, std::string_view reason = {}) const {
    detail::check(ws_client_close(get(), static_cast<ws_close_code>(code), std::string(reason).c_str()));
  }
  /// True from the close of a connection that another attempt will replace
  /// until a connection opens again or the client stops.
  bool reconnecting() const { return detail::check(ws_client_is_reconnecting(get())) == 1; }
  /// The C handle (still owned by this object), for the calls of websocket.h.
  ws_client *native_handle() const noexcept { return client_; }

 private:
  ws_client *get() const {
    if (!client_) detail::throw_moved_from("ws::client");
    return client_;
  }
  void reset() noexcept {
    if (client_) detail::free_endpoint(std::exchange(client_, nullptr), ws_client_free, std::move(ep_));
  }
  static send_result sent(ws_status status) { return static_cast<send_result>(detail::check(status)); }
  ws_client *client_ = nullptr;
  std::unique_ptr<detail::endpoint> ep_;
};

// ------------------------------------------------------- process-wide calls

/// The library's version, "MAJOR.MINOR.PATCH".
inline std::string_view version() { return ws_version(); }
/// Starts the I/O threads now instead of on first use.
inline void init() { detail::check(ws_init()); }
/// How many I/O threads to run (0: one per CPU); before the first server,
/// client or init() (WS_IO_THREADS decides otherwise).
inline void set_io_threads(unsigned count) { detail::check(ws_set_io_threads(count)); }
/// How many I/O threads run (starting them).
inline unsigned io_threads() { return static_cast<unsigned>(detail::check(ws_io_threads())); }
/// The process-wide memory budgets, received and to send.
inline void set_memory_budget(std::size_t inbound, std::size_t outbound) {
  detail::check(ws_set_memory_budget(inbound, outbound));
}
/// The bound of the polled event queue; before it is first used.
inline void set_event_queue_limit(std::size_t bytes) { detail::check(ws_event_queue_set_limit(bytes)); }
/// The descriptor readable while polled events wait for dispatch() (owned by
/// the library: wait on it, never close it).
inline int event_fd() { return detail::check(ws_event_fd()); }
/// Runs the handlers of up to `max_events` queued events (all that are queued
/// when <= 0) on this thread; returns how many events it took (0 when none
/// waited: it never blocks). The handlers' exceptions do not come out of it
/// (see the top comment).
inline int dispatch(int max_events = 0) { return detail::check(ws_dispatch(max_events)); }

}  // namespace ws

#endif  // WEBSOCKET_HPP
