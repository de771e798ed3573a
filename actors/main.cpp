// bangerd: the banger daemon. Owns VMs, images and kernels through a CAF
// actor system and serves the CLI on a Unix socket. Runs in the foreground;
// `banger daemon start` backgrounds it. Stopping it never stops VMs: the
// next daemon adopts them.

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "actors/bridge.hpp"
#include "actors/config.hpp"
#include "actors/interfaces.hpp"
#include "actors/library.hpp"
#include "actors/store_actor.hpp"
#include "actors/vm_manager.hpp"
#include "services/error.hpp"
#include "services/log.hpp"
#include "services/paths.hpp"
#include "services/qemu_driver.hpp"
#include "services/store.hpp"

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
  std::string log_level = "info";
  app.add_option("--accel", config->accel,
                 "VM acceleration: auto (KVM where hardware virtualization "
                 "works, else TCG), kvm or tcg")
    ->check(CLI::IsMember({"auto", "kvm", "tcg"}));
  app.add_option("--stop-timeout", config->stop_timeout_s,
                 "Seconds a graceful stop waits for the guest to power off "
                 "before killing it")
    ->check(CLI::Range(1u, 3600u));
  app.add_option("--boot-timeout", config->boot_timeout_s,
                 "Seconds a boot may take until the guest agent answers")
    ->check(CLI::Range(1u, 3600u));
  app.add_option("--log-level", log_level, "debug, info, warn or error")
    ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  app.add_flag("--check-migrations", check_migrations,
               "Print what this version would change in state.db, change "
               "nothing, and exit");
  app.footer("Paths follow XDG: state in $XDG_STATE_HOME/banger, the socket "
             "in $XDG_RUNTIME_DIR/banger/bangerd.sock.");
  CLI11_PARSE(app, argc, argv);

  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  config->paths = resolve_paths();
  auto& paths = config->paths;

  if (check_migrations) {
    auto pending = store::pending_migrations(paths.database());
    if (!pending)
      return fail(error_message(pending.error()));
    if (pending->empty())
      std::cout << paths.database() << " is up to date\n";
    for (auto& line : *pending)
      std::cout << line << "\n";
    return 0;
  }

  if (auto why = ensure_dirs(paths); !why.empty())
    return fail(why);
  auto db = store::open(paths.database());
  if (!db)
    return fail(error_message(db.error()));
  auto existing = (*db)->list_vms();
  if (!existing)
    return fail(error_message(existing.error()));

  qemu_config qcfg;
  qcfg.accel = config->accel;
  auto driver = std::make_shared<qemu_driver>(qcfg);

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
  caf::actor_system sys{cfg};
  int rc = 0;
  {
    caf::scoped_actor self{sys};
    auto store_handle = spawn_store(sys, std::move(*db));
    auto manager = spawn_vm_manager(sys, config, driver, store_handle,
                                    std::move(*existing));
    auto library = spawn_library(sys, config, store_handle);
    auto shutdown_target = caf::actor_cast<caf::actor>(self);
    auto br = bridge::listen(sys, paths.socket(),
                             bridge_deps{manager, library, shutdown_target});
    if (!br) {
      rc = fail(error_message(br.error()));
    } else {
      if (std::ofstream pid(paths.pid_file()); pid)
        pid << ::getpid() << "\n";
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
    self->send_exit(manager, caf::exit_reason::user_shutdown);
    self->send_exit(library, caf::exit_reason::user_shutdown);
    self->send_exit(store_handle, caf::exit_reason::user_shutdown);
  }
  return rc;
}
