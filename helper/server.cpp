#include "helper/server.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "messages/helper.hpp"
#include "services/log.hpp"

namespace banger::helper {

namespace {

constexpr const char* who_am_i = "helper";

std::runtime_error failure(const std::string& what) {
  return std::runtime_error(what + ": " + std::strerror(errno));
}

sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

/// The id of a frame that failed to decode, if its JSON shows one.
std::uint64_t salvage_id(const std::string& payload) {
  auto j = wire::json::parse(payload, nullptr, false);
  if (j.is_object())
    if (auto it = j.find("id"); it != j.end() && it->is_number_unsigned())
      return it->get<std::uint64_t>();
  return 0;
}

wire::envelope error_frame(std::uint64_t id, const char* code,
                           std::string message) {
  wire::envelope env;
  env.id = id;
  env.type = helper_msg::error;
  env.body = to_json(error_body{code, std::move(message), {}});
  return env;
}

/// Ends a connection we refuse after our last frame: stop writing, then read
/// and drop what the peer already sent (briefly, boundedly), so that closing
/// does not reset the connection before the peer has read our error frame.
void hang_up(int fd) {
  ::shutdown(fd, SHUT_WR);
  char buf[4096];
  std::size_t total = 0;
  while (total < max_frame) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0)
      return;
    auto n = ::read(fd, buf, sizeof(buf));
    if (n <= 0)
      return;
    total += static_cast<std::size_t>(n);
  }
}

} // namespace

server::server(options opts) : opts_(opts), ops_(std::move(opts)) {}

server::~server() {
  if (listen_fd_ >= 0)
    ::close(listen_fd_);
}

void server::block_signals() {
  auto set = stop_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

void server::prepare() {
  ops_.start();
}

void server::bind() {
  const auto& path = opts_.socket_path;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path))
    throw std::runtime_error("socket path '" + path
                             + "' is too long for a Unix socket");
  auto dir = path.substr(0, path.rfind('/'));
  if (!dir.empty() && ::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    throw failure("cannot create the socket directory '" + dir + "'");
  // Only root may change names in the directory: nobody can swap the socket
  // for a symlink between bind and chown.
  struct stat dst {};
  if (::stat(dir.empty() ? "/" : dir.c_str(), &dst) != 0)
    throw failure("cannot inspect the socket directory '" + dir + "'");
  if (dst.st_uid != 0 || (dst.st_mode & 0022) != 0)
    throw std::runtime_error("socket directory '" + dir
                             + "' must be owned by root and writable by root "
                               "only: fix its owner and mode or pass another "
                               "--socket");
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    // A stale socket from an earlier run goes; anything else is not ours.
    if (!S_ISSOCK(st.st_mode))
      throw std::runtime_error("'" + path
                               + "' exists and is not a socket: remove it or "
                                 "pass another --socket");
    if (::unlink(path.c_str()) != 0)
      throw failure("cannot remove the stale socket '" + path + "'");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0)
    throw failure("cannot create a Unix socket");
  // Born 0600: there is no moment at which another user could connect.
  auto old_mask = ::umask(0177);
  int rc = ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::umask(old_mask);
  if (rc != 0)
    throw failure("cannot bind '" + path + "'");
  if (::lchown(path.c_str(), opts_.owner_uid, static_cast<gid_t>(-1)) != 0)
    throw failure("cannot give '" + path + "' to uid "
                  + std::to_string(opts_.owner_uid));
  if (::listen(listen_fd_, 16) != 0)
    throw failure("cannot listen on '" + path + "'");
  log::info(who_am_i,
            "listening on {} (owner uid {}, TAP prefix {}, bridge {} {}, at "
            "most {} TAPs and {} clients)",
            path, opts_.owner_uid, opts_.tap_prefix, opts_.bridge,
            to_string(opts_.bridge_cidr), opts_.max_taps, opts_.max_clients);
}

int server::run() {
  auto set = stop_signals();
  int sig_fd = ::signalfd(-1, &set, SFD_CLOEXEC);
  if (sig_fd < 0)
    throw failure("cannot create a signalfd");
  int exit_code = 0;
  if (opts_.lifeline_fd >= 0)
    ::fcntl(opts_.lifeline_fd, F_SETFD, FD_CLOEXEC);
  for (;;) {
    // -1 is ignored by poll: no lifeline, no slot.
    pollfd fds[3] = {{listen_fd_, POLLIN, 0},
                     {sig_fd, POLLIN, 0},
                     {opts_.lifeline_fd, POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR)
        continue;
      log::error(who_am_i, "poll failed: {}", std::strerror(errno));
      exit_code = 1;
      break;
    }
    if (fds[1].revents & POLLIN) {
      signalfd_siginfo info{};
      if (::read(sig_fd, &info, sizeof(info)) > 0)
        log::info(who_am_i, "signal {} received, shutting down",
                  info.ssi_signo);
      break;
    }
    if (fds[2].revents != 0) {
      // Nothing is ever written: readable or hung up both mean its writer,
      // the daemon that started us, has ended.
      log::info(who_am_i, "the daemon that started us is gone, shutting down");
      break;
    }
    if (!(fds[0].revents & POLLIN))
      continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
        log::warn(who_am_i, "accept failed: {}", std::strerror(errno));
      continue;
    }
    // Reap finished workers, then start one for this connection.
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (it->done) {
        it->thread.join();
        it = workers_.erase(it);
      } else {
        ++it;
      }
    }
    // A thread per connection: bounded, so that clients holding connections
    // open cannot make root's process grow without end.
    if (workers_.size() >= opts_.max_clients) {
      log::warn(who_am_i, "refused a connection: {} are open (--max-clients)",
                workers_.size());
      send(fd, error_frame(0, helper_code::unavailable,
                           "banger-helper serves at most "
                               + std::to_string(opts_.max_clients)
                               + " connections at once (--max-clients) and "
                                 "all are taken: retry when one closes"));
      ::shutdown(fd, SHUT_WR);
      char buf[4096];
      while (::recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
      }
      ::close(fd);
      continue;
    }
    {
      std::lock_guard guard(mutex_);
      conns_.insert(fd);
    }
    auto& w = workers_.emplace_back();
    w.thread = std::thread([this, fd, &w] {
      serve(fd);
      {
        std::lock_guard guard(mutex_);
        conns_.erase(fd);
        ::close(fd);
      }
      w.done = true;
    });
  }
  ::close(sig_fd);
  ::close(listen_fd_);
  listen_fd_ = -1;
  ::unlink(opts_.socket_path.c_str());
  {
    // Wake every blocked read: each worker then sees EOF and ends.
    std::lock_guard guard(mutex_);
    for (int fd : conns_)
      ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& w : workers_)
    w.thread.join();
  workers_.clear();
  log::info(who_am_i, "stopped");
  return exit_code;
}

void server::send(int fd, const wire::envelope& env, int pass_fd) {
  if (!wire::send_all(fd, wire::encode_frame(env), pass_fd))
    log::warn(who_am_i, "cannot write a reply: {}", std::strerror(errno));
}

void server::serve(int fd) {
  auto who = peer_of(fd);
  if (!who) {
    log::warn(who_am_i, "connection without peer credentials: {}",
              std::strerror(errno));
    return;
  }
  if (auto why = check_peer(*who, opts_.owner_uid)) {
    log::warn(who_am_i, "uid={} pid={} refused: {}", who->uid, who->pid, *why);
    send(fd, error_frame(0, helper_code::protocol, *why));
    hang_up(fd);
    return;
  }
  log::info(who_am_i, "uid={} pid={} connected", who->uid, who->pid);
  wire::frame_reader reader(max_frame);
  for (;;) {
    std::optional<std::string> payload;
    try {
      payload = reader.next();
    } catch (const wire::decode_error& e) {
      // The stream cannot be resynchronised after an oversized length.
      log::warn(who_am_i, "uid={} pid={} closed: {}", who->uid, who->pid,
                e.what());
      send(fd, error_frame(0, helper_code::protocol,
                           std::string(e.what()) + "; closing the connection"));
      hang_up(fd);
      return;
    }
    if (!payload) {
      char buf[16384];
      auto n = ::read(fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        if (reader.buffered() > 0)
          log::warn(who_am_i,
                    "uid={} pid={} went away in the middle of a frame",
                    who->uid, who->pid);
        log::info(who_am_i, "uid={} pid={} disconnected", who->uid, who->pid);
        return;
      }
      reader.feed(buf, static_cast<std::size_t>(n));
      continue;
    }
    wire::envelope req;
    try {
      req = wire::parse_envelope(*payload);
    } catch (const std::exception& e) {
      log::warn(who_am_i, "uid={} pid={} bad frame: {}", who->uid, who->pid,
                e.what());
      send(fd,
           error_frame(salvage_id(*payload), helper_code::protocol, e.what()));
      continue;
    }
    auto answer = ops_.handle(req, *who);
    // The descriptor rides on the frame's first byte; our copy closes when
    // `answer` goes out of scope, whether or not the peer got it.
    send(fd, answer.frame, answer.fd.get());
  }
}

} // namespace banger::helper
