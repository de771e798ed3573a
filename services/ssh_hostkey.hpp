#pragma once
// Per-VM SSH host keys, made on the host before boot and handed to the guest
// through fw_cfg (banger-init installs them: guest/init/provision.hpp), so
// that the daemon knows a VM's host key before anyone connects and never has
// to trust on first use. One ed25519 key, in both formats the guest's sshd
// may want: OpenSSH's (sshd) and dropbear's own (dropbear reads nothing
// else).
//
// make_vm_host_key blocks (ssh-keygen, files): detached workers only.

#include <string>

#include <caf/expected.hpp>

namespace banger {

struct vm_host_key {
  std::string private_openssh_path;  // <dir>/ssh_host_ed25519_key
  std::string public_openssh_path;   // <dir>/ssh_host_ed25519_key.pub
  std::string private_dropbear_path; // <dir>/dropbear_ed25519_host_key
  std::string public_line;           // "ssh-ed25519 AAAA... banger-vm"
};

/// Generates a fresh ed25519 host key for one VM in `dir` (which must
/// exist): `ssh-keygen -t ed25519 -N "" -C banger-vm -q` through
/// banger::run, never a shell, replacing any key there, and writes the same
/// key in dropbear's format. The private files are 0600. Errors:
/// ec::unavailable (ssh-keygen missing or failing, files not writable),
/// ec::internal (ssh-keygen wrote something this code cannot read).
caf::expected<vm_host_key> make_vm_host_key(const std::string& dir);

/// Converts an OpenSSH "openssh-key-v1" unencrypted ed25519 private key (the
/// PEM-armoured text ssh-keygen writes) to the bytes of dropbear's private
/// key file: the SSH wire encoding string "ssh-ed25519", then a string of
/// 64 bytes, the 32-byte seed followed by the 32-byte public key (dropbear's
/// buf_put_ed25519_priv_key). Errors: ec::invalid_argument naming what is
/// wrong (not that format, encrypted, not ed25519, damaged). Pure.
caf::expected<std::string>
openssh_ed25519_to_dropbear(const std::string& openssh_private_pem);

} // namespace banger
