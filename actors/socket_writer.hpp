#pragma once
// A thread that writes frames to a socket for the actor that owns it, so that
// the actor never blocks on a peer that stops reading (a stalled client, a
// guest that stops reading its channel). push() only queues; the thread does
// the blocking writes and, for each frame pushed with a credit,
// tells the owner once the socket took it:
//   (atom::credit, uint64_t tag, uint64_t bytes)
// That report is what flow control is built on: the owner grants a sender
// more only for what really left, so what waits here stays bounded by the
// windows it granted (docs/protocol.md §6.2). A failed write (the peer went
// away) drops the queue and every later push; the owner's socket_reader
// reports the close. Destroying the writer shuts the socket down and joins.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include <caf/actor.hpp>

namespace banger {

class socket_writer {
public:
  socket_writer(caf::actor owner, int fd);
  socket_writer(const socket_writer&) = delete;
  socket_writer& operator=(const socket_writer&) = delete;
  ~socket_writer();

  /// Queues `frame` (a whole encoded frame). With `credit` != 0, the owner
  /// gets (atom::credit, tag, credit) once it was written. Never blocks.
  void push(std::string frame, std::uint64_t tag = 0, std::uint64_t credit = 0);
  /// Bytes queued and not yet written.
  std::size_t backlog() const;
  /// Whether a write failed (the peer is gone).
  bool failed() const;
  /// Shuts the socket down (both directions) and joins the thread.
  void stop();

private:
  struct item {
    std::string frame;
    std::uint64_t tag = 0;
    std::uint64_t credit = 0;
  };
  void run(caf::actor owner);

  int fd_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<item> queue_;
  std::size_t backlog_ = 0;
  bool failed_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace banger
