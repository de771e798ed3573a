#include "services/process.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include "services/error.hpp"
#include "services/unique_fd.hpp"

extern char** environ;

namespace banger {

namespace {

using steady = std::chrono::steady_clock;

std::string errno_text(int err) {
  return std::strerror(err);
}

/// Moves a CLOEXEC descriptor above 2, so that dup2 onto 0..2 in the child
/// always clears CLOEXEC (dup2(fd, fd) would not) even if our stdio is closed.
bool lift_fd(unique_fd& fd) {
  if (fd.get() > 2)
    return true;
  int moved = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
  if (moved < 0)
    return false;
  fd.reset(moved);
  return true;
}

struct fd_pair {
  unique_fd read;
  unique_fd write;
};

caf::expected<fd_pair> make_pipe(const char* what) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return make_error(ec::internal, std::string{"cannot create a pipe for "}
                                      + what + ": " + errno_text(errno)
                                      + "; check the process's fd limit");
  fd_pair p{unique_fd{fds[0]}, unique_fd{fds[1]}};
  if (!lift_fd(p.read) || !lift_fd(p.write))
    return make_error(ec::internal, std::string{"cannot move a pipe fd for "}
                                      + what + ": " + errno_text(errno));
  return p;
}

/// What went wrong in the child before exec, sent back through a CLOEXEC pipe
/// (an empty read means exec succeeded).
enum class child_stage : int { chdir = 1, exec = 2, fork = 3, limits = 4, identity = 5 };
struct child_failure {
  child_stage stage;
  int err;
};

/// Everything the child needs, prepared before fork: between fork and exec
/// only async-signal-safe calls are allowed (other threads may hold malloc's
/// lock).
using fd_map = std::vector<std::pair<int, int>>;

struct exec_plan {
  std::string program;          // argv[0] as given
  std::string path;             // resolved like execvp
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string cwd;
  std::vector<char*> argv_ptrs;
  std::vector<char*> env_ptrs;
  int max_fd = 1024;
  fd_map pass_fds; // {ours, the child's number}
  std::vector<std::pair<int, std::uint64_t>> limits; // {RLIMIT_*, value}
  std::int64_t uid = -1;
  std::int64_t gid = -1;
};

std::vector<std::string> merged_env(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e)
    env.emplace_back(*e);
  for (const auto& kv : extra) {
    auto eq = kv.find('=');
    auto key = kv.substr(0, eq) + '=';
    std::erase_if(env, [&](const std::string& e) { return e.starts_with(key); });
    if (eq != std::string::npos) // "KEY" alone unsets KEY
      env.push_back(kv);
  }
  return env;
}

std::string env_get(const std::vector<std::string>& env, const std::string& key) {
  for (const auto& e : env)
    if (e.size() > key.size() && e.starts_with(key) && e[key.size()] == '=')
      return e.substr(key.size() + 1);
  return {};
}

/// Resolves a program name the way execvp does. Returns the path, or sets
/// `err` (ENOENT or EACCES) and returns "".
std::string resolve_program(const std::string& name,
                            const std::vector<std::string>& env, int& err) {
  err = 0;
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), F_OK) != 0) {
      err = ENOENT;
      return {};
    }
    return name;
  }
  auto search = env_get(env, "PATH");
  if (search.empty())
    search = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  bool denied = false;
  std::size_t start = 0;
  while (start <= search.size()) {
    auto end = search.find(':', start);
    if (end == std::string::npos)
      end = search.size();
    auto dir = search.substr(start, end - start);
    auto candidate = (dir.empty() ? std::string{"."} : dir) + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      if (::access(candidate.c_str(), X_OK) == 0)
        return candidate;
      denied = true;
    }
    start = end + 1;
  }
  err = denied ? EACCES : ENOENT;
  return {};
}

caf::error exec_error(const std::string& program, const std::string& path,
                      int err) {
  if (err == ENOENT && path.empty())
    return make_error(ec::unavailable, missing_program_message(program));
  if (err == ENOENT)
    return make_error(ec::unavailable,
                      "cannot execute " + program + " (" + path
                        + "): its interpreter or dynamic loader is missing, or it "
                          "vanished; reinstall it");
  return make_error(ec::unavailable,
                    "cannot execute " + program
                      + (path.empty() || path == program ? "" : " (" + path + ")")
                      + ": " + errno_text(err)
                      + "; check that it is an executable for this machine");
}

caf::expected<exec_plan> make_plan(const std::vector<std::string>& argv,
                                   const std::string& cwd,
                                   const std::vector<std::string>& env_extra,
                                   const fd_map& pass_fds) {
  if (argv.empty() || argv[0].empty())
    return make_error(ec::invalid_argument,
                      "cannot run a program: the argument list is empty "
                      "(this is a bug in banger)");
  for (auto [ours, theirs] : pass_fds)
    if (ours < 0 || theirs <= 2 || ::fcntl(ours, F_GETFD) < 0)
      return make_error(ec::invalid_argument,
                        "cannot pass descriptor " + std::to_string(ours) + " as "
                          + std::to_string(theirs) + " to " + argv[0]
                          + ": it is not open or the target is stdio (this is "
                            "a bug in banger)");
  exec_plan plan;
  plan.program = argv[0];
  plan.args = argv;
  plan.env = merged_env(env_extra);
  plan.cwd = cwd;
  plan.pass_fds = pass_fds;
  int err = 0;
  plan.path = resolve_program(argv[0], plan.env, err);
  if (plan.path.empty())
    return exec_error(argv[0], {}, err);
  for (auto& a : plan.args)
    plan.argv_ptrs.push_back(a.data());
  plan.argv_ptrs.push_back(nullptr);
  for (auto& e : plan.env)
    plan.env_ptrs.push_back(e.data());
  plan.env_ptrs.push_back(nullptr);
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
    plan.max_fd = static_cast<int>(std::min<rlim_t>(lim.rlim_cur, 1 << 20));
  return plan;
}

void report_failure(int fd, child_stage stage, int err) {
  child_failure f{stage, err};
  [[maybe_unused]] auto n = ::write(fd, &f, sizeof f);
}

/// Runs in the forked child: async-signal-safe calls only.
[[noreturn]] void exec_child(const exec_plan& plan, int in, int out, int err,
                             int report_fd) {
  // report_fd may move (see the passed descriptors below).
  // Ignored signals and the blocked mask survive exec: give the program a
  // clean slate (SIGPIPE in particular is often ignored by daemons).
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig)
    ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) {
    report_failure(report_fd, child_stage::exec, errno);
    ::_exit(127);
  }
  if (!plan.cwd.empty() && ::chdir(plan.cwd.c_str()) != 0) {
    report_failure(report_fd, child_stage::chdir, errno);
    ::_exit(127);
  }
  for (auto [resource, value] : plan.limits) {
    rlimit lim{static_cast<rlim_t>(value), static_cast<rlim_t>(value)};
    if (::setrlimit(resource, &lim) != 0) {
      report_failure(report_fd, child_stage::limits, errno);
      ::_exit(127);
    }
  }
  // Groups first: after setresuid we could no longer drop them.
  if (plan.gid >= 0 || plan.uid >= 0) {
    auto gid = static_cast<gid_t>(plan.gid >= 0 ? plan.gid : ::getgid());
    auto uid = static_cast<uid_t>(plan.uid >= 0 ? plan.uid : ::getuid());
    if (::setgroups(0, nullptr) != 0 || ::setresgid(gid, gid, gid) != 0
        || ::setresuid(uid, uid, uid) != 0) {
      report_failure(report_fd, child_stage::identity, errno);
      ::_exit(127);
    }
  }
  // Passed descriptors first move out of the way of their target numbers
  // (a target may be where another one, or the report pipe, sits now).
  constexpr int parking = 1000;
  std::vector<std::pair<int, int>> parked;
  if (!plan.pass_fds.empty()) {
    int moved = ::fcntl(report_fd, F_DUPFD_CLOEXEC, parking);
    if (moved >= 0)
      report_fd = moved;
    for (auto [ours, theirs] : plan.pass_fds) {
      int high = ::fcntl(ours, F_DUPFD_CLOEXEC, parking);
      if (high < 0) {
        report_failure(report_fd, child_stage::exec, errno);
        ::_exit(127);
      }
      parked.emplace_back(high, theirs);
    }
  }
  // Every fd above stdio closes at exec, including the report pipe.
  if (::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
    for (int fd = 3; fd < plan.max_fd; ++fd)
      ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  // dup2 clears CLOEXEC on the copy: these are the only ones that survive.
  for (auto [high, theirs] : parked)
    if (::dup2(high, theirs) < 0) {
      report_failure(report_fd, child_stage::exec, errno);
      ::_exit(127);
    }
  ::execve(plan.path.c_str(), plan.argv_ptrs.data(), plan.env_ptrs.data());
  report_failure(report_fd, child_stage::exec, errno);
  ::_exit(127);
}

/// Reads the report pipe until EOF. Empty: the child exec'ed.
caf::expected<void> read_report(int fd, const exec_plan& plan) {
  child_failure f{};
  std::size_t got = 0;
  while (got < sizeof f) {
    auto n = ::read(fd, reinterpret_cast<char*>(&f) + got, sizeof f - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += static_cast<std::size_t>(n);
  }
  if (got < sizeof f)
    return {};
  switch (f.stage) {
    case child_stage::chdir:
      return make_error(ec::invalid_argument,
                        "cannot run " + plan.program + " in " + plan.cwd + ": "
                          + errno_text(f.err)
                          + "; check that the directory exists");
    case child_stage::fork:
      return make_error(ec::internal, "cannot fork to start " + plan.program
                                        + ": " + errno_text(f.err)
                                        + "; check the process limits");
    case child_stage::limits:
      return make_error(ec::internal, "cannot set the resource limits of "
                                        + plan.program + ": " + errno_text(f.err));
    case child_stage::identity:
      return make_error(ec::invalid_argument,
                        "cannot run " + plan.program + " as uid "
                          + std::to_string(plan.uid) + " gid " + std::to_string(plan.gid)
                          + ": " + errno_text(f.err) + " (only root can change user)");
    case child_stage::exec:
      break;
  }
  return exec_error(plan.program, plan.path, f.err);
}

pid_t wait_child(pid_t pid, int& status) {
  for (;;) {
    auto r = ::waitpid(pid, &status, 0);
    if (r >= 0 || errno != EINTR)
      return r;
  }
}

/// Blocks SIGPIPE in this thread while we write to a child's stdin, and
/// swallows a SIGPIPE that a write to a closed pipe raised.
class sigpipe_guard {
public:
  sigpipe_guard() {
    ::sigemptyset(&set_);
    ::sigaddset(&set_, SIGPIPE);
    sigset_t pending;
    ::sigemptyset(&pending);
    ::sigpending(&pending);
    was_pending_ = ::sigismember(&pending, SIGPIPE) == 1;
    ::pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~sigpipe_guard() {
    if (!was_pending_) {
      timespec zero{};
      while (::sigtimedwait(&set_, nullptr, &zero) == SIGPIPE) {
      }
    }
    ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  sigpipe_guard(const sigpipe_guard&) = delete;
  sigpipe_guard& operator=(const sigpipe_guard&) = delete;

private:
  sigset_t set_;
  sigset_t old_;
  bool was_pending_ = false;
};

void set_nonblocking(int fd) {
  auto flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0)
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

int pidfd_open(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

/// Reads what is available; closes `fd` at EOF or on error.
void drain(unique_fd& fd, std::string& into) {
  std::array<char, 65536> buf;
  while (fd.valid()) {
    auto n = ::read(fd.get(), buf.data(), buf.size());
    if (n > 0) {
      into.append(buf.data(), static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    fd.reset(); // EOF or error
  }
}

unique_fd open_output(const std::string& path, int& err) {
  err = 0;
  if (path.empty()) {
    unique_fd fd{::open("/dev/null", O_WRONLY | O_CLOEXEC)};
    if (!fd.valid())
      err = errno;
    return fd;
  }
  unique_fd fd{::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)};
  if (!fd.valid())
    err = errno;
  return fd;
}

} // namespace

std::string missing_program_message(const std::string& program) {
  static const std::pair<const char*, const char*> packages[] = {
    {"qemu-img", "qemu-utils"},
    {"qemu-system-x86_64", "qemu-system-x86"},
    {"mke2fs", "e2fsprogs"},
    {"mkfs.ext4", "e2fsprogs"},
    {"debugfs", "e2fsprogs"},
    {"e2fsck", "e2fsprogs"},
    {"resize2fs", "e2fsprogs"},
    {"skopeo", "skopeo"},
    {"umoci", "umoci"},
    {"ip", "iproute2"},
    {"nft", "nftables"},
    {"iptables", "iptables"},
    {"ssh", "openssh-client"},
    {"ssh-keygen", "openssh-client"},
    {"dropbearkey", "dropbear-bin"},
    {"busybox", "busybox-static"},
    {"dpkg-deb", "dpkg"},
    {"xz", "xz-utils"},
    {"cpio", "cpio"},
  };
  auto base = program.substr(program.rfind('/') + 1);
  std::string package;
  for (auto [name, pkg] : packages)
    if (base == name)
      package = pkg;
  if (program.find('/') != std::string::npos)
    return program + " not found; check the path in banger's configuration"
           + (package.empty() ? std::string{} : " or install " + package);
  if (!package.empty())
    return program + " not found; install " + package;
  return program + " not found in PATH; install it or add its directory to PATH";
}

caf::expected<run_result> run(const std::vector<std::string>& argv,
                              const run_options& opts) {
  auto plan = make_plan(argv, opts.cwd, opts.env_extra, opts.pass_fds);
  if (!plan)
    return plan.error();
  for (auto [resource, value] : {std::pair{RLIMIT_CPU, opts.limit_cpu_s},
                                 std::pair{RLIMIT_AS, opts.limit_as_bytes},
                                 std::pair{RLIMIT_FSIZE, opts.limit_fsize_bytes}})
    if (value > 0)
      plan->limits.emplace_back(resource, value);
  plan->uid = opts.uid;
  plan->gid = opts.gid;
  auto in = make_pipe(plan->program.c_str());
  auto out = make_pipe(plan->program.c_str());
  auto err = make_pipe(plan->program.c_str());
  auto report = make_pipe(plan->program.c_str());
  for (auto* p : {&in, &out, &err, &report})
    if (!*p)
      return p->error();
  sigpipe_guard no_sigpipe;
  auto parent = ::getpid();
  auto pid = ::fork();
  if (pid < 0)
    return make_error(ec::internal, "cannot fork to run " + plan->program + ": "
                                      + errno_text(errno)
                                      + "; check the process limits");
  if (pid == 0) {
    ::setpgid(0, 0);
    // Dies with the thread that started it; the check closes the race with
    // a parent that died before prctl.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(127);
    exec_child(*plan, in->read.get(), out->write.get(), err->write.get(),
               report->write.get());
  }
  ::setpgid(pid, pid); // both sides set it: no window where kill(-pid) misses
  in->read.reset();
  out->write.reset();
  err->write.reset();
  report->write.reset();
  if (auto failed = read_report(report->read.get(), *plan); !failed) {
    int status = 0;
    wait_child(pid, status);
    return failed.error();
  }

  run_result result;
  unique_fd in_w = std::move(in->write);
  unique_fd out_r = std::move(out->read);
  unique_fd err_r = std::move(err->read);
  set_nonblocking(out_r.get());
  set_nonblocking(err_r.get());
  std::size_t written = 0;
  if (opts.stdin_data.empty())
    in_w.reset();
  else
    set_nonblocking(in_w.get());
  unique_fd pidfd{pidfd_open(pid)};
  const bool has_deadline = opts.timeout.count() > 0;
  const auto deadline = steady::now() + opts.timeout;
  bool exited = false;
  int status = 0;

  while (!exited) {
    if (!pidfd.valid()) {
      auto r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid || (r < 0 && errno == ECHILD)) {
        exited = true;
        break;
      }
    }
    std::array<pollfd, 4> fds{};
    nfds_t n = 0;
    int out_i = -1, err_i = -1, in_i = -1, pid_i = -1;
    if (out_r.valid()) {
      out_i = static_cast<int>(n);
      fds[n++] = {out_r.get(), POLLIN, 0};
    }
    if (err_r.valid()) {
      err_i = static_cast<int>(n);
      fds[n++] = {err_r.get(), POLLIN, 0};
    }
    if (in_w.valid()) {
      in_i = static_cast<int>(n);
      fds[n++] = {in_w.get(), POLLOUT, 0};
    }
    if (pidfd.valid()) {
      pid_i = static_cast<int>(n);
      fds[n++] = {pidfd.get(), POLLIN, 0};
    }
    int wait_ms = -1;
    if (has_deadline) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - steady::now());
      wait_ms = static_cast<int>(std::max<std::int64_t>(0, left.count()));
    }
    if (!pidfd.valid())
      wait_ms = wait_ms < 0 ? 10 : std::min(wait_ms, 10);
    auto rc = ::poll(fds.data(), n, wait_ms);
    if (rc < 0 && errno != EINTR) {
      auto e = errno;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      wait_child(pid, status);
      return make_error(ec::internal, "cannot watch " + plan->program
                                        + " while it runs (poll): " + errno_text(e));
    }
    if (rc > 0) {
      if (out_i >= 0 && fds[out_i].revents != 0)
        drain(out_r, result.out);
      if (err_i >= 0 && fds[err_i].revents != 0)
        drain(err_r, result.err);
      if (in_i >= 0 && fds[in_i].revents != 0) {
        while (in_w.valid() && written < opts.stdin_data.size()) {
          auto w = ::write(in_w.get(), opts.stdin_data.data() + written,
                           opts.stdin_data.size() - written);
          if (w > 0) {
            written += static_cast<std::size_t>(w);
          } else if (w < 0 && errno == EINTR) {
            continue;
          } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
          } else {
            in_w.reset(); // EPIPE: the child does not want the rest
          }
        }
        if (written >= opts.stdin_data.size())
          in_w.reset();
      }
      if (pid_i >= 0 && fds[pid_i].revents != 0) {
        wait_child(pid, status);
        exited = true;
      }
    }
    if (!exited && has_deadline && steady::now() >= deadline) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      wait_child(pid, status);
      exited = true;
      result.timed_out = true;
    }
  }
  // The child is gone, so all it wrote is in the pipes. Whatever it left
  // running in the background may hold them open: take what is there, do not
  // wait for EOF.
  drain(out_r, result.out);
  drain(err_r, result.err);
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  return result;
}

caf::expected<std::int64_t> spawn_detached(const std::vector<std::string>& argv,
                                           const spawn_options& opts) {
  auto plan = make_plan(argv, opts.cwd, opts.env_extra, opts.pass_fds);
  if (!plan)
    return plan.error();
  unique_fd null_in{::open("/dev/null", O_RDONLY | O_CLOEXEC)};
  if (!null_in.valid() || !lift_fd(null_in))
    return make_error(ec::internal, "cannot open /dev/null to start "
                                      + plan->program + ": " + errno_text(errno));
  int open_err = 0;
  unique_fd out = opts.output_fd >= 0
                    ? unique_fd{::fcntl(opts.output_fd, F_DUPFD_CLOEXEC, 3)}
                    : open_output(opts.stdout_path, open_err);
  if (!out.valid() || !lift_fd(out))
    return make_error(ec::internal, "cannot open " + opts.stdout_path
                                      + " for the output of " + plan->program
                                      + ": " + errno_text(open_err ? open_err : errno)
                                      + "; check the directory exists and is writable");
  unique_fd err_file;
  if (opts.output_fd < 0 && opts.stderr_path != opts.stdout_path) {
    err_file = open_output(opts.stderr_path, open_err);
    if (!err_file.valid() || !lift_fd(err_file))
      return make_error(ec::internal, "cannot open " + opts.stderr_path
                                        + " for the errors of " + plan->program
                                        + ": " + errno_text(open_err ? open_err : errno)
                                        + "; check the directory exists and is writable");
  }
  int err_fd = err_file.valid() ? err_file.get() : out.get();
  auto pid_pipe = make_pipe(plan->program.c_str());
  if (!pid_pipe)
    return pid_pipe.error();
  auto report = make_pipe(plan->program.c_str());
  if (!report)
    return report.error();

  auto child = ::fork();
  if (child < 0)
    return make_error(ec::internal, "cannot fork to start " + plan->program
                                      + ": " + errno_text(errno)
                                      + "; check the process limits");
  if (child == 0) {
    if (opts.new_session)
      ::setsid();
    auto grandchild = ::fork();
    if (grandchild < 0) {
      report_failure(report->write.get(), child_stage::fork, errno);
      ::_exit(1);
    }
    if (grandchild == 0) {
      ::setpgid(0, 0); // its own group: kill(-pid) reaches its helpers too
      exec_child(*plan, null_in.get(), out.get(), err_fd, report->write.get());
    }
    pid_t gc = grandchild;
    [[maybe_unused]] auto n = ::write(pid_pipe->write.get(), &gc, sizeof gc);
    ::_exit(0);
  }
  pid_pipe->write.reset();
  report->write.reset();
  int status = 0;
  wait_child(child, status); // ECHILD if SIGCHLD is ignored: fine

  pid_t gc = -1;
  std::size_t got = 0;
  while (got < sizeof gc) {
    auto n = ::read(pid_pipe->read.get(), reinterpret_cast<char*>(&gc) + got,
                    sizeof gc - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += static_cast<std::size_t>(n);
  }
  if (auto failed = read_report(report->read.get(), *plan); !failed)
    return failed.error();
  if (got < sizeof gc || gc <= 0)
    return make_error(ec::internal, "cannot start " + plan->program
                                      + ": the intermediate process died before "
                                        "reporting the pid (this is a bug in banger)");
  return static_cast<std::int64_t>(gc);
}

bool pid_alive(std::int64_t pid) {
  if (pid <= 0 || pid > std::numeric_limits<pid_t>::max())
    return false;
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM)
    return false;
  // A zombie still answers kill(0) until its parent (init, for detached
  // processes) reaps it; it is not alive for us.
  std::ifstream stat{"/proc/" + std::to_string(pid) + "/stat"};
  std::string line;
  if (!std::getline(stat, line))
    return true;
  auto paren = line.rfind(')');
  if (paren == std::string::npos || paren + 2 >= line.size())
    return true;
  char state = line[paren + 2];
  return state != 'Z' && state != 'X' && state != 'x';
}

std::string proc_cmdline(std::int64_t pid) {
  if (pid <= 0)
    return {};
  std::ifstream in{"/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary};
  std::ostringstream buf;
  buf << in.rdbuf();
  auto s = buf.str();
  std::replace(s.begin(), s.end(), '\0', ' ');
  while (!s.empty() && s.back() == ' ')
    s.pop_back();
  return s;
}

bool wait_pid_exit(std::int64_t pid, std::chrono::milliseconds timeout) {
  if (!pid_alive(pid))
    return true;
  const auto deadline = steady::now() + timeout;
  unique_fd pidfd{pidfd_open(static_cast<pid_t>(pid))};
  if (pidfd.valid()) {
    for (;;) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - steady::now());
      pollfd p{pidfd.get(), POLLIN, 0};
      auto rc = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(0, left.count())));
      if (rc > 0)
        return true;
      if (rc < 0 && errno == EINTR)
        continue;
      if (rc < 0)
        break; // fall back to polling
      return !pid_alive(pid);
    }
  } else if (errno == ESRCH) {
    return true;
  }
  for (;;) {
    if (!pid_alive(pid))
      return true;
    if (steady::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
}

} // namespace banger
