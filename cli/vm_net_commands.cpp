// banger vm set|ssh|ports, and the hidden `vm proxy` that banger's ssh
// config uses as ProxyCommand (so `ssh box.vm` works without system DNS).
#include <cerrno>
#include <cstring>
#include <chrono>
#include <memory>
#include <thread>

#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/render.hpp"
#include "messages/vm.hpp"
#include "services/error.hpp"
#include "services/names.hpp"
#include "services/paths.hpp"
#include "services/ssh_config.hpp"
#include "services/unique_fd.hpp"

namespace banger::cli {

namespace {

vm_info show(const std::string& name) {
  auto client = connect_daemon();
  return decode_result<vm_info>(client.call("vm.show", to_json(vm_ref{name})));
}

/// A running VM with an address, or a clear error saying what is missing.
vm_info reachable(const std::string& name) {
  auto vm = show(name);
  if (vm.ip.empty())
    fail("VM \"" + name + "\" has no network address (it was created while "
         "bangerd ran without banger-helper); see: banger doctor");
  if (vm.state != "running")
    fail("VM \"" + name + "\" is " + vm.state + "; start it with: banger vm start "
         + name);
  return vm;
}

int do_set(const vm_set_request& req) {
  if (!req.changes_something())
    fail("nothing to change: give --vcpu, --memory, --disk-size, --nat or --no-nat "
         "(see: banger vm set --help)");
  auto client = connect_daemon();
  auto vm = decode_result<vm_info>(client.call("vm.set", to_json(req)));
  std::vector<std::string> now;
  if (req.vcpu != 0)
    now.push_back(fmt::format("{} vCPU", vm.vcpu));
  if (req.memory_mib != 0)
    now.push_back(format_mib(vm.memory_mib) + " memory");
  if (req.disk_bytes != 0)
    now.push_back(format_bytes(vm.disk_bytes) + " disk");
  if (req.has_nat)
    now.push_back(std::string("nat ") + (vm.nat ? "on" : "off"));
  std::string line;
  for (auto& part : now)
    line += (line.empty() ? "" : ", ") + part;
  print(fmt::format("{}: {} (applies at the next start)\n", vm.name, line));
  return exit_ok;
}

int do_ssh(const std::string& name, const std::vector<std::string>& command) {
  auto vm = reachable(name);
  auto p = resolve_paths();
  if (auto ok = ensure_ssh_config(p); !ok)
    fail("cannot write banger's ssh config: " + error_message(ok.error()));
  std::vector<std::string> args{"ssh", "-F", ssh_config_path(p)};
  if (command.empty() && ::isatty(STDIN_FILENO) != 0)
    args.push_back("-t");
  // The name comes from the daemon's reply: checked before it reaches
  // ssh's argv, and after "--" so that it can never be an option.
  if (auto why = validate_vm_name(vm.name); !why.empty())
    fail("bangerd replied with a VM name ssh must not get: " + why);
  args.push_back("--");
  args.push_back(vm.name + ".vm");
  if (!command.empty()) {
    // ssh joins its arguments with spaces for the remote shell: quote each
    // one so that the guest sees exactly what was typed.
    args.push_back(shell_quote(command));
  }
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execvp("ssh", argv.data());
  fail(std::string{"cannot run ssh: "} + std::strerror(errno)
       + "; install the OpenSSH client (apt install openssh-client)");
}

/// Copies stdin to the VM's port and the port to stdout until both ends
/// close: what ssh's ProxyCommand needs.
int do_proxy(std::string name, std::uint16_t port) {
  if (name.size() > 3 && name.compare(name.size() - 3, 3, ".vm") == 0)
    name.resize(name.size() - 3);
  auto vm = reachable(name);
  unique_fd sock;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, vm.ip.c_str(), &addr.sin_addr) != 1)
    fail("VM \"" + name + "\" has a malformed address " + vm.ip);
  // A VM is "running" once its agent answers; its sshd may still be
  // starting, so a refused connection is retried for a while.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    sock.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (sock.valid()
        && ::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
      break;
    int err = errno;
    bool transient = err == ECONNREFUSED || err == EHOSTUNREACH || err == ETIMEDOUT;
    if (!transient || std::chrono::steady_clock::now() >= deadline)
      fail(fmt::format("cannot connect to {}.vm ({}:{}): {}", name, vm.ip, port,
                       std::strerror(err)));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  bool in_open = true;
  char buf[65536];
  for (;;) {
    pollfd fds[2] = {{sock.get(), POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    if (::poll(fds, in_open ? 2 : 1, -1) < 0) {
      if (errno == EINTR)
        continue;
      return 1;
    }
    if (fds[0].revents != 0) {
      auto n = ::read(sock.get(), buf, sizeof buf);
      if (n <= 0)
        return exit_ok;
      for (ssize_t off = 0; off < n;) {
        auto w = ::write(STDOUT_FILENO, buf + off, static_cast<std::size_t>(n - off));
        if (w <= 0)
          return 1;
        off += w;
      }
    }
    if (in_open && fds[1].revents != 0) {
      auto n = ::read(STDIN_FILENO, buf, sizeof buf);
      if (n <= 0) {
        in_open = false;
        ::shutdown(sock.get(), SHUT_WR);
        continue;
      }
      for (ssize_t off = 0; off < n;) {
        auto w = ::write(sock.get(), buf + off, static_cast<std::size_t>(n - off));
        if (w <= 0)
          return 1;
        off += w;
      }
    }
  }
}

int do_ports(const std::string& name, bool json) {
  auto client = connect_daemon();
  auto r = client.call("vm.ports", to_json(vm_ref{name}));
  if (json) {
    print_json(r);
    return exit_ok;
  }
  auto ports = decode_result<agent_ports_reply>(r);
  table t({"ADDRESS", "PROTO", "LISTEN", "PROCESS"});
  for (auto& p : ports.ports)
    t.add_row({{name + ".vm:" + std::to_string(p.port)},
               {p.proto},
               {p.address},
               {p.process.empty() ? "-"
                                  : p.process + " (" + std::to_string(p.pid) + ")"}});
  print(t.render(colour_enabled(STDOUT_FILENO)));
  return exit_ok;
}

struct ports_opts {
  std::string name;
  bool json = false;
};

struct set_opts {
  vm_set_request req;
  bool nat = false;
  bool no_nat = false;
};

struct ssh_opts {
  std::string name;
  std::vector<std::string> command;
};

struct proxy_opts {
  std::string name;
  std::uint16_t port = 22;
};

} // namespace

void add_vm_network_commands(CLI::App& vm, action& selected) {
  {
    auto o = std::make_shared<set_opts>();
    auto* cmd = vm.add_subcommand("set", "Change settings of a stopped VM");
    cmd->add_option("name", o->req.name, "The VM")->required();
    cmd->add_option("--vcpu", o->req.vcpu, "Number of virtual CPUs")->check(positive);
    cmd->add_option("--memory", o->req.memory_mib, "Memory in MiB")->check(positive);
    cmd->add_option_function<std::string>(
           "--disk-size",
           [o](const std::string& v) { o->req.disk_bytes = parse_size(v).value_or(0); },
           "Grow the work disk (/root) to this size, e.g. 20G; disks never shrink")
        ->check(a_size);
    cmd->footer("The VM must be stopped; the guest sees the new values from its next "
                "start.\nExample:\n  banger vm stop box && banger vm set box --vcpu 4 "
                "--memory 2048 --disk-size 40G && banger vm start box");
    auto* nat = cmd->add_flag("--nat", o->nat,
                              "Masquerade the guest's traffic out of the host "
                              "(from the next start)");
    cmd->add_flag("--no-nat", o->no_nat, "Stop masquerading it")->excludes(nat);
    cmd->callback([o, &selected] {
      selected = {[o] {
        auto req = o->req;
        req.has_nat = o->nat || o->no_nat;
        req.nat = o->nat;
        return do_set(req);
      }};
    });
  }
  {
    auto o = std::make_shared<ssh_opts>();
    auto* cmd = vm.add_subcommand(
        "ssh", "Log in to a running VM over SSH, or run a command there");
    cmd->add_option("name", o->name, "The VM")->required();
    cmd->add_option("CMD", o->command,
                    "A command and its arguments, after '--'; each argument "
                    "reaches the guest exactly as typed (quoted for its shell)");
    cmd->footer("Uses banger's key and known_hosts (see: banger ssh-config); "
                "ssh's own exit code is returned (255: ssh failed).");
    cmd->callback([o, &selected] {
      selected = {[o] { return do_ssh(o->name, o->command); }};
    });
  }
  {
    auto o = std::make_shared<ports_opts>();
    auto* cmd = vm.add_subcommand(
        "ports", "List the TCP/UDP sockets listening in a running VM");
    cmd->add_option("name", o->name, "The VM")->required();
    cmd->add_flag("--json", o->json, "Print the daemon's reply as JSON");
    cmd->footer("Each is reachable from the host as <name>.vm:PORT (or the VM's IP).");
    cmd->callback([o, &selected] {
      selected = {[o] { return do_ports(o->name, o->json); }};
    });
  }
  {
    auto o = std::make_shared<proxy_opts>();
    auto* cmd = vm.add_subcommand(
        "proxy", "Connect stdin/stdout to a VM's TCP port (ssh ProxyCommand)");
    cmd->group(""); // plumbing: hidden from --help
    cmd->add_option("name", o->name, "The VM (NAME or NAME.vm)")->required();
    cmd->add_option("port", o->port, "TCP port")->required();
    cmd->callback([o, &selected] {
      selected = {[o] { return do_proxy(o->name, o->port); }};
    });
  }
}

} // namespace banger::cli
