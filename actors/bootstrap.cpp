#include "actors/bootstrap.hpp"

#include <chrono>
#include <filesystem>
#include <thread>

#include <csignal>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include "services/error.hpp"
#include "services/helper_client.hpp"
#include "services/log.hpp"
#include "services/process.hpp"
#include "services/qemu_driver.hpp"
#include "services/safe_dir.hpp"

namespace banger {

namespace {

using namespace std::chrono_literals;

std::string sibling(const std::string& program) {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? program : (self.parent_path() / program).string();
}

/// The write end of the started helper's lifeline; never closed on purpose.
unique_fd lifeline_fd;

/// Ends the helper named by the pid file in root's helper directory, if it
/// still runs and is a banger-helper: SIGTERM, then SIGKILL after 5 s.
void stop_previous_helper(int dir_fd, const std::string& pid_path) {
  unique_fd f{::openat(dir_fd, "helper.pid", O_RDONLY | O_NOFOLLOW | O_CLOEXEC)};
  if (!f.valid())
    return;
  char buf[32] = {};
  auto n = ::read(f.get(), buf, sizeof buf - 1);
  long pid = n > 0 ? std::strtol(buf, nullptr, 10) : 0;
  if (pid <= 1 || !pid_alive(pid))
    return;
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
  if (ec || exe.filename().string().rfind("banger-helper", 0) != 0)
    return;
  log::info("bangerd", "stopping the earlier banger-helper (pid {}, from {})",
            pid, pid_path);
  ::kill(static_cast<pid_t>(pid), SIGTERM);
  if (!wait_pid_exit(pid, 5s))
    ::kill(static_cast<pid_t>(pid), SIGKILL);
  wait_pid_exit(pid, 2s);
}

} // namespace

caf::expected<void> ensure_helper(const paths& p, const network_settings& net,
                                  uid_t owner_uid) {
  auto exe = sibling("banger-helper");
  if (auto ok = check_root_executable(exe); !ok)
    return make_error(ec::unavailable, "will not start banger-helper as root: "
                                         + error_message(ok.error()));
  // Socket, pid file and log in a directory of root's alone: nothing in it
  // is a name the owner could point elsewhere.
  auto dir_path = std::filesystem::path(net.helper_socket).parent_path().string();
  auto dir = open_root_dir(dir_path);
  if (!dir)
    return make_error(ec::unavailable,
                      "cannot prepare " + dir_path + " for banger-helper: "
                        + error_message(dir.error()));
  auto log_path = dir_path + "/helper.log";
  auto pid_path = dir_path + "/helper.pid";
  // Each helper belongs to one daemon and ends with it; one still there is
  // an earlier daemon's, on its way out (or an older banger's): ours
  // replaces it.
  stop_previous_helper(dir->fd.get(), pid_path);
  unique_fd log{::openat(dir->fd.get(), "helper.log",
                         O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC,
                         0640)};
  if (!log.valid())
    return make_error(ec::unavailable, "cannot open " + log_path + ": "
                                         + std::strerror(errno));
  // The helper's lifeline: it exits when the last copy of the write end
  // closes, i.e. when this daemon ends, whichever way.
  int life[2];
  if (::pipe2(life, O_CLOEXEC) != 0)
    return make_error(ec::internal,
                      std::string("cannot create a pipe: ") + std::strerror(errno));
  unique_fd life_read{life[0]};
  lifeline_fd.reset(life[1]);
  spawn_options opts;
  opts.output_fd = log.get();
  opts.cwd = "/";
  opts.pass_fds = {{life_read.get(), 3}};
  // Root's network policy travels on the helper's command line: the owner's
  // requests can only refer to this bridge and subnet.
  auto pid = spawn_detached({exe, "--socket", net.helper_socket, "--owner-uid",
                             std::to_string(owner_uid), "--tap-prefix",
                             net.tap_prefix, "--state-dir", p.state_dir,
                             "--bridge", net.bridge, "--subnet", net.subnet,
                             "--lifeline-fd", "3"},
                            opts);
  if (!pid)
    return make_error(ec::unavailable, "cannot start banger-helper (" + exe
                                         + "): " + error_message(pid.error()));
  life_read.reset();
  if (unique_fd f{::openat(dir->fd.get(), "helper.pid",
                           O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                           0644)};
      f.valid()) {
    auto text = std::to_string(*pid) + "\n";
    [[maybe_unused]] auto n = ::write(f.get(), text.data(), text.size());
  }
  helper_client probe{net.helper_socket, 2s};
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
                                    log_path,
                                    "\n" + file_tail(log_path, 10)));
    std::this_thread::sleep_for(50ms);
  }
  log::info("bangerd", "started banger-helper (pid {}) on {}; it ends with "
            "this daemon", *pid, net.helper_socket);
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
