// The descriptors banger-helper hands over (helper.open_tap, helper.bind_dns)
// through the daemon's client, each test in its own network namespace: what
// arrives is checked with the kernel's own calls (fstat, TUNGETIFF,
// getsockname), and used: frames from the bridge come out of the TAP's
// descriptor, datagrams to the bridge address reach the DNS socket.

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <optional>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper/netlink.hpp"
#include "helper/operations.hpp"
#include "helper/tun.hpp"
#include "services/helper_client.hpp"
#include "test/helper/calls.hpp"
#include "test/helper/netns.hpp"
#include "test/helper/raw_client.hpp"

namespace banger::test {
namespace {

using helper::netlink;
using namespace std::chrono_literals;

class HelperFds : public running_helper {
protected:
  void SetUp() override {
    running_helper::SetUp();
    if (IsSkipped() || HasFatalFailure())
      return;
    // Local delivery (a datagram to the bridge's own address) goes through
    // lo, which starts down in a fresh namespace.
    netlink nl;
    auto lo = nl.find("lo");
    ASSERT_TRUE(lo);
    nl.set_up(lo->index);
    client_.emplace(socket_);
    ok(c().ensure_bridge({"bgtest0", "10.77.0.1/24"}));
  }

  /// The daemon's client of this test's helper.
  helper_client& c() { return *client_; }

private:
  std::optional<helper_client> client_;
};

/// The TAP name and flags the kernel reports for a tun descriptor.
ifreq tun_ifreq(int fd) {
  ifreq ifr{};
  if (::ioctl(fd, TUNGETIFF, &ifr) != 0)
    throw std::runtime_error(std::string("TUNGETIFF: ") + std::strerror(errno));
  return ifr;
}

sockaddr_in inet(const char* ip, std::uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  ::inet_pton(AF_INET, ip, &sa.sin_addr);
  return sa;
}

bool readable(int fd, std::chrono::milliseconds within) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(within.count())) == 1;
}

TEST_F(HelperFds, OpenTapGivesADescriptorOfThatTapThatCarriesItsFrames) {
  ok(c().create_tap({"bgtap0", owner_uid, "bgtest0"}));
  auto fd = ok(c().open_tap("bgtap0"));
  ASSERT_TRUE(fd.valid());

  struct stat st {};
  ASSERT_EQ(::fstat(fd.get(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(major(st.st_rdev), 10u) << "not /dev/net/tun";
  EXPECT_EQ(minor(st.st_rdev), 200u) << "not /dev/net/tun";
  EXPECT_TRUE(::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC)
      << "a VMM started without asking must not inherit it";
  auto ifr = tun_ifreq(fd.get());
  EXPECT_STREQ(ifr.ifr_name, "bgtap0");
  EXPECT_TRUE(ifr.ifr_flags & IFF_TAP);
  EXPECT_TRUE(ifr.ifr_flags & IFF_NO_PI);
  EXPECT_FALSE(ifr.ifr_flags & IFF_TUN);

  // A datagram to a guest address on the bridge makes the kernel ask who has
  // it (ARP); the bridge floods that to its ports: it must come out of our
  // descriptor as a bare Ethernet frame (no packet-info header).
  int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(udp, 0);
  auto guest = inet("10.77.0.5", 9);
  bool seen = false;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    ::sendto(udp, "x", 1, 0, reinterpret_cast<sockaddr*>(&guest),
             sizeof(guest));
    while (!seen && readable(fd.get(), 300ms)) {
      unsigned char frame[2048];
      auto n = ::read(fd.get(), frame, sizeof(frame));
      ASSERT_GT(n, 0) << std::strerror(errno);
      bool arp = n >= 42 && frame[12] == 0x08 && frame[13] == 0x06;
      // ARP payload: target protocol address at 14 + 24.
      seen = arp && std::memcmp(frame + 38, "\x0a\x4d\x00\x05", 4) == 0;
    }
  }
  ::close(udp);
  EXPECT_TRUE(seen) << "no ARP request for 10.77.0.5 came out of the TAP";

  // The TAP is persistent: closing the descriptor leaves it in place.
  fd.reset();
  EXPECT_TRUE(netlink().find("bgtap0"));
}

TEST_F(HelperFds, OpenTapIsOneQueueAtATime) {
  ok(c().create_tap({"bgtap0", owner_uid, "bgtest0"}));
  auto first = ok(c().open_tap("bgtap0"));
  auto busy = refused(c().open_tap("bgtap0"));
  EXPECT_EQ(busy.code, "bad_state");
  EXPECT_NE(busy.message.find("already open"), std::string::npos)
      << busy.message;
  EXPECT_EQ(busy.message.rfind("banger-helper: ", 0), 0u) << busy.message;
  first.reset();
  auto again = ok(c().open_tap("bgtap0"));
  EXPECT_STREQ(tun_ifreq(again.get()).ifr_name, "bgtap0");
}

TEST_F(HelperFds, OpenTapRefusesWhatIsNotItsOwnTap) {
  netlink nl;
  for (const char* name : {"eth0", "lo", "bgtapX", "vmtap0", "bgtest0", ""}) {
    auto err = refused(c().open_tap(name));
    EXPECT_EQ(err.code, "invalid_argument") << name;
    EXPECT_NE(err.message.find(std::string("'") + name + "'"),
              std::string::npos)
        << err.message;
  }
  // Missing: refused, and not created by the attempt (TUNSETIFF would).
  auto missing = refused(c().open_tap("bgtap9"));
  EXPECT_EQ(missing.code, "not_found");
  EXPECT_NE(missing.message.find("'bgtap9'"), std::string::npos)
      << missing.message;
  EXPECT_FALSE(nl.find("bgtap9"));

  // Inside the prefix, but made by someone else (no mark).
  helper::create_persistent_tap("bgtap5", owner_uid);
  EXPECT_EQ(refused(c().open_tap("bgtap5")).code, "bad_state");
  // Marked, but for another owner.
  helper::create_persistent_tap("bgtap6", 0);
  nl.set_alias(nl.find("bgtap6")->index, helper::tap_mark);
  auto other = refused(c().open_tap("bgtap6"));
  EXPECT_EQ(other.code, "bad_state");
  EXPECT_NE(other.message.find("uid 0"), std::string::npos) << other.message;
  // Marked, but not a TAP at all.
  nl.create_bridge("bgtap7");
  nl.set_alias(nl.find("bgtap7")->index, helper::tap_mark);
  EXPECT_EQ(refused(c().open_tap("bgtap7")).code, "bad_state");

  // The refused TAPs are still free: nothing holds a queue of them.
  int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ifreq ifr{};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::strncpy(ifr.ifr_name, "bgtap5", IFNAMSIZ - 1);
  EXPECT_EQ(::ioctl(fd, TUNSETIFF, &ifr), 0) << std::strerror(errno);
  ::close(fd);
}

TEST_F(HelperFds, ErrorRepliesCarryNoDescriptor) {
  ok(c().create_tap({"bgtap0", owner_uid, "bgtest0"}));
  raw_client raw(socket_);
  ASSERT_TRUE(raw.connected());
  auto held =
      raw.call(helper_msg::open_tap, to_json(helper_open_tap{"bgtap0"}));
  EXPECT_EQ(held.type, helper_msg::result);
  ASSERT_EQ(raw.fds().size(), 1u) << "a result of open_tap carries one";
  for (auto body : {to_json(helper_open_tap{"bgtap0"}), // busy
                    to_json(helper_open_tap{"bgtap9"})}) {
    EXPECT_EQ(raw.call(helper_msg::open_tap, body).type, helper_msg::error);
  }
  EXPECT_EQ(
      raw.call(helper_msg::bind_dns, to_json(helper_bind_dns{"127.0.0.1", 53}))
          .type,
      helper_msg::error);
  // Other replies carry none either.
  EXPECT_EQ(raw.call(helper_msg::list, wire::json::object()).type,
            helper_msg::result);
  EXPECT_EQ(raw.fds().size(), 1u);
}

TEST_F(HelperFds, BindDnsGivesAUdpSocketBoundToTheBridgeAddress) {
  auto fd = ok(c().bind_dns("10.77.0.1", 53));
  ASSERT_TRUE(fd.valid());
  int type = 0, reuse = 0;
  socklen_t len = sizeof(type);
  ASSERT_EQ(::getsockopt(fd.get(), SOL_SOCKET, SO_TYPE, &type, &len), 0);
  EXPECT_EQ(type, SOCK_DGRAM);
  len = sizeof(reuse);
  ASSERT_EQ(::getsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &reuse, &len), 0);
  EXPECT_EQ(reuse, 1);
  EXPECT_TRUE(::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC);
  sockaddr_in bound{};
  len = sizeof(bound);
  ASSERT_EQ(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len),
            0);
  EXPECT_EQ(bound.sin_family, AF_INET);
  EXPECT_EQ(ntohs(bound.sin_port), 53);
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &bound.sin_addr, text, sizeof(text));
  EXPECT_STREQ(text, "10.77.0.1");

  // A query from inside the namespace arrives, and the answer goes back.
  int peer = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(peer, 0);
  auto to = inet("10.77.0.1", 53);
  ASSERT_EQ(::sendto(peer, "query", 5, 0, reinterpret_cast<sockaddr*>(&to),
                     sizeof(to)),
            5)
      << std::strerror(errno);
  ASSERT_TRUE(readable(fd.get(), 3s)) << "the datagram did not arrive";
  char buf[64];
  sockaddr_in from{};
  socklen_t from_len = sizeof(from);
  auto n = ::recvfrom(fd.get(), buf, sizeof(buf), 0,
                      reinterpret_cast<sockaddr*>(&from), &from_len);
  ASSERT_EQ(n, 5);
  EXPECT_EQ(std::string(buf, 5), "query");
  ASSERT_EQ(::sendto(fd.get(), "answer", 6, 0,
                     reinterpret_cast<sockaddr*>(&from), from_len),
            6);
  ASSERT_TRUE(readable(peer, 3s)) << "the answer did not come back";
  EXPECT_EQ(::recv(peer, buf, sizeof(buf), 0), 6);
  ::close(peer);
}

TEST_F(HelperFds, BindDnsRefusesAnAddressThatIsNotABangerBridges) {
  netlink nl;
  nl.create_bridge("foreign0"); // someone else's bridge, with an address
  auto foreign = nl.find("foreign0");
  ASSERT_TRUE(foreign);
  nl.add_address(foreign->index, *parse_ipv4_cidr("10.78.0.1/24"));
  for (const char* addr : {"127.0.0.1", "10.78.0.1", "10.77.0.5", "0.0.0.0",
                           "10.77.0.255", "10.77.0.1 ", "localhost", ""}) {
    auto err = refused(c().bind_dns(addr, 53));
    EXPECT_EQ(err.code, "invalid_argument") << addr;
    EXPECT_NE(err.message.find(std::string("'") + addr + "'"),
              std::string::npos)
        << err.message;
  }
  // The banger bridge's address itself is fine, on port 53 only.
  for (std::uint16_t port : {0, 5353}) {
    auto err = refused(c().bind_dns("10.77.0.1", port));
    EXPECT_EQ(err.code, "invalid_argument");
    EXPECT_NE(err.message.find("port " + std::to_string(port)),
              std::string::npos)
        << err.message;
  }
  // A port beyond 16 bits is not even a well-formed request.
  raw_client raw(socket_);
  auto env = raw.call(helper_msg::bind_dns,
                      {{"address", "10.77.0.1"}, {"port", 65536 + 53}});
  ASSERT_EQ(env.type, helper_msg::error);
  EXPECT_EQ(decode<error_body>(env.body).code, "protocol");
  EXPECT_TRUE(raw.fds().empty());
}

TEST_F(HelperFds, TheOwnerGetsWhatItCannotOpenItself) {
  ok(c().create_tap({"bgtap0", owner_uid, "bgtest0"}));
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgid(owner_uid) != 0 || ::setuid(owner_uid) != 0)
      ::_exit(2);
    // Port 53 is privileged: the owner cannot bind it...
    int own = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    auto dns = inet("10.77.0.1", 53);
    if (::bind(own, reinterpret_cast<sockaddr*>(&dns), sizeof(dns)) == 0
        || errno != EACCES)
      ::_exit(3);
    // ...but gets it, and its TAP, from the helper.
    helper_client c(socket_);
    auto sock = c.bind_dns("10.77.0.1", 53);
    if (!sock)
      ::_exit(4);
    sockaddr_in bound{};
    socklen_t len = sizeof(bound);
    if (::getsockname(sock->get(), reinterpret_cast<sockaddr*>(&bound), &len)
            != 0
        || ntohs(bound.sin_port) != 53)
      ::_exit(5);
    auto tap = c.open_tap("bgtap0");
    if (!tap)
      ::_exit(6);
    ifreq ifr{};
    if (::ioctl(tap->get(), TUNGETIFF, &ifr) != 0
        || std::strcmp(ifr.ifr_name, "bgtap0") != 0)
      ::_exit(7);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "2 setuid, 3 the owner could bind port 53 itself, 4 bind_dns, "
         "5 getsockname, 6 open_tap, 7 TUNGETIFF\n"
      << helper_log();
  EXPECT_NE(helper_log().find("helper.open_tap {\"name\":\"bgtap0\"} -> ok "
                              "{\"name\":\"bgtap0\"} + fd"),
            std::string::npos)
      << helper_log();
}

} // namespace
} // namespace banger::test
