#pragma once
// The QEMU implementation of vmm_driver: a microvm machine, the kernel booted
// directly (PVH), the root disk as a qcow2 overlay on virtio-blk-mmio, the
// agent on a virtio-serial port and QMP for control. QEMU is spawned
// detached and named banger-<id>, which is how alive() tells our VMM from a
// process that reused its pid.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "services/accel.hpp"
#include "services/vmm.hpp"

namespace banger {

struct qemu_config {
  std::string qemu_binary = "qemu-system-x86_64";
  std::string qemu_img = "qemu-img";
  /// "auto", "kvm" or "tcg"; see choose_accel.
  std::string accel = "auto";
  /// Kernel parameters added to every VM, before the VM's own ones.
  std::vector<std::string> extra_cmdline;
  /// Where host facts are read (tests fake /proc, /sys, /dev under it).
  std::string host_root = "/";
  /// How long launch waits for QEMU's sockets.
  std::chrono::milliseconds start_timeout{5000};
};

/// The argv that launches `spec` (argv[0] is "qemu-system-x86_64"). Pure:
/// no file is touched. tsc_early_khz goes on the kernel cmdline only under
/// TCG, and only when `tsc_khz` is known (non-zero).
/// The descriptor number a VM's TAP has inside QEMU (-netdev tap,fd=N).
inline constexpr int qemu_tap_fd = 3;

/// A value for QEMU's key=value option syntax: commas doubled, so that a
/// path with a comma stays one value.
std::string qemu_escape(std::string_view value);

std::vector<std::string> qemu_argv(const vm_launch_spec& spec,
                                   const accel_choice& accel,
                                   std::uint64_t tsc_khz,
                                   const std::string& agent_sock,
                                   const std::string& qmp_sock,
                                   const std::string& serial_log);

/// True if a /proc cmdline (args joined by spaces) is the QEMU of VM `id`.
bool cmdline_is_vm(const std::string& cmdline, const std::string& id);

/// The last `lines` lines of a file ("" if it cannot be read).
std::string file_tail(const std::string& path, std::size_t lines);

class qemu_driver : public vmm_driver {
public:
  explicit qemu_driver(qemu_config config = {});

  caf::expected<void> create_root_disk(const std::string& base,
                                       const std::string& overlay) override;
  caf::expected<void> create_work_disk(const std::string& seed, const std::string& disk,
                                       std::uint64_t size_bytes) override;
  caf::expected<vm_runtime> launch(const vm_launch_spec& spec) override;
  bool alive(std::int64_t pid, const std::string& id) override;
  caf::expected<void> kill(const vm_runtime& rt, const std::string& id,
                           std::chrono::milliseconds grace) override;
  bool wait_exit(std::int64_t pid, const std::string& id,
                 std::chrono::milliseconds timeout) override;
  std::string accel_description() override;

  const qemu_config& config() const { return config_; }

private:
  qemu_config config_;
  caf::expected<accel_choice> accel_;
  std::uint64_t tsc_khz_ = 0;
};

} // namespace banger
