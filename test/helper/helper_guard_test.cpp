// Root's network policy in banger-helper, each test in its own network
// namespace: the bridge, subnet and DNS address are the helper's own
// settings; a subnet that overlaps the host is refused at start; TAPs and
// connections are capped; and what a guest may send is checked by writing
// frames into its TAP, as QEMU would: only from its own IP and MAC, and to
// the host only on the bridge's DNS port.

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nftables/libnftables.h>

#include "helper/netlink.hpp"
#include "services/helper_client.hpp"
#include "test/helper/calls.hpp"
#include "test/helper/inspect.hpp"
#include "test/helper/netns.hpp"
#include "test/helper/raw_client.hpp"

namespace banger::test {
namespace {

using helper::netlink;
using mac = std::array<std::uint8_t, 6>;

const mac mac_a = {0x02, 0x62, 0x67, 0x00, 0x00, 0x02};
const mac mac_b = {0x02, 0x62, 0x67, 0x00, 0x00, 0x03};
const char* mac_a_text = "02:62:67:00:00:02";
const char* mac_b_text = "02:62:67:00:00:03";

/// `nft [-a] list table FAMILY banger`; nullopt if there is none.
std::optional<std::string> nft_table(const std::string& family,
                                     bool handles = false) {
  auto ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  if (handles)
    nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_HANDLE);
  nft_ctx_buffer_output(ctx);
  nft_ctx_buffer_error(ctx);
  std::optional<std::string> out;
  auto cmd = "list table " + family + " banger";
  if (nft_run_cmd_from_buffer(ctx, cmd.c_str()) == 0)
    out = nft_ctx_get_output_buffer(ctx);
  nft_ctx_free(ctx);
  return out;
}

/// Runs a program (argv[0] searched in PATH) in this thread's namespace.
int run(std::vector<std::string> args) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  int status = -1;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::uint16_t ip_checksum(const std::uint8_t* p, std::size_t n) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i + 1 < n; i += 2)
    sum += (p[i] << 8) | p[i + 1];
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

/// An Ethernet frame carrying one UDP datagram (no UDP checksum).
std::string udp_frame(const mac& src, const mac& dst, const char* src_ip,
                      const char* dst_ip, std::uint16_t dport,
                      const std::string& payload) {
  std::array<std::uint8_t, 20> ip{};
  auto total = static_cast<std::uint16_t>(20 + 8 + payload.size());
  ip[0] = 0x45;
  ip[2] = static_cast<std::uint8_t>(total >> 8);
  ip[3] = static_cast<std::uint8_t>(total & 0xff);
  ip[6] = 0x40; // don't fragment
  ip[8] = 64;
  ip[9] = 17; // UDP
  in_addr a{};
  ::inet_pton(AF_INET, src_ip, &a);
  std::memcpy(ip.data() + 12, &a, 4);
  ::inet_pton(AF_INET, dst_ip, &a);
  std::memcpy(ip.data() + 16, &a, 4);
  auto sum = ip_checksum(ip.data(), ip.size());
  ip[10] = static_cast<std::uint8_t>(sum >> 8);
  ip[11] = static_cast<std::uint8_t>(sum & 0xff);
  auto ulen = static_cast<std::uint16_t>(8 + payload.size());
  std::array<std::uint8_t, 8> udp = {0x30,
                                     0x39, // source port 12345
                                     static_cast<std::uint8_t>(dport >> 8),
                                     static_cast<std::uint8_t>(dport & 0xff),
                                     static_cast<std::uint8_t>(ulen >> 8),
                                     static_cast<std::uint8_t>(ulen & 0xff),
                                     0,
                                     0};
  auto bytes = [](const auto& x) {
    return std::string(reinterpret_cast<const char*>(x.data()), x.size());
  };
  return bytes(dst) + bytes(src) + std::string("\x08\x00", 2) + bytes(ip)
         + bytes(udp) + payload;
}

mac hwaddr(const std::string& ifname) {
  mac out{};
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  if (::ioctl(s, SIOCGIFHWADDR, &ifr) == 0)
    std::memcpy(out.data(), ifr.ifr_hwaddr.sa_data, 6);
  ::close(s);
  return out;
}

unique_fd udp_listener(const char* addr, std::uint16_t port) {
  unique_fd fd{::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  ::inet_pton(AF_INET, addr, &sa.sin_addr);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
    return unique_fd{};
  return fd;
}

/// The next datagram's payload within `wait`, or nullopt.
std::optional<std::string> next_datagram(int fd,
                                         std::chrono::milliseconds wait) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0)
    return std::nullopt;
  char buf[256];
  auto n = ::recv(fd, buf, sizeof(buf), 0);
  if (n < 0)
    return std::nullopt;
  return std::string(buf, static_cast<std::size_t>(n));
}

class HelperPolicy : public running_helper {};

TEST_F(HelperPolicy, TheBridgeAndSubnetAreTheHelpersNotTheClients) {
  helper_client c(socket_);
  // The attack: the owner (or code escaped from its QEMU) asks root for a
  // bridge on the host's LAN prefix.
  auto lan = refused(c.ensure_bridge({"evil0", "192.168.1.129/25"}));
  EXPECT_EQ(lan.code, "invalid_argument");
  EXPECT_NE(lan.message.find("'evil0'"), std::string::npos) << lan.message;
  EXPECT_NE(lan.message.find("--bridge"), std::string::npos) << lan.message;
  auto other = refused(c.ensure_bridge({"bgtest0", "192.168.1.129/25"}));
  EXPECT_EQ(other.code, "invalid_argument");
  EXPECT_NE(other.message.find("'10.77.0.1/24'"), std::string::npos)
      << other.message;
  netlink nl;
  EXPECT_FALSE(nl.find("evil0"));
  EXPECT_FALSE(nl.find("bgtest0"));
  // Its own bridge and subnet are fine; TAPs and NAT only on that bridge.
  ok(c.ensure_bridge({"bgtest0", "10.77.0.1/24"}));
  EXPECT_EQ(refused(c.create_tap({"bgtap0", owner_uid, "evil0"})).code,
            "invalid_argument");
  EXPECT_EQ(refused(c.add_nat({"10.77.0.5", "evil0"})).code,
            "invalid_argument");
}

TEST_F(HelperPolicy, BindDnsGivesOnlyPort53OfItsBridge) {
  helper_client c(socket_);
  ok(c.ensure_bridge({"bgtest0", "10.77.0.1/24"}));
  // The attack: root-bound sockets on other privileged ports.
  for (std::uint16_t port : {22, 80, 123, 443, 1023, 5353}) {
    auto err = refused(c.bind_dns("10.77.0.1", port));
    EXPECT_EQ(err.code, "invalid_argument") << port;
    EXPECT_NE(err.message.find("port " + std::to_string(port)),
              std::string::npos)
        << err.message;
  }
  EXPECT_TRUE(ok(c.bind_dns("10.77.0.1", 53)).valid());
}

TEST_F(HelperPolicy, TapsAreCapped) {
  stop_helper();
  start_helper({"--max-taps", "2"});
  helper_client c(socket_);
  ok(c.ensure_bridge({"bgtest0", "10.77.0.1/24"}));
  ok(c.create_tap({"bgtap0", owner_uid, "bgtest0"}));
  ok(c.create_tap({"bgtap1", owner_uid, "bgtest0"}));
  auto err = refused(c.create_tap({"bgtap2", owner_uid, "bgtest0"}));
  EXPECT_EQ(err.code, "unavailable");
  EXPECT_NE(err.message.find("--max-taps is 2"), std::string::npos)
      << err.message;
  EXPECT_FALSE(netlink().find("bgtap2"));
  // An existing one is still ensured; a freed slot is usable again.
  ok(c.create_tap({"bgtap1", owner_uid, "bgtest0"}));
  ok(c.delete_tap({"bgtap1"}));
  ok(c.create_tap({"bgtap2", owner_uid, "bgtest0"}));
}

TEST_F(HelperPolicy, ConcurrentClientsAreCapped) {
  stop_helper();
  start_helper({"--max-clients", "2"});
  // Two connections held open: each holds one of the helper's threads. (A
  // slot freed a moment ago, like start_helper's probe, may still be
  // counted: retry until served.)
  auto held = [&](std::optional<raw_client>& c) {
    for (int i = 0; i < 200; ++i) {
      c.emplace(socket_);
      try {
        if (c->call(helper_msg::list, wire::json::object()).type
            == helper_msg::result)
          return true;
      } catch (const std::exception&) {
      }
      ::usleep(50000);
    }
    return false;
  };
  std::optional<raw_client> a_, b;
  ASSERT_TRUE(held(a_));
  ASSERT_TRUE(held(b));
  auto& a = *a_;
  raw_client third(socket_);
  ASSERT_TRUE(third.connected());
  // Without a cap the helper serves it and says nothing: do not wait forever.
  pollfd p{third.fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10000), 1)
      << "no answer within 10 s to a connection beyond the cap";
  auto env = third.read();
  ASSERT_TRUE(env) << "no answer to a connection beyond the cap";
  EXPECT_EQ(env->type, helper_msg::error);
  auto body = decode<error_body>(env->body);
  EXPECT_EQ(body.code, "unavailable");
  EXPECT_NE(body.message.find("at most 2 connections"), std::string::npos)
      << body.message;
  EXPECT_FALSE(third.read()) << "the refused connection stayed open";
  // The held ones still work; once one closes, a new one is served.
  EXPECT_EQ(a.call(helper_msg::list, wire::json::object()).type,
            helper_msg::result);
  b.reset();
  bool served = false;
  for (int i = 0; i < 100 && !served; ++i) {
    served = static_cast<bool>(helper_client(socket_).list());
    if (!served)
      ::usleep(50000);
  }
  EXPECT_TRUE(served) << "a freed slot was never reused";
}

class HelperSubnetCheck : public helper_netns {
protected:
  /// Starts the helper expecting a refusal; returns its stderr.
  std::string refused_start(const std::vector<std::string>& extra) {
    auto log = dir_ + "/start.log";
    const char* bin = std::getenv("BANGER_TEST_HELPER_BIN");
    std::vector<std::string> args = {
        bin != nullptr && *bin != '\0' ? bin : BANGER_HELPER_BIN, "--socket",
        dir_ + "/helper.sock", "--owner-uid", std::to_string(owner_uid)};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_t pid = ::fork();
    if (pid == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 2);
      std::vector<char*> argv;
      for (auto& a : args)
        argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    int status = -1;
    for (int i = 0; i < 1000; ++i) {
      if (::waitpid(pid, &status, WNOHANG) == pid)
        break;
      ::usleep(10000);
    }
    if (::waitpid(pid, &status, WNOHANG) == 0) {
      ::kill(pid, SIGKILL); // still running: it accepted the subnet
      ::waitpid(pid, &status, 0);
      ADD_FAILURE() << "banger-helper started with " << extra.back();
    } else {
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
    }
    std::ifstream in(log);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }
};

TEST_F(HelperSubnetCheck, ASubnetOverlappingTheHostIsRefusedAtStart) {
  // The host's own "LAN": an address and a route on a link banger did not
  // make.
  netlink nl;
  nl.create_bridge("lan0");
  auto lan = nl.find("lan0");
  ASSERT_TRUE(lan);
  nl.add_address(lan->index, *parse_ipv4_cidr("192.168.1.10/24"));
  nl.set_up(lan->index);
  ASSERT_EQ(run({"ip", "route", "add", "10.90.0.0/16", "via", "192.168.1.1"}),
            0);
  auto err = refused_start({"--subnet", "192.168.1.128/25"});
  EXPECT_NE(err.find("overlaps address 192.168.1.10/24 of 'lan0'"),
            std::string::npos)
      << err;
  err = refused_start({"--subnet", "192.168.0.0/16"});
  EXPECT_NE(err.find("overlaps address 192.168.1.10/24"), std::string::npos)
      << err;
  err = refused_start({"--subnet", "10.90.7.0/24"});
  EXPECT_NE(err.find("overlaps route 10.90.0.0/16"), std::string::npos) << err;
  EXPECT_FALSE(nl.find("banger0"));
  // A free subnet starts; so does a restart over its own bridge.
  start_helper({"--subnet", "10.91.0.0/24"});
  ok(helper_client(socket_).ensure_bridge({"bgtest0", "10.91.0.1/24"}));
  stop_helper();
  start_helper({"--subnet", "10.91.0.0/24"});
}

// -- what guests may send ---------------------------------------------------

class HelperGuard : public running_helper {
protected:
  void SetUp() override {
    running_helper::SetUp();
    if (IsSkipped() || HasFatalFailure())
      return;
    netlink nl;
    nl.set_up(nl.find("lo")->index);
    c_.emplace(socket_);
    ok(c().ensure_bridge({"bgtest0", "10.77.0.1/24"}));
  }
  helper_client& c() { return *c_; }

  /// A TAP bound to ip/mac, and its queue (what QEMU would hold).
  unique_fd guest(const std::string& tap, const char* ip, const char* mac) {
    ok(c().create_tap({tap, owner_uid, "bgtest0"}));
    // Not fatal: against a helper without bindings the frames below still
    // show what a guest could do.
    auto bound = c().bind_tap({tap, ip, mac});
    EXPECT_TRUE(bound && bound->changed)
        << (bound ? "unchanged" : error_message(bound.error()));
    return ok(c().open_tap(tap));
  }

  void send(int tap_fd, const std::string& frame) {
    ASSERT_EQ(::write(tap_fd, frame.data(), frame.size()),
              static_cast<ssize_t>(frame.size()))
        << std::strerror(errno);
  }

  /// The bridge's MAC now: it follows its ports' until set.
  mac bridge_mac() { return hwaddr("bgtest0"); }

  std::optional<helper_client> c_;
};

TEST_F(HelperGuard, AGuestSendsOnlyFromItsOwnAddressAndMac) {
  auto a = guest("bgtap0", "10.77.0.2", mac_a_text); // say, the --nat guest
  auto b = guest("bgtap1", "10.77.0.3", mac_b_text); // the --no-nat one
  auto dns = ok(c().bind_dns("10.77.0.1", 53));
  auto to_dns = [&](const mac& src, const char* ip, const std::string& what) {
    return udp_frame(src, bridge_mac(), ip, "10.77.0.1", 53, what);
  };
  // The attacks, from guest b: a's address, a's MAC, both, and an address
  // outside the subnet. Then b as itself, which must be the first to arrive.
  send(b.get(), to_dns(mac_b, "10.77.0.2", "b as a's ip"));
  send(b.get(), to_dns(mac_a, "10.77.0.3", "b with a's mac"));
  send(b.get(), to_dns(mac_a, "10.77.0.2", "b as a"));
  send(b.get(), to_dns(mac_b, "10.1.2.3", "b from elsewhere"));
  send(b.get(), to_dns(mac_b, "10.77.0.3", "b as itself"));
  auto got = next_datagram(dns.get(), std::chrono::seconds(5));
  ASSERT_TRUE(got) << "the honest datagram did not arrive";
  EXPECT_EQ(*got, "b as itself");
  send(a.get(), to_dns(mac_a, "10.77.0.2", "a as itself"));
  got = next_datagram(dns.get(), std::chrono::seconds(5));
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, "a as itself");
  EXPECT_FALSE(next_datagram(dns.get(), std::chrono::milliseconds(300)))
      << "a spoofed datagram arrived late";

  // An unbound TAP sends nothing at all.
  ok(c().create_tap({"bgtap2", owner_uid, "bgtest0"}));
  auto unbound = ok(c().open_tap("bgtap2"));
  send(unbound.get(), to_dns(mac_b, "10.77.0.4", "unbound"));
  send(a.get(), to_dns(mac_a, "10.77.0.2", "after unbound"));
  got = next_datagram(dns.get(), std::chrono::seconds(5));
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, "after unbound");
}

TEST_F(HelperGuard, GuestsReachTheHostOnlyOnTheBridgesDnsPort) {
  auto a = guest("bgtap0", "10.77.0.2", mac_a_text);
  auto dns = ok(c().bind_dns("10.77.0.1", 53));
  // A host service listening on every address (like sshd on 0.0.0.0).
  auto service = udp_listener("0.0.0.0", 9999);
  ASSERT_TRUE(service.valid()) << std::strerror(errno);
  send(a.get(), udp_frame(mac_a, bridge_mac(), "10.77.0.2", "10.77.0.1", 9999,
                          "to the service"));
  send(a.get(),
       udp_frame(mac_a, bridge_mac(), "10.77.0.2", "10.77.0.1", 53, "to dns"));
  auto got = next_datagram(dns.get(), std::chrono::seconds(5));
  ASSERT_TRUE(got) << "DNS on the bridge must stay reachable";
  EXPECT_EQ(*got, "to dns");
  EXPECT_FALSE(next_datagram(service.get(), std::chrono::milliseconds(300)))
      << "a guest reached a host service on 0.0.0.0";
  // From the host itself the service still answers (only the bridge is
  // filtered).
  int peer = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(9999);
  ::inet_pton(AF_INET, "10.77.0.1", &to.sin_addr);
  ASSERT_EQ(::sendto(peer, "local", 5, 0, reinterpret_cast<sockaddr*>(&to),
                     sizeof(to)),
            5);
  ::close(peer);
  got = next_datagram(service.get(), std::chrono::seconds(5));
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, "local");
}

TEST_F(HelperGuard, BindingsAreCheckedAndLeaveWithTheirTap) {
  ok(c().create_tap({"bgtap0", owner_uid, "bgtest0"}));
  ok(c().create_tap({"bgtap1", owner_uid, "bgtest0"}));
  for (auto [ip, mac] : {std::pair{"10.78.0.2", mac_a_text},   // outside
                         std::pair{"10.77.0.1", mac_a_text},   // the bridge
                         std::pair{"10.77.0.255", mac_a_text}, // broadcast
                         std::pair{"10.77.0.2", "01:00:5e:00:00:01"}, // group
                         std::pair{"10.77.0.2", "02:62:67:00:00"},
                         std::pair{"10.77.0.2", "00:00:00:00:00:00"}})
    EXPECT_EQ(refused(c().bind_tap({"bgtap0", ip, mac})).code,
              "invalid_argument")
        << ip << " " << mac;
  EXPECT_EQ(refused(c().bind_tap({"bgtap9", "10.77.0.2", mac_a_text})).code,
            "not_found");
  EXPECT_TRUE(ok(c().bind_tap({"bgtap0", "10.77.0.2", mac_a_text})).changed);
  EXPECT_FALSE(ok(c().bind_tap({"bgtap0", "10.77.0.2", mac_a_text})).changed);
  // Another TAP may not claim the same address or MAC.
  EXPECT_EQ(refused(c().bind_tap({"bgtap1", "10.77.0.2", mac_b_text})).code,
            "already_exists");
  EXPECT_EQ(refused(c().bind_tap({"bgtap1", "10.77.0.3", mac_a_text})).code,
            "already_exists");
  ok(c().bind_tap({"bgtap1", "10.77.0.3", mac_b_text}));
  auto list = ok(c().list());
  ASSERT_EQ(list.taps.size(), 2u);
  for (auto& t : list.taps)
    EXPECT_EQ(t.guest_ip, t.name == "bgtap0" ? "10.77.0.2" : "10.77.0.3");

  // Deleting the TAP removes its rules.
  ok(c().delete_tap({"bgtap0"}));
  auto table = nft_table("bridge");
  ASSERT_TRUE(table);
  EXPECT_EQ(count(*table, "bgtap0"), 0u) << *table;
  EXPECT_EQ(count(*table, "tap_bgtap1"), 2u) << *table; // jump + chain
  // A TAP gone behind the helper's back: its rules go at the next start.
  netlink nl;
  nl.delete_link(nl.find("bgtap1")->index);
  stop_helper();
  start_helper();
  table = nft_table("bridge");
  ASSERT_TRUE(table);
  EXPECT_EQ(count(*table, "bgtap1"), 0u) << *table;
  EXPECT_EQ(count(*table, "iifname \"bgtap*\" drop"), 1u) << *table;
}

TEST_F(HelperGuard, EnsureBridgeLeavesTheGuardAsItIs) {
  auto inet = nft_table("inet", true);
  auto bridge = nft_table("bridge", true);
  ASSERT_TRUE(inet && bridge);
  EXPECT_EQ(count(*inet, "iifname \"bgtest0\""), 4u) << *inet;
  EXPECT_EQ(count(*inet, "udp dport 53 accept"), 1u) << *inet;
  ok(c().ensure_bridge({"bgtest0", "10.77.0.1/24"}));
  stop_helper();
  start_helper();
  ok(c().ensure_bridge({"bgtest0", "10.77.0.1/24"}));
  EXPECT_EQ(nft_table("inet", true), inet) << "rules replaced needlessly";
  EXPECT_EQ(nft_table("bridge", true), bridge) << "rules replaced needlessly";
}

} // namespace
} // namespace banger::test
