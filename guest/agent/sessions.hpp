#pragma once
// Guest sessions: long-running commands the agent owns for the host
// (`banger vm session ...`). Each runs in its own process group with a stdin
// pipe the agent keeps open, and its output goes into a ring buffer that an
// attach replays before it streams live output. Sessions do not depend on a
// host connection: the host may come and go (a daemon restart) and find them
// again by name. Not to be confused with agent::session, the host channel
// loop (session.cpp), which drives these through session_table.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

#include "messages/agent.hpp"

namespace banger::agent {

/// The last `capacity` bytes of a session's stdout and stderr, as chunks in
/// the order the agent read them (so the two streams' interleaving is kept).
class output_ring {
public:
  explicit output_ring(std::size_t capacity = 1u << 20) : cap_(capacity) {
  }

  /// Adds bytes read from `stream` (1 stdout, 2 stderr); the oldest bytes
  /// go when the ring is full.
  void append(int stream, std::string_view data);
  /// What the ring holds, oldest first, in chunks of at most `max_chunk`
  /// bytes (an output frame's limit).
  std::vector<output_chunk> snapshot(std::size_t max_chunk = 64 * 1024) const;
  std::size_t size() const {
    return size_;
  }
  /// Bytes that fell out of the ring since the start.
  std::uint64_t dropped() const {
    return dropped_;
  }

private:
  std::size_t cap_;
  std::deque<output_chunk> chunks_;
  std::size_t size_ = 0;
  std::uint64_t dropped_ = 0;
};

/// A refused session request: `code` is the wire error code.
struct session_error : std::runtime_error {
  session_error(const char* c, const std::string& message)
    : std::runtime_error(message), code(c) {
  }
  const char* code;
};

using session_clock = std::chrono::steady_clock;

/// Sends `sig` to the session's process group, or to `pid` alone while the
/// child has not reached setsid() yet (its group does not exist then).
void signal_session(pid_t pid, int sig);

struct guest_session {
  std::string name;
  std::vector<std::string> argv;
  std::string cwd;
  pid_t pid = -1;
  int in_fd = -1;
  int out_fd = -1;
  int err_fd = -1;
  std::string stdin_buf; // not yet written to the session's stdin
  /// Which attach sent the bytes of stdin_buf, in order: each is credited
  /// when its bytes leave the buffer (flow control).
  std::deque<std::pair<std::uint64_t, std::size_t>> stdin_owners;
  output_ring ring;
  std::uint64_t seq = 0; // start order
  session_clock::time_point started;
  bool exited = false; // the process is gone (its pipes may still drain)
  bool ended = false;  // exited and drained: its result is final
  int status = 0;      // wait status once exited
  session_clock::time_point exited_at;
  /// `session.stop` without a signal: SIGKILL at this time if still alive.
  std::optional<session_clock::time_point> kill_at;
  /// Host request ids of attaches that follow the live output, each with
  /// the output credit it has left (bytes; below 0 after a replay).
  std::map<std::uint64_t, std::int64_t> followers;
  /// Host request ids of `session.stop` calls waiting for the end.
  std::vector<std::uint64_t> stop_waiters;

  explicit guest_session(std::size_t ring_bytes) : ring(ring_bytes) {
  }
};

class session_table {
public:
  /// Ended sessions kept for `session list` / `logs` (oldest go first).
  /// Each may hold up to its ring's 1 MiB: few, for small guests.
  static constexpr std::size_t max_ended = 8;

  explicit session_table(std::size_t ring_bytes = 1u << 20)
    : ring_bytes_(ring_bytes) {
  }

  /// Starts the command. A running session of the same name is refused
  /// (session_error "already_exists"); an ended one is replaced. Throws
  /// std::system_error when pipes or fork fail.
  guest_session& start(const session_start_request& req);
  guest_session* find(const std::string& name);
  /// The session an attach with this host request id follows.
  guest_session* followed_by(std::uint64_t id);
  /// Like find, but a session_error "not_found" naming the known sessions.
  guest_session& get(const std::string& name);
  /// Records a reaped child; false if it is not a session's.
  bool reaped(pid_t pid, int status);
  /// Marks `s` ended (after its pipes drained) and drops the oldest ended
  /// sessions beyond max_ended (never `s` itself).
  void end(guest_session& s);
  /// The first free name of s1, s2, ...
  std::string next_name() const;
  session_info info(const guest_session& s) const;
  session_list list() const;
  /// The host went away: nobody follows or waits any more.
  void forget_hosts();

  std::map<std::string, guest_session>& all() {
    return sessions_;
  }
  const std::map<std::string, guest_session>& all() const {
    return sessions_;
  }

private:
  std::size_t ring_bytes_;
  std::map<std::string, guest_session> sessions_;
  std::uint64_t next_seq_ = 1;
};

} // namespace banger::agent
