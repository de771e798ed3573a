// banger vm restart|kill|prune|logs: the lifecycle verbs around start/stop.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include <poll.h>
#include <unistd.h>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/render.hpp"
#include "cli/signals.hpp"
#include "messages/vm.hpp"
#include "services/lifecycle.hpp"

namespace banger::cli {

namespace {

struct lifecycle_opts {
  std::string name;
  std::string signal;
  std::uint32_t timeout_s = 0;
  bool force = false;
  bool follow = false;
  bool json = false;
};

vm_info call_vm(daemon_client& client, const std::string& type, const wire::json& body) {
  return decode_result<vm_info>(client.call(type, body));
}

int do_restart(const lifecycle_opts& o) {
  auto client = connect_daemon();
  auto vm = call_vm(client, "vm.show", to_json(vm_ref{o.name}));
  // A stopped VM just starts; a running one goes down cleanly first.
  if (vm.state == "running" || vm.state == "starting")
    call_vm(client, "vm.stop", to_json(vm_stop_request{o.name, o.timeout_s}));
  vm = decode_result<vm_info>(
    call_with_progress(client, "vm.start", to_json(vm_ref{o.name})));
  print(vm.name + " restarted, ready in " + format_seconds(vm.boot_ms) + "\n");
  return exit_ok;
}

int do_kill(const lifecycle_opts& o) {
  auto signal = parse_kill_signal(o.signal);
  if (!signal)
    fail("--signal " + o.signal + ": banger sends KILL (default), TERM, INT or HUP to a "
         "VM's VMM");
  auto client = connect_daemon();
  auto vm = call_vm(client, "vm.kill", to_json(vm_kill_request{o.name, o.signal}));
  print(vm.name + " killed (" + vm.state + ")\n");
  return exit_ok;
}

int do_prune(const lifecycle_opts& o) {
  auto client = connect_daemon();
  auto list = decode_result<vm_list>(client.call("vm.list", wire::json::object()));
  std::vector<vm_info> doomed;
  for (auto& vm : list.vms)
    if (vm.state == "stopped" || vm.state == "created" || vm.state == "error")
      doomed.push_back(vm);
  if (doomed.empty()) {
    print("nothing to prune: every VM is running\n");
    return exit_ok;
  }
  std::string names;
  for (auto& vm : doomed)
    names += "  " + vm.name + " (" + vm.state + ")\n";
  if (!o.force) {
    if (::isatty(STDIN_FILENO) != 1)
      fail(fmt::format("prune would delete {} VM(s) that are not running:\n{}"
                       "stdin is not a terminal to confirm on: run banger vm prune -f",
                       doomed.size(), names));
    std::cerr << "These VMs are not running and would be deleted with their disks:\n"
              << names << "Delete them? [y/N] " << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "y" && answer != "Y" && answer != "yes") {
      print("nothing deleted\n");
      return exit_ok;
    }
  }
  int failed = 0;
  for (auto& vm : doomed) {
    // Never forced: a VM started since the listing stays.
    auto r = client.call("vm.delete", to_json(vm_delete_request{vm.name, false}));
    if (r.ok()) {
      print("deleted " + vm.name + "\n");
    } else {
      ++failed;
      print_warning("cannot delete " + vm.name + ": " + r.error().message);
    }
  }
  return failed == 0 ? exit_ok : 1;
}

/// The serial console as the daemon's user wrote it; -f polls for more
/// until interrupted (as tail -f does).
int do_logs(const lifecycle_opts& o) {
  auto client = connect_daemon();
  auto vm = call_vm(client, "vm.show", to_json(vm_ref{o.name}));
  auto path = vm.dir + "/serial.log";
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail("VM \"" + o.name + "\" has no console log at " + path
         + " (it has not booted yet, or this user cannot read the daemon's files)");
  char buf[64 * 1024];
  auto drain = [&] {
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
      std::fwrite(buf, 1, static_cast<std::size_t>(in.gcount()), stdout);
      if (in.eof())
        break;
    }
    std::fflush(stdout);
    in.clear();
  };
  drain();
  if (!o.follow)
    return exit_ok;
  signal_pipe signals{SIGINT, SIGTERM, SIGHUP};
  for (;;) {
    pollfd p{signals.fd(), POLLIN, 0};
    if (::poll(&p, 1, 200) > 0 && !signals.drain().empty())
      return exit_ok; // the normal end of a follow, as with tail -f
    drain();
  }
}

} // namespace

void add_vm_lifecycle_commands(CLI::App& vm, action& selected) {
  {
    auto o = std::make_shared<lifecycle_opts>();
    auto* cmd = vm.add_subcommand(
      "restart", "Stop a VM cleanly and boot it again (the guest boots afresh)");
    cmd->add_option("name", o->name, "The VM")->required();
    cmd->add_option("--timeout", o->timeout_s,
                    "Seconds to wait for a clean shutdown before the VM is killed; "
                    "default: the daemon's");
    cmd->callback([o, &selected] { selected = {[o] { return do_restart(*o); }}; });
  }
  {
    auto o = std::make_shared<lifecycle_opts>();
    auto* cmd = vm.add_subcommand(
      "kill", "Stop a VM at once, without asking the guest (it ends stopped)");
    cmd->add_option("name", o->name, "The VM")->required();
    cmd->add_option("-s,--signal", o->signal,
                    "KILL (default), TERM, INT or HUP, for the VM's VMM; TERM lets "
                    "QEMU exit by itself, the guest still gets no say");
    cmd->footer("Everything the VM held (TAP, NAT rule, address) is released; its "
                "disks stay.\nUse vm stop for a clean shutdown.");
    cmd->callback([o, &selected] { selected = {[o] { return do_kill(*o); }}; });
  }
  {
    auto o = std::make_shared<lifecycle_opts>();
    auto* cmd = vm.add_subcommand(
      "prune", "Delete every VM that is not running (stopped, created, error)");
    cmd->add_flag("-f,--force", o->force, "Do not ask first");
    cmd->footer("Lists them and asks on a terminal; without one, -f is needed.\n"
                "Running VMs are never touched.");
    cmd->callback([o, &selected] { selected = {[o] { return do_prune(*o); }}; });
  }
  {
    auto o = std::make_shared<lifecycle_opts>();
    auto* cmd = vm.add_subcommand("logs", "Print a VM's serial console (kernel, init)");
    cmd->add_option("name", o->name, "The VM")->required();
    cmd->add_flag("-f,--follow", o->follow, "Keep printing what it writes, until Ctrl-C");
    cmd->callback([o, &selected] { selected = {[o] { return do_logs(*o); }}; });
  }
}

} // namespace banger::cli
