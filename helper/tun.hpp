#pragma once
// Persistent TAP devices through /dev/net/tun, as `ip tuntap add` makes them.

#include <string>

#include <sys/types.h>

namespace banger::helper {

/// Creates TAP `name` (no packet info), owned by `owner`, persistent, so it
/// outlives this call and the owner's VMM can attach to it. Throws op_error.
void create_persistent_tap(const std::string& name, uid_t owner);

} // namespace banger::helper
