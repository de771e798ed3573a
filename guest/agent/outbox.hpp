#pragma once
// Frames waiting for the port. The port is non-blocking (a blocking write
// would hang until some host connects), so what it does not take now waits
// here until poll says POLLOUT.

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace banger::agent {

class outbox {
public:
  explicit outbox(int fd) : fd_(fd) {
  }

  /// Queues bytes and writes as much as the port takes right away.
  void push(std::string_view bytes);
  /// Writes as much as the port takes without blocking.
  void flush();
  /// Keeps writing until empty or `limit` passed (used before power-off).
  void flush_blocking(std::chrono::milliseconds limit);
  /// Drops everything (the host these frames were for is gone).
  void clear();

  bool pending() const {
    return pos_ < buf_.size();
  }
  std::size_t backlog() const {
    return buf_.size() - pos_;
  }

private:
  int fd_;
  std::string buf_;
  std::size_t pos_ = 0; // how much of buf_ was written
};

} // namespace banger::agent
