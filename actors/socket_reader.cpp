#include "actors/socket_reader.hpp"

#include <cstring>
#include <system_error>

#include <caf/send.hpp>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "messages/type_ids.hpp"

namespace banger {

namespace {

// Pulls the id out of a payload that failed strict parsing, so the error
// frame can still name the request. Best effort: 0 when unknown.
std::uint64_t guess_id(const std::string& payload) {
  try {
    auto j = wire::json::parse(payload);
    if (j.is_object() && j.contains("id") && j["id"].is_number_unsigned())
      return j["id"].get<std::uint64_t>();
  } catch (...) {
  }
  return 0;
}

} // namespace

socket_reader::socket_reader(caf::actor owner, int fd, std::size_t max_frame)
    : fd_(fd), wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (wake_fd_ < 0)
    throw std::system_error(errno, std::generic_category(), "eventfd");
  thread_ = std::thread([this, owner = std::move(owner), fd, max_frame] {
    wire::frame_reader reader(max_frame);
    char buf[65536];
    for (;;) {
      // Hand out every complete frame first.
      try {
        while (auto payload = reader.next()) {
          try {
            caf::anon_send(owner, atom::frame_v,
                           wire::parse_envelope(*payload));
          } catch (const wire::decode_error& e) {
            caf::anon_send(owner, atom::invalid_v, guess_id(*payload),
                           std::string(e.what()));
          }
        }
      } catch (const wire::decode_error& e) {
        // The length prefix itself is bad: the stream cannot be resynced.
        caf::anon_send(owner, atom::closed_v, std::string(e.what()));
        return;
      }
      wait_while_paused(fd);
      auto n = ::read(fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        std::string why =
            n == 0 ? "connection closed"
                   : std::string("read failed: ") + std::strerror(errno);
        if (n == 0 && reader.buffered() > 0)
          why = "connection closed in the middle of a frame";
        caf::anon_send(owner, atom::closed_v, why);
        return;
      }
      reader.feed(buf, static_cast<std::size_t>(n));
    }
  });
}

socket_reader::~socket_reader() {
  stop();
  if (wake_fd_ >= 0)
    ::close(wake_fd_);
}

void socket_reader::stop() {
  // A shut-down socket polls as hung up, which also ends a pause.
  if (fd_ >= 0)
    ::shutdown(fd_, SHUT_RDWR);
  if (thread_.joinable())
    thread_.join();
  fd_ = -1;
}

void socket_reader::pause(bool on) {
  if (paused_.exchange(on) && !on && wake_fd_ >= 0) {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof(one));
  }
}

void socket_reader::wait_while_paused(int fd) {
  while (paused_.load()) {
    // No events asked for on the socket: poll still reports a hangup, so a
    // client that gives up while paused is noticed (and read to its EOF).
    pollfd p[2] = {{fd, 0, 0}, {wake_fd_, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0 && errno != EINTR)
      return;
    if (p[1].revents & POLLIN) {
      std::uint64_t v = 0;
      [[maybe_unused]] auto n = ::read(wake_fd_, &v, sizeof(v));
    }
    if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL))
      return;
  }
}

} // namespace banger
