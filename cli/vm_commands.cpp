// banger vm run|create|list|show|exec|stop|start|delete
#include <algorithm>
#include <csignal>
#include <memory>
#include <optional>

#include "cli/commands.hpp"
#include "cli/exec_stream.hpp"
#include "cli/render.hpp"
#include "cli/signals.hpp"
#include "cli/workspace.hpp"
#include "messages/vm.hpp"
#include "services/error.hpp"

namespace banger::cli {

namespace {

struct run_opts {
  vm_spec spec;
  bool rm = false;
  bool interactive = false;
  bool detach = false;
  workspace_flags ws;
  bool no_bootstrap = false;
  std::vector<std::string> args; // [PATH] -- CMD..., split by the callback
  std::string path;
  std::vector<std::string> command;
};

struct exec_opts {
  std::string name;
  bool interactive = false;
  bool auto_prepare = false;
  std::vector<std::string> command;
};

struct name_opts {
  std::string name;
  bool json = false;
  bool force = false;
  std::uint32_t timeout_s = 0;
};

void add_spec_options(CLI::App& cmd, vm_spec& spec) {
  cmd.add_option_function<std::string>(
         "--disk-size",
         [&spec](const std::string& v) { spec.disk_bytes = parse_size(v).value_or(0); },
         "Size of the VM's work disk, which holds /root (e.g. 20G; it takes "
         "host space only as it fills); default: 8G")
      ->check(a_size);
  cmd.add_option(
         "--name", spec.name,
         "Name of the VM (letters, digits, '-'); default: a generated name")
      ->check(not_empty);
  cmd.add_option("--image", spec.image,
                 "Root filesystem image to boot; default: the default image");
  cmd.add_option("--kernel", spec.kernel,
                 "Guest kernel; default: the image's kernel");
  cmd.add_option("--vcpu", spec.vcpu,
                 "Number of virtual CPUs; default: the daemon's")
      ->check(positive);
  cmd.add_option("--memory", spec.memory_mib,
                 "Memory in MiB; default: the daemon's")
      ->check(positive);
  cmd.add_flag("--nat", spec.nat,
               "Let the guest reach networks beyond the host (masquerade its "
               "address); default: reachable from the host and other VMs only");
  cmd.add_flag("!--no-host-files", spec.host_files,
               "Do not copy config.toml's [guest] files into this VM's /root "
               "(they are copied at every start otherwise)");
}

void add_command_arg(CLI::App& cmd, std::vector<std::string>& argv) {
  cmd.add_option(
         "CMD", argv,
         "The command and its arguments, after '--'; passed to the guest "
         "as typed, without a shell")
      ->required();
}

/// "root 196.0 KiB, work 1.2 MiB on the host".
std::string disk_usage(const vm_info& vm) {
  if (vm.root_disk_used == 0 && vm.work_disk_used == 0)
    return "";
  std::string out = "root " + format_bytes(vm.root_disk_used);
  if (vm.disk_bytes > 0)
    out += ", work " + format_bytes(vm.work_disk_used);
  return out + " on the host";
}

/// "network 12ms, disks 40ms, vmm 90ms, agent 3.4s".
std::string stage_times(const vm_info& vm) {
  std::string out;
  for (auto& st : vm.stages) {
    if (!out.empty())
      out += ", ";
    out += st.name + " " + (st.ms < 1000 ? std::to_string(st.ms) + "ms"
                                         : format_seconds(st.ms));
  }
  return out;
}

std::string ready_line(const vm_info& vm) {
  return vm.name + " ready in " + format_seconds(vm.boot_ms) + "\n";
}

/// Warns when the host tree changed since the workspace in `vm` was
/// prepared, or (auto_prepare) sends it again.
void check_workspace(daemon_client& client, const std::string& vm,
                     bool auto_prepare) {
  std::optional<workspace::state> st;
  try {
    st = guest_state(client, vm);
  } catch (const command_error&) {
    if (auto_prepare)
      throw;
    return; // the command itself will report why the VM cannot run it
  }
  if (!st) {
    if (auto_prepare)
      fail("VM '" + vm + "' has no prepared workspace to resync; prepare one "
           "first: banger vm workspace prepare " + vm + " PATH");
    return;
  }
  auto repo = workspace::inspect(st->path);
  if (!repo) {
    if (auto_prepare)
      fail("cannot resync the workspace of VM '" + vm + "': "
           + error_message(repo.error()));
    return; // prepared from elsewhere: nothing to compare with
  }
  auto fp = workspace::fingerprint(*repo, st->include_untracked);
  if (fp && *fp == st->fingerprint)
    return;
  if (auto_prepare) {
    auto m = workspace::parse_mode(st->mode);
    auto plan = plan_or_fail({st->path, m ? *m : workspace::mode::overlay,
                              st->include_untracked});
    send_workspace(client, vm, plan);
    return;
  }
  print_warning("the host tree at " + st->path
                + " changed since it was prepared in " + vm
                + "; the guest has the old files (resync with --auto-prepare, "
                  "or: banger vm workspace prepare " + vm + " " + st->path
                + ")");
}

/// vm run with a workspace or -d: create, prepare, then exec (or not).
int run_with_workspace(const run_opts& o) {
  std::optional<workspace::plan> plan;
  if (!o.path.empty()) {
    plan = plan_or_fail(o.path, o.ws);
    check_bootstrap(*plan, o.spec.nat, o.no_bootstrap);
  }
  auto client = connect_daemon();
  // Until the command runs, Ctrl-C/SIGTERM/SIGHUP must not kill us with a
  // VM half made: they cancel the prepare, or wait for the boot to end, and
  // then the VM is cleaned up like after the command.
  std::optional<signal_pipe> signals;
  signals.emplace(std::initializer_list<int>{SIGINT, SIGTERM, SIGHUP});
  auto vm = decode_result<vm_info>(
      call_with_progress(client, "vm.create", to_json(o.spec)));
  auto finish = [&] {
    if (o.rm)
      client.call("vm.delete", to_json(vm_delete_request{vm.name, true}));
    else if (!o.detach)
      client.call("vm.stop", to_json(vm_stop_request{vm.name, 0}));
  };
  auto give_up = [&](int rc) {
    try {
      if (o.rm || o.detach)
        client.call("vm.delete", to_json(vm_delete_request{vm.name, true}));
      else
        finish();
    } catch (...) {
    }
    return rc;
  };
  try {
    if (!signals->drain().empty())
      throw interrupted("interrupted while VM '" + vm.name + "' booted");
    if (plan) {
      send_workspace(client, vm.name, *plan, signals->fd());
      if (!o.no_bootstrap)
        run_bootstrap(client, vm.name, *plan);
    }
  } catch (const interrupted& e) {
    wire::write_all(STDERR_FILENO, std::string("banger: ") + e.what() + "\n");
    return give_up(128 + SIGINT);
  } catch (...) {
    give_up(0);
    throw;
  }
  signals.reset();
  if (o.detach) {
    std::string out = vm.name + " is running";
    if (plan)
      out += ", with " + plan->repo.top + " at " + guest_workspace;
    out += " (ready in " + format_seconds(vm.boot_ms) + ")\n"
           "  banger vm exec " + vm.name + " -- CMD     run a command"
           + (plan ? " in /root/repo" : "") + "\n"
           "  banger vm ssh " + vm.name + "            log in (or: ssh root@"
           + vm.name + ".vm)\n";
    if (plan)
      out += "  banger vm workspace export " + vm.name
             + " -o changes.patch   its changes as a patch\n";
    out += "  banger vm delete -f " + vm.name + "      throw it away\n";
    print(out);
    return exit_ok;
  }
  vm_exec_request req;
  req.name = vm.name;
  req.exec.argv = o.command;
  req.exec.stdin_open = o.interactive;
  if (plan)
    req.exec.cwd = guest_workspace;
  int rc = stream_command(client, "vm.exec", to_json(req), o.interactive);
  try {
    finish();
  } catch (const std::exception& e) {
    print_warning(std::string("cleaning up VM ") + vm.name + ": " + e.what());
  }
  return rc;
}

int do_run(const run_opts& o) {
  if (!o.path.empty() || o.detach)
    return run_with_workspace(o);
  vm_run_request req;
  req.spec = o.spec;
  req.exec.argv = o.command;
  req.exec.stdin_open = o.interactive;
  req.rm = o.rm;
  auto client = connect_daemon();
  return stream_command(client, "vm.run", to_json(req), o.interactive);
}

int do_exec(const exec_opts& o) {
  vm_exec_request req;
  req.name = o.name;
  req.exec.argv = o.command;
  req.exec.stdin_open = o.interactive;
  auto client = connect_daemon();
  check_workspace(client, o.name, o.auto_prepare);
  return stream_command(client, "vm.exec", to_json(req), o.interactive);
}

int do_create(const vm_spec& spec) {
  auto client = connect_daemon();
  auto vm = decode_result<vm_info>(
      call_with_progress(client, "vm.create", to_json(spec)));
  print(ready_line(vm));
  return exit_ok;
}

int do_start(const std::string& name) {
  auto client = connect_daemon();
  auto vm = decode_result<vm_info>(
      call_with_progress(client, "vm.start", to_json(vm_ref{name})));
  print(ready_line(vm));
  return exit_ok;
}

int do_list(bool json) {
  auto client = connect_daemon();
  auto r = client.call("vm.list", wire::json::object());
  if (json) {
    print_json(r);
    return exit_ok;
  }
  auto list = decode_result<vm_list>(r);
  table t({"NAME", "STATE", "IP", "IMAGE", "VCPU", "MEM", "CREATED"});
  auto now = now_unix();
  for (auto& vm : list.vms)
    t.add_row({{vm.name},
               {vm.state, state_style(vm.state)},
               {vm.ip.empty() ? "-" : vm.ip},
               {vm.image.empty() ? "-" : vm.image},
               {std::to_string(vm.vcpu)},
               {format_mib(vm.memory_mib)},
               {format_created(vm.created_at, now)}});
  print(t.render(colour_enabled(STDOUT_FILENO)));
  return exit_ok;
}

int do_show(const std::string& name, bool json) {
  auto client = connect_daemon();
  auto r = client.call("vm.show", to_json(vm_ref{name}));
  if (json) {
    print_json(r);
    return exit_ok;
  }
  auto vm = decode_result<vm_info>(r);
  auto now = now_unix();
  print(key_values({
      {"name", vm.name},
      {"id", vm.id},
      {"state", vm.state},
      {"image", vm.image},
      {"kernel", vm.kernel},
      {"vcpu", std::to_string(vm.vcpu)},
      {"memory", format_mib(vm.memory_mib)},
      {"disk", vm.disk_bytes > 0 ? format_bytes(vm.disk_bytes) + " (/root)"
                                 : "none (/root is on the root disk)"},
      {"disk usage", disk_usage(vm)},
      {"pid", vm.pid > 0 ? std::to_string(vm.pid) : ""},
      {"ip", vm.ip.empty() ? "none (no network)" : vm.ip},
      {"dns name", vm.ip.empty() ? "" : vm.name + ".vm"},
      {"mac", vm.mac},
      {"nat", vm.ip.empty() ? "" : (vm.nat ? "on" : "off")},
      {"created", with_age(vm.created_at, now)},
      {"started", with_age(vm.started_at, now)},
      {"boot time", vm.boot_ms > 0 ? format_seconds(vm.boot_ms) : ""},
      {"last start", stage_times(vm)},
      {"host files", vm.host_files ? "" : "off (--no-host-files)"},
      {"last error", vm.last_error},
      {"dir", vm.dir},
  }));
  return exit_ok;
}

int do_stop(const std::string& name, std::uint32_t timeout_s) {
  auto client = connect_daemon();
  auto vm = decode_result<vm_info>(
      client.call("vm.stop", to_json(vm_stop_request{name, timeout_s})));
  print(vm.name + " stopped\n");
  return exit_ok;
}

int do_delete(const std::string& name, bool force) {
  auto client = connect_daemon();
  result_of(client.call("vm.delete", to_json(vm_delete_request{name, force})));
  print(name + " deleted\n");
  return exit_ok;
}

void add_run(CLI::App& vm, action& selected) {
  auto o = std::make_shared<run_opts>();
  auto* cmd = vm.add_subcommand(
      "run", "Boot a fresh VM, run one command in it and stream its output");
  add_spec_options(*cmd, o->spec);
  cmd->add_flag(
      "--rm", o->rm,
      "Delete the VM when the command ends (else it is kept, stopped)");
  cmd->add_flag("-i,--interactive", o->interactive,
                "Forward stdin to the command (else its stdin is empty)");
  cmd->add_flag("-d,--detach", o->detach,
                "Run no command: leave the VM running (with PATH prepared) and "
                "print how to reach it");
  add_workspace_options(*cmd, o->ws);
  cmd->add_flag("--no-bootstrap", o->no_bootstrap,
                "Skip the workspace bootstrap (mise install for a .mise.toml, "
                "which needs --nat)");
  // PATH and CMD: CLI11 fills them in order, whichever side of "--" the
  // words are on; the callback splits them again at "--".
  cmd->add_option("PATH", o->path,
                  "The git repository to copy to /root/repo first (the command "
                  "then runs there)");
  cmd->add_option("CMD", o->command,
                  "The command and its arguments, after '--'; passed to the "
                  "guest as typed, without a shell");
  cmd->footer(
      "With PATH, the repository's tracked files (see 'banger vm workspace "
      "prepare')\n"
      "are copied to /root/repo first and the command runs there. -d leaves "
      "the VM\n"
      "running instead of running a command; it goes with neither --rm nor "
      "'-- CMD'.\n\n"
      "The command's stdout and stderr arrive byte for byte on banger's own; "
      "banger\n"
      "exits with the command's status (128+N if signal N killed it, 125 if "
      "banger\n"
      "failed). Ctrl-C, SIGTERM and SIGHUP reach the command; a second Ctrl-C\n"
      "cancels it, a third stops waiting.\n\n"
      "Examples:\n"
      "  banger vm run --rm -- uname -a\n"
      "  banger vm run --rm --memory 1024 -- printf '%s|' 'a b' c\n"
      "  banger vm run --rm . -- make test\n"
      "  banger vm run -d --name box ~/src/app\n"
      "  tar c src | banger vm run --rm -i -- tar x -C /tmp");
  cmd->callback([o, &selected] {
    // CLI11 gives PATH and CMD as one list; "--" is where they part. Without
    // "--" everything is the command (or, with -d, the PATH).
    std::vector<std::string> all;
    if (!o->path.empty())
      all.push_back(o->path);
    all.insert(all.end(), o->command.begin(), o->command.end());
    o->args = std::move(all);
    int after = args_after_dashdash();
    std::size_t n_after = after < 0 ? (o->detach ? 0 : o->args.size())
                                    : static_cast<std::size_t>(after);
    n_after = std::min(n_after, o->args.size());
    std::vector<std::string> before(o->args.begin(),
                                    o->args.end() - static_cast<long>(n_after));
    o->command.assign(o->args.end() - static_cast<long>(n_after), o->args.end());
    if (before.size() > 1)
      throw CLI::ValidationError("vm run takes one PATH before '--', not "
                                 + std::to_string(before.size())
                                 + " arguments; put the command after '--'");
    o->path = before.empty() ? "" : before.front();
    if (o->detach && o->rm)
      throw CLI::ValidationError(
          "-d leaves the VM running, --rm deletes it when the command ends: "
          "they do not go together; drop one");
    if (o->detach && !o->command.empty())
      throw CLI::ValidationError(
          "-d runs no command; drop the '-- CMD' part and run it later with: "
          "banger vm exec NAME -- CMD");
    if (!o->detach && o->command.empty())
      throw CLI::ValidationError(
          "vm run needs a command after '--' (or -d to leave the VM running)");
    selected = {[o] { return do_run(*o); }, exit_run_failure};
  });
}

void add_exec(CLI::App& vm, action& selected) {
  auto o = std::make_shared<exec_opts>();
  auto* cmd = vm.add_subcommand(
      "exec", "Run a command in a running VM and stream its output");
  cmd->add_option("name", o->name, "The VM")->required();
  cmd->add_flag("-i,--interactive", o->interactive,
                "Forward stdin to the command (else its stdin is empty)");
  cmd->add_flag("--auto-prepare", o->auto_prepare,
                "Send the prepared workspace again first if the host tree "
                "changed since");
  add_command_arg(*cmd, o->command);
  cmd->footer("Output, signals and exit status work as for 'banger vm run'.\n"
              "With a prepared workspace the command runs in /root/repo, and "
              "banger warns\n"
              "when the host tree changed since the prepare.\n\n"
              "Examples:\n"
              "  banger vm exec box -- ls -l /\n"
              "  echo hello | banger vm exec box -i -- cat");
  cmd->callback([o, &selected] {
    selected = {[o] { return do_exec(*o); }, exit_run_failure};
  });
}

void add_create(CLI::App& vm, action& selected) {
  auto spec = std::make_shared<vm_spec>();
  auto* cmd =
      vm.add_subcommand("create", "Create and boot a VM that stays running");
  add_spec_options(*cmd, *spec);
  cmd->footer("Examples:\n"
              "  banger vm create --name box\n"
              "  banger vm create --name big --vcpu 4 --memory 4096");
  cmd->callback(
      [spec, &selected] { selected = {[spec] { return do_create(*spec); }}; });
}

void add_list(CLI::App& vm, action& selected) {
  auto o = std::make_shared<name_opts>();
  auto* cmd = vm.add_subcommand("list", "List VMs");
  cmd->alias("ls");
  cmd->add_flag("--json", o->json, "Print the daemon's reply as JSON");
  cmd->callback(
      [o, &selected] { selected = {[o] { return do_list(o->json); }}; });
}

void add_show(CLI::App& vm, action& selected) {
  auto o = std::make_shared<name_opts>();
  auto* cmd = vm.add_subcommand("show", "Show one VM in detail");
  cmd->add_option("name", o->name, "The VM")->required();
  cmd->add_flag("--json", o->json, "Print the daemon's reply as JSON");
  cmd->callback([o, &selected] {
    selected = {[o] { return do_show(o->name, o->json); }};
  });
}

void add_stop(CLI::App& vm, action& selected) {
  auto o = std::make_shared<name_opts>();
  auto* cmd =
      vm.add_subcommand("stop", "Shut a VM down (it can be started again)");
  cmd->add_option("name", o->name, "The VM")->required();
  cmd->add_option(
      "--timeout", o->timeout_s,
      "Seconds to wait for a clean shutdown before the VM is killed; "
      "default: the daemon's");
  cmd->callback([o, &selected] {
    selected = {[o] { return do_stop(o->name, o->timeout_s); }};
  });
}

void add_start(CLI::App& vm, action& selected) {
  auto o = std::make_shared<name_opts>();
  auto* cmd = vm.add_subcommand("start", "Boot a stopped VM");
  cmd->add_option("name", o->name, "The VM")->required();
  cmd->callback(
      [o, &selected] { selected = {[o] { return do_start(o->name); }}; });
}

void add_delete(CLI::App& vm, action& selected) {
  auto o = std::make_shared<name_opts>();
  auto* cmd = vm.add_subcommand("delete", "Delete a stopped VM and its disk");
  cmd->alias("rm");
  cmd->add_option("name", o->name, "The VM")->required();
  cmd->add_flag("-f,--force", o->force, "Stop the VM first if it is running");
  cmd->callback([o, &selected] {
    selected = {[o] { return do_delete(o->name, o->force); }};
  });
}

} // namespace

void add_vm_commands(CLI::App& app, action& selected) {
  auto* vm = app.add_subcommand("vm", "Create, run and manage VMs");
  vm->require_subcommand(1);
  add_run(*vm, selected);
  add_create(*vm, selected);
  add_list(*vm, selected);
  add_show(*vm, selected);
  add_exec(*vm, selected);
  add_stop(*vm, selected);
  add_start(*vm, selected);
  add_delete(*vm, selected);
  add_vm_lifecycle_commands(*vm, selected);
  add_vm_network_commands(*vm, selected);
  add_workspace_commands(*vm, selected);
  add_session_commands(*vm, selected);
}

} // namespace banger::cli
