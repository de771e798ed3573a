#pragma once
// The daemon's end of one guest agent connection (virtio-serial port exposed
// by QEMU as a Unix socket). Spawned detached by the vm actor: it owns the
// socket, multiplexes requests by id and routes exec output to a sink.
//
// Interface (dynamically typed; the vm actor is its only client besides the
// sinks that route stdin/signals to a running exec):
//   (atom::ready, uint32_t timeout_ms)         -> agent_health
//       probes "health" every 100 ms until the agent answers (boot wait)
//   (atom::health)                             -> agent_health
//   (atom::ports)                              -> agent_ports_reply
//       the guest's listening TCP and unconnected UDP sockets with their
//       owners (`banger vm ports`); valid once ready has answered
//   (atom::exec, exec_spec, actor sink, uint64_t stream) -> exec_result
//       first sends sink (atom::started, stream, actor agent, uint64_t call)
//       then (atom::output, stream, output_chunk) per chunk
//   (atom::input, uint64_t call, stdin_chunk)  stdin for a running exec
//   (atom::signal, uint64_t call, int32_t sig) signal a running exec
//   (atom::session, atom::start, session_start_request) -> session_info
//   (atom::session, atom::list)                -> session_list
//   (atom::session, atom::stop, session_stop_request)   -> session_info
//   (atom::session, atom::attach, session_attach_request, actor sink,
//    uint64_t stream)                          -> session_info
//       like exec: (atom::started, ...) then (atom::output, ...) to sink;
//       input/signal on the call reach the session
//   (atom::detach, uint64_t call)              ends an attach, not the session
//   (atom::sync)                               -> bool
//   (atom::poweroff)                           -> bool

#include <string>

#include <caf/actor.hpp>
#include <caf/local_actor.hpp>

namespace banger {

/// Spawns a detached agent actor connected to `socket_path`. `vm_name` only
/// makes error messages readable.
caf::actor spawn_agent(caf::local_actor* parent, std::string socket_path,
                       std::string vm_name);

} // namespace banger
