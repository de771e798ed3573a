#pragma once
// A thread that reads frames from a socket and hands each one to the actor
// that owns the socket, so that the actor itself never blocks on read:
//   (atom::frame, wire::envelope)     a well-formed frame
//   (atom::invalid, uint64_t id, std::string why)
//                                     a frame whose JSON was rejected; the
//                                     stream is still in sync (id 0 if unknown)
//   (atom::closed, std::string why)   EOF, a read error or a broken stream
// The owner keeps the reader in its state; destroying it shuts the socket
// down and joins the thread. pause(true) stops reading (backpressure: the
// peer's writes then block in its socket) until pause(false); a paused
// reader still notices the peer hanging up.

#include <atomic>
#include <cstddef>
#include <string>
#include <thread>

#include <caf/actor.hpp>

#include "messages/wire.hpp"

namespace banger {

class socket_reader {
public:
  socket_reader() = default;
  socket_reader(caf::actor owner, int fd,
                std::size_t max_frame = wire::default_max_frame);
  socket_reader(const socket_reader&) = delete;
  socket_reader& operator=(const socket_reader&) = delete;
  ~socket_reader();

  /// Shuts the socket down (both directions) and joins the thread.
  void stop();
  /// Stops (true) or resumes (false) reading; safe from the owner's thread.
  void pause(bool on);
  bool paused() const { return paused_.load(); }

private:
  /// Blocks while paused; returns early when the peer hangs up.
  void wait_while_paused(int fd);

  int fd_ = -1;
  int wake_fd_ = -1; // eventfd: resume and stop wake a paused thread
  std::atomic<bool> paused_{false};
  std::thread thread_;
};

} // namespace banger
