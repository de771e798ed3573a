// The agent's "ports": /proc/net parsing, socket owners and the sort order.
// The samples are lines as Linux 6.1 prints them (x86-64, little endian).

#include <cstdlib>
#include <fstream>
#include <string>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "guest/agent/ports.hpp"

using namespace banger;
using namespace banger::agent;

namespace {

const char* tcp_sample =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when "
    "retrnsmt   uid  timeout inode\n"
    // 0.0.0.0:22 LISTEN
    "   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 "
    "00000000     0        0 1234 1 0000000000000000 100 0 0 10 0\n"
    // 127.0.0.1:8080 LISTEN
    "   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 "
    "00000000  1000        0 5678 1 0000000000000000 100 0 0 10 0\n"
    // 10.231.0.2:22 ESTABLISHED to 10.231.0.1:40000: not listening
    "   2: 0200E70A:0016 0100E70A:9C40 01 00000000:00000000 02:00000000 "
    "00000000     0        0 999 4 0000000000000000 20 4 30 10 -1\n"
    // garbage
    "   3: nothing here\n";

const char* tcp6_sample =
    "  sl  local_address                         remote_address            "
    "            st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
    "inode\n"
    // [::]:22 LISTEN
    "   0: 00000000000000000000000000000000:0016 "
    "00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 "
    "00000000     0        0 1235 1 0000000000000000 100 0 0 10 0\n"
    // [::1]:631 LISTEN
    "   1: 00000000000000000000000001000000:0277 "
    "00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 "
    "00000000     0        0 1300 1 0000000000000000 100 0 0 10 0\n"
    // [::ffff:127.0.0.1]:9000 LISTEN
    "   2: 0000000000000000FFFF00000100007F:2328 "
    "00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 "
    "00000000     0        0 1301 1 0000000000000000 100 0 0 10 0\n";

const char* udp_sample =
    "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when "
    "retrnsmt   uid  timeout inode ref pointer drops\n"
    // 0.0.0.0:68 unconnected
    "  100: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 "
    "00000000     0        0 4321 2 0000000000000000 0\n"
    // 10.231.0.2:5000 connected to 10.231.0.1:53: skipped
    "  101: 0200E70A:1388 0100E70A:0035 01 00000000:00000000 00:00000000 "
    "00000000     0        0 4322 2 0000000000000000 0\n";

} // namespace

TEST(ports, decodes_proc_addresses) {
  EXPECT_EQ(decode_proc_address("00000000"), "0.0.0.0");
  EXPECT_EQ(decode_proc_address("0100007F"), "127.0.0.1");
  EXPECT_EQ(decode_proc_address("0200E70A"), "10.231.0.2");
  EXPECT_EQ(decode_proc_address("00000000000000000000000000000000"), "::");
  EXPECT_EQ(decode_proc_address("00000000000000000000000001000000"), "::1");
  EXPECT_EQ(decode_proc_address("0000000000000000FFFF00000100007F"),
            "::ffff:127.0.0.1");
  EXPECT_EQ(decode_proc_address("000080FE000000000000000001000000"), "fe80::1");
  EXPECT_FALSE(decode_proc_address("0100007"));
  EXPECT_FALSE(decode_proc_address("0100007G"));
  EXPECT_FALSE(decode_proc_address(""));
}

TEST(ports, keeps_listening_tcp_sockets_only) {
  auto s = parse_proc_net(tcp_sample, "tcp");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].proto, "tcp");
  EXPECT_EQ(s[0].address, "0.0.0.0");
  EXPECT_EQ(s[0].port, 22u);
  EXPECT_EQ(s[0].inode, 1234u);
  EXPECT_EQ(s[1].address, "127.0.0.1");
  EXPECT_EQ(s[1].port, 8080u);
  EXPECT_EQ(s[1].inode, 5678u);
}

TEST(ports, reads_tcp6_addresses) {
  auto s = parse_proc_net(tcp6_sample, "tcp6");
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].address, "::");
  EXPECT_EQ(s[0].port, 22u);
  EXPECT_EQ(s[1].address, "::1");
  EXPECT_EQ(s[1].port, 631u);
  EXPECT_EQ(s[2].address, "::ffff:127.0.0.1");
  EXPECT_EQ(s[2].port, 9000u);
  EXPECT_EQ(s[2].proto, "tcp6");
}

TEST(ports, keeps_unconnected_udp_sockets_only) {
  auto s = parse_proc_net(udp_sample, "udp");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].proto, "udp");
  EXPECT_EQ(s[0].address, "0.0.0.0");
  EXPECT_EQ(s[0].port, 68u);
  EXPECT_EQ(s[0].inode, 4321u);
  // The TCP sample's states mean nothing for UDP and vice versa.
  EXPECT_TRUE(parse_proc_net(tcp_sample, "udp").empty());
  EXPECT_TRUE(parse_proc_net("", "tcp").empty());
}

TEST(ports, reads_socket_links) {
  EXPECT_EQ(socket_inode("socket:[12345]"), 12345u);
  EXPECT_FALSE(socket_inode("pipe:[12345]"));
  EXPECT_FALSE(socket_inode("socket:[]"));
  EXPECT_FALSE(socket_inode("socket:[12a]"));
  EXPECT_FALSE(socket_inode("/dev/null"));
}

TEST(ports, joins_owners_and_sorts_by_port_then_proto) {
  std::vector<proc_socket> sockets;
  for (auto* sample : {tcp_sample})
    for (auto& s : parse_proc_net(sample, "tcp"))
      sockets.push_back(s);
  for (auto& s : parse_proc_net(tcp6_sample, "tcp6"))
    sockets.push_back(s);
  for (auto& s : parse_proc_net(udp_sample, "udp"))
    sockets.push_back(s);
  std::map<std::uint64_t, socket_owner> owners{{1234, {311, "dropbear"}},
                                               {1235, {311, "dropbear"}},
                                               {4321, {90, "udhcpc"}}};
  auto reply = make_ports_reply(sockets, owners);
  std::vector<std::string> got;
  for (auto& p : reply.ports)
    got.push_back(std::to_string(p.port) + "/" + p.proto + " " + p.address + " "
                  + std::to_string(p.pid) + " " + p.process);
  EXPECT_EQ(got, (std::vector<std::string>{
                     "22/tcp 0.0.0.0 311 dropbear",
                     "22/tcp6 :: 311 dropbear",
                     "68/udp 0.0.0.0 90 udhcpc",
                     "631/tcp6 ::1 0 ",
                     "8080/tcp 127.0.0.1 0 ",
                     "9000/tcp6 ::ffff:127.0.0.1 0 ",
                 }));
}

// A fake /proc: two processes share socket 1234 (a forked server); the
// lower pid owns it. Non-socket links and non-numeric entries are ignored.
TEST(ports, finds_socket_owners_in_proc) {
  char tmpl[] = "/tmp/banger-ports-test.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string root = tmpl;
  auto mkproc = [&](const std::string& pid, const std::string& comm) {
    ::mkdir((root + "/" + pid).c_str(), 0755);
    ::mkdir((root + "/" + pid + "/fd").c_str(), 0755);
    std::ofstream(root + "/" + pid + "/comm") << comm << "\n";
  };
  mkproc("311", "dropbear");
  mkproc("42", "init");
  mkproc("500", "dropbear");
  ::mkdir((root + "/self").c_str(), 0755);
  ASSERT_EQ(::symlink("socket:[1234]", (root + "/311/fd/3").c_str()), 0);
  ASSERT_EQ(::symlink("socket:[1234]", (root + "/500/fd/3").c_str()), 0);
  ASSERT_EQ(::symlink("socket:[777]", (root + "/500/fd/4").c_str()), 0);
  ASSERT_EQ(::symlink("/dev/null", (root + "/42/fd/0").c_str()), 0);
  ASSERT_EQ(::symlink("pipe:[1234]", (root + "/42/fd/1").c_str()), 0);
  auto owners = socket_owners(root);
  EXPECT_EQ(owners.size(), 2u);
  EXPECT_EQ(owners.at(1234).pid, 311);
  EXPECT_EQ(owners.at(1234).process, "dropbear");
  EXPECT_EQ(owners.at(777).pid, 500);
  std::string cmd = "rm -rf " + root;
  ASSERT_EQ(std::system(cmd.c_str()), 0);
}

// The real thing, on the host running the test: a socket we listen on is
// listed with our pid.
TEST(ports, lists_a_socket_this_process_listens_on) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  auto port = ntohs(addr.sin_port);
  auto reply = read_ports();
  ::close(fd);
  bool found = false;
  for (auto& p : reply.ports)
    if (p.proto == "tcp" && p.port == port && p.address == "127.0.0.1") {
      found = true;
      EXPECT_EQ(p.pid, ::getpid());
    }
  EXPECT_TRUE(found) << "127.0.0.1:" << port << " not listed";
}
