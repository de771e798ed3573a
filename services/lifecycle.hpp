#pragma once
// The VM state machine as a pure table (after Cloud Hypervisor's
// VmState::valid_transition). The vm actor asks it before acting and stores
// the state it returns; refusals are sentences the CLI shows as they are.
//
//   created|stopped|error --start--> starting --boot_ok--> running
//   starting --boot_failed--> error
//   running|starting --stop--> stopping --stop_done--> stopped
//   running|starting|stopping --kill|vmm_exited--> stopped
//   running --exec--> running
//   created|stopped|error --delete_--> (same state; the caller deletes)

#include <optional>
#include <string_view>

#include <caf/expected.hpp>

namespace banger {

enum class vm_state { created, starting, running, stopping, stopped, error };

/// User requests (start, stop, kill, exec, delete_) and events the daemon
/// observes (boot_ok, boot_failed, vmm_exited, stop_done).
enum class vm_op {
  start,
  stop,
  kill,
  exec,
  delete_,
  boot_ok,
  boot_failed,
  vmm_exited,
  stop_done,
};

/// The stored and wire name: "created", "starting", ...
const char* to_string(vm_state s);
/// "start", "stop", ..., "delete" for delete_.
const char* to_string(vm_op op);
/// The inverse of to_string(vm_state); nullopt for anything else.
std::optional<vm_state> parse_vm_state(std::string_view s);

/// The signals `vm kill` sends to a VMM: KILL (the default for ""), TERM,
/// INT, HUP, as a name with or without "SIG" (any case) or a number.
std::optional<int> parse_kill_signal(std::string_view s);

/// True while a VMM process may exist for the VM (starting, running, stopping).
bool is_active(vm_state s);

/// The state after `op` on a VM named `name` in state `from`, or an
/// ec::bad_state error whose sentence names the VM and says what to do.
/// delete_ returns `from` unchanged when allowed: the caller removes the VM.
caf::expected<vm_state> vm_state_transition(vm_state from, vm_op op,
                                            std::string_view name);

} // namespace banger
