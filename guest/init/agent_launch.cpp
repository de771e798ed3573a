#include "guest/init/agent_launch.hpp"

#include <cerrno>
#include <csignal>
#include <string>

#include <fcntl.h>
#include <unistd.h>

#include "guest/init/console.hpp"

namespace banger::init {

int open_agent(const char* path) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    say_errno(std::string("open ") + path + " (the VM will have no agent)",
              errno);
  return fd;
}

pid_t fork_service(const char* what) {
  pid_t pid = ::fork();
  if (pid < 0) {
    say_errno(std::string("fork for ") + what, errno);
    return -1;
  }
  if (pid > 0)
    return pid;
  ::setsid();
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC); null >= 0)
    ::dup2(null, STDIN_FILENO);
  return 0;
}

pid_t start_agent(int fd) {
  pid_t pid = fork_service("the agent");
  if (pid != 0)
    return pid;
  char arg0[] = "banger-agent";
  char* argv[] = {arg0, nullptr};
  char* envp[] = {const_cast<char*>(service_path_env), nullptr};
  ::fexecve(fd, argv, envp);
  say_errno("exec banger-agent", errno);
  ::_exit(127);
}

} // namespace banger::init
