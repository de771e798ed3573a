#pragma once
// The answer to "ports": the guest's listening sockets, read from
// /proc/net/{tcp,tcp6,udp,udp6} (TCP in LISTEN, UDP unconnected), with the
// process that owns each, found by matching socket inodes against the
// `socket:[INODE]` links in /proc/PID/fd. Sockets on every address are
// listed, loopback ones too: the host decides what to show.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "messages/agent.hpp"

namespace banger::agent {

/// One matching line of a /proc/net table, before its owner is known.
struct proc_socket {
  std::string proto;   // "tcp", "udp", "tcp6", "udp6"
  std::string address; // printable local address
  std::uint32_t port = 0;
  std::uint64_t inode = 0;
};

struct socket_owner {
  std::int64_t pid = 0;
  std::string process;
};

/// Parses the text of /proc/net/<proto> (header line included) and keeps
/// the listening sockets: state 0A (TCP_LISTEN) for tcp/tcp6, 07 (TCP_CLOSE,
/// i.e. not connected) for udp/udp6. Malformed lines are skipped. Pure.
std::vector<proc_socket> parse_proc_net(std::string_view text,
                                        const std::string& proto);

/// The local address of a /proc/net line ("0100007F" or 32 hex digits for
/// IPv6, as the kernel prints it: 32-bit words in host byte order) in its
/// usual notation, or nullopt if it is not one. Pure.
std::optional<std::string> decode_proc_address(std::string_view hex);

/// The inode of a /proc/PID/fd link target "socket:[12345]". Pure.
std::optional<std::uint64_t> socket_inode(std::string_view link);

/// Scans `proc_root`/[0-9]*/fd/* and maps each socket inode to the lowest
/// pid holding it (with its comm). Processes that vanish or deny access are
/// skipped.
std::map<std::uint64_t, socket_owner>
socket_owners(const std::string& proc_root = "/proc");

/// Joins sockets with their owners and sorts by port, proto, address. Pure.
agent_ports_reply
make_ports_reply(const std::vector<proc_socket>& sockets,
                 const std::map<std::uint64_t, socket_owner>& owners);

/// All of the above on the running system.
agent_ports_reply read_ports(const std::string& proc_root = "/proc");

} // namespace banger::agent
