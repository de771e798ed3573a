#include "actors/bridge.hpp"

#include <cerrno>
#include <cstring>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <caf/send.hpp>

#include "actors/socket_reader.hpp"
#include "services/error.hpp"
#include "services/log.hpp"
#include "services/peer.hpp"

namespace banger {

namespace {

/// Whether `client` may talk to this daemon: its owner (our uid) and root
/// only. The socket's mode keeps others out already; this holds when a mode
/// goes wrong or a descriptor leaks. A refused peer gets one error frame.
bool admit(int client) {
  auto peer = peer_of(client);
  std::string why = peer ? check_peer_uid(*peer, {::getuid(), 0}, "the client")
                         : error_message(peer.error());
  if (why.empty())
    return true;
  log::warn("bridge", "refused a connection: {}", why);
  wire::envelope env;
  env.type = "error";
  env.body = to_json(error_body{
    "protocol",
    "bangerd serves only its owner (uid " + std::to_string(::getuid())
      + ") and root: " + why,
    {}});
  wire::write_all(client, wire::encode_frame(env));
  ::close(client);
  return false;
}

} // namespace

caf::expected<std::unique_ptr<bridge>>
bridge::listen(caf::actor_system& sys, const std::string& socket_path,
               bridge_deps deps) {
  if (int probe = wire::connect_unix(socket_path); probe >= 0) {
    ::close(probe);
    return make_error(ec::already_exists,
                      "another bangerd is already listening on " + socket_path
                        + " (stop it with: banger daemon stop)");
  }
  ::unlink(socket_path.c_str()); // stale, nobody answers there
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path))
    return make_error(ec::invalid_argument,
                      "socket path " + socket_path
                        + " is too long for a Unix socket; use a shorter "
                          "XDG_RUNTIME_DIR");
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return make_error(ec::unavailable,
                      std::string("cannot create a socket: ")
                        + std::strerror(errno));
  auto old_mask = ::umask(0177);
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::umask(old_mask);
  if (rc != 0 || ::listen(fd, 64) != 0) {
    auto why = std::string(std::strerror(errno));
    ::close(fd);
    return make_error(ec::unavailable,
                      "cannot listen on " + socket_path + ": " + why);
  }
  std::unique_ptr<bridge> b(new bridge);
  b->fd_ = fd;
  b->path_ = socket_path;
  b->acceptor_ = std::thread([&sys, fd, deps, self = b.get()] {
    for (;;) {
      int client = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) {
        if (errno == EINTR || errno == ECONNABORTED)
          continue;
        return; // shut down
      }
      if (!admit(client))
        continue;
      auto conn = spawn_connection(sys, client, deps);
      std::lock_guard<std::mutex> guard(self->mtx_);
      // Forget connections that ended, keep the live ones for close().
      std::erase_if(self->connections_,
                    [](const caf::actor_addr& a) {
                      return !caf::actor_cast<caf::strong_actor_ptr>(a);
                    });
      self->connections_.push_back(conn.address());
    }
  });
  log::info("bridge", "listening on {}", socket_path);
  return b;
}

void bridge::close() {
  if (fd_ < 0)
    return;
  ::shutdown(fd_, SHUT_RDWR);
  if (acceptor_.joinable())
    acceptor_.join();
  ::close(fd_);
  fd_ = -1;
  ::unlink(path_.c_str());
  std::lock_guard<std::mutex> guard(mtx_);
  for (auto& conn : connections_)
    caf::anon_send_exit(conn, caf::exit_reason::user_shutdown);
  connections_.clear();
}

bridge::~bridge() {
  close();
}

} // namespace banger
