#include "guest/init/network.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <arpa/inet.h>
#include <dirent.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/init/console.hpp"
#include "guest/init/files.hpp"

namespace banger::init {

namespace {

/// virtio_net probes asynchronously after its module loads.
constexpr auto interface_wait = std::chrono::seconds(2);

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return std::string(s);
}

std::vector<std::string> words(std::string_view line) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : line) {
    if (c == '#')
      break;
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (!cur.empty())
        out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty())
    out.push_back(std::move(cur));
  return out;
}

bool is_ip_literal(const std::string& s) {
  in6_addr a6{};
  in_addr a4{};
  return ::inet_pton(AF_INET, s.c_str(), &a4) == 1
         || ::inet_pton(AF_INET6, s.c_str(), &a6) == 1;
}

sockaddr_in make_sockaddr(std::uint32_t address) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = address;
  return sin;
}

void set_name(ifreq& ifr, const std::string& name) {
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
}

/// Sets IFF_UP on `name`. "" on success, else what failed.
std::string bring_up(int sock, const std::string& name) {
  ifreq ifr{};
  set_name(ifr, name);
  if (::ioctl(sock, SIOCGIFFLAGS, &ifr) != 0)
    return "read the flags of " + name + ": " + std::strerror(errno);
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (::ioctl(sock, SIOCSIFFLAGS, &ifr) != 0)
    return "bring " + name + " up: " + std::strerror(errno);
  return {};
}

std::string read_attr(const std::string& path) {
  auto text = read_whole_file(path);
  return text ? trim(*text) : std::string();
}

void write_resolv_conf(const std::vector<std::string>& dns) {
  const std::string path = "/etc/resolv.conf";
  // A symlink (systemd-resolved's stub, say) is replaced: rename does not
  // follow it.
  bool was_link = false;
  if (struct stat st{}; ::lstat(path.c_str(), &st) == 0)
    was_link = S_ISLNK(st.st_mode);
  auto err = write_file_atomic(path, resolv_conf_text(dns), 0644);
  if (!err.empty()) {
    say("network: cannot write " + path + ": " + err);
    return;
  }
  std::string servers;
  for (auto& d : dns)
    servers += (servers.empty() ? "" : ", ") + d;
  say("network: " + path + ": nameserver " + servers
      + (was_link ? " (replaced a symlink)" : ""));
}

void write_hosts(const std::string& ip) {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0'
      || std::string(name) == "(none)")
    return;
  const std::string path = "/etc/hosts";
  auto old = read_whole_file(path);
  auto text = hosts_with(old.value_or(""), ip, name);
  if (old && text == *old)
    return;
  auto err = write_file_atomic(path, text, 0644);
  if (!err.empty())
    say("network: cannot write " + path + ": " + err);
  else
    say("network: " + path + ": " + ip + " " + name);
}

} // namespace

std::optional<std::uint32_t> parse_ipv4(std::string_view text) {
  // inet_pton takes exactly a dotted quad (unlike inet_aton).
  std::string s(text);
  in_addr a{};
  if (s.empty() || ::inet_pton(AF_INET, s.c_str(), &a) != 1)
    return std::nullopt;
  return a.s_addr;
}

std::optional<ipv4_cidr> parse_cidr(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos)
    return std::nullopt;
  auto address = parse_ipv4(text.substr(0, slash));
  auto prefix_text = text.substr(slash + 1);
  if (!address || prefix_text.empty() || prefix_text.size() > 2)
    return std::nullopt;
  int prefix = 0;
  for (char c : prefix_text) {
    if (c < '0' || c > '9')
      return std::nullopt;
    prefix = prefix * 10 + (c - '0');
  }
  if (prefix > 32)
    return std::nullopt;
  return ipv4_cidr{*address, prefix};
}

std::uint32_t prefix_netmask(int prefix) {
  std::uint32_t host = prefix <= 0    ? 0
                       : prefix >= 32 ? 0xffffffffu
                                      : ~((1u << (32 - prefix)) - 1);
  return htonl(host);
}

std::string format_ipv4(std::uint32_t address) {
  in_addr a{};
  a.s_addr = address;
  char buf[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &a, buf, sizeof(buf));
  return buf;
}

std::optional<std::string> normalize_mac(std::string_view text) {
  if (text.size() != 17)
    return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (i % 3 == 2) {
      if (c != ':')
        return std::nullopt;
    } else if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return std::nullopt;
    }
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::optional<net_plan> plan_network(const boot_params& p,
                                     std::vector<std::string>& problems) {
  if (p.ip.empty()) {
    if (!p.gw.empty() || !p.dns.empty() || !p.mac.empty())
      problems.push_back("banger.gw/dns/mac given without banger.ip; "
                         "not configuring the network");
    return std::nullopt;
  }
  net_plan plan;
  auto ip = parse_cidr(p.ip);
  if (!ip) {
    problems.push_back("banger.ip=" + p.ip
                       + " is not ADDRESS/PREFIX (e.g. 172.16.0.5/24); "
                         "not configuring the network");
    return std::nullopt;
  }
  plan.ip = *ip;
  if (!p.mac.empty()) {
    auto mac = normalize_mac(p.mac);
    if (!mac) {
      problems.push_back("banger.mac=" + p.mac
                         + " is not a MAC address (e.g. 52:54:00:12:34:56); "
                           "not configuring the network");
      return std::nullopt;
    }
    plan.mac = *mac;
  }
  if (!p.gw.empty()) {
    if (auto gw = parse_ipv4(p.gw))
      plan.gw = *gw;
    else
      problems.push_back("banger.gw=" + p.gw
                         + " is not an IPv4 address; no default route");
  }
  for (auto& d : p.dns) {
    if (is_ip_literal(d))
      plan.dns.push_back(d);
    else
      problems.push_back("banger.dns=" + d
                         + " is not an IP address; skipping it");
  }
  return plan;
}

std::optional<interface_info>
pick_interface(const std::vector<interface_info>& interfaces,
               const std::string& mac) {
  const interface_info* best = nullptr;
  for (auto& i : interfaces) {
    if (!mac.empty()) {
      if (normalize_mac(i.mac) == mac)
        return i;
      continue;
    }
    if (i.name == "lo" || i.type != 1)
      continue;
    if (best == nullptr || i.ifindex < best->ifindex)
      best = &i;
  }
  if (best == nullptr)
    return std::nullopt;
  return *best;
}

std::string resolv_conf_text(const std::vector<std::string>& dns) {
  std::string out = "# written by banger-init from the kernel command line\n";
  for (auto& d : dns)
    out += "nameserver " + d + "\n";
  out += "search vm\n";
  return out;
}

std::string hosts_with(std::string_view hosts, const std::string& ip,
                       const std::string& hostname) {
  const std::string ours = ip + " " + hostname + "\n";
  std::string out;
  bool placed = false;
  while (!hosts.empty()) {
    auto nl = hosts.find('\n');
    auto len = nl == std::string_view::npos ? hosts.size() : nl + 1;
    auto line = hosts.substr(0, len);
    hosts.remove_prefix(len);
    auto w = words(line);
    bool mine = false;
    if (w.size() >= 2) {
      bool loopback = w[0] == "127.0.0.1" || w[0] == "::1";
      bool names_it = std::find(w.begin() + 1, w.end(), hostname) != w.end();
      mine = w[0] == ip || (names_it && !loopback);
    }
    if (!mine) {
      out += line;
      continue;
    }
    if (!placed) {
      if (!out.empty() && out.back() != '\n')
        out += '\n';
      out += ours;
      placed = true;
    }
  }
  if (!placed) {
    if (!out.empty() && out.back() != '\n')
      out += '\n';
    out += ours;
  }
  return out;
}

std::vector<interface_info> list_interfaces(const std::string& sysfs) {
  std::vector<interface_info> out;
  auto base = sysfs + "/class/net";
  DIR* dir = ::opendir(base.c_str());
  if (dir == nullptr)
    return out;
  while (auto* ent = ::readdir(dir)) {
    std::string name = ent->d_name;
    if (name == "." || name == "..")
      continue;
    interface_info i;
    i.name = name;
    i.mac = read_attr(base + "/" + name + "/address");
    i.type = std::atoi(read_attr(base + "/" + name + "/type").c_str());
    i.ifindex = std::atoi(read_attr(base + "/" + name + "/ifindex").c_str());
    out.push_back(std::move(i));
  }
  ::closedir(dir);
  return out;
}

void bring_up_loopback() {
  int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) {
    say_errno("network: socket", errno);
    return;
  }
  if (auto err = bring_up(sock, "lo"); !err.empty())
    say("network: " + err);
  ::close(sock);
}

void configure_network(const boot_params& p) {
  std::vector<std::string> problems;
  auto plan = plan_network(p, problems);
  for (auto& problem : problems)
    say("network: " + problem);
  if (!plan)
    return;

  using namespace std::chrono;
  auto deadline = steady_clock::now() + interface_wait;
  std::optional<interface_info> nic;
  while (!(nic = pick_interface(list_interfaces(), plan->mac))
         && steady_clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(10));
  if (!nic) {
    say("network: no "
        + (plan->mac.empty() ? std::string("ethernet interface")
                             : "interface with MAC " + plan->mac)
        + " appeared within 2 s (is virtio_net loaded? is a NIC attached?); "
          "not configuring the network");
    return;
  }

  bring_up_loopback();
  int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) {
    say_errno("network: socket", errno);
    return;
  }

  const std::string cidr =
      format_ipv4(plan->ip.address) + "/" + std::to_string(plan->ip.prefix);
  ifreq ifr{};
  set_name(ifr, nic->name);
  auto addr = make_sockaddr(plan->ip.address);
  std::memcpy(&ifr.ifr_addr, &addr, sizeof(addr));
  bool ok = true;
  if (::ioctl(sock, SIOCSIFADDR, &ifr) != 0) {
    say_errno("network: set address " + cidr + " on " + nic->name, errno);
    ok = false;
  }
  auto mask = make_sockaddr(prefix_netmask(plan->ip.prefix));
  std::memcpy(&ifr.ifr_netmask, &mask, sizeof(mask));
  if (ok && ::ioctl(sock, SIOCSIFNETMASK, &ifr) != 0) {
    say_errno("network: set netmask /" + std::to_string(plan->ip.prefix)
                  + " on " + nic->name,
              errno);
    ok = false;
  }
  if (ok) {
    if (auto err = bring_up(sock, nic->name); !err.empty()) {
      say("network: " + err);
      ok = false;
    }
  }
  std::string route = "no default route";
  if (ok && plan->gw) {
    rtentry rt{};
    auto dst = make_sockaddr(0);
    auto gw = make_sockaddr(*plan->gw);
    std::memcpy(&rt.rt_dst, &dst, sizeof(dst));
    std::memcpy(&rt.rt_genmask, &dst, sizeof(dst));
    std::memcpy(&rt.rt_gateway, &gw, sizeof(gw));
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    std::string dev = nic->name;
    rt.rt_dev = dev.data();
    if (::ioctl(sock, SIOCADDRT, &rt) != 0 && errno != EEXIST)
      say_errno("network: add default route via " + format_ipv4(*plan->gw),
                errno);
    else
      route = "default via " + format_ipv4(*plan->gw);
  }
  ::close(sock);
  if (ok)
    say("network: " + nic->name + " (" + nic->mac + ") " + cidr + ", " + route);

  // Written even if the NIC failed: they cost nothing and the agent may fix
  // the address later.
  if (!plan->dns.empty())
    write_resolv_conf(plan->dns);
  write_hosts(format_ipv4(plan->ip.address));
}

} // namespace banger::init
