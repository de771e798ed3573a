// banger-init: PID 1 of the initramfs. Loads the modules, mounts the image's
// root, starts banger-agent inside it, installs the VM's keys (fw_cfg) and
// network settings (command line), and hands PID 1 over to the image's own
// init (or stays PID 1 as a reaper when the image has none).

#include <cerrno>
#include <csignal>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <sys/reboot.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest/init/agent_launch.hpp"
#include "guest/init/cmdline.hpp"
#include "guest/init/console.hpp"
#include "guest/init/modules.hpp"
#include "guest/init/network.hpp"
#include "guest/init/provision.hpp"
#include "guest/init/rootfs.hpp"

namespace {

using namespace banger::init;

std::string read_file(const char* path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// The image's init: banger.init= if it is executable, else the usual places.
std::string find_init(const boot_params& p) {
  if (!p.init.empty()) {
    if (::access(p.init.c_str(), X_OK) == 0)
      return p.init;
    say_errno("banger.init=" + p.init + " is not usable", errno);
  }
  for (const char* path : {"/sbin/init", "/lib/systemd/systemd", "/init"})
    if (::access(path, X_OK) == 0)
      return path;
  return {};
}

/// PID 1 without an image init: reap orphans, keep the agent alive, and
/// power off on the signals busybox's halt/poweroff/reboot send to PID 1.
[[noreturn]] void stay_pid1(int agent_fd, pid_t agent) {
  sigset_t set;
  sigfillset(&set);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  for (;;) {
    timespec tick{1, 0};
    int sig = ::sigtimedwait(&set, nullptr, &tick);
    if (sig == SIGTERM || sig == SIGINT)
      power_off(RB_AUTOBOOT);
    if (sig == SIGUSR1 || sig == SIGUSR2 || sig == SIGPWR)
      power_off(RB_POWER_OFF);
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0)
      if (pid == agent)
        agent = -1;
    // The agent is the only way in: restart it (at most once per tick).
    if (agent < 0 && agent_fd >= 0 && sig != SIGCHLD) {
      say("restarting banger-agent");
      agent = start_agent(agent_fd);
    }
  }
}

} // namespace

int main(int argc, char** argv) {
  mount_early();
  if (::getpid() != 1)
    say("warning: not PID 1, continuing anyway");

  auto params = parse_cmdline(read_file("/proc/cmdline"));
  auto early = module_list(module_stage::early);
  load_modules(open_modules(early), early);
  auto late = module_list(module_stage::late);
  auto late_fds = open_modules(late);
  mount_root(params);
  if (!params.hostname.empty()
      && ::sethostname(params.hostname.data(), params.hostname.size()) != 0)
    say_errno("sethostname " + params.hostname, errno);

  int agent_fd = params.start_agent ? open_agent() : -1;
  switch_root();

  pid_t agent = agent_fd >= 0 ? start_agent(agent_fd) : -1;
  // The agent answers while these load; the image's init needs them.
  load_modules(late_fds, late);
  // Both need late modules (qemu_fw_cfg, virtio_net) and must be done before
  // the image's init starts sshd and network users.
  provision();
  configure_network(params);
  auto init = find_init(params);
  if (init.empty()) {
    say("no init in image, staying PID 1");
    stay_pid1(agent_fd, agent);
  }

  say("handing over to " + init);
  // The image's init keeps the kernel's arguments (e.g. "single").
  std::vector<char*> args{init.data()};
  for (int i = 1; i < argc; ++i)
    args.push_back(argv[i]);
  args.push_back(nullptr);
  ::execv(init.c_str(), args.data());
  say_errno("exec " + init + " failed, staying PID 1", errno);
  stay_pid1(agent_fd, agent);
}
