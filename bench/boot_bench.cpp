// banger-bench: how long banger takes on top of the VMM, in one run, on one
// kernel and one image.
//
//   (a) raw QEMU: the daemon's exact argv (qemu_argv), process start -> the
//       guest agent's first "health" answer
//   (b) `banger vm run --rm -- true`, wall time of the CLI
//   (c) `banger vm exec box -- true`, wall time of the CLI, over many calls
//   (d) `ssh ... true` when an sshd is reachable (--ssh HOST:PORT)
//
// (b) and (c) drive the real CLI against a bangerd that this program starts
// with XDG directories of its own, so nothing of the user's is touched. It
// prints numbers only (min / median / p99 and two ratios), never pass/fail.
// Every process it starts is stopped by PID at the end, even on failure.
// scripts/bench.sh runs it inside a throw-away network namespace.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "actors/config.hpp"
#include "messages/agent.hpp"
#include "messages/wire.hpp"
#include "services/accel.hpp"
#include "services/error.hpp"
#include "services/process.hpp"
#include "services/qemu_driver.hpp"
#include "services/timefmt.hpp"

namespace banger::bench {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using wire::json;

// -- options --------------------------------------------------------------------

struct options {
  int runs = 5;
  int exec_calls = 50;
  std::string bin_dir;
  std::string kernel_dir;
  std::string rootfs;
  std::string work_dir;
  bool json_out = false;
  bool keep = false;
  std::string ssh_host; // empty: no sshd to measure
  int ssh_port = 22;
  std::string ssh_user = "root";
  std::string ssh_key;
};

constexpr const char* usage_text = R"(usage: banger-bench [OPTIONS]

Measures, on one kernel and one image:
  (a) raw QEMU with the daemon's exact flags: process start -> agent answers
  (b) banger vm run --rm -- true           (wall time)
  (c) banger vm exec box -- true           (wall time, --exec-calls times)
  (d) ssh HOST true                        (only with --ssh; VMs have no
                                            network yet)
and prints min / median / p99 in ms plus the ratios b/a and c_p50/a.
Run it through scripts/bench.sh, which isolates it in a network namespace.

Options:
  --runs N            boots for (a) and (b) (default 5)
  --exec-calls N      calls for (c) and (d) (default 50)
  --bin-dir DIR       holds banger and bangerd (default: this program's
                      directory if bangerd is there, else build/bin)
  --kernel-dir DIR    holds vmlinux and initrd.img (default: DIR/../kernel
                      next to --bin-dir, i.e. build/kernel)
  --rootfs FILE       raw ext4 root filesystem (default: ../image/rootfs.ext4
                      next to --bin-dir, i.e. build/image/rootfs.ext4)
  --work-dir DIR      where overlays, sockets and the daemon's XDG dirs go
                      (default: a new /tmp/banger-bench.XXXXXX)
  --keep              keep the work dir afterwards (it is kept on failure)
  --json              print one JSON object instead of the table
  --ssh HOST:PORT     measure (d) against this sshd (loopback or the bench's
                      own namespace only)
  --ssh-user USER     user for (d) (default root)
  --ssh-key FILE      identity file for (d)
  -h, --help          this text
)";

[[noreturn]] void usage_error(const std::string& why) {
  fmt::print(stderr, "banger-bench: {}\n{}", why, usage_text);
  std::exit(2);
}

int parse_count(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || v < 1 || v > 100000)
    usage_error(flag + " needs a whole number from 1 to 100000, not '" + text + "'");
  return static_cast<int>(v);
}

std::string self_dir() {
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string{} : self.parent_path().string();
}

std::string absolute(const std::string& p) {
  std::error_code ec;
  auto abs = fs::absolute(p, ec);
  return ec ? p : abs.lexically_normal().string();
}

options parse_options(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        usage_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      fmt::print("{}", usage_text);
      std::exit(0);
    } else if (a == "--runs") {
      o.runs = parse_count(a, value());
    } else if (a == "--exec-calls") {
      o.exec_calls = parse_count(a, value());
    } else if (a == "--bin-dir") {
      o.bin_dir = value();
    } else if (a == "--kernel-dir") {
      o.kernel_dir = value();
    } else if (a == "--rootfs") {
      o.rootfs = value();
    } else if (a == "--work-dir") {
      o.work_dir = value();
    } else if (a == "--json") {
      o.json_out = true;
    } else if (a == "--keep") {
      o.keep = true;
    } else if (a == "--ssh") {
      auto hp = value();
      auto colon = hp.rfind(':');
      if (colon == std::string::npos || colon == 0 || colon + 1 == hp.size())
        usage_error("--ssh needs HOST:PORT, not '" + hp + "'");
      o.ssh_host = hp.substr(0, colon);
      if (o.ssh_host.front() == '[' && o.ssh_host.back() == ']')
        o.ssh_host = o.ssh_host.substr(1, o.ssh_host.size() - 2);
      o.ssh_port = parse_count("--ssh port", hp.substr(colon + 1));
      if (o.ssh_port > 65535)
        usage_error("--ssh port must be at most 65535");
    } else if (a == "--ssh-user") {
      o.ssh_user = value();
    } else if (a == "--ssh-key") {
      o.ssh_key = value();
    } else {
      usage_error("unknown argument '" + a + "'");
    }
  }
  if (o.bin_dir.empty()) {
    auto here = self_dir();
    o.bin_dir = !here.empty() && ::access((here + "/bangerd").c_str(), X_OK) == 0
                  ? here
                  : "build/bin";
  }
  o.bin_dir = absolute(o.bin_dir);
  if (o.kernel_dir.empty())
    o.kernel_dir = fs::path(o.bin_dir).parent_path().string() + "/kernel";
  if (o.rootfs.empty())
    o.rootfs = fs::path(o.bin_dir).parent_path().string() + "/image/rootfs.ext4";
  o.kernel_dir = absolute(o.kernel_dir);
  o.rootfs = absolute(o.rootfs);
  return o;
}

// -- interruption ----------------------------------------------------------------

std::atomic<int> g_signal{0};

extern "C" void on_signal(int sig) {
  g_signal.store(sig);
}

struct interrupted : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void check_interrupt() {
  if (int sig = g_signal.load(); sig != 0)
    throw interrupted(fmt::format("interrupted by signal {} ({})", sig,
                                  ::strsignal(sig)));
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP})
    ::sigaction(sig, &sa, nullptr);
  // A closed stdout/stderr (| head) must not kill us before the cleanup.
  // Children get default dispositions back (run/spawn_detached reset them).
  ::signal(SIGPIPE, SIG_IGN);
}

// -- small helpers ----------------------------------------------------------------

double ms_since(steady::time_point t0) {
  return std::chrono::duration<double, std::milli>(steady::now() - t0).count();
}

void note(const std::string& text) {
  fmt::print(stderr, "banger-bench: {}\n", text);
}

bool is_file(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string read_first_line(const std::string& path) {
  std::ifstream in{path};
  std::string line;
  std::getline(in, line);
  return line;
}

std::string trim_right(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
    s.pop_back();
  return s;
}

/// The last lines of a log, indented, for error messages.
std::string tail_of(const std::string& path, std::size_t lines = 15) {
  auto t = file_tail(path, lines);
  if (t.empty())
    return " (" + path + " is empty or missing)";
  std::string out = "\n  --- " + path + ":";
  std::size_t start = 0;
  while (start <= t.size()) {
    auto end = t.find('\n', start);
    if (end == std::string::npos)
      end = t.size();
    out += "\n  " + t.substr(start, end - start);
    start = end + 1;
  }
  return out;
}

/// Reaps children that ended. banger-bench is a child subreaper, so the
/// double-forked QEMUs and bangerd become its children when their first
/// parent exits; without this they would linger as zombies (PID 1 here never
/// reaps). Only called between blocking runs, never while run() waits.
void reap_children() {
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

/// SIGKILLs a QEMU of VM `id` (and its process group) if `pid` is still it.
void kill_vmm(std::int64_t pid, const std::string& id) {
  if (pid <= 0 || !pid_alive(pid) || !cmdline_is_vm(proc_cmdline(pid), id))
    return;
  auto p = static_cast<pid_t>(pid);
  if (::getpgid(p) == p)
    ::kill(-p, SIGKILL);
  ::kill(p, SIGKILL);
  wait_pid_exit(pid, 10s); // a zombie counts as gone
  reap_children();
}

// -- statistics -------------------------------------------------------------------

struct summary {
  std::size_t n = 0;
  double min = 0, median = 0, p99 = 0, mean = 0, max = 0;
};

summary summarize(std::vector<double> v) {
  summary s;
  s.n = v.size();
  if (v.empty())
    return s;
  std::sort(v.begin(), v.end());
  s.min = v.front();
  s.max = v.back();
  auto mid = v.size() / 2;
  s.median = v.size() % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  // Nearest rank: the smallest sample with at least 99% of samples <= it.
  auto rank = static_cast<std::size_t>(std::ceil(0.99 * static_cast<double>(v.size())));
  s.p99 = v[std::max<std::size_t>(rank, 1) - 1];
  double sum = 0;
  for (double x : v)
    sum += x;
  s.mean = sum / static_cast<double>(v.size());
  return s;
}

/// One row of the table.
struct series {
  std::string key;   // for --json
  std::string label; // for the table
  std::vector<double> ms;
  std::string error; // why it stopped early, if it did
  std::string skipped; // why it did not run ("n/a" rows)
};

// -- the agent, spoken directly (a) ------------------------------------------------


/// Connects to QEMU's end of the agent port and asks "health" until the
/// agent answers. Returns the time of the answer relative to `t0`. Throws if
/// QEMU dies or `timeout` passes. Like the daemon, it connects as soon as the
/// socket exists; the request waits in QEMU until the guest opens its port.
double wait_for_agent(const std::string& sock, std::int64_t pid,
                      steady::time_point t0, std::chrono::milliseconds timeout) {
  const auto deadline = t0 + timeout;
  int fd = -1;
  wire::frame_reader reader;
  std::uint64_t next_id = 1;
  std::uint64_t conn_first_id = 1; // answers to any id sent on this connection count
  std::string last = "the socket never appeared";
  auto close_fd = [&] {
    if (fd >= 0)
      ::close(fd);
    fd = -1;
  };
  while (steady::now() < deadline) {
    if (g_signal.load() != 0) {
      close_fd();
      check_interrupt();
    }
    if (!pid_alive(pid)) {
      close_fd();
      throw std::runtime_error("QEMU (pid " + std::to_string(pid)
                               + ") exited before the agent answered");
    }
    if (fd < 0) {
      fd = wire::connect_unix(sock);
      if (fd < 0) {
        last = std::string("connect: ") + std::strerror(errno);
        std::this_thread::sleep_for(2ms);
        continue;
      }
      reader = wire::frame_reader();
      conn_first_id = next_id;
    }
    wire::envelope env;
    env.id = next_id++;
    env.type = agent_msg::health;
    if (!wire::write_all(fd, wire::encode_frame(env))) {
      last = std::string("write: ") + std::strerror(errno);
      close_fd();
      std::this_thread::sleep_for(10ms);
      continue;
    }
    // Ask again every 2 s in case a request got lost (agent restarting).
    const auto asked = steady::now();
    bool reconnect = false;
    while (!reconnect && steady::now() - asked < 2s && steady::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      int n = ::poll(&p, 1, 100); // wakes at once on data; 100 ms to re-check pid
      if (n < 0 && errno != EINTR)
        throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
      if (n <= 0) {
        if (g_signal.load() != 0 || !pid_alive(pid))
          reconnect = true; // the outer loop reports it
        continue;
      }
      char buf[65536];
      auto got = ::read(fd, buf, sizeof(buf));
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0) {
        last = got == 0 ? "QEMU closed the agent socket" : std::strerror(errno);
        reconnect = true;
        close_fd();
        std::this_thread::sleep_for(10ms);
        break;
      }
      reader.feed(buf, static_cast<std::size_t>(got));
      try {
        while (auto payload = reader.next()) {
          auto reply = wire::parse_envelope(*payload);
          if (reply.id < conn_first_id || reply.id >= next_id)
            continue;
          if (reply.type == agent_msg::result) {
            decode<agent_health>(reply.body);
            double ms = ms_since(t0);
            close_fd();
            return ms;
          }
          if (reply.type == agent_msg::error)
            last = "agent error: " + reply.body.dump();
        }
      } catch (const wire::decode_error& e) {
        last = std::string("bad frame from the agent: ") + e.what();
        close_fd();
        reconnect = true;
      }
    }
  }
  close_fd();
  throw std::runtime_error("no answer from the agent within "
                           + std::to_string(timeout.count()) + " ms (last: " + last
                           + ")");
}

// -- shared context --------------------------------------------------------------

struct context {
  options opt;
  std::string work;        // the work dir
  accel_choice accel;
  std::uint64_t tsc = 0;
  daemon_config dcfg;      // the daemon's defaults (vcpu, memory)
  // (a): QEMUs started directly, for cleanup: pid and VM id.
  std::vector<std::pair<std::int64_t, std::string>> raw_vmms;
  // (b)/(c): the daemon's private XDG dirs.
  std::string xdg_root;
  std::vector<std::string> xdg_env;
  bool daemon_started = false;
  bool box_created = false;
};

std::string state_dir(const context& c) {
  return c.xdg_root + "/state/banger";
}
std::string runtime_dir(const context& c) {
  return c.xdg_root + "/run/banger";
}

// -- (a) raw QEMU ----------------------------------------------------------------

double raw_boot_once(context& c, int i) {
  auto dir = c.work + "/raw" + std::to_string(i);
  fs::create_directories(dir);
  auto overlay = dir + "/root.qcow2";
  run_options ro;
  ro.timeout = 60s;
  auto img = run({"qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                  c.opt.rootfs, overlay},
                 ro);
  if (!img)
    throw std::runtime_error(error_message(img.error()));
  if (!img->ok())
    throw std::runtime_error("qemu-img create failed: " + trim_right(img->err + img->out));

  vm_launch_spec spec;
  spec.id = random_id();
  spec.name = "bench-raw";
  spec.dir = dir;
  spec.vmlinux = c.opt.kernel_dir + "/vmlinux";
  spec.initrd = c.opt.kernel_dir + "/initrd.img";
  spec.root_disk = overlay;
  spec.vcpu = c.dcfg.default_vcpu;
  spec.memory_mib = c.dcfg.default_memory_mib;
  const auto agent_sock = dir + "/agent.sock";
  const auto serial_log = dir + "/serial.log";
  // Exactly what qemu_driver::launch runs (its default config adds no
  // kernel parameters and keeps argv[0] = qemu-system-x86_64).
  auto argv = qemu_argv(spec, c.accel, c.tsc, agent_sock, dir + "/qmp.sock",
                        serial_log);
  spawn_options so;
  so.stdout_path = dir + "/qemu.log";
  so.stderr_path = dir + "/qemu.log";
  so.cwd = dir;

  const auto t0 = steady::now();
  auto pid = spawn_detached(argv, so);
  if (!pid)
    throw std::runtime_error(error_message(pid.error()));
  c.raw_vmms.emplace_back(*pid, spec.id);
  double ms = 0;
  try {
    ms = wait_for_agent(agent_sock, *pid, t0,
                        std::chrono::milliseconds(c.dcfg.boot_timeout_s * 1000));
  } catch (const interrupted&) {
    kill_vmm(*pid, spec.id);
    throw;
  } catch (const std::exception& e) {
    kill_vmm(*pid, spec.id);
    throw std::runtime_error(std::string(e.what()) + tail_of(dir + "/qemu.log", 5)
                             + tail_of(serial_log));
  }
  kill_vmm(*pid, spec.id);
  std::error_code ec;
  fs::remove_all(dir, ec);
  return ms;
}

// -- (b) (c) the CLI against a private bangerd ----------------------------------------

struct cli_result {
  double ms = 0;
  run_result r;
};

cli_result cli_raw(const context& c, std::vector<std::string> args,
                   std::chrono::milliseconds timeout) {
  check_interrupt();
  args.insert(args.begin(), c.opt.bin_dir + "/banger");
  run_options ro;
  ro.timeout = timeout;
  ro.env_extra = c.xdg_env;
  const auto t0 = steady::now();
  auto r = run(args, ro);
  double ms = ms_since(t0);
  reap_children();
  if (!r)
    throw std::runtime_error(error_message(r.error()));
  return {ms, std::move(*r)};
}

std::string describe(const std::vector<std::string>& args) {
  std::string s = "banger";
  for (auto& a : args)
    s += " " + a;
  return s;
}

/// Runs the CLI and insists on exit code 0.
cli_result cli(const context& c, const std::vector<std::string>& args,
               std::chrono::milliseconds timeout) {
  auto res = cli_raw(c, args, timeout);
  if (!res.r.ok()) {
    std::string how = res.r.timed_out ? "timed out after "
                                          + std::to_string(timeout.count()) + " ms"
                      : res.r.signal != 0
                        ? "was killed by signal " + std::to_string(res.r.signal)
                        : "exited with " + std::to_string(res.r.exit_code);
    auto out = trim_right(res.r.err + res.r.out);
    throw std::runtime_error("`" + describe(args) + "` " + how
                             + (out.empty() ? "" : ": " + out));
  }
  return res;
}

/// The bench's own bridge and subnet (inside its namespace) and pool size.
void write_bench_config(const context& c, int tap_pool) {
  fs::create_directories(c.xdg_root + "/config/banger");
  std::ofstream(c.xdg_root + "/config/banger/config.toml")
    << "[network]\nbridge = \"bgbench0\"\nsubnet = \"10.232.0.0/24\"\n"
    << "tap_prefix = \"bgbencht\"\ntap_pool = " << tap_pool << "\n";
}

void setup_daemon(context& c) {
  c.xdg_root = c.work + "/d";
  for (auto sub : {"/state", "/config", "/run"})
    fs::create_directories(c.xdg_root + sub);
  ::chmod((c.xdg_root + "/run").c_str(), 0700);
  write_bench_config(c, 2);
  c.xdg_env = {"XDG_STATE_HOME=" + c.xdg_root + "/state",
               "XDG_CONFIG_HOME=" + c.xdg_root + "/config",
               "XDG_RUNTIME_DIR=" + c.xdg_root + "/run", "NO_COLOR=1"};
  note("starting a private bangerd (state in " + c.xdg_root + ")");
  c.daemon_started = true; // from here on, teardown has work to do
  cli(c, {"daemon", "start"}, 60s);
  cli(c, {"kernel", "import", "default", "--from", c.opt.kernel_dir}, 120s);
  std::vector<std::string> import{"image", "import", "default", "--rootfs", c.opt.rootfs,
                                  "--kernel", "default"};
  // The image's /root, as scripts/build-image.sh writes it beside the rootfs.
  auto seed = fs::path(c.opt.rootfs).parent_path() / "work-seed.ext4";
  if (fs::exists(seed))
    import.insert(import.end(), {"--work-seed", seed.string()});
  cli(c, import, 300s);
}

std::optional<std::int64_t> read_pid(const std::string& path) {
  std::ifstream in{path};
  std::int64_t pid = 0;
  if (in >> pid && pid > 0)
    return pid;
  return std::nullopt;
}

/// Stops everything (b)/(c) started: the box, the daemon, then by PID any
/// QEMU of its VMs and the daemon itself if they are still there.
void teardown_daemon(context& c) {
  if (!c.daemon_started)
    return;
  auto quiet = [&](std::vector<std::string> args, std::chrono::milliseconds t) {
    try {
      auto r = cli_raw(c, args, t);
      if (!r.r.ok())
        note("cleanup: `" + describe(args) + "` failed: " + trim_right(r.r.err));
    } catch (const std::exception& e) {
      note("cleanup: `" + describe(args) + "`: " + e.what());
    }
  };
  // Cleanup must run even after Ctrl-C: let the CLI calls through.
  int pending = g_signal.exchange(0);
  if (c.box_created)
    quiet({"vm", "delete", "-f", "box"}, 60s);
  quiet({"daemon", "stop"}, 30s);
  if (auto pid = read_pid(runtime_dir(c) + "/bangerd.pid");
      pid && pid_alive(*pid) && proc_cmdline(*pid).find("bangerd") != std::string::npos) {
    note("cleanup: bangerd (pid " + std::to_string(*pid) + ") still runs; stopping it");
    ::kill(static_cast<pid_t>(*pid), SIGTERM);
    if (!wait_pid_exit(*pid, 10s))
      ::kill(static_cast<pid_t>(*pid), SIGKILL);
    wait_pid_exit(*pid, 5s);
  }
  // banger-helper outlives the daemon by design; the bench started it.
  if (auto pid = read_pid(runtime_dir(c) + "/helper/helper.pid");
      pid && pid_alive(*pid)
      && proc_cmdline(*pid).find("banger-helper") != std::string::npos) {
    ::kill(static_cast<pid_t>(*pid), SIGTERM);
    if (!wait_pid_exit(*pid, 10s))
      ::kill(static_cast<pid_t>(*pid), SIGKILL);
  }
  std::error_code ec;
  for (auto it = fs::directory_iterator(state_dir(c) + "/vms", ec);
       !ec && it != fs::directory_iterator(); it.increment(ec)) {
    auto id = it->path().filename().string();
    if (auto pid = read_pid(it->path().string() + "/qemu.pid");
        pid && pid_alive(*pid) && cmdline_is_vm(proc_cmdline(*pid), id)) {
      note("cleanup: killing leftover QEMU pid " + std::to_string(*pid));
      kill_vmm(*pid, id);
    }
  }
  reap_children();
  if (pending != 0)
    g_signal.store(pending);
}

// -- (d) ssh --------------------------------------------------------------------

/// True if a TCP connection to host:port succeeds within `timeout`.
bool tcp_reachable(const std::string& host, int port, std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0)
    return false;
  bool ok = false;
  for (auto* ai = res; ai != nullptr && !ok; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                      ai->ai_protocol);
    if (fd < 0)
      continue;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      ok = true;
    } else if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, static_cast<int>(timeout.count())) == 1) {
        int err = 0;
        socklen_t len = sizeof(err);
        ok = ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
      }
    }
    ::close(fd);
  }
  ::freeaddrinfo(res);
  return ok;
}

void measure_ssh(const context& c, series& d) {
  const auto& o = c.opt;
  if (o.ssh_host.empty()) {
    d.skipped = "no VM to reach (the create above failed) and no --ssh HOST:PORT given";
    return;
  }
  if (!tcp_reachable(o.ssh_host, o.ssh_port, 2000ms)) {
    d.skipped = fmt::format("nothing answers at {}:{}", o.ssh_host, o.ssh_port);
    return;
  }
  std::vector<std::string> argv{"ssh", "-p", std::to_string(o.ssh_port),
                                "-o", "BatchMode=yes",
                                "-o", "StrictHostKeyChecking=no",
                                "-o", "UserKnownHostsFile=/dev/null",
                                "-o", "LogLevel=ERROR",
                                "-o", "ConnectTimeout=10"};
  if (!o.ssh_key.empty()) {
    argv.push_back("-i");
    argv.push_back(o.ssh_key);
  }
  argv.push_back(o.ssh_user + "@" + o.ssh_host);
  argv.push_back("true");
  d.label = fmt::format("(d) ssh {}@{}:{} true", o.ssh_user, o.ssh_host, o.ssh_port);
  for (int i = 0; i < o.exec_calls; ++i) {
    check_interrupt();
    run_options ro;
    ro.timeout = 60s;
    auto t0 = steady::now();
    auto r = run(argv, ro);
    double ms = ms_since(t0);
    if (!r)
      throw std::runtime_error(error_message(r.error()));
    if (!r->ok())
      throw std::runtime_error("ssh exited with " + std::to_string(r->exit_code)
                               + ": " + trim_right(r->err));
    d.ms.push_back(ms);
  }
}

// -- output -----------------------------------------------------------------------

std::string fmt_ms(double v) {
  return fmt::format("{:.1f}", v);
}

/// median(num) / median(den); for (c) the median is its p50.
std::optional<double> ratio(const series& num, const series& den) {
  if (num.ms.empty() || den.ms.empty())
    return std::nullopt;
  auto d = summarize(den.ms).median;
  if (d <= 0)
    return std::nullopt;
  return summarize(num.ms).median / d;
}

struct report {
  std::string loadavg; // /proc/loadavg before the first boot
  std::string kernel_version;
  std::string qemu_version;
  std::string accel_reason;
  std::optional<std::uint64_t> daemon_boot_ms; // the box's boot_ms, as bangerd saw it
  std::vector<series> rows;                    // a, b, c, create, d
};

void print_table(const context& c, const report& rep) {
  const auto& o = c.opt;
  fmt::print("banger-bench  kernel {} ({})\n", o.kernel_dir + "/vmlinux",
             rep.kernel_version.empty() ? "version unknown" : rep.kernel_version);
  fmt::print("              rootfs {}\n", o.rootfs);
  fmt::print("              {}; {}; VM {} vCPU, {} MiB\n", rep.qemu_version,
             rep.accel_reason, c.dcfg.default_vcpu, c.dcfg.default_memory_mib);
  fmt::print("              host: {} CPUs, load average {} at start; (a) and (b) "
             "alternate\n",
             std::thread::hardware_concurrency(), rep.loadavg);
  fmt::print("\n{:<44} {:>4} {:>9} {:>9} {:>9}\n", "measurement (ms)", "n", "min",
             "median", "p99");
  for (auto& row : rep.rows) {
    if (!row.skipped.empty()) {
      fmt::print("{}: n/a — {}\n", row.label, row.skipped);
      continue;
    }
    if (row.ms.empty()) {
      fmt::print("{:<44} {:>4} {:>9} {:>9} {:>9}\n", row.label, 0, "-", "-", "-");
    } else {
      auto s = summarize(row.ms);
      fmt::print("{:<44} {:>4} {:>9} {:>9} {:>9}\n", row.label, s.n, fmt_ms(s.min),
                 fmt_ms(s.median), fmt_ms(s.p99));
    }
    if (!row.error.empty())
      fmt::print("    ! stopped early: {}\n", row.error);
  }
  if (rep.daemon_boot_ms)
    fmt::print("{:<44} {:>4} {:>9}\n", "    bangerd's own boot_ms for box", 1,
               *rep.daemon_boot_ms);
  auto b_a = ratio(rep.rows[1], rep.rows[0]);
  auto c_a = ratio(rep.rows[2], rep.rows[0]);
  auto f_e = ratio(rep.rows[6], rep.rows[5]);
  fmt::print("\nratios of medians:  b/a = {}   c_p50/a = {}   f/e (empty/warm "
             "pool) = {}\n",
             b_a ? fmt::format("{:.3f}", *b_a) : "n/a",
             c_a ? fmt::format("{:.4f}", *c_a) : "n/a",
             f_e ? fmt::format("{:.3f}", *f_e) : "n/a");
}

json series_json(const series& row) {
  json j = json::object();
  j["label"] = row.label.substr(std::min(row.label.find_first_not_of(' '), row.label.size()));
  if (!row.skipped.empty()) {
    j["skipped"] = row.skipped;
    return j;
  }
  auto s = summarize(row.ms);
  j["n"] = s.n;
  if (s.n > 0) {
    j["min_ms"] = s.min;
    j["median_ms"] = s.median;
    j["p99_ms"] = s.p99;
    j["mean_ms"] = s.mean;
    j["max_ms"] = s.max;
  }
  j["samples_ms"] = row.ms;
  if (!row.error.empty())
    j["error"] = row.error;
  return j;
}

void print_json(const context& c, const report& rep) {
  json j = json::object();
  j["kernel"] = c.opt.kernel_dir + "/vmlinux";
  j["kernel_version"] = rep.kernel_version;
  j["rootfs"] = c.opt.rootfs;
  j["qemu"] = rep.qemu_version;
  j["accel"] = c.accel.accel;
  j["accel_reason"] = rep.accel_reason;
  j["vcpu"] = c.dcfg.default_vcpu;
  j["memory_mib"] = c.dcfg.default_memory_mib;
  j["runs"] = c.opt.runs;
  j["host_cpus"] = std::thread::hardware_concurrency();
  j["loadavg_at_start"] = rep.loadavg;
  j["exec_calls"] = c.opt.exec_calls;
  json m = json::object();
  for (auto& row : rep.rows)
    m[row.key] = series_json(row);
  j["measurements"] = m;
  if (rep.daemon_boot_ms)
    j["daemon_boot_ms_box"] = *rep.daemon_boot_ms;
  auto b_a = ratio(rep.rows[1], rep.rows[0]);
  auto c_a = ratio(rep.rows[2], rep.rows[0]);
  j["ratios"] = {{"b_over_a", b_a ? json(*b_a) : json(nullptr)},
                 {"c_p50_over_a", c_a ? json(*c_a) : json(nullptr)}};
  fmt::print("{}\n", j.dump(2));
}

// -- main -------------------------------------------------------------------------

void preflight(const options& o) {
  std::vector<std::string> missing;
  for (auto& f : {o.bin_dir + "/banger", o.bin_dir + "/bangerd"})
    if (::access(f.c_str(), X_OK) != 0)
      missing.push_back(f);
  for (auto& f : {o.kernel_dir + "/vmlinux", o.kernel_dir + "/initrd.img", o.rootfs})
    if (!is_file(f))
      missing.push_back(f);
  if (!missing.empty()) {
    std::string list;
    for (auto& m : missing)
      list += "\n  " + m;
    throw std::runtime_error("missing:" + list
                             + "\nrun scripts/build.sh first, or pass --bin-dir, "
                               "--kernel-dir and --rootfs");
  }
  for (const char* prog : {"qemu-system-x86_64", "qemu-img"}) {
    auto r = run({prog, "--version"}, run_options{5s, {}, {}, {}});
    if (!r)
      throw std::runtime_error(error_message(r.error()));
  }
}

std::string make_work_dir(const options& o) {
  if (!o.work_dir.empty()) {
    fs::create_directories(o.work_dir);
    return absolute(o.work_dir);
  }
  std::string tmpl = "/tmp/banger-bench.XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr)
    throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  return tmpl;
}

int bench_main(int argc, char** argv) {
  context c;
  c.opt = parse_options(argc, argv);
  install_signal_handlers();
  // Orphans we caused (double-forked QEMUs, bangerd) get reparented to us and
  // reaped by us, not left as zombies under a PID 1 that never reaps.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);

  preflight(c.opt);
  auto accel = choose_accel(c.dcfg.accel);
  if (!accel)
    throw std::runtime_error(error_message(accel.error()));
  c.accel = *accel;
  c.tsc = c.accel.accel == "tcg" ? tsc_khz() : 0;
  c.work = make_work_dir(c.opt);

  report rep;
  rep.kernel_version = trim_right(read_first_line(c.opt.kernel_dir + "/version"));
  {
    auto la = read_first_line("/proc/loadavg");
    auto third = la.find(' ', la.find(' ', la.find(' ') + 1) + 1);
    rep.loadavg = la.substr(0, third);
  }
  rep.accel_reason = c.accel.reason;
  if (auto q = run({"qemu-system-x86_64", "--version"}); q && q->ok())
    rep.qemu_version = trim_right(q->out.substr(0, q->out.find('\n')));
  rep.rows = {
    {"a_raw_qemu", "(a) raw QEMU start -> agent health", {}, {}, {}},
    {"b_vm_run", "(b) banger vm run --rm -- true", {}, {}, {}},
    {"c_vm_exec", "(c) banger vm exec box -- true", {}, {}, {}},
    {"vm_create", "    banger vm create --name box", {}, {}, {}},
    {"d_ssh", "(d) ssh", {}, {}, {}},
    {"e_create_warm", "(e) vm create, networked, warm TAP pool", {}, {}, {}},
    {"f_create_cold", "(f) vm create, networked, empty TAP pool", {}, {}, {}},
  };
  auto& a = rep.rows[0];
  auto& b = rep.rows[1];
  auto& cc = rep.rows[2];
  auto& create = rep.rows[3];
  auto& d = rep.rows[4];
  auto& warm = rep.rows[5];
  auto& cold = rep.rows[6];
  bool failed = false;
  bool was_interrupted = false;
  auto fail_row = [&](series& row, const std::exception& e) {
    row.error = e.what();
    failed = true;
    if (dynamic_cast<const interrupted*>(&e) != nullptr)
      was_interrupted = true;
    note(row.label + ": " + e.what());
  };

  // Whatever happens below, what we started is stopped by PID.
  struct cleanup_guard {
    context& c;
    bool done = false;
    void now() {
      if (done)
        return;
      done = true;
      teardown_daemon(c);
      for (auto& [pid, id] : c.raw_vmms)
        kill_vmm(pid, id);
      reap_children();
    }
    ~cleanup_guard() { now(); }
  } cleanup{c};
  {
    // (b) and (c) share the daemon; it is set up first so that (a) and (b)
    // can alternate: a load change on the host then hits both alike.
    bool daemon_ok = false;
    try {
      setup_daemon(c);
      daemon_ok = true;
    } catch (const std::exception& e) {
      fail_row(b, e);
      cc.error = "skipped: the daemon could not be set up";
    }
    bool a_ok = true;
    bool b_ok = daemon_ok;
    for (int i = 0; i < c.opt.runs && (a_ok || b_ok) && !was_interrupted; ++i) {
      if (a_ok) {
        try {
          a.ms.push_back(raw_boot_once(c, i + 1));
          note(fmt::format("(a) run {}/{}: {:.0f} ms", i + 1, c.opt.runs, a.ms.back()));
        } catch (const std::exception& e) {
          fail_row(a, e);
          a_ok = false;
        }
      }
      if (b_ok && !was_interrupted) {
        try {
          b.ms.push_back(cli(c, {"vm", "run", "--rm", "--", "true"}, 300s).ms);
          note(fmt::format("(b) run {}/{}: {:.0f} ms", i + 1, c.opt.runs, b.ms.back()));
        } catch (const std::exception& e) {
          fail_row(b, e);
          b_ok = false;
        }
      }
    }
    if (daemon_ok && !was_interrupted) {
      try {
        c.box_created = true; // delete -f is harmless if create failed
        create.ms.push_back(cli(c, {"vm", "create", "--name", "box"}, 300s).ms);
        note(fmt::format("vm create --name box: {:.0f} ms", create.ms.back()));
        try {
          auto show = cli(c, {"vm", "show", "box", "--json"}, 30s);
          auto j = json::parse(show.r.out);
          if (j.contains("boot_ms") && j["boot_ms"].is_number_unsigned())
            rep.daemon_boot_ms = j["boot_ms"].get<std::uint64_t>();
        } catch (const std::exception&) {
          // informational only
        }
        for (int i = 0; i < c.opt.exec_calls; ++i) {
          cc.ms.push_back(cli(c, {"vm", "exec", "box", "--", "true"}, 60s).ms);
        }
        auto s = summarize(cc.ms);
        note(fmt::format("(c) {} calls: median {:.0f} ms", s.n, s.median));
      } catch (const std::exception& e) {
        fail_row(create.ms.empty() ? create : cc, e);
      }
    }
    if (!was_interrupted) {
      try {
        if (c.opt.ssh_host.empty() && daemon_ok && !create.ms.empty()) {
          // (d) through banger: its key, known_hosts and ProxyCommand.
          d.label = "(d) banger vm ssh box -- true";
          cli(c, {"vm", "ssh", "box", "--", "true"}, 60s); // waits for sshd
          for (int i = 0; i < c.opt.exec_calls && i < 10; ++i)
            d.ms.push_back(cli(c, {"vm", "ssh", "box", "--", "true"}, 60s).ms);
        } else {
          measure_ssh(c, d);
        }
      } catch (const std::exception& e) {
        fail_row(d, e);
      }
    }
    // (e)/(f): create-to-ready with a NIC, from a warm pool and from none.
    if (daemon_ok && !was_interrupted) {
      auto creates = [&](series& row) {
        for (int i = 0; i < c.opt.runs && !was_interrupted; ++i) {
          row.ms.push_back(cli(c, {"vm", "create", "--name", "net"}, 300s).ms);
          cli(c, {"vm", "delete", "-f", "net"}, 120s);
          // Let the pool refill, as it would between a user's commands.
          std::this_thread::sleep_for(500ms);
        }
      };
      try {
        cli(c, {"vm", "delete", "-f", "box"}, 120s);
        c.box_created = false; // gone: the teardown has nothing to delete
        creates(warm);
        cli(c, {"daemon", "stop"}, 60s);
        write_bench_config(c, 0);
        cli(c, {"daemon", "start"}, 60s);
        creates(cold);
      } catch (const std::exception& e) {
        fail_row(cold.ms.empty() && !warm.ms.empty() ? cold : warm, e);
      }
    }
  }
  cleanup.now();

  if (c.opt.json_out)
    print_json(c, rep);
  else
    print_table(c, rep);

  if (failed || c.opt.keep) {
    note("work dir kept: " + c.work);
  } else {
    std::error_code ec;
    fs::remove_all(c.work, ec);
  }
  if (was_interrupted)
    return 130;
  return failed ? 1 : 0;
}

} // namespace

} // namespace banger::bench

int main(int argc, char** argv) {
  try {
    return banger::bench::bench_main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "banger-bench: %s\n", e.what());
    return 1;
  }
}
