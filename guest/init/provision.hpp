#pragma once
// Per-VM files from QEMU's fw_cfg (-fw_cfg name=opt/banger/NAME,file=...),
// which the guest reads as <fw_cfg dir>/opt/banger/NAME/raw once qemu_fw_cfg
// is loaded. The image itself stays as built; what lands in the VM's root:
//   opt/banger/authorized_keys          each line ensured in
//                                       /root/.ssh/authorized_keys (0600)
//   opt/banger/ssh_host_ed25519_key     /etc/ssh/ssh_host_ed25519_key (0600)
//   opt/banger/ssh_host_ed25519_key.pub /etc/ssh/ssh_host_ed25519_key.pub
//                                       (0644); both only if /etc/ssh exists
//   opt/banger/dropbear_ed25519_host_key
//                                       /etc/dropbear/dropbear_ed25519_host_key
//                                       (0600) if /etc/dropbear or a dropbear
//                                       binary exists
//                                       and, for the fallback sshd (see
//                                       ssh_fallback.hpp), at the path given
// Every write is atomic (temp + rename) and owned by root. Missing items
// are skipped; failures are logged, never fatal.

#include <string>
#include <string_view>

namespace banger::init {

inline constexpr const char* default_fw_cfg_dir =
    "/sys/firmware/qemu_fw_cfg/by_name";

/// The fw_cfg item names (QEMU: -fw_cfg name=<this>,file=PATH).
namespace fw_cfg_item {
inline constexpr const char* authorized_keys = "opt/banger/authorized_keys";
inline constexpr const char* openssh_host_key =
    "opt/banger/ssh_host_ed25519_key";
inline constexpr const char* openssh_host_key_pub =
    "opt/banger/ssh_host_ed25519_key.pub";
inline constexpr const char* dropbear_host_key =
    "opt/banger/dropbear_ed25519_host_key";
/// config.toml's [guest] files (messages/host_files.hpp), for /root.
inline constexpr const char* host_files = "opt/banger/host-files";
} // namespace fw_cfg_item

/// `existing` (an authorized_keys file, kept byte for byte) followed by each
/// line of `incoming` that it does not hold yet, in order, once. Lines are
/// compared without surrounding whitespace or a trailing CR; blank and
/// comment lines of `incoming` are ignored. Returns `existing` unchanged
/// when there is nothing to add. Pure.
std::string merge_authorized_keys(std::string_view existing,
                                  std::string_view incoming);

/// What provision() did, for the console and for tests.
struct provision_result {
  bool fw_cfg = false; // the fw_cfg directory was there
  int keys_added = 0;  // authorized_keys lines added
  bool openssh_host_key = false;
  bool dropbear_host_key = false;
  bool fallback_host_key = false;
  int host_files = 0; // [guest] files written under /root
  int failures = 0;
};

/// Reads the items under `fw_cfg_dir` and writes them below `root` ("" is
/// the real root). A non-empty `fallback_key` (absolute, below `root` too)
/// also gets the dropbear host key. Logs each step through say().
provision_result provision(const std::string& fw_cfg_dir = default_fw_cfg_dir,
                           const std::string& root = "",
                           const std::string& fallback_key = "");

} // namespace banger::init
