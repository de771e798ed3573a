#include "services/qmp.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "services/error.hpp"

namespace banger {

namespace {

using steady = std::chrono::steady_clock;

int poll_ms(steady::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - steady::now());
  return static_cast<int>(std::max<std::int64_t>(0, left.count()));
}

/// Waits for `events` on `fd` until `deadline`. 1 ready, 0 timed out, -1 error.
int wait_fd(int fd, short events, steady::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    auto rc = ::poll(&p, 1, poll_ms(deadline));
    if (rc < 0 && errno == EINTR)
      continue;
    return rc < 0 ? -1 : (rc == 0 ? 0 : 1);
  }
}

} // namespace

qmp_client::qmp_client(int fd, std::string path, std::chrono::milliseconds timeout)
  : fd_(fd), path_(std::move(path)), timeout_(timeout) {}

qmp_client::qmp_client(qmp_client&& other) noexcept
  : fd_(std::exchange(other.fd_, -1)),
    path_(std::move(other.path_)),
    timeout_(other.timeout_),
    buffer_(std::move(other.buffer_)),
    greeting_(std::move(other.greeting_)),
    events_(std::move(other.events_)),
    next_id_(other.next_id_) {}

qmp_client& qmp_client::operator=(qmp_client&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    timeout_ = other.timeout_;
    buffer_ = std::move(other.buffer_);
    greeting_ = std::move(other.greeting_);
    events_ = std::move(other.events_);
    next_id_ = other.next_id_;
  }
  return *this;
}

qmp_client::~qmp_client() {
  if (fd_ >= 0)
    ::close(fd_);
}

caf::expected<qmp_client> qmp_client::connect(const std::string& path,
                                              std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    return make_error(ec::invalid_argument,
                      "cannot connect to QMP socket " + path
                        + ": the path is longer than a unix socket allows ("
                        + std::to_string(sizeof addr.sun_path - 1)
                        + " bytes); use a shorter state directory");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return make_error(ec::internal, "cannot create a socket for QMP at " + path
                                      + ": " + std::strerror(errno));
  qmp_client client{fd, path, timeout};
  auto deadline = steady::now() + timeout;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    auto err = errno;
    if (err != EINPROGRESS && err != EAGAIN)
      return make_error(ec::vmm, "cannot connect to QMP socket " + path + ": "
                                   + std::strerror(err)
                                   + "; the VMM is probably not running");
    if (wait_fd(fd, POLLOUT, deadline) != 1)
      return make_error(ec::vmm, "cannot connect to QMP socket " + path
                                   + ": no answer within "
                                   + std::to_string(timeout.count())
                                   + " ms; the VMM may be hung");
    int so_error = 0;
    socklen_t len = sizeof so_error;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
    if (so_error != 0)
      return make_error(ec::vmm, "cannot connect to QMP socket " + path + ": "
                                   + std::strerror(so_error)
                                   + "; the VMM is probably not running");
  }
  auto hello = client.read_message();
  if (!hello)
    return hello.error();
  if (!hello->is_object() || !hello->contains("QMP"))
    return make_error(ec::protocol, "QMP socket " + path
                                      + " did not greet with a QMP banner; is it "
                                        "really a QEMU monitor?");
  client.greeting_ = (*hello)["QMP"];
  if (auto caps = client.execute("qmp_capabilities"); !caps)
    return caps.error();
  return client;
}

caf::expected<void> qmp_client::send_line(const std::string& line) {
  auto deadline = steady::now() + timeout_;
  std::size_t sent = 0;
  while (sent < line.size()) {
    auto n = ::send(fd_, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (wait_fd(fd_, POLLOUT, deadline) == 1)
        continue;
      return make_error(ec::vmm, "cannot write to QMP socket " + path_
                                   + ": the VMM does not read; it may be hung");
    }
    return make_error(ec::vmm, "cannot write to QMP socket " + path_ + ": "
                                 + std::strerror(errno) + "; the VMM may have exited");
  }
  return {};
}

caf::expected<nlohmann::json> qmp_client::read_message() {
  auto deadline = steady::now() + timeout_;
  for (;;) {
    auto nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      auto line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      if (line.find_first_not_of(" \t\r") == std::string::npos)
        continue;
      auto msg = nlohmann::json::parse(line, nullptr, false);
      if (msg.is_discarded())
        return make_error(ec::protocol, "QMP socket " + path_
                                          + " sent a line that is not JSON: "
                                          + line.substr(0, 200));
      return msg;
    }
    auto ready = wait_fd(fd_, POLLIN, deadline);
    if (ready == 0)
      return make_error(ec::vmm, "QMP socket " + path_ + " gave no answer within "
                                   + std::to_string(timeout_.count())
                                   + " ms; the VMM may be hung");
    if (ready < 0)
      return make_error(ec::internal, "cannot wait on QMP socket " + path_ + ": "
                                        + std::strerror(errno));
    std::array<char, 16384> buf;
    auto n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n > 0) {
      buffer_.append(buf.data(), static_cast<std::size_t>(n));
    } else if (n == 0) {
      return make_error(ec::vmm, "QMP socket " + path_
                                   + " closed the connection; the VMM has exited "
                                     "or dropped the session");
    } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
      return make_error(ec::vmm, "cannot read from QMP socket " + path_ + ": "
                                   + std::strerror(errno));
    }
  }
}

caf::expected<nlohmann::json> qmp_client::execute(const std::string& command,
                                                  const nlohmann::json& arguments) {
  if (fd_ < 0)
    return make_error(ec::internal, "QMP client for " + path_
                                      + " is not connected (this is a bug in banger)");
  auto id = next_id_++;
  std::string line;
  try {
    nlohmann::json request{{"execute", command}, {"id", id}};
    if (!arguments.is_null())
      request["arguments"] = arguments;
    line = request.dump() + "\n";
  } catch (const nlohmann::json::exception& e) {
    return make_error(ec::invalid_argument, "cannot encode QMP command " + command
                                              + ": " + e.what());
  }
  if (auto sent = send_line(line); !sent)
    return sent.error();
  for (;;) {
    auto msg = read_message();
    if (!msg)
      return msg.error();
    if (!msg->is_object())
      continue;
    if (msg->contains("event")) {
      events_.push_back(std::move(*msg));
      continue;
    }
    auto it = msg->find("id");
    if (it != msg->end() && !(it->is_number_unsigned() && it->get<std::uint64_t>() == id))
      continue; // a reply to an earlier command that timed out
    if (auto ret = msg->find("return"); ret != msg->end())
      return *ret;
    if (auto err = msg->find("error"); err != msg->end()) {
      std::string desc = "unknown error";
      if (err->is_object() && err->contains("desc") && (*err)["desc"].is_string())
        desc = (*err)["desc"].get<std::string>();
      return make_error(ec::vmm, "QMP command " + command + " failed on " + path_
                                   + ": " + desc);
    }
  }
}

} // namespace banger
