#include "actors/bootstrap.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cstring>

#include "services/error.hpp"
#include "services/helper_client.hpp"
#include "services/log.hpp"
#include "services/process.hpp"
#include "services/qemu_driver.hpp"

namespace banger {

namespace {

using namespace std::chrono_literals;

std::string sibling(const std::string& program) {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? program : (self.parent_path() / program).string();
}

} // namespace

caf::expected<void> ensure_helper(const paths& p, const network_settings& net,
                                  uid_t owner_uid) {
  helper_client probe{net.helper_socket, 2s};
  if (probe.list())
    return caf::unit; // one answers already (it checks the owner itself)
  // Root's directory inside the owner's runtime dir: the helper wants its
  // socket where only root can write.
  auto dir = std::filesystem::path(net.helper_socket).parent_path();
  std::error_code fec;
  std::filesystem::create_directories(dir, fec);
  if (fec || ::chown(dir.c_str(), 0, 0) != 0 || ::chmod(dir.c_str(), 0755) != 0)
    return make_error(ec::unavailable,
                      "cannot prepare " + dir.string() + " for banger-helper's "
                        + "socket: " + (fec ? fec.message() : std::strerror(errno)));
  auto exe = sibling("banger-helper");
  spawn_options opts;
  opts.stdout_path = p.helper_log();
  opts.stderr_path = p.helper_log();
  opts.cwd = "/";
  // Root's network policy travels on the helper's command line: the owner's
  // requests can only refer to this bridge and subnet.
  auto pid = spawn_detached({exe, "--socket", net.helper_socket, "--owner-uid",
                             std::to_string(owner_uid), "--tap-prefix",
                             net.tap_prefix, "--state-dir", p.state_dir,
                             "--bridge", net.bridge, "--subnet", net.subnet},
                            opts);
  if (!pid)
    return make_error(ec::unavailable, "cannot start banger-helper (" + exe
                                         + "): " + error_message(pid.error()));
  if (std::ofstream f{p.helper_pid_file()}; f)
    f << *pid << "\n";
  auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    auto answer = probe.list();
    if (answer)
      break;
    if (!pid_alive(*pid) || std::chrono::steady_clock::now() >= deadline)
      return make_error(ec::unavailable,
                        fmt::format("banger-helper (pid {}) {}; the end of {}:{}",
                                    *pid,
                                    pid_alive(*pid) ? "did not answer within 10 s"
                                                    : "exited at start",
                                    p.helper_log(),
                                    "\n" + file_tail(p.helper_log(), 10)));
    std::this_thread::sleep_for(50ms);
  }
  log::info("bangerd", "started banger-helper (pid {}) on {}", *pid,
            net.helper_socket);
  return caf::unit;
}

caf::expected<network_state> bring_up_network(const network_settings& net) {
  network_state st;
  auto bridge = bridge_address(net);
  if (!bridge)
    return std::move(bridge.error());
  st.bridge = *bridge;
  helper_client helper{net.helper_socket, 5s};
  auto listed = helper.list();
  if (!listed) {
    st.note = "off: " + error_message(listed.error());
    return st;
  }
  auto made = helper.ensure_bridge({net.bridge, to_string(*bridge)});
  if (!made)
    return make_error(ec::bad_state,
                      fmt::format("cannot set up bridge {} ({}): {}; choose "
                                  "another name or subnet in {} or with "
                                  "--bridge/--subnet",
                                  net.bridge, to_string(*bridge),
                                  error_message(made.error()), "config.toml"));
  st.enabled = true;
  st.dns_listen = dns_listen_address(net, *bridge);
  auto colon = st.dns_listen.rfind(':');
  auto host = colon == std::string::npos ? st.dns_listen : st.dns_listen.substr(0, colon);
  unsigned port = 0;
  if (colon != std::string::npos)
    port = static_cast<unsigned>(std::strtoul(st.dns_listen.c_str() + colon + 1, nullptr, 10));
  bool on_bridge = host == to_string(bridge->addr);
  if (on_bridge && port > 0 && port < 1024 && ::geteuid() != 0) {
    auto fd = helper.bind_dns(host, static_cast<std::uint16_t>(port));
    if (fd) {
      st.dns_fd = std::move(*fd);
    } else {
      log::warn("bangerd", "no .vm DNS on {}: {}", st.dns_listen,
                error_message(fd.error()));
      st.dns_listen.clear();
    }
  }
  // Guests can only use a resolver on port 53.
  if (on_bridge && port == 53 && !st.dns_listen.empty())
    st.dns_server = host;
  st.note = fmt::format("bridge {} {}, {}", net.bridge, to_string(*bridge),
                        st.dns_listen.empty() ? std::string{"no .vm DNS"}
                                              : ".vm DNS on " + st.dns_listen);
  return st;
}

} // namespace banger
