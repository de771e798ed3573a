// banger system install|status|restart|uninstall: bangerd and banger-helper
// as systemd services (the units come from deploy/, services/system_install).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/render.hpp"
#include "services/error.hpp"
#include "services/paths.hpp"
#include "services/privilege.hpp"
#include "services/process.hpp"
#include "services/safe_dir.hpp"
#include "services/settings.hpp"
#include "services/system_install.hpp"

namespace banger::cli {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr auto systemctl_timeout = 90s;
constexpr auto answer_timeout = 20s;

struct system_opts {
  std::string root; // alternate root (systemctl --root); "" is the host
  std::string owner;
  std::string bin_dir;
  bool purge = false;
  bool yes = false;
};

// sd_booted(3): systemd is PID 1 when this directory exists.
bool systemd_running() {
  std::error_code ec;
  return fs::is_directory("/run/systemd/system", ec);
}

std::string pid1_name() {
  std::ifstream in("/proc/1/comm");
  std::string name;
  std::getline(in, name);
  return name.empty() ? "unknown" : name;
}

// The host needs root and systemd; an alternate root needs neither (only
// systemctl's offline verbs run on it).
void require_host(const system_opts& o, const char* verb) {
  if (!o.root.empty())
    return;
  if (!systemd_running())
    fail(fmt::format("this host does not run systemd (PID 1 is {}), so there "
                     "is no service manager to {} banger with; run the daemon "
                     "with: banger daemon start (or use --root DIR to render "
                     "the units into a directory)",
                     pid1_name(), verb));
  if (::geteuid() != 0)
    fail(fmt::format("banger system {} changes systemd units: run it with sudo",
                     verb));
}

std::string normalize_root(const std::string& root) {
  if (root.empty())
    return root;
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    fail(fmt::format("--root {}: not a directory; create it first", root));
  auto abs = fs::absolute(root, ec).lexically_normal().string();
  while (abs.size() > 1 && abs.back() == '/')
    abs.pop_back();
  return abs == "/" ? "" : abs;
}

// Runs systemctl (or systemd-tmpfiles); a failure names the command and
// carries its stderr.
run_result run_tool(const std::vector<std::string>& argv, bool must = true) {
  run_options opts;
  opts.timeout = systemctl_timeout;
  auto r = run(argv, opts);
  if (!r)
    fail(fmt::format("cannot run {}: {}", argv[0], error_message(r.error())));
  if (must && !r->ok()) {
    std::string cmd;
    for (auto& a : argv)
      cmd += (cmd.empty() ? "" : " ") + a;
    auto err = r->err;
    while (!err.empty() && err.back() == '\n')
      err.pop_back();
    fail(fmt::format("{} failed{}: {}", cmd, r->timed_out ? " (timed out)" : "",
                     err.empty() ? "no message" : err));
  }
  return *r;
}

std::vector<std::string> systemctl(const system_opts& o,
                                   std::vector<std::string> args) {
  std::vector<std::string> argv{"systemctl"};
  if (!o.root.empty())
    argv.push_back("--root=" + o.root);
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

// bangerd and banger-helper live next to the banger that runs.
std::string default_bin_dir() {
  std::error_code ec;
  auto self = fs::canonical("/proc/self/exe", ec);
  if (ec)
    fail("cannot find the banger executable (/proc/self/exe): " + ec.message()
         + "; pass --bin-dir");
  return self.parent_path().string();
}

void write_file(const std::string& path, const std::string& content) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec)
    fail(fmt::format("cannot create {}: {}",
                     fs::path(path).parent_path().string(), ec.message()));
  auto tmp = path + ".banger-new";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out.flush())
      fail(fmt::format("cannot write {}", tmp));
  }
  ::chmod(tmp.c_str(), 0644);
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    fail(fmt::format("cannot write {}: {}", path, ec.message()));
  }
}

struct backup {
  std::string path;
  std::optional<std::string> content; // nullopt: did not exist
};

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return std::nullopt;
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

void restore(const std::vector<backup>& saved) {
  for (auto& b : saved) {
    std::error_code ec;
    if (b.content) {
      std::ofstream(b.path, std::ios::binary | std::ios::trunc) << *b.content;
    } else {
      fs::remove(b.path, ec);
    }
  }
}

// Waits for the system daemon to answer; its status, or nullopt with `why`.
std::optional<daemon_status> wait_for_daemon(std::string& why) {
  auto deadline = std::chrono::steady_clock::now() + answer_timeout;
  for (;;) {
    if (auto st = query_status(system_paths().socket(), &why))
      return st;
    if (std::chrono::steady_clock::now() >= deadline)
      return std::nullopt;
    std::this_thread::sleep_for(200ms);
  }
}

int do_install(system_opts o) {
  o.root = normalize_root(o.root);
  require_host(o, "install");
  auto owner = daemon_owner(o.owner);
  if (!owner)
    fail(error_message(owner.error()));
  if (owner->uid == 0)
    fail("bangerd would run as root: run `sudo banger system install` from "
         "your own account, or pass --owner USER (only banger-helper keeps "
         "root)");
  system_install_params p;
  p.owner = owner->name;
  p.owner_uid = owner->uid;
  p.owner_gid = owner->gid;
  auto* gr = ::getgrgid(owner->gid);
  p.owner_group = gr != nullptr ? gr->gr_name : std::to_string(owner->gid);
  p.bin_dir = o.bin_dir.empty() ? default_bin_dir() : o.bin_dir;
  p.version = BANGER_VERSION;
  if (::getgrnam("kvm") != nullptr)
    p.supplementary_groups.push_back("kvm");
  for (auto prefix : {"/home/", "/root/", "/run/user/"})
    if (p.bin_dir.rfind(prefix, 0) == 0 || p.bin_dir + "/" == prefix)
      fail(fmt::format("--bin-dir {}: banger-helper's unit hides {} "
                       "(ProtectHome=yes), so it could not start from there; "
                       "copy the binaries to /usr/local/bin and pass "
                       "--bin-dir /usr/local/bin",
                       p.bin_dir, prefix));
  for (auto exe : {"bangerd", "banger-helper"}) {
    auto path = p.bin_dir + "/" + exe;
    if (::access(path.c_str(), X_OK) != 0)
      fail(fmt::format("--bin-dir {}: {} is missing or not executable; point "
                       "--bin-dir at the directory holding bangerd and "
                       "banger-helper",
                       p.bin_dir, path));
  }
  // systemd will run banger-helper as root: only a file root alone controls.
  if (auto ok = check_root_executable(p.bin_dir + "/banger-helper"); !ok)
    fail("--bin-dir " + p.bin_dir + ": " + error_message(ok.error()));
  // The helper needs the TAP prefix, bridge and subnet the daemon will use.
  settings conf;
  auto config_file = o.root + system_paths().config_file();
  if (auto ok = load_settings(config_file, conf); !ok)
    fail(error_message(ok.error()));
  p.tap_prefix = conf.network.tap_prefix;
  p.bridge = conf.network.bridge;
  p.subnet = conf.network.subnet;

  auto marker = system_install_marker(o.root);
  if (auto old = read_install_marker(marker); old && old->owner != p.owner)
    fail(fmt::format("banger is already installed for owner {} ({}); its "
                     "state belongs to that user: run banger system uninstall "
                     "first",
                     old->owner, marker));
  auto files = render_system_files(p);
  if (!files)
    fail(error_message(files.error()));

  std::vector<backup> saved;
  try {
    for (auto& f : *files) {
      auto path = o.root + f.path;
      saved.push_back({path, read_file(path)});
      write_file(path, f.content);
    }
    std::vector<std::string> units{std::string{helper_unit},
                                   std::string{daemon_unit}};
    if (o.root.empty()) {
      run_tool(systemctl(o, {"daemon-reload"}));
      run_tool({"systemd-tmpfiles", "--create", std::string{tmpfiles_path}});
      auto args = std::vector<std::string>{"enable", "--now"};
      args.insert(args.end(), units.begin(), units.end());
      run_tool(systemctl(o, args));
    } else {
      auto args = std::vector<std::string>{"enable"};
      args.insert(args.end(), units.begin(), units.end());
      run_tool(systemctl(o, args));
    }
  } catch (const command_error&) {
    restore(saved);
    if (o.root.empty())
      run_tool(systemctl(o, {"daemon-reload"}), false);
    throw;
  }
  for (auto& f : *files)
    print(fmt::format("wrote {}{}\n", o.root, f.path));
  if (!o.root.empty()) {
    print(fmt::format("enabled {} and {} under {} (nothing started)\n",
                      helper_unit, daemon_unit, o.root));
    return exit_ok;
  }
  std::string why;
  auto st = wait_for_daemon(why);
  if (!st)
    fail(fmt::format("the units are installed and started, but bangerd does "
                     "not answer at {} after {}s ({}); see: journalctl -u {} "
                     "-u {}",
                     system_paths().socket(), answer_timeout.count(), why,
                     daemon_unit, helper_unit));
  print(fmt::format("bangerd runs as {} (pid {}); state in {}, config in {}\n"
                    "banger now talks to it; see: banger system status\n",
                    p.owner, st->pid, system_paths().state_dir,
                    system_paths().config_file()));
  return exit_ok;
}

// "Key=Value" lines of systemctl show.
std::map<std::string, std::string> parse_show(const std::string& out) {
  std::map<std::string, std::string> kv;
  std::size_t pos = 0;
  while (pos < out.size()) {
    auto end = out.find('\n', pos);
    if (end == std::string::npos)
      end = out.size();
    auto line = out.substr(pos, end - pos);
    if (auto eq = line.find('='); eq != std::string::npos)
      kv[line.substr(0, eq)] = line.substr(eq + 1);
    pos = end + 1;
  }
  return kv;
}

int do_status(system_opts o) {
  o.root = normalize_root(o.root);
  if (o.root.empty() && !systemd_running())
    fail(fmt::format("this host does not run systemd (PID 1 is {}): banger "
                     "cannot be installed as a service here; see: banger "
                     "daemon status",
                     pid1_name()));
  bool healthy = true;
  std::vector<std::pair<std::string, std::string>> kv;
  auto marker = read_install_marker(system_install_marker(o.root));
  if (marker) {
    kv.push_back(
        {"installed", fmt::format("yes, owner {} (uid {}), binaries in "
                                  "{}, banger {}",
                                  marker->owner, marker->owner_uid,
                                  marker->bin_dir, marker->version)});
  } else {
    healthy = false;
    kv.push_back({"installed", "no (" + error_message(marker.error()) + ")"});
  }
  for (auto unit : {helper_unit, daemon_unit}) {
    auto file = fmt::format("{}{}/{}", o.root, unit_dir, unit);
    std::error_code ec;
    bool present = fs::exists(file, ec);
    std::string state;
    if (o.root.empty()) {
      auto r = run_tool(systemctl(o, {"show", std::string{unit},
                                      "--property=LoadState,ActiveState,"
                                      "SubState,UnitFileState,MainPID"}),
                        false);
      auto s = parse_show(r.out);
      state = fmt::format("{} ({}), {}, main pid {}", s["ActiveState"],
                          s["SubState"], s["UnitFileState"], s["MainPID"]);
      healthy = healthy && s["ActiveState"] == "active";
    } else {
      auto r = run_tool(systemctl(o, {"is-enabled", std::string{unit}}), false);
      auto out = r.out.substr(0, r.out.find('\n'));
      state = out.empty() ? "not found" : out;
      healthy = healthy && out == "enabled";
    }
    kv.push_back(
        {std::string{unit},
         fmt::format("{}; {}", present ? file : file + " missing", state)});
  }
  if (o.root.empty()) {
    std::string why;
    if (auto st = query_status(system_paths().socket(), &why)) {
      kv.push_back(
          {"daemon", fmt::format("answers at {} (pid {}, banger {}, "
                                 "{} VMs, {} running)",
                                 system_paths().socket(), st->pid, st->version,
                                 st->vms_total, st->vms_running)});
    } else {
      healthy = false;
      kv.push_back(
          {"daemon", fmt::format("does not answer at {}: {}; see: "
                                 "journalctl -u {}",
                                 system_paths().socket(), why, daemon_unit)});
    }
  }
  print(key_values(kv));
  return healthy ? exit_ok : exit_failure;
}

int do_restart(system_opts o) {
  require_host(o, "restart");
  if (auto m = read_install_marker(system_install_marker()); !m)
    fail(error_message(m.error()));
  auto before = query_status(system_paths().socket());
  run_tool(systemctl(
      o, {"restart", std::string{helper_unit}, std::string{daemon_unit}}));
  std::string why;
  auto st = wait_for_daemon(why);
  if (!st)
    fail(fmt::format("bangerd does not answer at {} after the restart ({}); "
                     "see: journalctl -u {}",
                     system_paths().socket(), why, daemon_unit));
  print(fmt::format("restarted {} and {}; bangerd pid {}, {} VM(s) running{}\n",
                    helper_unit, daemon_unit, st->pid, st->vms_running,
                    before ? fmt::format(" ({} before)", before->vms_running)
                           : ""));
  return exit_ok;
}

bool confirm(const std::string& question) {
  if (::isatty(STDIN_FILENO) == 0)
    return false;
  print(question + " [type yes] ");
  std::string answer;
  std::getline(std::cin, answer);
  return answer == "yes";
}

int do_uninstall(system_opts o) {
  o.root = normalize_root(o.root);
  require_host(o, "uninstall");
  auto sys = system_paths();
  std::vector<std::string> purge_dirs{sys.state_dir, sys.config_dir,
                                      "/run/banger"};
  if (o.purge && !o.yes) {
    std::string what;
    for (auto& d : purge_dirs)
      what += (what.empty() ? "" : ", ") + o.root + d;
    if (!confirm(fmt::format("--purge deletes {} (every VM, image, kernel, "
                             "state.db and config.toml). Continue?",
                             what)))
      fail(fmt::format("--purge would delete {}; not confirmed: answer yes on "
                       "a terminal or pass --yes",
                       what));
  }
  if (o.root.empty()) {
    if (auto st = query_status(sys.socket()); st && st->vms_running > 0) {
      if (o.purge)
        fail(fmt::format("{} VM(s) still run, and --purge would delete their "
                         "disks under them; stop them first (banger vm list, "
                         "banger vm stop NAME)",
                         st->vms_running));
      print_warning(fmt::format("{} VM(s) keep running after bangerd stops; "
                                "their QEMU processes are not stopped",
                                st->vms_running));
    }
  }
  std::vector<std::string> units{std::string{daemon_unit},
                                 std::string{helper_unit}};
  std::vector<std::string> files;
  for (auto& u : units)
    files.push_back(fmt::format("{}{}/{}", o.root, unit_dir, u));
  files.push_back(o.root + std::string{tmpfiles_path});
  files.push_back(system_install_marker(o.root));
  bool any = false;
  for (auto& f : files)
    if (std::error_code ec; fs::exists(f, ec))
      any = true;
  // Only units whose files are still there: systemctl refuses to disable
  // a unit it cannot find (say, one deleted by hand).
  auto args = std::vector<std::string>{"disable"};
  if (o.root.empty())
    args.push_back("--now");
  for (std::size_t i = 0; i < units.size(); ++i)
    if (std::error_code ec; fs::exists(files[i], ec))
      args.push_back(units[i]);
  if (args.size() > (o.root.empty() ? 2u : 1u))
    run_tool(systemctl(o, args));
  // What disable could not clean up for a unit that was already gone.
  for (auto& u : units)
    files.push_back(
        fmt::format("{}{}/multi-user.target.wants/{}", o.root, unit_dir, u));
  for (auto& f : files) {
    std::error_code ec;
    if (fs::remove(f, ec))
      print(fmt::format("removed {}\n", f));
    else if (ec)
      fail(fmt::format("cannot remove {}: {}", f, ec.message()));
  }
  if (o.root.empty() && any)
    run_tool(systemctl(o, {"daemon-reload"}), false);
  if (o.purge) {
    for (auto& d : purge_dirs) {
      auto path = o.root + d; // d is one of the fixed absolute paths above
      std::error_code ec;
      auto n = fs::remove_all(path, ec);
      if (ec)
        fail(fmt::format("cannot delete {}: {}", path, ec.message()));
      if (n > 0)
        print(fmt::format("deleted {}\n", path));
    }
  } else if (any) {
    print(fmt::format("kept {} and {}; delete them with: banger system "
                      "uninstall --purge\n",
                      o.root + sys.state_dir, o.root + sys.config_dir));
  }
  if (!any)
    print("banger is not installed as a system service; nothing to remove\n");
  return exit_ok;
}

} // namespace

void add_system_commands(CLI::App& app, action& selected) {
  auto* system = app.add_subcommand(
      "system", "Run bangerd and banger-helper as systemd services");
  system->require_subcommand(1);
  system->footer(
      "The units (deploy/ in the source tree) run bangerd as the owner user "
      "and\n"
      "banger-helper as root with CAP_NET_ADMIN, CAP_NET_BIND_SERVICE and\n"
      "CAP_CHOWN only. State lives in /var/lib/banger, config in\n"
      "/etc/banger/config.toml, sockets in /run/banger. VMs outlive restarts "
      "of\n"
      "both services (KillMode=process, SendSIGKILL=no). Hosts without "
      "systemd\n"
      "use banger daemon start instead.");
  auto o = std::make_shared<system_opts>();
  auto add_root = [o](CLI::App* cmd) {
    cmd->add_option("--root", o->root,
                    "Operate on files under this directory instead of the "
                    "host (like systemctl --root): nothing is started or "
                    "stopped");
  };

  auto* install = system->add_subcommand(
      "install", "Write and enable the units, then start both services");
  install->add_option("--owner", o->owner,
                      "The user bangerd runs as (default: the user who ran "
                      "sudo); never root");
  install->add_option("--bin-dir", o->bin_dir,
                      "Directory holding bangerd and banger-helper (default: "
                      "the one this banger is in)");
  add_root(install);
  install->footer(
      "Writes /etc/systemd/system/{banger-helper,bangerd}.service,\n"
      "/etc/tmpfiles.d/banger.conf and /etc/banger/system-install.toml, runs\n"
      "systemctl daemon-reload, systemd-tmpfiles --create and enable --now, "
      "and\n"
      "waits until bangerd answers. Run again to update the units. Needs "
      "root.");
  install->callback(
      [o, &selected] { selected = {[o] { return do_install(*o); }}; });

  auto* status = system->add_subcommand(
      "status", "Show the units' state and whether bangerd answers (exit 1 "
                "if anything is not right)");
  add_root(status);
  status->callback(
      [o, &selected] { selected = {[o] { return do_status(*o); }}; });

  auto* restart = system->add_subcommand(
      "restart", "Restart banger-helper and bangerd; running VMs keep running");
  restart->callback(
      [o, &selected] { selected = {[o] { return do_restart(*o); }}; });

  auto* uninstall = system->add_subcommand(
      "uninstall", "Stop and disable the services and remove their files; "
                   "state stays unless --purge");
  uninstall->add_flag("--purge", o->purge,
                      "Also delete /var/lib/banger (VMs, images, kernels, "
                      "state.db), /etc/banger and /run/banger");
  uninstall->add_flag("-f,--yes", o->yes, "Do not ask before --purge deletes");
  add_root(uninstall);
  uninstall->callback(
      [o, &selected] { selected = {[o] { return do_uninstall(*o); }}; });
}

} // namespace banger::cli
