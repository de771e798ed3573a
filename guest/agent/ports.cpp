#include "guest/agent/ports.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <tuple>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <unistd.h>

namespace banger::agent {

namespace {

// include/net/tcp_states.h
constexpr unsigned tcp_listen = 0x0A;
constexpr unsigned tcp_close = 0x07;

std::optional<std::uint32_t> hex32(std::string_view s) {
  if (s.empty() || s.size() > 8)
    return std::nullopt;
  std::uint32_t v = 0;
  for (char c : s) {
    unsigned d;
    if (c >= '0' && c <= '9')
      d = static_cast<unsigned>(c - '0');
    else if (c >= 'A' && c <= 'F')
      d = static_cast<unsigned>(c - 'A' + 10);
    else if (c >= 'a' && c <= 'f')
      d = static_cast<unsigned>(c - 'a' + 10);
    else
      return std::nullopt;
    v = (v << 4) | d;
  }
  return v;
}

std::optional<std::uint64_t> decimal(std::string_view s) {
  if (s.empty() || s.size() > 19)
    return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

std::string read_small_file(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

} // namespace

std::optional<std::string> decode_proc_address(std::string_view hex) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (hex.size() == 8) {
    auto v = hex32(hex);
    if (!v)
      return std::nullopt;
    in_addr a{};
    // The kernel prints the __be32 as a native integer: copying the integer
    // back gives the address bytes in network order.
    std::memcpy(&a, &*v, sizeof(a));
    ::inet_ntop(AF_INET, &a, buf, sizeof(buf));
    return std::string(buf);
  }
  if (hex.size() == 32) {
    in6_addr a{};
    for (int i = 0; i < 4; ++i) {
      auto v = hex32(hex.substr(static_cast<std::size_t>(i) * 8, 8));
      if (!v)
        return std::nullopt;
      std::memcpy(&a.s6_addr[i * 4], &*v, 4);
    }
    ::inet_ntop(AF_INET6, &a, buf, sizeof(buf));
    return std::string(buf);
  }
  return std::nullopt;
}

std::vector<proc_socket> parse_proc_net(std::string_view text,
                                        const std::string& proto) {
  const bool tcp = proto.rfind("tcp", 0) == 0;
  const unsigned wanted = tcp ? tcp_listen : tcp_close;
  std::vector<proc_socket> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout
    // inode ...
    std::istringstream words(line);
    std::vector<std::string> f;
    std::string w;
    while (f.size() < 10 && words >> w)
      f.push_back(w);
    if (f.size() < 10 || f[0].empty() || f[0].back() != ':')
      continue; // the header, or garbage
    auto state = hex32(f[3]);
    if (!state || *state != wanted)
      continue;
    auto colon = f[1].find(':');
    if (colon == std::string::npos)
      continue;
    auto address = decode_proc_address(std::string_view(f[1]).substr(0, colon));
    auto port = hex32(std::string_view(f[1]).substr(colon + 1));
    auto inode = decimal(f[9]);
    if (!address || !port || *port > 65535 || !inode)
      continue;
    out.push_back({proto, *address, *port, *inode});
  }
  return out;
}

std::optional<std::uint64_t> socket_inode(std::string_view link) {
  constexpr std::string_view prefix = "socket:[";
  if (link.size() < prefix.size() + 2 || link.substr(0, prefix.size()) != prefix
      || link.back() != ']')
    return std::nullopt;
  return decimal(link.substr(prefix.size(), link.size() - prefix.size() - 1));
}

std::map<std::uint64_t, socket_owner>
socket_owners(const std::string& proc_root) {
  std::map<std::uint64_t, socket_owner> owners;
  DIR* proc = ::opendir(proc_root.c_str());
  if (proc == nullptr)
    return owners;
  while (auto* ent = ::readdir(proc)) {
    auto pid = decimal(ent->d_name);
    if (!pid || *pid == 0)
      continue;
    auto pid_dir = proc_root + "/" + ent->d_name;
    DIR* fds = ::opendir((pid_dir + "/fd").c_str());
    if (fds == nullptr)
      continue;       // gone, or a kernel thread we may not look into
    std::string comm; // read once, only if the process holds a socket
    while (auto* fd = ::readdir(fds)) {
      if (fd->d_name[0] == '.')
        continue;
      char target[64];
      auto n = ::readlink((pid_dir + "/fd/" + fd->d_name).c_str(), target,
                          sizeof(target));
      if (n <= 0 || static_cast<std::size_t>(n) >= sizeof(target))
        continue;
      auto inode =
          socket_inode(std::string_view(target, static_cast<std::size_t>(n)));
      if (!inode)
        continue;
      auto p = static_cast<std::int64_t>(*pid);
      auto it = owners.find(*inode);
      if (it != owners.end() && it->second.pid <= p)
        continue;
      if (comm.empty()) {
        comm = read_small_file(pid_dir + "/comm");
        while (!comm.empty() && (comm.back() == '\n' || comm.back() == '\0'))
          comm.pop_back();
      }
      owners[*inode] = socket_owner{p, comm};
    }
    ::closedir(fds);
  }
  ::closedir(proc);
  return owners;
}

agent_ports_reply
make_ports_reply(const std::vector<proc_socket>& sockets,
                 const std::map<std::uint64_t, socket_owner>& owners) {
  agent_ports_reply reply;
  for (auto& s : sockets) {
    agent_port p;
    p.proto = s.proto;
    p.address = s.address;
    p.port = s.port;
    if (auto it = owners.find(s.inode); it != owners.end() && s.inode != 0) {
      p.pid = it->second.pid;
      p.process = it->second.process;
    }
    reply.ports.push_back(std::move(p));
  }
  std::sort(reply.ports.begin(), reply.ports.end(),
            [](const agent_port& a, const agent_port& b) {
              return std::tie(a.port, a.proto, a.address, a.pid)
                     < std::tie(b.port, b.proto, b.address, b.pid);
            });
  return reply;
}

agent_ports_reply read_ports(const std::string& proc_root) {
  std::vector<proc_socket> sockets;
  for (const char* proto : {"tcp", "tcp6", "udp", "udp6"}) {
    // A kernel without IPv6 has no tcp6/udp6: nothing to list there.
    auto text = read_small_file(proc_root + "/net/" + proto);
    auto found = parse_proc_net(text, proto);
    sockets.insert(sockets.end(), found.begin(), found.end());
  }
  return make_ports_reply(sockets, socket_owners(proc_root));
}

} // namespace banger::agent
