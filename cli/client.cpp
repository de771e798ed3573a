#include "cli/client.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include "services/error.hpp"
#include "services/peer.hpp"

namespace banger::cli {

namespace {

using clock = std::chrono::steady_clock;

// Stop reading stdin while this much is still waiting for the socket.
constexpr std::size_t max_pending_out = 1u << 20;
constexpr std::size_t chunk_size = 64u << 10;

int millis_until(clock::time_point t) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(t - clock::now());
  return static_cast<int>(std::max<std::int64_t>(0, left.count()));
}

template <class T> T decode_event(const wire::envelope& env) {
  try {
    return decode<T>(env.body);
  } catch (const wire::decode_error& e) {
    throw client_error(fmt::format("bangerd sent a malformed '{}' event: {}",
                                   env.type, e.what()));
  }
}

} // namespace

error_body reply::error() const {
  try {
    return decode<error_body>(body);
  } catch (const wire::decode_error& e) {
    return {"protocol",
            fmt::format("bangerd sent an unreadable error: {}", e.what()), ""};
  }
}

std::optional<daemon_client>
daemon_client::try_connect(const std::string& socket, std::string* why) {
  auto fail = [&](std::string reason) -> std::optional<daemon_client> {
    if (why != nullptr)
      *why = std::move(reason);
    return std::nullopt;
  };
  int fd = wire::connect_unix(socket);
  if (fd < 0)
    return fail(errno == ENAMETOOLONG
                  ? "the socket path is too long for a Unix socket"
                  : std::strerror(errno));
  daemon_client client(fd, socket);
  // Whoever listens there gets our requests (and their arguments): only a
  // daemon of ours or root's. Root's CLI also trusts the owner of the
  // socket's directory, the user its `daemon start` runs bangerd as.
  auto peer = peer_of(fd);
  if (!peer)
    throw client_error("bangerd at " + socket + ": "
                       + error_message(peer.error()));
  uid_t dir_owner = ::getuid();
  if (::getuid() == 0) {
    struct stat st {};
    auto dir = socket.substr(0, socket.rfind('/'));
    if (::lstat(dir.empty() ? "/" : dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
      dir_owner = st.st_uid;
  }
  if (auto why = check_peer_uid(*peer, {::getuid(), 0, dir_owner},
                                "the daemon at " + socket);
      !why.empty())
    throw client_error(why + "; someone else may have planted that socket: "
                             "remove it, or set XDG_RUNTIME_DIR to a "
                             "directory only you can write");
  return client;
}

daemon_client daemon_client::connect(const std::string& socket) {
  std::string why;
  if (auto c = try_connect(socket, &why))
    return std::move(*c);
  throw client_error(fmt::format(
      "cannot reach bangerd at {}: {}; start it with: banger daemon start",
      socket, why));
}

daemon_client::daemon_client(int fd, std::string socket)
    : fd_(fd), socket_(std::move(socket)) {}

daemon_client::daemon_client(daemon_client&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), socket_(std::move(other.socket_)),
      next_id_(other.next_id_), reader_(std::move(other.reader_)),
      out_(std::move(other.out_)) {}

daemon_client& daemon_client::operator=(daemon_client&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    socket_ = std::move(other.socket_);
    next_id_ = other.next_id_;
    reader_ = std::move(other.reader_);
    out_ = std::move(other.out_);
  }
  return *this;
}

daemon_client::~daemon_client() {
  close();
}

void daemon_client::close() {
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
}

reply daemon_client::call(const std::string& type, const wire::json& body,
                          std::optional<std::chrono::milliseconds> timeout) {
  return run(type, body, stream_hooks{}, timeout);
}

reply daemon_client::stream(const std::string& type, const wire::json& body,
                            const stream_hooks& hooks) {
  return run(type, body, hooks, std::nullopt);
}

void daemon_client::send(std::uint64_t id, const std::string& type,
                         const wire::json& body) {
  out_ += wire::encode_frame({wire::protocol_version, id, type, body});
}

void daemon_client::flush() {
  while (!out_.empty()) {
    auto n = ::send(fd_, out_.data(), out_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return;
      throw client_error(fmt::format("lost the connection to bangerd at {}: {}",
                                     socket_, std::strerror(errno)));
    }
    out_.erase(0, static_cast<std::size_t>(n));
  }
}

void daemon_client::receive() {
  char buf[chunk_size];
  auto n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
      return;
    throw client_error(fmt::format("lost the connection to bangerd at {}: {}",
                                   socket_, std::strerror(errno)));
  }
  if (n == 0)
    throw client_error("bangerd closed the connection before answering (did it "
                       "crash? check with: banger daemon status)");
  reader_.feed(buf, static_cast<std::size_t>(n));
}

std::optional<reply> daemon_client::deliver(std::uint64_t id,
                                            const stream_hooks& hooks) {
  for (;;) {
    std::optional<std::string> payload;
    wire::envelope env;
    try {
      payload = reader_.next();
      if (!payload)
        return std::nullopt;
      env = wire::parse_envelope(*payload);
    } catch (const wire::decode_error& e) {
      throw client_error(
          fmt::format("bangerd sent a malformed frame: {}", e.what()));
    }
    if (env.id != id)
      continue; // a late event of an earlier request
    if (env.type == "result" || env.type == "error")
      return reply{env.type, std::move(env.body), std::move(*payload)};
    if (env.type == "progress" && hooks.on_progress)
      hooks.on_progress(decode_event<progress_event>(env));
    else if (env.type == "output" && hooks.on_output)
      hooks.on_output(decode_event<output_chunk>(env));
    // Other event types are newer than this client: ignore them.
  }
}

void daemon_client::forward_stdin(std::uint64_t id, int& fd,
                                  const stream_hooks& hooks) {
  char buf[chunk_size];
  auto n = ::read(fd, buf, sizeof(buf));
  if (hooks.on_stdin) {
    if (n > 0) {
      hooks.on_stdin(*this, id,
                     std::string_view(buf, static_cast<std::size_t>(n)), false);
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
      fd = -1;
      hooks.on_stdin(*this, id, {}, true);
    }
    return;
  }
  if (n > 0) {
    send(id, "stdin",
         to_json(stdin_chunk{std::string(buf, static_cast<std::size_t>(n)),
                             false}));
  } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
    // EOF, or stdin is broken or closed (POLLNVAL): the command sees the end
    // of it either way.
    send(id, "stdin", to_json(stdin_chunk{"", true}));
    fd = -1;
  }
}

reply daemon_client::run(const std::string& type, const wire::json& body,
                         const stream_hooks& hooks,
                         std::optional<std::chrono::milliseconds> timeout) {
  if (fd_ < 0)
    throw client_error("not connected to bangerd");
  auto id = next_id_++;
  send(id, type, body);
  std::optional<clock::time_point> deadline;
  if (timeout)
    deadline = clock::now() + *timeout;
  bool tick = hooks.tick.count() > 0 && hooks.on_tick;
  auto next_tick = clock::now() + hooks.tick;
  int stdin_fd = hooks.stdin_fd;
  for (;;) {
    if (auto r = deliver(id, hooks))
      return std::move(*r);
    flush();
    pollfd fds[3];
    nfds_t nfds = 0;
    fds[nfds++] = {
        fd_, static_cast<short>(POLLIN | (out_.empty() ? 0 : POLLOUT)), 0};
    int stdin_slot = -1;
    if (stdin_fd >= 0 && out_.size() < max_pending_out) {
      stdin_slot = static_cast<int>(nfds);
      fds[nfds++] = {stdin_fd, POLLIN, 0};
    }
    int wakeup_slot = -1;
    if (hooks.wakeup_fd >= 0) {
      wakeup_slot = static_cast<int>(nfds);
      fds[nfds++] = {hooks.wakeup_fd, POLLIN, 0};
    }
    int wait = -1;
    if (deadline)
      wait = millis_until(*deadline);
    if (tick)
      wait = wait < 0 ? millis_until(next_tick)
                      : std::min(wait, millis_until(next_tick));
    int rc = ::poll(fds, nfds, wait);
    if (rc < 0) {
      if (errno == EINTR)
        continue; // a signal: the wakeup fd says which
      throw client_error(fmt::format("poll: {}", std::strerror(errno)));
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR))
      receive();
    if (stdin_slot >= 0
        && (fds[stdin_slot].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)))
      forward_stdin(id, stdin_fd, hooks);
    if (wakeup_slot >= 0 && (fds[wakeup_slot].revents & POLLIN)
        && hooks.on_wakeup)
      hooks.on_wakeup(*this, id);
    auto now = clock::now();
    if (tick && now >= next_tick) {
      hooks.on_tick();
      next_tick = now + hooks.tick;
    }
    if (deadline && now >= *deadline)
      throw client_error(
          fmt::format("bangerd at {} did not answer '{}' within {} ms", socket_,
                      type, timeout->count()));
  }
}

} // namespace banger::cli
