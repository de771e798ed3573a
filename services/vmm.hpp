#pragma once
// The VMM driver seam: one interface, one implementation per hypervisor
// (qemu now; firecracker later). Everything here blocks: call it only from
// detached actors or workers, never from a scheduled actor.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/expected.hpp>

namespace banger {

/// Everything needed to launch one VM. All paths are absolute and lie under
/// the VM's own directory or banger's image/kernel stores.
struct vm_launch_spec {
  std::string id;          // VM id (hex), used in process title and file names
  std::string name;        // hostname for the guest
  std::string dir;         // the VM's directory: sockets and logs live here
  std::string vmlinux;     // ELF kernel (PVH boot)
  std::string initrd;      // initramfs with banger-init and banger-agent
  std::string root_disk;   // qcow2 overlay over the image's rootfs
  std::string work_disk;   // raw ext4 mounted on /root; "" for none
  std::uint32_t vcpu = 1;
  std::uint32_t memory_mib = 256;
  std::vector<std::string> extra_cmdline; // e.g. banger.ip=..., appended
  /// The guest NIC: an open TAP descriptor the VMM inherits (-1: no NIC) and
  /// the MAC the guest sees. The caller keeps ownership of the descriptor.
  int tap_fd = -1;
  std::string mac;
  /// Files the guest reads through fw_cfg (name under opt/banger/ -> host
  /// path), e.g. {"authorized_keys", "<dir>/authorized_keys"}.
  std::vector<std::pair<std::string, std::string>> fw_cfg_files;
};

/// Where a launched VM's control files are.
struct vm_runtime {
  std::int64_t pid = 0;        // VMM process; not our child (double-forked)
  std::string agent_socket;    // host end of the agent's virtio-serial port
  std::string qmp_socket;      // QMP control socket
  std::string serial_log;      // guest console output
  std::string accel;           // "kvm" or "tcg"
};

class vmm_driver {
public:
  virtual ~vmm_driver() = default;

  /// Prepares the root disk: a copy-on-write overlay of `base` at `overlay`,
  /// costing the same whatever the base's size.
  virtual caf::expected<void> create_root_disk(const std::string& base,
                                               const std::string& overlay)
    = 0;

  /// Prepares the work disk holding /root: a clone of the image's work seed
  /// ("" for an image without one) grown to `size_bytes`
  /// (services/work_disk.hpp).
  virtual caf::expected<void> create_work_disk(const std::string& seed,
                                               const std::string& disk,
                                               std::uint64_t size_bytes)
    = 0;

  /// Starts the VMM in its own session, detached from the daemon so that it
  /// outlives a daemon restart. Returns once the process runs and its
  /// sockets exist (not when the guest is ready).
  virtual caf::expected<vm_runtime> launch(const vm_launch_spec& spec) = 0;

  /// True if `pid` is still the VMM of VM `id` (guards against PID reuse).
  virtual bool alive(std::int64_t pid, const std::string& id) = 0;

  /// Asks the VMM to quit at once (QMP "quit"), then SIGKILL if it has not
  /// exited within `grace`. Returns once the process is gone.
  virtual caf::expected<void> kill(const vm_runtime& rt, const std::string& id,
                                   std::chrono::milliseconds grace)
    = 0;

  /// Waits up to `timeout` for the VMM to exit on its own. True if it did.
  virtual bool wait_exit(std::int64_t pid, const std::string& id,
                         std::chrono::milliseconds timeout)
    = 0;

  /// "kvm" or "tcg" and the reason, e.g. "tcg (no VT-x/AMD-V: kvm_pvm host)".
  virtual std::string accel_description() = 0;
};

} // namespace banger
