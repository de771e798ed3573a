// The .vm DNS actor on CAF's normal scheduler, asked over real UDP on
// 127.0.0.1: records appear with put, go with del, other zones are refused,
// garbage does not stop it, and an exit message closes its socket. Every
// wait is bounded; nothing asserts on timing.

#include "actors/dns.hpp"

#include <chrono>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/all.hpp>
#include <caf/scoped_actor.hpp>
#include <gtest/gtest.h>

#include "services/dns_packet.hpp"
#include "services/error.hpp"

namespace banger {
namespace {

using namespace std::chrono_literals;
using buffer = std::vector<std::uint8_t>;

constexpr auto reply_timeout = 10s;

/// "127.0.0.1:PORT" as a socket address.
sockaddr_in loopback(const std::string& address) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  auto colon = address.rfind(':');
  EXPECT_EQ(address.substr(0, colon), "127.0.0.1");
  sa.sin_port =
      htons(static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))));
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  return sa;
}

/// A UDP socket on 127.0.0.1 whose reads wait at most 1 s.
class udp_client {
public:
  explicit udp_client(const std::string& server) : server_(loopback(server)) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd_, 0);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &local.sin_addr);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof(local)),
              0);
    timeval tv{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~udp_client() { ::close(fd_); }
  udp_client(const udp_client&) = delete;
  udp_client& operator=(const udp_client&) = delete;

  void send(const buffer& packet) {
    ::sendto(fd_, packet.data(), packet.size(), 0,
             reinterpret_cast<const sockaddr*>(&server_), sizeof(server_));
  }

  /// Asks for `name`; the reply with the query's id, after up to three
  /// tries of one second each (UDP may drop, even on loopback).
  std::optional<dns::response> ask(const std::string& name,
                                   std::uint16_t type = dns::qtype::a) {
    auto id = static_cast<std::uint16_t>(++next_id_);
    for (int attempt = 0; attempt < 3; ++attempt) {
      send(dns::make_query(id, name, type));
      std::uint8_t buf[1500];
      for (;;) {
        auto n = ::recv(fd_, buf, sizeof(buf), 0);
        if (n < 0)
          break; // timed out: send again
        auto r = dns::decode_response({buf, static_cast<std::size_t>(n)});
        if (r && r->head.id == id)
          return r;
      }
    }
    return std::nullopt;
  }

private:
  int fd_ = -1;
  sockaddr_in server_;
  std::uint16_t next_id_ = 100;
};

std::string ip_of(const dns::response& r) {
  if (r.answers.size() != 1 || r.answers[0].data.size() != 4)
    return "(" + std::to_string(r.answers.size()) + " answers)";
  auto& d = r.answers[0].data;
  return dns::to_string({d[0], d[1], d[2], d[3]});
}

caf::actor_system_config& with_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::banger>();
  cfg.add_message_types<caf::id_block::banger_daemon>();
  cfg.add_message_types<caf::id_block::banger_dns>();
  return cfg;
}

class dns_actor_test : public ::testing::Test {
protected:
  dns_actor_test() : sys(with_types(cfg)), self(sys) {}

  ~dns_actor_test() override {
    for (auto& a : spawned_)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }

  dns_actor spawn(dns_config config = {}) {
    auto h = spawn_dns(sys, config);
    EXPECT_TRUE(h) << (h ? "" : error_message(h.error()));
    if (!h)
      return {};
    spawned_.push_back(*h);
    return *h;
  }

  template <class T, class... Ts>
  caf::expected<T> call(const dns_actor& h, Ts&&... xs) {
    caf::expected<T> out = make_error(ec::internal, "no reply");
    self->request(h, reply_timeout, std::forward<Ts>(xs)...)
        .receive([&](T& x) { out = std::move(x); },
                 [&](caf::error& err) { out = std::move(err); });
    return out;
  }

  std::string address(const dns_actor& h) {
    auto a = call<std::string>(h, atom::status_v);
    EXPECT_TRUE(a);
    return a ? *a : "";
  }

  bool put(const dns_actor& h, std::string name, std::string ip) {
    auto r = call<bool>(h, atom::put_v, std::move(name), std::move(ip));
    EXPECT_TRUE(r) << (r ? "" : error_message(r.error()));
    return r && *r;
  }

  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scoped_actor self;

private:
  std::vector<dns_actor> spawned_;
};

TEST_F(dns_actor_test, status_names_the_bound_loopback_port) {
  auto dns = spawn();
  auto addr = address(dns);
  ASSERT_EQ(addr.rfind("127.0.0.1:", 0), 0u) << addr;
  EXPECT_NE(addr, "127.0.0.1:0") << "port 0 is resolved to the real port";
}

TEST_F(dns_actor_test, resolves_after_put_and_nxdomain_after_del) {
  auto dns = spawn();
  udp_client client(address(dns));

  auto before = client.ask("web.vm");
  ASSERT_TRUE(before);
  EXPECT_EQ(before->head.rcode(), dns::rcode::nxdomain);

  EXPECT_TRUE(put(dns, "web", "172.16.0.2"));
  auto hit = client.ask("web.vm");
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->head.rcode(), dns::rcode::noerror);
  EXPECT_TRUE(hit->head.flags & dns::flag::aa);
  EXPECT_EQ(ip_of(*hit), "172.16.0.2");
  auto upper = client.ask("WEB.VM.");
  ASSERT_TRUE(upper);
  EXPECT_EQ(ip_of(*upper), "172.16.0.2");
  auto v6 = client.ask("web.vm", dns::qtype::aaaa);
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->head.rcode(), dns::rcode::noerror);
  EXPECT_EQ(v6->answers.size(), 0u);

  // A restarted VM may come back on another address.
  EXPECT_TRUE(put(dns, "web", "172.16.0.7"));
  auto moved = client.ask("web.vm");
  ASSERT_TRUE(moved);
  EXPECT_EQ(ip_of(*moved), "172.16.0.7");

  EXPECT_EQ(call<bool>(dns, atom::del_v, std::string("web")), true);
  EXPECT_EQ(call<bool>(dns, atom::del_v, std::string("web")), false);
  auto gone = client.ask("web.vm");
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->head.rcode(), dns::rcode::nxdomain);
  EXPECT_EQ(gone->answers.size(), 0u);
}

TEST_F(dns_actor_test, refuses_names_outside_the_zone) {
  auto dns = spawn();
  put(dns, "web", "172.16.0.2");
  udp_client client(address(dns));
  for (auto name : {"example.com", "web.vm.example.com", "localhost"}) {
    auto r = client.ask(name);
    ASSERT_TRUE(r) << name;
    EXPECT_EQ(r->head.rcode(), dns::rcode::refused) << name;
    EXPECT_EQ(r->answers.size(), 0u) << name;
  }
}

TEST_F(dns_actor_test, the_zone_and_ttl_are_configurable) {
  auto dns = spawn({"127.0.0.1:0", "Banger.Test.", 60});
  put(dns, "web", "10.1.2.3");
  udp_client client(address(dns));
  auto r = client.ask("web.banger.test");
  ASSERT_TRUE(r);
  EXPECT_EQ(ip_of(*r), "10.1.2.3");
  ASSERT_EQ(r->answers.size(), 1u);
  EXPECT_EQ(r->answers[0].ttl, 60u);
  auto other = client.ask("web.vm");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->head.rcode(), dns::rcode::refused);
}

TEST_F(dns_actor_test, put_refuses_invalid_names_and_addresses) {
  auto dns = spawn();
  for (auto [name, ip] : std::vector<std::pair<std::string, std::string>>{
           {"Web", "10.0.0.1"},
           {"a.b", "10.0.0.1"},
           {"", "10.0.0.1"},
           {"web", "10.0.0"},
           {"web", "::1"},
           {"web", "10.0.0.256"}}) {
    auto r = call<bool>(dns, atom::put_v, name, ip);
    ASSERT_FALSE(r) << name << " " << ip;
    EXPECT_EQ(error_code(r.error()), ec::invalid_argument);
  }
  auto all = call<std::vector<dns_record>>(dns, atom::list_v);
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->empty());
}

TEST_F(dns_actor_test, list_gives_every_record_sorted_by_name) {
  auto dns = spawn();
  put(dns, "web", "172.16.0.2");
  put(dns, "db", "172.16.0.3");
  put(dns, "cache-1", "172.16.0.4");
  call<bool>(dns, atom::del_v, std::string("db"));
  auto all = call<std::vector<dns_record>>(dns, atom::list_v);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "cache-1");
  EXPECT_EQ((*all)[0].ipv4, "172.16.0.4");
  EXPECT_EQ((*all)[1].name, "web");
  EXPECT_EQ((*all)[1].ipv4, "172.16.0.2");
}

TEST_F(dns_actor_test, survives_a_thousand_garbage_datagrams) {
  auto dns = spawn();
  put(dns, "web", "172.16.0.2");
  auto addr = address(dns);
  {
    udp_client junk(addr);
    std::mt19937 rng(42);
    auto valid = dns::make_query(1, "web.vm", dns::qtype::a);
    for (int i = 0; i < 1000; ++i) {
      buffer p;
      if (i % 3 == 0) { // a query with a few bytes changed and cut short
        p = valid;
        for (int k = 0; k < 3; ++k)
          p[rng() % p.size()] = static_cast<std::uint8_t>(rng());
        p.resize(rng() % (p.size() + 1));
      } else {
        p.resize(rng() % 600);
        for (auto& x : p)
          x = static_cast<std::uint8_t>(rng());
      }
      junk.send(p);
    }
  }
  udp_client client(addr);
  auto r = client.ask("web.vm");
  ASSERT_TRUE(r) << "no answer after the garbage";
  EXPECT_EQ(ip_of(*r), "172.16.0.2");
  EXPECT_EQ(call<std::string>(dns, atom::status_v), addr);
}

TEST_F(dns_actor_test, an_exit_message_closes_the_socket) {
  auto dns = spawn();
  auto addr = address(dns);
  auto sa = loopback(addr);
  self->monitor(dns);
  caf::anon_send_exit(dns, caf::exit_reason::user_shutdown);
  bool down = false;
  self->receive([&](const caf::down_msg&) { down = true; },
                caf::after(reply_timeout) >> [] {});
  ASSERT_TRUE(down) << "the DNS actor did not exit";
  // The port is free again: the socket was closed.
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0)
      << std::strerror(errno);
  ::close(fd);
}

TEST_F(dns_actor_test, spawn_reports_bad_addresses_zones_and_busy_ports) {
  for (auto bad : {"127.0.0.1", "localhost:53", "127.0.0.1:99999",
                   "127.0.0.1:x", "[::1:53", "1.2.3:53", ""}) {
    auto h = spawn_dns(sys, {bad, "vm", 5});
    ASSERT_FALSE(h) << bad;
    EXPECT_EQ(error_code(h.error()), ec::invalid_argument) << bad;
    EXPECT_NE(error_message(h.error()).find("listen address"),
              std::string::npos);
  }
  auto zone = spawn_dns(sys, {"127.0.0.1:0", "v_m", 5});
  ASSERT_FALSE(zone);
  EXPECT_EQ(error_code(zone.error()), ec::invalid_argument);

  auto first = spawn();
  auto busy = spawn_dns(sys, {address(first), "vm", 5});
  ASSERT_FALSE(busy);
  EXPECT_EQ(error_code(busy.error()), ec::unavailable);
  EXPECT_NE(error_message(busy.error()).find("choose another"),
            std::string::npos)
      << error_message(busy.error());
}

} // namespace
} // namespace banger
