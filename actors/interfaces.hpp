#pragma once
// The daemon's internal actor interfaces and the types only they exchange.
// Wire-facing types and atoms live in messages/type_ids.hpp; this block
// continues its ID range.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/type_ids.hpp"
#include "services/store.hpp"
#include "services/vmm.hpp"

namespace banger {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vm_record& x) {
  return f(caf::meta::type_name("vm_record"), x.info, x.root_disk, x.work_disk,
           x.agent_socket, x.qmp_socket, x.serial_log, x.accel, x.tap);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vm_runtime& x) {
  return f(caf::meta::type_name("vm_runtime"), x.pid, x.agent_socket,
           x.qmp_socket, x.serial_log, x.accel);
}

/// The only writer of state.db. Runs detached: every call blocks on SQLite.
using store_actor = caf::typed_actor<
  /// Inserts a VM row; ec::already_exists on a duplicate name.
  caf::replies_to<atom::create, vm_record>::with<bool>,
  /// Replaces a VM row by id.
  caf::replies_to<atom::put, vm_record>::with<bool>,
  /// Deletes a VM row by id.
  caf::replies_to<atom::del, std::string>::with<bool>,
  /// All VM rows, oldest first.
  caf::replies_to<atom::list>::with<std::vector<vm_record>>,
  /// One image by name; ec::not_found names the image.
  caf::replies_to<atom::image, atom::get, std::string>::with<image_info>,
  caf::replies_to<atom::image, atom::list>::with<image_list>,
  caf::replies_to<atom::image, atom::create, image_info>::with<bool>,
  /// Deletes an image row; ec::bad_state names the VMs that use it.
  caf::replies_to<atom::image, atom::del, std::string>::with<image_info>,
  /// One kernel by name; ec::not_found names the kernel.
  caf::replies_to<atom::kernel, atom::get, std::string>::with<kernel_info>,
  caf::replies_to<atom::kernel, atom::list>::with<kernel_list>,
  caf::replies_to<atom::kernel, atom::create, kernel_info>::with<bool>,
  /// Deletes a kernel row; ec::bad_state names the images and VMs using it.
  caf::replies_to<atom::kernel, atom::del, std::string>::with<kernel_info>>;

/// One VM: owns its lifecycle; every operation on the VM goes through its
/// mailbox, so concurrent requests are ordered, not locked.
using vm_actor = caf::typed_actor<
  /// Boots the VM (created/stopped/error only); replies once the guest
  /// agent answers. `sink` receives (atom::progress, stream, progress_event).
  caf::replies_to<atom::start, caf::actor, std::uint64_t>::with<vm_info>,
  /// sync -> poweroff -> wait -> SIGKILL; valid while starting/running.
  caf::replies_to<atom::stop, std::uint32_t>::with<vm_info>,
  /// `vm kill`: a checked signal to the VMM; ends stopped.
  caf::replies_to<atom::kill, std::int32_t>::with<vm_info>,
  /// Runs a command through the agent (running only). Output goes to `sink`
  /// as (atom::output, stream, output_chunk), after (atom::started, ...).
  caf::replies_to<atom::exec, exec_spec, caf::actor,
                  std::uint64_t>::with<exec_result>,
  /// Deletes the VM and everything it owns; `force` stops it first.
  caf::replies_to<atom::del, bool>::with<bool>,
  /// The current view of the VM.
  caf::replies_to<atom::get>::with<vm_info>,
  /// `vm set` (stopped or created only; applies at the next start). The
  /// request is validated by the manager; the work disk grows here.
  caf::replies_to<atom::put, vm_set_request>::with<vm_info>,
  /// Listening sockets in the guest, from the agent (running only).
  caf::replies_to<atom::ports>::with<agent_ports_reply>,
  /// Guest sessions (running only): forwarded to the agent, which owns
  /// them; replies carry started_at on the host's clock.
  caf::replies_to<atom::session, atom::start,
                  session_start_request>::with<session_info>,
  caf::replies_to<atom::session, atom::list>::with<session_list>,
  caf::replies_to<atom::session, atom::stop,
                  session_stop_request>::with<session_info>,
  /// Replay, then live output to `sink` (after (atom::started, ...)) until
  /// the session ends or the sink's stream detaches.
  caf::replies_to<atom::session, atom::attach, session_attach_request,
                  caf::actor, std::uint64_t>::with<session_info>,
  /// Daemon start: reconciles the stored row with what really runs.
  caf::reacts_to<atom::adopt>,
  /// From its VMM watcher: the process with this pid is gone.
  caf::reacts_to<atom::exited, std::int64_t>>;

/// The registry of VMs by name.
using vm_manager_actor = caf::typed_actor<
  /// Creates and boots a VM; replies when the agent answers.
  caf::replies_to<atom::create, vm_spec, caf::actor,
                  std::uint64_t>::with<vm_info>,
  caf::replies_to<atom::list>::with<vm_list>,
  caf::replies_to<atom::get, std::string>::with<vm_info>,
  caf::replies_to<atom::start, std::string, caf::actor,
                  std::uint64_t>::with<vm_info>,
  caf::replies_to<atom::stop, std::string, std::uint32_t>::with<vm_info>,
  caf::replies_to<atom::kill, std::string, std::int32_t>::with<vm_info>,
  caf::replies_to<atom::exec, std::string, exec_spec, caf::actor,
                  std::uint64_t>::with<exec_result>,
  caf::replies_to<atom::del, std::string, bool>::with<bool>,
  caf::replies_to<atom::put, vm_set_request>::with<vm_info>,
  caf::replies_to<atom::ports, std::string>::with<agent_ports_reply>,
  caf::replies_to<atom::session, atom::start, std::string,
                  session_start_request>::with<session_info>,
  caf::replies_to<atom::session, atom::list, std::string>::with<session_list>,
  caf::replies_to<atom::session, atom::stop, std::string,
                  session_stop_request>::with<session_info>,
  caf::replies_to<atom::session, atom::attach, std::string,
                  session_attach_request, caf::actor,
                  std::uint64_t>::with<session_info>,
  caf::replies_to<atom::status>::with<daemon_status>,
  /// From vm actors: their latest view, for list/status without a fan-out.
  caf::reacts_to<atom::updated, vm_info>,
  /// From a vm actor that deleted itself.
  caf::reacts_to<atom::removed, std::string>>;

} // namespace banger

CAF_BEGIN_TYPE_ID_BLOCK(banger_daemon, caf::id_block::banger::end)
  CAF_ADD_TYPE_ID(banger_daemon, (banger::vm_record))
  CAF_ADD_TYPE_ID(banger_daemon, (std::vector<banger::vm_record>))
  CAF_ADD_TYPE_ID(banger_daemon, (banger::vm_runtime))
CAF_END_TYPE_ID_BLOCK(banger_daemon)
