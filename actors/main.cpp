// bangerd: the banger daemon. Owns VMs, images and kernels through a CAF
// actor system and serves the CLI on a Unix socket. Runs in the foreground;
// `banger daemon start` backgrounds it. Stopping it never stops VMs: the
// next daemon adopts them.

#include <csignal>
#include <cstdio>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>
#include <set>
#include <thread>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <unistd.h>

#include "actors/bootstrap.hpp"
#include "messages/wire.hpp"
#include "actors/bridge.hpp"
#include "actors/network.hpp"
#include "actors/config.hpp"
#include "actors/interfaces.hpp"
#include "actors/library.hpp"
#include "actors/image_builder.hpp"
#include "actors/puller.hpp"
#include "actors/store_actor.hpp"
#include "actors/vm_manager.hpp"
#include "services/error.hpp"
#include "services/staging.hpp"
#include "services/lifecycle.hpp"
#include "services/privilege.hpp"
#include "services/log.hpp"
#include "services/paths.hpp"
#include "services/qemu_driver.hpp"
#include "services/store.hpp"
#include "services/store_report.hpp"
#include "services/units.hpp"
#include "services/unique_fd.hpp"
#include "services/vm_reconcile.hpp"

namespace {

using namespace banger;

int fail(const std::string& message) {
  std::cerr << "bangerd: " << message << "\n";
  return 1;
}

/// Turns SIGTERM/SIGINT/SIGHUP into a shutdown message, so that the daemon
/// closes its socket and detaches from VMs cleanly (they keep running).
std::thread signal_thread(caf::actor target, sigset_t set) {
  return std::thread([target, set] {
    int sig = 0;
    sigwait(&set, &sig);
    caf::anon_send(target, atom::shutdown_v);
  });
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"bangerd: the banger daemon (runs VMs; the `banger` CLI "
               "talks to it)"};
  auto config = std::make_shared<daemon_config>();
  bool check_migrations = false;
  bool system_mode = false;
  bool no_network = false;
  std::string log_level = "info";
  std::string owner_flag;
  settings flags; // values of the flags below (applied only when given)
  auto* accel_opt = app.add_option("--accel", flags.vm.accel,
                 "VM acceleration: auto (KVM where hardware virtualization "
                 "works, else TCG), kvm or tcg ([vm] accel; default auto)")
    ->check(CLI::IsMember({"auto", "kvm", "tcg"}));
  auto* stop_opt = app.add_option("--stop-timeout", flags.vm.stop_timeout_s,
                 "Seconds a graceful stop waits for the guest to power off "
                 "before killing it ([vm] stop_timeout; default 10)")
    ->check(CLI::Range(1u, 3600u));
  auto* boot_opt = app.add_option("--boot-timeout", flags.vm.boot_timeout_s,
                 "Seconds a boot may take until the guest agent answers "
                 "([vm] boot_timeout; default 120)")
    ->check(CLI::Range(1u, 3600u));
  app.add_option("--owner", owner_flag,
                 "Started as root: the user bangerd runs as (default: the user "
                 "who ran sudo). banger-helper alone keeps root");
  auto* bridge_opt = app.add_option("--bridge", flags.network.bridge,
                 "Bridge the VMs attach to ([network] bridge; default banger0)");
  auto* subnet_opt = app.add_option("--subnet", flags.network.subnet,
                 "The VMs' IPv4 subnet; the bridge takes its first address "
                 "([network] subnet; default 172.16.0.0/24)");
  auto* dns_opt = app.add_option("--dns", flags.network.dns,
                 "ip:port of the .vm DNS server ([network] dns; default: the "
                 "bridge address, port 53)");
  auto* pool_opt = app.add_option("--tap-pool", flags.network.tap_pool,
                 "Idle TAP devices kept ready for fast starts ([network] "
                 "tap_pool; default 2)")
    ->check(CLI::Range(0u, 64u));
  std::string helper_socket;
  app.add_option("--helper-socket", helper_socket,
                 "banger-helper's socket (default: helper.sock in the runtime "
                 "directory)");
  std::string log_file;
  app.add_option("--log-file", log_file,
                 "Append the log to this file, opened only once root is "
                 "dropped (default: stderr); `banger daemon start` passes "
                 "bangerd.log in the state directory");
  app.add_flag("--no-network", no_network,
               "Run VMs without a network (no helper, bridge, TAPs or DNS)");
  app.add_option("--log-level", log_level, "debug, info, warn or error")
    ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  app.add_flag("--check-migrations", check_migrations,
               "Print what this version would change in state.db, change "
               "nothing, and exit");
  app.add_flag("--system", system_mode,
               "Use the system install's paths (/var/lib/banger, "
               "/etc/banger/config.toml, /run/banger) instead of XDG ones; "
               "bangerd.service passes it");
  app.footer("Paths follow XDG: state in $XDG_STATE_HOME/banger, the socket "
             "in $XDG_RUNTIME_DIR/banger/bangerd.sock (--system: see above).\n"
             "--check-migrations exits 0 when it could read state.db (up to "
             "date or not),\n1 when the file is damaged, foreign, too new or "
             "unreadable.");
  CLI11_PARSE(app, argc, argv);
  // Until --log-file takes over, stderr may be a pipe its reader has left.
  std::signal(SIGPIPE, SIG_IGN);

  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  std::string owner_warning;
  auto owner = daemon_owner(owner_flag, &owner_warning);
  if (!owner)
    return fail(error_message(owner.error()));
  if (::geteuid() != 0 && owner->uid != ::geteuid())
    return fail("--owner " + owner_flag + " needs root: start the daemon "
                "with sudo, or leave --owner out to run it as yourself");
  config->paths = system_mode ? system_paths() : resolve_paths_for(owner->uid);
  auto& paths = config->paths;

  if (check_migrations) {
    auto plan = store::plan_migrations(paths.database());
    if (!plan)
      return fail(error_message(plan.error()));
    std::cout << format_migration_plan(paths.database(), *plan);
    return 0;
  }

  settings conf;
  if (auto ok = load_settings(paths.config_file(), conf); !ok)
    return fail(error_message(ok.error()));
  if (stop_opt->count() > 0)
    conf.vm.stop_timeout_s = flags.vm.stop_timeout_s;
  if (boot_opt->count() > 0)
    conf.vm.boot_timeout_s = flags.vm.boot_timeout_s;
  if (accel_opt->count() > 0)
    conf.vm.accel = flags.vm.accel;
  if (bridge_opt->count() > 0)
    conf.network.bridge = flags.network.bridge;
  if (subnet_opt->count() > 0)
    conf.network.subnet = flags.network.subnet;
  if (dns_opt->count() > 0)
    conf.network.dns = flags.network.dns;
  if (pool_opt->count() > 0)
    conf.network.tap_pool = flags.network.tap_pool;
  conf.network.helper_socket
    = helper_socket.empty() ? paths.helper_socket() : helper_socket;
  config->stop_timeout_s = conf.vm.stop_timeout_s;
  config->boot_timeout_s = conf.vm.boot_timeout_s;
  config->accel = conf.vm.accel;
  config->default_vcpu = conf.vm.vcpu;
  config->default_memory_mib = conf.vm.memory_mib;
  config->default_disk_bytes = parse_size(conf.vm.disk_size).value_or(config->default_disk_bytes);
  config->network = conf.network;
  config->catalog_sources = conf.catalog_sources;
  for (auto& entry : conf.guest_files) {
    host_file_rule rule;
    if (auto why = parse_host_file_rule(entry, owner->home, rule); !why.empty())
      return fail(paths.config_file() + ": [guest] files entry \"" + entry
                  + "\" " + why);
    config->host_files.push_back(std::move(rule));
  }
  if (!no_network)
    if (auto b = bridge_address(conf.network); !b)
      return fail(error_message(b.error()));

  if (::geteuid() == 0) {
    // The privilege split: the helper keeps root, the daemon becomes the owner.
    if (!owner_warning.empty())
      log::warn("bangerd", "{}", owner_warning);
    // Before touching any helper: a daemon of this instance still running
    // keeps its own.
    if (int probe = wire::connect_unix(paths.socket()); probe >= 0) {
      ::close(probe);
      return fail("another bangerd is already listening on " + paths.socket()
                  + " (stop it with: banger daemon stop)");
    }
    if (auto ok = hand_over_dirs(paths, *owner); !ok)
      return fail(error_message(ok.error()));
    if (!no_network)
      if (auto ok = ensure_helper(paths, conf.network, owner->uid); !ok)
        return fail(error_message(ok.error()));
    if (owner->uid != 0)
      if (auto ok = drop_to(*owner); !ok)
        return fail(error_message(ok.error()));
  }

  if (auto why = ensure_dirs(paths); !why.empty())
    return fail(why);
  // Opened as the owner (root is gone by now), so a symlink or a root file
  // put in its place gains nothing.
  if (!log_file.empty()) {
    unique_fd log_fd{::open(log_file.c_str(),
                            O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC,
                            0600)};
    if (!log_fd.valid())
      return fail("cannot open the log " + log_file + ": " + std::strerror(errno)
                  + "; if it is a symlink or not yours, remove it");
    std::fflush(stdout);
    std::fflush(stderr);
    if (::dup2(log_fd.get(), STDOUT_FILENO) < 0
        || ::dup2(log_fd.get(), STDERR_FILENO) < 0)
      return fail(std::string("cannot redirect output to the log: ")
                  + std::strerror(errno));
  }
  network_state net_state;
  if (no_network) {
    net_state.note = "off: bangerd runs with --no-network";
  } else {
    auto up = bring_up_network(conf.network);
    if (!up)
      return fail(error_message(up.error()));
    net_state = std::move(*up);
  }
  config->network_note = net_state.note;
  if (!net_state.enabled)
    log::warn("bangerd", "networking {}; VMs get no network", net_state.note);
  auto db = store::open(paths.database());
  if (!db)
    return fail(error_message(db.error()));
  auto existing = (*db)->list_vms();
  if (!existing)
    return fail(error_message(existing.error()));

  qemu_config qcfg;
  qcfg.accel = config->accel;
  auto driver = std::make_shared<qemu_driver>(qcfg);
  // Creates and deletes a crash cut short: finished or undone before any VM
  // is adopted (services/vm_reconcile.hpp).
  {
    auto report = reconcile_vms(paths, **db, *driver, std::move(*existing));
    for (auto& note : report.notes)
      log::info("bangerd", "{}", note);
    *existing = std::move(report.kept);
  }

  // Signals go to the signal thread only; block them before CAF's threads
  // start so that they inherit the mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::banger>();
  cfg.add_message_types<caf::id_block::banger_daemon>();
  cfg.add_message_types<caf::id_block::banger_dns>();
  cfg.add_message_types<caf::id_block::banger_net>();
  cfg.add_message_types<caf::id_block::banger_pull>();
  caf::actor_system sys{cfg};
  int rc = 0;
  {
    caf::scoped_actor self{sys};
    auto store_handle = spawn_store(sys, std::move(*db));
    vm_network net;
    if (net_state.enabled) {
      net.helper = spawn_helper_actor(
        sys, helper_actor_config{conf.network.helper_socket,
                                 conf.network.bridge,
                                 static_cast<std::uint32_t>(::getuid())});
      net.pool = spawn_tap_pool(sys, net.helper, conf.network.tap_prefix,
                                conf.network.tap_pool);
      net.bridge_cidr = to_string(net_state.bridge);
      if (!net_state.dns_listen.empty()) {
        dns_config dcfg;
        dcfg.listen = net_state.dns_listen;
        dcfg.bound_fd = net_state.dns_fd.valid() ? net_state.dns_fd.release() : -1;
        auto dns = spawn_dns(sys, dcfg);
        if (dns) {
          net.dns = *dns;
          net.dns_server = net_state.dns_server;
        } else {
          log::warn("bangerd", "no .vm DNS: {}", error_message(dns.error()));
        }
      }
      // Leftovers of a crash or an older daemon: TAPs and NAT rules that no
      // running VM holds.
      std::vector<std::string> taps_in_use;
      std::set<std::string> nat_in_use;
      for (auto& rec : *existing) {
        auto st = parse_vm_state(rec.info.state);
        if (!st || !is_active(*st))
          continue;
        if (!rec.tap.empty())
          taps_in_use.push_back(rec.tap);
        if (rec.info.nat)
          nat_in_use.insert(rec.info.ip);
      }
      self->request(net.pool, std::chrono::seconds(30), atom::reconcile_v,
                    taps_in_use)
        .receive(
          [](std::uint32_t n) {
            if (n > 0)
              log::info("bangerd", "deleted {} leftover TAP(s)", n);
          },
          [](caf::error& err) {
            log::warn("bangerd", "cannot reconcile TAPs: {}", error_message(err));
          });
      self->request(net.helper, std::chrono::seconds(30), atom::list_v, atom::nat_v)
        .receive(
          [&](std::vector<std::string>& ips) {
            for (auto& ip : ips)
              if (nat_in_use.count(ip) == 0)
                caf::anon_send(net.helper, atom::nat_v, ip, false);
          },
          [](caf::error& err) {
            log::warn("bangerd", "cannot reconcile NAT rules: {}", error_message(err));
          });
    }
    auto manager = spawn_vm_manager(sys, config, driver, store_handle,
                                    std::move(*existing), net);
    auto library = spawn_library(sys, config, store_handle, manager);
    // No pull runs yet: what a crash left half-pulled goes now.
    for (const auto& dir : {paths.images_dir(), paths.kernels_dir()})
      if (int n = sweep_staging_dirs(dir); n > 0)
        log::info("bangerd", "removed {} unfinished pull(s) in {}", n, dir);
    auto image_puller = spawn_image_puller(sys, config, store_handle);
    auto kernel_puller = spawn_kernel_puller(sys, config, store_handle);
    auto image_builder = spawn_image_builder(sys, config, manager, store_handle);
    auto shutdown_target = caf::actor_cast<caf::actor>(self);
    auto br = bridge::listen(sys, paths.socket(),
                             bridge_deps{manager, library, image_puller,
                                         kernel_puller, image_builder,
                                         shutdown_target});
    if (!br) {
      rc = fail(error_message(br.error()));
    } else {
      if (unique_fd pid{::open(paths.pid_file().c_str(),
                               O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW
                                 | O_CLOEXEC,
                               0644)};
          pid.valid()) {
        auto text = std::to_string(::getpid()) + "\n";
        [[maybe_unused]] auto n = ::write(pid.get(), text.data(), text.size());
      }
      log::info("bangerd", "started (pid {}, state {}, {})", ::getpid(),
                paths.state_dir, driver->accel_description());
      auto sig = signal_thread(shutdown_target, set);
      self->receive([](atom::shutdown) {});
      log::info("bangerd", "shutting down; VMs keep running");
      (*br)->close();
      ::unlink(paths.pid_file().c_str());
      // Wake the signal thread if the shutdown came from "daemon.stop".
      ::kill(::getpid(), SIGTERM);
      sig.join();
    }
    if (net.pool)
      self->request(net.pool, std::chrono::seconds(10), atom::del_v)
        .receive([](std::uint32_t) {},
                 [](caf::error& err) {
                   log::warn("bangerd", "cannot delete the idle TAPs: {}",
                             error_message(err));
                 });
    self->send_exit(manager, caf::exit_reason::user_shutdown);
    for (auto& a : {caf::actor_cast<caf::actor>(net.helper),
                    caf::actor_cast<caf::actor>(net.pool),
                    caf::actor_cast<caf::actor>(net.dns)})
      if (a)
        self->send_exit(a, caf::exit_reason::user_shutdown);
    self->send_exit(library, caf::exit_reason::user_shutdown);
    self->send_exit(image_puller, caf::exit_reason::user_shutdown);
    self->send_exit(kernel_puller, caf::exit_reason::user_shutdown);
    self->send_exit(image_builder, caf::exit_reason::user_shutdown);
    self->send_exit(store_handle, caf::exit_reason::user_shutdown);
  }
  return rc;
}
