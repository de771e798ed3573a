#pragma once
// The agent's single-threaded event loop: the host channel on the port, any
// number of running commands multiplexed by request id, SIGCHLD via signalfd.

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>

#include <sys/types.h>

#include "guest/agent/inbox.hpp"
#include "guest/agent/outbox.hpp"
#include "guest/agent/sessions.hpp"
#include "messages/wire.hpp"

namespace banger::agent {

class session {
public:
  /// Takes the port (non-blocking) and a signalfd for SIGCHLD.
  session(int port_fd, int signal_fd)
    : port_(port_fd), sigfd_(signal_fd), outbox_(port_fd) {
  }

  [[noreturn]] void run();

private:
  struct running {
    pid_t pid = -1;
    int in_fd = -1;
    int out_fd = -1;
    int err_fd = -1;
    std::string stdin_buf;
    bool stdin_eof = false;
    bool exited = false;
    int status = 0;
    // Output bytes the host still takes (flow control); the pipes are not
    // read while it is 0.
    std::int64_t credit = 0;
    std::chrono::steady_clock::time_point exited_at;
  };

  // The host side.
  void read_port();
  void host_gone();
  void handle_payload(const std::string& payload);
  void dispatch(const wire::envelope& env);
  void send(std::uint64_t id, const char* type, wire::json body);
  void fail_request(std::uint64_t id, const char* code, std::string message);
  void send_error(std::uint64_t id, const char* code, std::string message);

  // Requests.
  void do_exec(std::uint64_t id, const wire::json& body);
  void do_stdin(std::uint64_t id, const wire::json& body);
  void do_signal(std::uint64_t id, const wire::json& body);
  void do_credit(std::uint64_t id, const wire::json& body);
  [[noreturn]] void do_poweroff(std::uint64_t id);

  // Guest sessions (sessions.hpp): the table owns them, this loop feeds
  // their pipes and the hosts that attach.
  void do_session_start(std::uint64_t id, const wire::json& body);
  void do_session_attach(std::uint64_t id, const wire::json& body);
  void do_session_stop(std::uint64_t id, const wire::json& body);
  void pump_session(guest_session& s, int stream);
  /// Whether a session's pipes wait: someone attached has no credit left.
  static bool session_held(const guest_session& g);
  void finish_sessions();
  /// Ends an attach with the session's current info (the session goes on).
  void end_attach(std::uint64_t id);
  bool id_in_use(std::uint64_t id);

  // Running commands.
  void reap();
  void pump(std::uint64_t id, running& r, int stream);
  void write_stdin(std::uint64_t id, running& r);
  /// Writes a session's pending stdin; credits the attaches it came from.
  void write_session_stdin(guest_session& g);
  /// Lets the host send `n` more stdin bytes on `id`: they were written to
  /// the command or dropped (flow control, stdin direction).
  void grant_stdin(std::uint64_t id, std::size_t n);
  /// Writes what `buf` holds to `fd` without blocking; closes `fd` on EPIPE
  /// and, with `eof`, once everything went.
  static void write_pending(int& fd, std::string& buf, bool eof);
  void finish_ready();
  void abort_exec(std::uint64_t id);
  int poll_timeout() const;
  std::size_t stdin_backlog() const;

  int port_;
  int sigfd_;
  inbox inbox_;
  outbox outbox_;
  bool port_idle_ = false;  // no host: look again after a short sleep
  std::map<std::uint64_t, running> execs_;
  std::set<pid_t> orphans_; // aborted commands, reaped silently
  session_table sessions_;
};

} // namespace banger::agent
