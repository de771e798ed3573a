// banger-init: PID 1 of the initramfs. Loads the modules, mounts the image's
// root, starts banger-agent inside it, installs the VM's keys (fw_cfg) and
// network settings (command line), starts a fallback sshd when the image
// cannot serve SSH itself (ssh_fallback.hpp), and hands PID 1 over to the
// image's own init (or stays PID 1, supervise.hpp, when the image has none).

#include <cerrno>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "guest/init/agent_launch.hpp"
#include "guest/init/cmdline.hpp"
#include "guest/init/console.hpp"
#include "guest/init/files.hpp"
#include "guest/init/modules.hpp"
#include "guest/init/network.hpp"
#include "guest/init/provision.hpp"
#include "guest/init/rootfs.hpp"
#include "guest/init/ssh_fallback.hpp"
#include "guest/init/supervise.hpp"
#include "guest/init/work_disk.hpp"
#include "messages/boot_marker.hpp"

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

bool is_executable(const std::string& path) {
  return ::access(path.c_str(), X_OK) == 0;
}

/// Lines that explain why SSH through the fallback would fail.
void check_root_login() {
  for (auto& problem :
       login_problems(read_whole_file("/etc/passwd"),
                      read_whole_file("/etc/shells"), is_executable))
    say("ssh fallback: " + problem);
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
  frame_root();
  if (!params.work.empty())
    mount_work_disk(params.work, "/newroot", params.rootwait_s);
  if (!params.hostname.empty()
      && ::sethostname(params.hostname.data(), params.hostname.size()) != 0)
    say_errno("sethostname " + params.hostname, errno);

  int agent_fd = params.start_agent ? open_agent() : -1;
  int bundle_fd = open_dropbear_bundle();
  switch_root(bundle_fd >= 0 ? std::vector<std::string>{"dropbear"}
                             : std::vector<std::string>{});

  std::vector<service> services;
  if (agent_fd >= 0)
    services.push_back(
        {"banger-agent", [agent_fd] { return start_agent(agent_fd); }});
  for (auto& s : services)
    start_if_due(s, clock::now());
  // The agent answers while these load; the image's init needs them.
  load_modules(late_fds, late);

  auto init = find_init(params);
  auto mode = choose_ssh_mode(!init.empty(), image_has_sshd(is_executable));
  bool fallback = mode != ssh_mode::image && prepare_fallback(bundle_fd);
  if (!fallback)
    discard_bundle(bundle_fd);
  // Both need late modules (qemu_fw_cfg, virtio_net) and must be done before
  // the image's init starts sshd and network users.
  auto keys =
      provision(default_fw_cfg_dir, "", fallback ? fallback_host_key : "");
  // The host counts the guest ready once the agent sees this.
  if (int fd = ::open(banger::provisioned_marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600); fd >= 0)
    ::close(fd);
  else
    say_errno(std::string("create ") + banger::provisioned_marker, errno);
  configure_network(params);
  if (init.empty())
    mount_container_basics();
  if (fallback && !keys.fallback_host_key) {
    say("ssh fallback: no host key from fw_cfg; not starting dropbear");
  } else if (fallback) {
    check_root_login();
    services.push_back({"dropbear (ssh fallback)", start_dropbear});
    start_if_due(services.back(), clock::now());
  }
  if (init.empty()) {
    bring_up_loopback();
    say("no init in image, staying PID 1 (" + uptime_text() + " s)");
    stay_pid1(std::move(services));
  }

  say("handing over to " + init + " (" + uptime_text() + " s)");
  // The image's init keeps the kernel's arguments (e.g. "single").
  std::vector<char*> args{init.data()};
  for (int i = 1; i < argc; ++i)
    args.push_back(argv[i]);
  args.push_back(nullptr);
  ::execv(init.c_str(), args.data());
  say_errno("exec " + init + " failed, staying PID 1", errno);
  stay_pid1(std::move(services));
}
