#pragma once
// A blocking client for bangerd's Unix socket. One request at a time: send a
// frame, then pump the socket (and, for streaming requests, stdin and a
// signal pipe) in one poll loop until the "result" or "error" frame with the
// request's id arrives. No threads, no busy waiting.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "messages/agent.hpp"
#include "messages/vm.hpp"
#include "messages/wire.hpp"

namespace banger::cli {

/// banger failed to talk to the daemon (not an error the daemon sent).
struct client_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The daemon's answer to one request.
struct reply {
  std::string type; // "result" or "error"
  wire::json body;  // the result body, or the error body
  std::string
      payload; // the frame's JSON text, for --json in the daemon's key order

  bool ok() const { return type == "result"; }
  /// The error body (ok() == false); a malformed one becomes a readable error.
  error_body error() const;
};

class daemon_client;

/// Hooks for a streaming request. Every member is optional.
struct stream_hooks {
  std::function<void(const progress_event&)> on_progress;
  std::function<void(const output_chunk&)> on_output;
  /// Forwarded as "stdin" frames while readable; EOF sends {"eof": true}.
  int stdin_fd = -1;
  /// If set, gets what was read from stdin_fd instead (eof: its end, after
  /// which stdin_fd is no longer read); it may send frames or throw to stop.
  std::function<void(daemon_client&, std::uint64_t id, std::string_view data,
                     bool eof)>
      on_stdin;
  /// Polled too; when readable, on_wakeup runs (it may send frames).
  int wakeup_fd = -1;
  std::function<void(daemon_client&, std::uint64_t id)> on_wakeup;
  /// Called every `tick` while waiting (spinners); zero disables it.
  std::chrono::milliseconds tick{0};
  std::function<void()> on_tick;
};

class daemon_client {
public:
  /// Connects to `socket`. Throws client_error saying how to start bangerd.
  static daemon_client connect(const std::string& socket);

  /// Connects to `socket`, or returns nullopt with the reason in `why`.
  static std::optional<daemon_client> try_connect(const std::string& socket,
                                                  std::string* why = nullptr);

  daemon_client(daemon_client&& other) noexcept;
  daemon_client& operator=(daemon_client&& other) noexcept;
  daemon_client(const daemon_client&) = delete;
  daemon_client& operator=(const daemon_client&) = delete;
  ~daemon_client();

  /// Sends a request and waits for its reply; events are ignored. Throws
  /// client_error on I/O or protocol failures and when `timeout` expires.
  reply call(const std::string& type, const wire::json& body,
             std::optional<std::chrono::milliseconds> timeout = std::nullopt);

  /// Sends a request and waits for its reply, dispatching its events.
  reply stream(const std::string& type, const wire::json& body,
               const stream_hooks& hooks);

  /// Queues a frame on a running request's id ("stdin", "signal", "cancel").
  /// Sent by the loop of the running call; usable from its hooks.
  void send(std::uint64_t id, const std::string& type, const wire::json& body);

  const std::string& socket_path() const { return socket_; }

private:
  daemon_client(int fd, std::string socket);

  reply run(const std::string& type, const wire::json& body,
            const stream_hooks& hooks,
            std::optional<std::chrono::milliseconds> timeout);
  /// Dispatches buffered frames; the reply once it is there.
  std::optional<reply> deliver(std::uint64_t id, const stream_hooks& hooks);
  /// Reads stdin once into a "stdin" frame; sets `fd` to -1 at its end.
  void forward_stdin(std::uint64_t id, int& fd, const stream_hooks& hooks);
  void flush();
  void receive();
  void close();

  int fd_ = -1;
  std::string socket_;
  std::uint64_t next_id_ = 1;
  wire::frame_reader reader_;
  std::string out_; // frames not yet written to the socket
};

} // namespace banger::cli
