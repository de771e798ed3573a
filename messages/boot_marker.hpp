#pragma once
// Inside the guest, from banger-init to banger-agent: the file init creates
// once provisioning (keys, [guest] files) is done; the agent's health says
// so (agent_health::provisioned). On /dev: devtmpfs, fresh every boot, and
// kept by the images' own inits.

namespace banger {
inline constexpr const char* provisioned_marker = "/dev/.banger-provisioned";
} // namespace banger
