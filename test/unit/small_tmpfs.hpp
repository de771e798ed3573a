#pragma once
// Runs a piece of a test against a tiny tmpfs, to see what a full disk does.
// The tmpfs is mounted in a forked child's private mount namespace (needs
// root or user namespaces), so the host's mounts never change; the child
// reports back a string through a pipe.

#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>

namespace banger::test {

struct tmpfs_result {
  /// Why the child could not set up the tmpfs; "" when it ran.
  std::string skipped;
  /// What fn returned.
  std::string text;
};

inline tmpfs_result in_small_tmpfs(const std::string& dir, const char* size,
                                   const std::function<std::string()>& fn) {
  int fds[2];
  if (::pipe(fds) != 0)
    return {"pipe failed", {}};
  auto pid = ::fork();
  if (pid < 0)
    return {"fork failed", {}};
  if (pid == 0) {
    ::close(fds[0]);
    std::string out;
    auto opts = std::string{"size="} + size;
    if (::unshare(CLONE_NEWNS) != 0)
      out = "SKIP:no private mount namespace (not root?)";
    else if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
      out = "SKIP:cannot make mounts private";
    else if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, opts.c_str()) != 0)
      out = "SKIP:cannot mount a tmpfs";
    else
      out = "RAN:" + fn();
    auto n = ::write(fds[1], out.data(), out.size());
    (void)n;
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string got;
  char buf[4096];
  for (;;) {
    auto n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0)
      break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (got.rfind("SKIP:", 0) == 0)
    return {got.substr(5), {}};
  if (got.rfind("RAN:", 0) != 0)
    return {"the child died", {}};
  return {{}, got.substr(4)};
}

} // namespace banger::test
