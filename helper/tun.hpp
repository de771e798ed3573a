#pragma once
// Persistent TAP devices through /dev/net/tun, as `ip tuntap add` makes them,
// and descriptors attached to them for the owner's VMM.

#include <string>

#include <sys/types.h>

#include "services/unique_fd.hpp"

namespace banger::helper {

/// Creates TAP `name` (no packet info), owned by `owner`, persistent, so it
/// outlives this call and the owner's VMM can attach to it. Throws op_error.
void create_persistent_tap(const std::string& name, uid_t owner);

/// Attaches a new descriptor (O_CLOEXEC) to the existing TAP `name` with the
/// flags create_persistent_tap used. The caller must have checked that the
/// TAP exists and is banger's: TUNSETIFF would create a missing one. Throws
/// op_error: "bad_state" when another descriptor holds it (EBUSY), else
/// "internal".
unique_fd open_tap_queue(const std::string& name);

} // namespace banger::helper
