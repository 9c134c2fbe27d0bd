// check.hpp: the small test framework of the C++ tests (tests/cpp/), in the
// shape of tests/c/check.h: each CHECK prints "ok N - ..." or "FAIL N - ...
// [file:line: expr]", and summary() prints the one line "N passed, M failed"
// that tests/run-c-tests.sh reads, and gives the exit status.
//
// Also here: a journal, where handlers write one line per event ("open",
// "text hello", "close 4000 bye") and the test waits for lines; handlers that
// write every event to a journal; and small helpers.
#ifndef WS_TEST_CHECK_HPP
#define WS_TEST_CHECK_HPP

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "websocket.hpp"

namespace check {

using namespace std::chrono_literals;

/// Generous: a loaded 2-core machine, maybe under valgrind.
constexpr std::chrono::milliseconds wait_time = 10s;

inline int passed = 0, failed = 0;
inline std::mutex lock;

/// Records one check; returns `ok`.
inline bool record(bool ok, const std::string &what, const char *file, int line, const char *expr) {
  std::lock_guard<std::mutex> guard(lock);
  (ok ? passed : failed)++;
  if (ok)
    std::printf("ok   %d - %s\n", passed + failed, what.c_str());
  else
    std::printf("FAIL %d - %s  [%s:%d: %s]\n", passed + failed, what.c_str(), file, line, expr);
  std::fflush(stdout);
  return ok;
}

/// Prints a comment line.
inline void note(const std::string &text) {
  std::printf("# %s\n", text.c_str());
  std::fflush(stdout);
}

/// Prints the summary line; the exit status of the program.
inline int summary() {
  std::printf("%d passed, %d failed\n", passed, failed);
  std::fflush(stdout);
  return failed > 0 ? 1 : 0;
}

/// The status of the ws::error that `f` throws, or WS_STATUS_OK if it throws
/// none; `message` gets its what().
inline ws_status error_of(const std::function<void()> &f, std::string *message = nullptr) {
  try {
    f();
  } catch (const ws::error &e) {
    if (message) *message = e.what();
    return e.code();
  }
  return WS_STATUS_OK;
}

/// Checks that `f` throws ws::error with status `want` (the line shows what
/// it threw, and its message).
inline bool throws(ws_status want, const std::function<void()> &f, const std::string &what, const char *file,
                   int line) {
  std::string message;
  ws_status got = error_of(f, &message);
  return record(got == want && !message.empty(),
                what + " -> " + ws_status_name(want) + " (got " + ws_status_name(got) + ": \"" + message + "\")", file,
                line, "throws");
}

/// Lines written by handlers (any thread), waited for by the test.
class journal {
 public:
  /// Appends a line.
  void add(std::string line) {
    std::lock_guard<std::mutex> guard(mu_);
    lines_.push_back(std::move(line));
    cv_.notify_all();
  }
  /// Waits until `line` was written `times` times; true if it was in time.
  bool wait_for(const std::string &line, int times = 1, std::chrono::milliseconds timeout = wait_time) {
    std::unique_lock<std::mutex> guard(mu_);
    return cv_.wait_for(guard, timeout, [&] { return count_locked(line, false) >= times; });
  }
  /// Waits until lines starting with `prefix` were written `times` times.
  bool wait_for_start(const std::string &prefix, int times = 1, std::chrono::milliseconds timeout = wait_time) {
    std::unique_lock<std::mutex> guard(mu_);
    return cv_.wait_for(guard, timeout, [&] { return count_locked(prefix, true) >= times; });
  }
  /// How many times `line` was written.
  int count(const std::string &line) {
    std::lock_guard<std::mutex> guard(mu_);
    return count_locked(line, false);
  }
  /// How many lines start with `prefix`.
  int count_start(const std::string &prefix) {
    std::lock_guard<std::mutex> guard(mu_);
    return count_locked(prefix, true);
  }
  /// Every line so far, joined with " | " (for messages).
  std::string all() {
    std::lock_guard<std::mutex> guard(mu_);
    std::string out;
    for (const std::string &l : lines_) out += (out.empty() ? "" : " | ") + l;
    return out;
  }

 private:
  int count_locked(const std::string &line, bool prefix) const {
    int n = 0;
    for (const std::string &l : lines_) n += prefix ? l.rfind(line, 0) == 0 : l == line;
    return n;
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
};

/// Handlers that write each event to `j`: "open", "text T", "binary B" (the
/// bytes as text), "ping P", "pong P", "close CODE REASON", "error NAME", "drain".
inline ws::handlers journaling(journal &j) {
  ws::handlers h;
  h.on_open = [&j](ws::connection) { j.add("open"); };
  h.on_text = [&j](ws::connection, std::string_view t) { j.add("text " + std::string(t)); };
  h.on_binary = [&j](ws::connection, ws::bytes_view b) { j.add("binary " + std::string(b.begin(), b.end())); };
  h.on_ping = [&j](ws::connection, ws::bytes_view b) { j.add("ping " + std::string(b.begin(), b.end())); };
  h.on_pong = [&j](ws::connection, ws::bytes_view b) { j.add("pong " + std::string(b.begin(), b.end())); };
  h.on_close = [&j](ws::connection, ws::close_code code, std::string_view reason) {
    j.add("close " + std::to_string(static_cast<int>(code)) + " " + std::string(reason));
  };
  h.on_error = [&j](ws::connection, const ws::error &e) { j.add(std::string("error ") + e.name()); };
  h.on_drain = [&j](ws::connection) { j.add("drain"); };
  return h;
}

// True once `server` counts `n` connections, within `timeout`. (A client's
// wait_open may return just before its server has counted it: the server
// answers the handshake, then adds the connection to its list.)
inline bool counts(const ws::server &server, std::size_t n, std::chrono::milliseconds timeout = wait_time) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (server.connection_count() != n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

/// "ws://127.0.0.1:PORT/" and `path`.
inline std::string url_of(const ws::server &s, const std::string &path = "") {
  return "ws://127.0.0.1:" + std::to_string(s.port()) + "/" + path;
}

}  // namespace check

#define CHECK(cond, what) ::check::record(static_cast<bool>(cond), (what), __FILE__, __LINE__, #cond)
/// CHECK_THROWS(WS_ERR_X, "what", statements): the statements throw ws::error WS_ERR_X.
#define CHECK_THROWS(want, what, ...) ::check::throws((want), [&] { __VA_ARGS__; }, (what), __FILE__, __LINE__)

#endif
