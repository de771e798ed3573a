// banger-agent: runs as root inside the guest and answers the host over the
// virtio-serial port org.banger.agent (protocol: messages/agent.hpp).

#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include <sys/signalfd.h>

#include "guest/agent/log.hpp"
#include "guest/agent/port.hpp"
#include "guest/agent/session.hpp"
#include "guest/agent/workspace.hpp"

int main(int argc, char** argv) {
  using namespace banger::agent;
  std::string port_name = default_port_name;
  if (argc > 1 && std::strncmp(argv[1], "workspace-", 10) == 0)
    return workspace_main(argc, argv);
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--port" && i + 1 < argc) {
      port_name = argv[++i];
    } else {
      std::fprintf(stderr, "usage: banger-agent [--port NAME]\n");
      return 2;
    }
  }

  // A host that goes away mid-write must not kill the agent.
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &chld, nullptr);
  int sigfd = ::signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sigfd < 0) {
    log_errno("signalfd", errno);
    return 1;
  }
  // The agent is how the host reaches the guest: the OOM killer should pick
  // the user's processes first. Best effort.
  std::ofstream("/proc/self/oom_score_adj") << "-1000\n";

  int port = open_port(port_name);
  session s(port, sigfd);
  s.run();
}
