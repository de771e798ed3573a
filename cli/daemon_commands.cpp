// banger daemon start|stop|status
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <map>
#include <optional>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/render.hpp"
#include "messages/daemon.hpp"
#include "services/error.hpp"
#include "services/paths.hpp"
#include "services/privilege.hpp"
#include "services/process.hpp"
#include "services/safe_dir.hpp"
#include "services/unique_fd.hpp"

namespace banger::cli {

constexpr auto status_timeout = std::chrono::seconds(2);

// The daemon's status if something answers on `socket`; `why` says what
// went wrong otherwise.
std::optional<daemon_status> query_status(const std::string& socket,
                                          std::string* why) {
  auto client = daemon_client::try_connect(socket, why);
  if (!client)
    return std::nullopt;
  try {
    auto r =
        client->call("daemon.status", wire::json::object(), status_timeout);
    return decode_result<daemon_status>(r);
  } catch (const std::exception& e) {
    if (why != nullptr)
      *why = e.what();
    return std::nullopt;
  }
}

namespace {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

constexpr auto start_timeout = 15s;
constexpr auto stop_timeout = 15s;
constexpr auto poll_interval = 100ms;

std::uintmax_t file_size_or_zero(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)
           ? static_cast<std::uintmax_t>(st.st_size)
           : 0;
}

// What bangerd wrote to its stderr before it opened its log (as the owner,
// after dropping root): read without blocking.
void drain(int fd, std::string& into) {
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
    if (into.size() < (64u << 10))
      into.append(buf, static_cast<std::size_t>(n));
}

// The last `lines` lines of `path` written after byte `from`, without the
// final newline. Read only if it is a regular file of `owner` (we may be
// root: a symlink to /etc/shadow in its place must print nothing).
std::string log_tail(const std::string& path, std::uintmax_t from,
                     std::size_t lines, uid_t owner) {
  unique_fd fd{::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)};
  struct stat st {};
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)
      || st.st_uid != owner)
    return "";
  std::string text;
  char buf[65536];
  if (::lseek(fd.get(), static_cast<off_t>(from), SEEK_SET) < 0)
    return "";
  for (ssize_t n; (n = ::read(fd.get(), buf, sizeof buf)) > 0;)
    text.append(buf, static_cast<std::size_t>(n));
  auto pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n')
    --pos;
  for (std::size_t n = 0; pos > 0; --pos)
    if (text[pos - 1] == '\n' && ++n == lines)
      break;
  auto tail = text.substr(pos);
  while (!tail.empty() && tail.back() == '\n')
    tail.pop_back(); // format_error ends the message with one
  return tail;
}

// bangerd lives next to the banger that runs (build/bin, /usr/bin, ...).
std::string bangerd_path() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec)
    fail("cannot find the banger executable (/proc/self/exe): " + ec.message());
  return (self.parent_path() / "bangerd").string();
}

/// `daemon start` flags, passed on to bangerd as they were given.
struct start_opts {
  std::string owner;
  std::vector<std::string> passthrough; // "--bridge=x", ...
};

int do_start(const start_opts& o) {
  std::string warning;
  auto owner = daemon_owner(o.owner, &warning);
  if (!owner)
    fail(error_message(owner.error()));
  if (::geteuid() != 0 && owner->uid != ::geteuid())
    fail("--owner " + o.owner + " needs root: run it with sudo");
  if (std::error_code ec;
      std::filesystem::exists(system_install_marker(), ec))
    fail("banger is installed as a system service here (bangerd.service, see "
         + system_install_marker()
         + "): use banger system status / restart; banger system uninstall "
           "returns to banger daemon start");
  // Started as root, bangerd runs as the owner, in the owner's directories.
  auto p = resolve_paths_for(owner->uid);
  if (auto st = query_status(p.socket())) {
    print(fmt::format("bangerd is already running (pid {}, socket {})\n",
                      st->pid, p.socket()));
    return exit_ok;
  }
  // As root, nothing is created for the owner here: bangerd makes its
  // directories and opens its log once it runs as the owner.
  if (auto err = ::geteuid() == 0 ? check_runtime_dir(p) : ensure_dirs(p);
      !err.empty())
    fail(err);
  if (!warning.empty())
    print_warning(warning);
  auto exe = bangerd_path();
  if (::access(exe.c_str(), X_OK) != 0)
    fail(fmt::format("cannot run {}: {}; bangerd is expected next to banger",
                     exe, std::strerror(errno)));
  if (::geteuid() == 0)
    if (auto ok = check_root_executable(exe); !ok)
      fail("will not run bangerd as root: " + error_message(ok.error()));
  auto log = p.daemon_log();
  auto log_start = file_size_or_zero(log);
  // bangerd's stderr is a pipe to us until it opens its log itself.
  int early[2];
  if (::pipe2(early, O_CLOEXEC | O_NONBLOCK) != 0)
    fail(std::string("cannot create a pipe: ") + std::strerror(errno));
  unique_fd early_read{early[0]};
  unique_fd early_write{early[1]};
  spawn_options opts;
  opts.output_fd = early_write.get();
  opts.cwd = "/";
  std::vector<std::string> argv{exe, "--log-file=" + log};
  if (::geteuid() == 0)
    argv.push_back("--owner=" + std::to_string(owner->uid));
  argv.insert(argv.end(), o.passthrough.begin(), o.passthrough.end());
  auto pid = spawn_detached(argv, opts);
  if (!pid)
    fail("cannot start " + exe + ": " + error_message(pid.error()));
  early_write.reset();
  std::string early_text;
  auto deadline = clock::now() + start_timeout;
  for (;;) {
    std::string why;
    drain(early_read.get(), early_text);
    if (auto st = query_status(p.socket(), &why)) {
      print(fmt::format("bangerd started (pid {}, {}); log: {}\n", st->pid,
                        st->accel.empty() ? "accel unknown" : st->accel, log));
      return exit_ok;
    }
    if (!pid_alive(*pid)) {
      drain(early_read.get(), early_text);
      while (!early_text.empty() && early_text.back() == '\n')
        early_text.pop_back();
      auto tail = log_tail(log, log_start, 20, owner->uid);
      if (!early_text.empty() && !tail.empty())
        early_text += "\n";
      early_text += tail;
      fail(fmt::format("bangerd exited during startup; {}",
                       early_text.empty() ? "its log " + log + " is empty"
                                          : "it said:\n" + early_text));
    }
    if (clock::now() >= deadline)
      fail(fmt::format("bangerd (pid {}) did not answer at {} within {}s ({}); "
                       "see {}",
                       *pid, p.socket(), start_timeout.count(), why, log));
    // Returns early if bangerd dies.
    wait_pid_exit(*pid, poll_interval);
  }
}

int do_stop() {
  auto p = resolve_paths();
  if (auto err = check_runtime_dir(p); !err.empty())
    fail(err);
  std::string why;
  auto client = daemon_client::try_connect(p.socket(), &why);
  if (!client) {
    print("bangerd is not running\n");
    return exit_ok;
  }
  auto before = query_status(p.socket());
  try {
    result_of(
        client->call("daemon.stop", wire::json::object(), status_timeout));
  } catch (const client_error&) {
    // A daemon may close the socket before its reply gets out; whether it
    // stopped is what the loop below finds out.
  }
  // An open connection can keep the daemon from finishing its shutdown.
  client.reset();
  auto deadline = clock::now() + stop_timeout;
  while (query_status(p.socket())) {
    if (clock::now() >= deadline)
      fail(fmt::format("bangerd still answers at {} after {}s; see {}",
                       p.socket(), stop_timeout.count(), p.daemon_log()));
    std::this_thread::sleep_for(poll_interval);
  }
  // The socket closes before the process ends: wait for that too, so that a
  // `daemon start` right after finds no old daemon.
  if (before && before->pid > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - clock::now());
    if (!wait_pid_exit(before->pid, std::max(left, 0ms)))
      fail(fmt::format("bangerd (pid {}) stopped answering but still runs "
                       "after {}s; see {}",
                       before->pid, stop_timeout.count(), p.daemon_log()));
  }
  if (!before)
    print("bangerd stopped; running VMs keep running\n");
  else if (before->vms_running == 0)
    print("bangerd stopped (no VMs were running)\n");
  else
    print(fmt::format("bangerd stopped; {} running VM{} keep{} running\n",
                      before->vms_running, before->vms_running == 1 ? "" : "s",
                      before->vms_running == 1 ? "s" : ""));
  return exit_ok;
}

int do_status(bool json) {
  auto p = resolve_paths();
  if (auto err = check_runtime_dir(p); !err.empty())
    fail(err);
  std::string why;
  auto client = daemon_client::try_connect(p.socket(), &why);
  if (!client)
    fail(
        fmt::format("bangerd is not running (nothing answers at {}: {}); start "
                    "it with: banger daemon start",
                    p.socket(), why));
  auto r = client->call("daemon.status", wire::json::object(), status_timeout);
  if (json) {
    print_json(r);
    return exit_ok;
  }
  auto st = decode_result<daemon_status>(r);
  print(key_values({
      {"version", st.version},
      {"pid", st.pid > 0 ? std::to_string(st.pid) : ""},
      {"socket", st.socket.empty() ? p.socket() : st.socket},
      {"state dir", st.state_dir},
      {"log", p.daemon_log()},
      {"accel", st.accel},
      {"vms", fmt::format("{} ({} running)", st.vms_total, st.vms_running)},
      {"network", st.network},
  }));
  return exit_ok;
}

} // namespace

void add_daemon_commands(CLI::App& app, action& selected) {
  auto* daemon =
      app.add_subcommand("daemon", "Start, stop and inspect bangerd");
  daemon->require_subcommand(1);

  auto* start = daemon->add_subcommand(
      "start",
      "Start bangerd in the background (does nothing if it runs already)");
  auto so = std::make_shared<start_opts>();
  start->add_option("--owner", so->owner,
                    "As root: the user bangerd runs as (default: the user who "
                    "ran sudo); only banger-helper keeps root");
  auto pass = std::make_shared<std::map<std::string, std::string>>();
  for (auto [flag, help] : std::initializer_list<std::pair<const char*, const char*>>{
         {"--bridge", "Bridge the VMs attach to (default banger0)"},
         {"--subnet", "The VMs' IPv4 subnet (default 172.16.0.0/24)"},
         {"--dns", "ip:port of the .vm DNS server (default: bridge address:53)"},
         {"--tap-pool", "Idle TAPs kept ready (default 2)"},
         {"--stop-timeout", "Seconds a graceful stop waits (default 10)"},
         {"--boot-timeout", "Seconds a boot may take (default 120)"}})
    start->add_option(flag, (*pass)[flag], help);
  auto no_network = std::make_shared<bool>(false);
  start->add_flag("--no-network", *no_network, "Run VMs without a network");
  start->footer(
      "bangerd is started from the directory of this banger executable and "
      "logs to\n$XDG_STATE_HOME/banger/bangerd.log. Settings not given here "
      "come from\n$XDG_CONFIG_HOME/banger/config.toml ([network], [vm]).\n"
      "Started as root, it also starts banger-helper (root) for the network.");
  start->callback([so, pass, no_network, start, &selected] {
    so->passthrough.clear();
    for (auto& [flag, value] : *pass)
      if (start->count(flag) > 0)
        so->passthrough.push_back(flag + "=" + value);
    if (*no_network)
      so->passthrough.push_back("--no-network");
    selected = {[so] { return do_start(*so); }};
  });

  auto* stop =
      daemon->add_subcommand("stop", "Stop bangerd; running VMs keep running "
                                     "and are found again on the next start");
  stop->callback([&selected] { selected = {do_stop}; });

  auto json = std::make_shared<bool>(false);
  auto* status = daemon->add_subcommand(
      "status",
      "Show whether bangerd runs, and its details (exit 1 if it does not run)");
  status->add_flag("--json", *json, "Print the daemon's reply as JSON");
  status->callback(
      [json, &selected] { selected = {[json] { return do_status(*json); }}; });
}

} // namespace banger::cli
