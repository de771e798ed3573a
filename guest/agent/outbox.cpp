#include "guest/agent/outbox.hpp"

#include <cerrno>

#include <poll.h>
#include <unistd.h>

namespace banger::agent {

void outbox::push(std::string_view bytes) {
  buf_ += bytes;
  flush();
}

void outbox::flush() {
  while (pos_ < buf_.size()) {
    auto n = ::write(fd_, buf_.data() + pos_, buf_.size() - pos_);
    if (n > 0) {
      pos_ += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    // EAGAIN: the port is full or no host is there; the caller waits for
    // POLLOUT (or for the EOF that clears the backlog).
    break;
  }
  if (pos_ == buf_.size())
    clear();
  else if (pos_ > (1u << 20)) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
}

void outbox::flush_blocking(std::chrono::milliseconds limit) {
  using clock_type = std::chrono::steady_clock;
  auto deadline = clock_type::now() + limit;
  for (;;) {
    flush();
    if (!pending())
      return;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - clock_type::now());
    if (left.count() <= 0)
      return;
    pollfd p{fd_, POLLOUT, 0};
    ::poll(&p, 1, static_cast<int>(left.count()));
  }
}

void outbox::clear() {
  buf_.clear();
  pos_ = 0;
}

} // namespace banger::agent
