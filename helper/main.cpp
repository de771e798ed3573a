// banger-helper: the root process that does banger's privileged networking
// (bridge, TAPs, NAT) for one owner uid, over typed frames on a Unix socket.
// No shell, no subprocess: netlink, /dev/net/tun and libnftables only.

#include <cstdio>

#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "helper/options.hpp"
#include "helper/server.hpp"

int main(int argc, char** argv) {
  using namespace banger::helper;
  options opts;
  CLI::App app{"banger-helper: banger's privileged network operations"};
  app.add_option("--socket", opts.socket_path, "Unix socket to listen on")
      ->capture_default_str();
  app.add_option("--owner-uid", opts.owner_uid,
                 "the only non-root uid allowed to connect")
      ->required()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--tap-prefix", opts.tap_prefix, "prefix of every TAP name")
      ->capture_default_str();
  app.add_option("--state-dir", opts.state_dir,
                 "banger's state directory (paths must lie under it)")
      ->capture_default_str();
  app.add_option("--lifeline-fd", opts.lifeline_fd,
                 "exit when this inherited descriptor (a pipe's read end) "
                 "reports end of file: the daemon that started us is gone")
      ->check(CLI::Range(3, 1023));
  app.add_option("--bridge", opts.bridge,
                 "the one bridge the helper makes (root's setting: clients "
                 "only refer to it)")
      ->capture_default_str();
  app.add_option("--subnet", opts.subnet,
                 "the guests' IPv4 network; the bridge takes its first host "
                 "address and the .vm DNS port 53 of it. Refused at start if "
                 "it overlaps a route or address of the host")
      ->capture_default_str();
  app.add_option("--max-taps", opts.max_taps, "how many TAPs may exist at once")
      ->capture_default_str();
  app.add_option("--max-clients", opts.max_clients,
                 "how many connections are served at once")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  spdlog::set_default_logger(spdlog::stderr_color_mt("banger-helper"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  if (auto why = check(opts)) {
    std::fprintf(stderr, "banger-helper: %s\n", why->c_str());
    return 2;
  }
  if (opts.lifeline_fd >= 0 && ::fcntl(opts.lifeline_fd, F_GETFD) < 0) {
    std::fprintf(stderr,
                 "banger-helper: --lifeline-fd %d is not an open descriptor; "
                 "leave the option out when starting the helper by hand\n",
                 opts.lifeline_fd);
    return 2;
  }
  if (::geteuid() != 0)
    spdlog::warn("[helper] not running as root: every operation will fail "
                 "with a permission error");
  try {
    server::block_signals();
    server srv(opts);
    srv.prepare();
    srv.bind();
    return srv.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "banger-helper: %s\n", e.what());
    return 1;
  }
}
