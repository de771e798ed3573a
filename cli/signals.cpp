#include "cli/signals.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fcntl.h>
#include <unistd.h>

namespace banger::cli {

namespace {

volatile int g_write_fd = -1;

extern "C" void on_signal(int sig) {
  int saved = errno;
  unsigned char byte = static_cast<unsigned char>(sig);
  // Non-blocking: if the pipe is full, signals are already pending anyway.
  [[maybe_unused]] auto n = ::write(g_write_fd, &byte, 1);
  errno = saved;
}

} // namespace

signal_pipe::signal_pipe(std::initializer_list<int> signals) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  read_fd_ = fds[0];
  write_fd_ = fds[1];
  g_write_fd = write_fd_;
  for (int sig : signals) {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    struct sigaction old {};
    ::sigaction(sig, &sa, &old);
    saved_.emplace_back(sig, old);
  }
}

signal_pipe::~signal_pipe() {
  for (auto& [sig, old] : saved_)
    ::sigaction(sig, &old, nullptr);
  g_write_fd = -1;
  ::close(read_fd_);
  ::close(write_fd_);
}

std::vector<int> signal_pipe::drain() {
  std::vector<int> out;
  unsigned char buf[64];
  for (;;) {
    auto n = ::read(read_fd_, buf, sizeof(buf));
    if (n <= 0) {
      if (n < 0 && errno == EINTR)
        continue;
      break;
    }
    for (ssize_t i = 0; i < n; ++i)
      out.push_back(buf[i]);
  }
  return out;
}

} // namespace banger::cli
