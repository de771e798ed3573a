#include "guest/agent/exec.hpp"
#include "guest/agent/workspace.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace banger::agent {

namespace {

constexpr const char* default_env[] = {
  "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  "HOME=/root",
  "TERM=dumb",
  "USER=root",
  "LOGNAME=root",
  "SHELL=/bin/sh",
};

std::string env_key(const std::string& entry) {
  return entry.substr(0, entry.find('='));
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (auto& s : v)
    out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

/// Where to look for the program, in order; the PATH is the command's own
/// (execvpe would search the agent's PATH instead).
std::vector<std::string> candidates(const std::string& prog,
                                    const std::vector<std::string>& env) {
  if (prog.empty())
    return {};
  // The agent's own binary, for its workspace commands (the file may be
  // gone from the filesystem: it ran from the initramfs).
  if (prog == self_program)
    return {"/proc/self/exe"};
  if (prog.find('/') != std::string::npos)
    return {prog};
  std::string path = "/usr/local/bin:/usr/bin:/bin";
  for (auto& e : env)
    if (e.rfind("PATH=", 0) == 0)
      path = e.substr(5);
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto end = path.find(':', start);
    auto dir = path.substr(start, end == std::string::npos ? end : end - start);
    out.push_back((dir.empty() ? std::string(".") : dir) + "/" + prog);
    if (end == std::string::npos)
      break;
    start = end + 1;
  }
  return out;
}

void make_pipe(int fds[2]) {
  if (::pipe2(fds, O_CLOEXEC) != 0)
    throw std::system_error(errno, std::generic_category(), "pipe");
}

void close_fd(int& fd) {
  if (fd >= 0)
    ::close(fd);
  fd = -1;
}

[[noreturn]] void child_fail(const std::string& prog, const char* why,
                             int code) {
  std::string msg = "banger-agent: " + prog + ": " + why + "\n";
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, msg.data(), msg.size());
  ::_exit(code);
}

/// Runs in the child after fork. Everything it needs was prepared before the
/// fork; the agent is single-threaded, so the allocations here are safe too.
[[noreturn]] void run_child(int in_fd, int out_fd, int err_fd,
                            const std::string& cwd,
                            const std::vector<std::string>& paths,
                            std::vector<std::string>& argv,
                            std::vector<std::string>& env) {
  ::setsid();
  ::dup2(in_fd, STDIN_FILENO);
  ::dup2(out_fd, STDOUT_FILENO);
  ::dup2(err_fd, STDERR_FILENO);
  // The agent blocks SIGCHLD and ignores SIGPIPE; both survive exec.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::signal(SIGPIPE, SIG_DFL);
  // The agent shields itself from the OOM killer; its commands must not be.
  if (int fd = ::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
      fd >= 0) {
    [[maybe_unused]] auto n = ::write(fd, "0\n", 2);
    ::close(fd);
  }

  if (::chdir(cwd.c_str()) != 0)
    child_fail("cd " + cwd, std::strerror(errno), 126);

  auto args = c_strings(argv);
  auto envp = c_strings(env);
  int denied = 0;
  for (auto& path : paths) {
    ::execve(path.c_str(), args.data(), envp.data());
    int err = errno;
    if (err == ENOEXEC) {
      // A script without #!: run it with sh, as shells and execvp do.
      std::vector<std::string> sh_argv{"/bin/sh", path};
      sh_argv.insert(sh_argv.end(), argv.begin() + 1, argv.end());
      auto sh_args = c_strings(sh_argv);
      ::execve("/bin/sh", sh_args.data(), envp.data());
      child_fail(argv[0], std::strerror(ENOEXEC), 126);
    }
    if (err == EACCES || err == EPERM || err == EISDIR)
      denied = err;
    else if (err != ENOENT && err != ENOTDIR && err != ELOOP
             && err != ENAMETOOLONG)
      child_fail(argv[0], std::strerror(err), 126);
  }
  if (denied != 0)
    child_fail(argv[0], std::strerror(denied), 126);
  if (argv[0].find('/') != std::string::npos)
    child_fail(argv[0], std::strerror(ENOENT), 127);
  if (argv[0].empty())
    child_fail("''", "command not found", 127);
  child_fail(argv[0], "command not found", 127);
}

} // namespace

std::vector<std::string> make_environment(
  const std::vector<std::string>& extra) {
  std::vector<std::string> env(std::begin(default_env), std::end(default_env));
  for (auto& e : extra) {
    auto key = env_key(e);
    bool replaced = false;
    for (auto& d : env)
      if (env_key(d) == key) {
        d = e;
        replaced = true;
      }
    if (!replaced)
      env.push_back(e);
  }
  return env;
}

std::string working_directory(const exec_spec& spec) {
  if (!spec.cwd.empty())
    return spec.cwd;
  struct stat st {};
  // A prepared workspace is where commands run by default.
  if (::stat((std::string(workspace_dir) + "/" + workspace_marker).c_str(), &st)
      == 0)
    return workspace_dir;
  if (::stat("/root", &st) == 0 && S_ISDIR(st.st_mode))
    return "/root";
  return "/";
}

child_process spawn(const exec_spec& spec) {
  auto env = make_environment(spec.env);
  auto argv = spec.argv;
  auto paths = candidates(argv.at(0), env);
  auto cwd = working_directory(spec);

  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  auto cleanup = [&] {
    for (int* p : {in, out, err}) {
      close_fd(p[0]);
      close_fd(p[1]);
    }
  };
  try {
    if (spec.stdin_open) {
      make_pipe(in);
    } else {
      in[0] = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (in[0] < 0)
        throw std::system_error(errno, std::generic_category(),
                                "open /dev/null");
    }
    make_pipe(out);
    make_pipe(err);
  } catch (...) {
    cleanup();
    throw;
  }

  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    cleanup();
    throw std::system_error(e, std::generic_category(), "fork");
  }
  if (pid == 0)
    run_child(in[0], out[1], err[1], cwd, paths, argv, env);

  close_fd(in[0]);
  close_fd(out[1]);
  close_fd(err[1]);
  child_process c;
  c.pid = pid;
  c.stdin_fd = in[1];
  c.stdout_fd = out[0];
  c.stderr_fd = err[0];
  for (int fd : {c.stdin_fd, c.stdout_fd, c.stderr_fd})
    if (fd >= 0)
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return c;
}

} // namespace banger::agent
