#pragma once
// A VM's SSH identity, made when the VM is created: the files banger-init
// installs in the guest at every boot (read through fw_cfg, so the image is
// never edited) and the host key's entry in banger's known_hosts. A new VM
// gets a new host key; its known_hosts entry replaces any entry an earlier
// VM of the same name left, so a reused name or IP never meets a stale key.
//
// Blocking (ssh-keygen, files): workers only.

#include <string>

#include <caf/expected.hpp>

#include "services/paths.hpp"

namespace banger {

/// Writes into the (existing) VM directory `dir`: authorized_keys (banger's
/// user key, created on first use), ssh_host_ed25519_key{,.pub} and
/// dropbear_ed25519_host_key; then records the host key for `<vm_name>.vm`.
caf::expected<void> make_vm_identity(const paths& p, const std::string& dir,
                                     const std::string& vm_name);

/// Drops the known_hosts entry of `<vm_name>.vm`.
caf::expected<void> forget_vm_identity(const paths& p,
                                       const std::string& vm_name);

} // namespace banger
