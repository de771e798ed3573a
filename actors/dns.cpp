#include "actors/dns.hpp"

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <caf/all.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "services/dns_packet.hpp"
#include "services/error.hpp"
#include "services/log.hpp"
#include "services/names.hpp"

namespace banger {

namespace {

constexpr std::string_view who = "dns";

struct endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

caf::expected<endpoint> parse_listen(const std::string& text) {
  auto bad = [&] {
    return make_error(ec::invalid_argument,
                      fmt::format("invalid DNS listen address \"{}\": use a "
                                  "numeric ip:port such as 127.0.0.1:5353 or "
                                  "[::1]:5353",
                                  text.substr(0, 80)));
  };
  auto colon = text.rfind(':');
  if (colon == std::string::npos)
    return bad();
  auto host = text.substr(0, colon);
  auto port_text = text.substr(colon + 1);
  std::uint16_t port = 0;
  auto last = port_text.data() + port_text.size();
  auto [end, err] = std::from_chars(port_text.data(), last, port);
  if (port_text.empty() || err != std::errc{} || end != last)
    return bad();
  endpoint ep;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    auto& sa = reinterpret_cast<sockaddr_in6&>(ep.addr);
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(port);
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(),
                  &sa.sin6_addr)
        != 1)
      return bad();
    ep.len = sizeof(sockaddr_in6);
  } else {
    auto& sa = reinterpret_cast<sockaddr_in&>(ep.addr);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1)
      return bad();
    ep.len = sizeof(sockaddr_in);
  }
  return ep;
}

std::string format_address(const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET6) {
    auto& sa = reinterpret_cast<const sockaddr_in6&>(ss);
    inet_ntop(AF_INET6, &sa.sin6_addr, buf, sizeof(buf));
    return fmt::format("[{}]:{}", buf, ntohs(sa.sin6_port));
  }
  auto& sa = reinterpret_cast<const sockaddr_in&>(ss);
  inet_ntop(AF_INET, &sa.sin_addr, buf, sizeof(buf));
  return fmt::format("{}:{}", buf, ntohs(sa.sin_port));
}

// The socket and its reader thread. The thread answers every query itself
// from an immutable snapshot of the zone, which the actor replaces (under
// the mutex, a pointer swap) on every put/del. So queries never pass
// through the mailbox: a flood of datagrams cannot grow it or delay
// updates, the actor never blocks, and no CAF call happens on this thread.
// The thread waits in poll() on the socket and an eventfd; stop() signals
// the eventfd and joins.
class udp_server {
public:
  static caf::expected<std::shared_ptr<udp_server>>
  open(const std::string& listen, int bound_fd) {
    auto ep = parse_listen(listen);
    if (!ep)
      return std::move(ep.error());
    auto unavailable = [&](const char* what) {
      return make_error(ec::unavailable,
                        fmt::format("cannot {} the DNS server's socket on "
                                    "{}: {}; choose another address or port",
                                    what, listen, std::strerror(errno)));
    };
    auto srv = std::make_shared<udp_server>();
    if (bound_fd >= 0) {
      // Bound for us (banger-helper binds port 53 for an unprivileged daemon).
      srv->fd_ = bound_fd;
      int flags = ::fcntl(srv->fd_, F_GETFL);
      if (flags < 0 || ::fcntl(srv->fd_, F_SETFL, flags | O_NONBLOCK) != 0)
        return unavailable("use");
    } else {
      srv->fd_ = ::socket(ep->addr.ss_family,
                          SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (srv->fd_ < 0)
        return unavailable("create");
      if (::bind(srv->fd_, reinterpret_cast<sockaddr*>(&ep->addr), ep->len) != 0)
        return unavailable("bind");
    }
    sockaddr_storage bound{};
    socklen_t len = sizeof(bound);
    if (::getsockname(srv->fd_, reinterpret_cast<sockaddr*>(&bound), &len) != 0)
      return unavailable("inspect");
    srv->address_ = format_address(bound);
    srv->wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (srv->wake_ < 0)
      return unavailable("create a wakeup event for");
    return srv;
  }

  udp_server() = default;
  udp_server(const udp_server&) = delete;
  udp_server& operator=(const udp_server&) = delete;
  ~udp_server() { stop(); }

  void start(std::shared_ptr<const dns::zone> zone) {
    publish(std::move(zone));
    thread_ = std::thread([this] { run(); });
  }

  void publish(std::shared_ptr<const dns::zone> zone) {
    std::lock_guard<std::mutex> guard(mtx_);
    zone_ = std::move(zone);
  }

  const std::string& address() const { return address_; }

  /// Wakes the thread, joins it and closes the socket. Idempotent.
  void stop() {
    if (thread_.joinable()) {
      std::uint64_t one = 1;
      [[maybe_unused]] auto n = ::write(wake_, &one, sizeof(one));
      thread_.join();
    }
    for (int* fd : {&fd_, &wake_})
      if (*fd >= 0) {
        ::close(*fd);
        *fd = -1;
      }
  }

private:
  std::shared_ptr<const dns::zone> snapshot() {
    std::lock_guard<std::mutex> guard(mtx_);
    return zone_;
  }

  void run() {
    std::array<std::uint8_t, 4096> buf;
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_, POLLIN, 0}};
    for (;;) {
      fds[0].revents = fds[1].revents = 0;
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR)
          continue;
        log::error(who, "poll failed, no longer answering: {}",
                   std::strerror(errno));
        return;
      }
      if (fds[1].revents != 0)
        return;
      // A bounded batch, so that stop() is noticed even under a flood.
      for (int i = 0; i < 64; ++i) {
        sockaddr_storage from{};
        socklen_t len = sizeof(from);
        auto got = ::recvfrom(fd_, buf.data(), buf.size(), MSG_DONTWAIT,
                              reinterpret_cast<sockaddr*>(&from), &len);
        if (got < 0)
          break; // drained, or a pending error report: back to poll
        auto zone = snapshot();
        auto reply =
            dns::respond({buf.data(), static_cast<std::size_t>(got)}, *zone);
        if (reply)
          ::sendto(fd_, reply->data(), reply->size(), MSG_DONTWAIT,
                   reinterpret_cast<sockaddr*>(&from), len);
      }
    }
  }

  int fd_ = -1;
  int wake_ = -1;
  std::string address_;
  std::mutex mtx_;
  std::shared_ptr<const dns::zone> zone_;
  std::thread thread_;
};

struct dns_state {
  [[maybe_unused]] static inline const char* name = "dns";
  std::shared_ptr<udp_server> server;
  dns::zone zone;

  // CAF destroys the state when the actor exits: the socket closes then.
  ~dns_state() {
    if (server)
      server->stop();
  }

  void publish() { server->publish(std::make_shared<const dns::zone>(zone)); }
};

dns_actor::behavior_type dns_impl(dns_actor::stateful_pointer<dns_state> self,
                                  std::shared_ptr<udp_server> server,
                                  dns::zone zone) {
  auto& st = self->state;
  st.server = std::move(server);
  st.zone = std::move(zone);
  return {
      [self](atom::put, const std::string& name,
             const std::string& ip) -> caf::result<bool> {
        if (auto why = validate_vm_name(name); !why.empty())
          return make_error(ec::invalid_argument, why);
        auto addr = dns::parse_ipv4(ip);
        if (!addr)
          return make_error(ec::invalid_argument,
                            fmt::format("invalid IPv4 address \"{}\" for VM "
                                        "{}: use a dotted quad like 172.16.0.2",
                                        ip.substr(0, 40), name));
        auto& st = self->state;
        st.zone.hosts[name] = *addr;
        st.publish();
        log::info(who, "{}.{} -> {}", name, st.zone.origin,
                  dns::to_string(*addr));
        return true;
      },
      [self](atom::del, const std::string& name) {
        auto& st = self->state;
        if (st.zone.hosts.erase(name) == 0)
          return false;
        st.publish();
        log::info(who, "{}.{} withdrawn", name, st.zone.origin);
        return true;
      },
      [self](atom::list) {
        std::vector<dns_record> out;
        for (auto& [name, addr] : self->state.zone.hosts)
          out.push_back({name, dns::to_string(addr)});
        return out;
      },
      [self](atom::status) { return self->state.server->address(); },
  };
}

} // namespace

caf::expected<dns_actor> spawn_dns(caf::actor_system& sys,
                                   const dns_config& cfg) {
  if (auto why = dns::validate_zone(cfg.zone); !why.empty())
    return make_error(ec::invalid_argument,
                      fmt::format("invalid DNS zone \"{}\": {}",
                                  cfg.zone.substr(0, 80), why));
  dns::zone zone;
  zone.origin = dns::normalize_zone(cfg.zone);
  zone.ttl = cfg.ttl_s;
  auto server = udp_server::open(cfg.listen, cfg.bound_fd);
  if (!server)
    return std::move(server.error());
  (*server)->start(std::make_shared<const dns::zone>(zone));
  log::info(who, "answering for .{} on udp {}", zone.origin,
            (*server)->address());
  return sys.spawn<caf::detached>(dns_impl, std::move(*server),
                                  std::move(zone));
}

} // namespace banger
